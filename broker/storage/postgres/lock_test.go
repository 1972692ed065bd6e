package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/postgres"
	"github.com/justiceconnect/justiceconnect/broker/storage/storagetest"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// TestAdvisoryLock runs the Locker conformance with two stores on one database,
// as two broker nodes.
func TestAdvisoryLock(t *testing.T) {
	pg := peer.StartPostgres(t)
	var dsn string
	storagetest.RunLock(t, storagetest.LockEnv{
		Shared: true,
		OpenPair: func(t *testing.T) (storage.Store, storage.Store) {
			dsn = pg.NewDatabase(t)
			var ss [2]storage.Store
			for i := range ss {
				s, err := postgres.Open(context.Background(), dsn, quiet())
				if err != nil {
					t.Fatalf("postgres.Open: %v", err)
				}
				t.Cleanup(func() { _ = s.Close() })
				ss[i] = s
			}
			return ss[0], ss[1]
		},
		Sever: func(t *testing.T) {
			ctx := context.Background()
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(ctx)
			var n int
			err = c.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
				WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()`).Scan(&n)
			if err != nil || n == 0 {
				t.Fatalf("terminate the backends holding advisory locks: %d terminated, %v", n, err)
			}
		},
	})
}
