package sqlite_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/sqlite"
	"github.com/justiceconnect/justiceconnect/broker/storage/storagetest"
)

func open(t *testing.T, opts storage.Options) storage.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jc.db"), opts)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) { storagetest.Run(t, open) }

func BenchmarkCreateGetAccessToken(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), storage.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatalf("sqlite.Open: %v", err)
	}
	defer s.Close()
	storagetest.BenchmarkCreateGetAccessToken(b, s)
}
