package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/sqlite"
	"github.com/justiceconnect/justiceconnect/broker/storage/storagetest"
)

// TestAdvisoryLock: one process owns a SQLite file, so every lock is granted.
func TestAdvisoryLock(t *testing.T) {
	storagetest.RunLock(t, storagetest.LockEnv{
		OpenPair: func(t *testing.T) (storage.Store, storage.Store) {
			path := filepath.Join(t.TempDir(), "jc.db")
			var ss [2]storage.Store
			for i := range ss {
				s, err := sqlite.Open(context.Background(), path, quiet())
				if err != nil {
					t.Fatalf("sqlite.Open: %v", err)
				}
				t.Cleanup(func() { _ = s.Close() })
				ss[i] = s
			}
			return ss[0], ss[1]
		},
	})
}
