package postgres_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/postgres"
	"github.com/justiceconnect/justiceconnect/broker/storage/storagetest"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// opener returns a storagetest.Opener giving each subtest its own database on pg.
func opener(pg *peer.Postgres) storagetest.Opener {
	return func(t *testing.T, opts storage.Options) storage.Store {
		t.Helper()
		s, err := postgres.Open(context.Background(), pg.NewDatabase(t), opts)
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

func TestConformance(t *testing.T) {
	pg := peer.StartPostgres(t)
	storagetest.Run(t, opener(pg))
}

func BenchmarkCreateGetAccessToken(b *testing.B) {
	pg := peer.StartPostgres(b)
	b.Run("pgxpool", func(b *testing.B) {
		s, err := postgres.Open(context.Background(), pg.NewDatabase(b), storage.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatalf("postgres.Open: %v", err)
		}
		defer s.Close()
		storagetest.BenchmarkCreateGetAccessToken(b, s)
	})
}
