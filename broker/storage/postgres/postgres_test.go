package postgres_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/justiceconnect/justiceconnect/broker/keys"
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

func quiet() storage.Options { return storage.Options{Logger: slog.New(slog.DiscardHandler)} }

// TestPostgres runs everything on one server (about 2 s to start).
func TestPostgres(t *testing.T) {
	pg := peer.StartPostgres(t)
	t.Run("Conformance", func(t *testing.T) { storagetest.Run(t, opener(pg)) })
	t.Run("ConcurrentOpen", func(t *testing.T) {
		// Several broker nodes starting together on an empty database: the
		// advisory lock makes one migrate and the others find it done.
		dsn := pg.NewDatabase(t)
		const nodes = 5
		var wg sync.WaitGroup
		errs := make([]error, nodes)
		for i := 0; i < nodes; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				s, err := postgres.Open(context.Background(), dsn, quiet())
				if err == nil {
					err = s.Ping(context.Background())
					s.Close()
				}
				errs[i] = err
			}(i)
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("node %d: %v", i, err)
			}
		}
		c, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		var n int
		if err := c.QueryRow(context.Background(), "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != storagetest.CountMigrations(t, "migrations") {
			t.Errorf("schema_migrations rows = %d, %v; want %d", n, err, storagetest.CountMigrations(t, "migrations"))
		}
	})
	t.Run("ConcurrentKeyEnsure", func(t *testing.T) {
		// Three nodes starting together on an empty database: they take the key lock
		// in turn, so one creates the signing keys and the others find them (a
		// three-node start once failed with "keys keep changing").
		dsn := pg.NewDatabase(t)
		kek := keys.GenerateKEK()
		const nodes = 3
		stores := make([]storage.Store, nodes)
		for i := range stores {
			s, err := postgres.Open(context.Background(), dsn, quiet())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			stores[i] = s
		}
		var wg sync.WaitGroup
		errs := make([]error, nodes)
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := keys.NewManager(s, kek, keys.Options{Algorithms: []string{"ES256", "RS256"}, Logger: slog.New(slog.DiscardHandler)})
				errs[i] = m.Ensure(context.Background())
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("node %d: %v", i, err)
			}
		}
		ks, err := stores[0].ListKeys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		states := map[string]int{}
		for _, k := range ks {
			states[k.Alg+" "+k.State]++
		}
		want := map[string]int{"ES256 current": 1, "ES256 next": 1, "RS256 current": 1, "RS256 next": 1}
		if !maps.Equal(states, want) {
			t.Errorf("stored signing keys by state = %v, want %v (no duplicates to retire)", states, want)
		}
	})
	t.Run("BadDSNHidesPassword", func(t *testing.T) {
		_, err := postgres.Open(context.Background(), "postgres://u:SECRETPW@127.0.0.1:1/x?sslmode=bogus", quiet())
		if err == nil || strings.Contains(err.Error(), "SECRETPW") {
			t.Fatalf("Open with a bad DSN = %v; want an error without the password", err)
		}
	})
}

// TestUnavailable stops the server under an open store: errors must match
// storage.ErrUnavailable (the broker answers 503 / temporarily_unavailable), and the
// pool must recover when the server is back.
func TestUnavailable(t *testing.T) {
	pg := peer.StartPostgres(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, pg.DSN, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateClient(ctx, &storage.Client{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	pg.Stop()
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	checks := map[string]error{"Ping": s.Ping(short)}
	_, checks["GetClient"] = s.GetClient(short, "c")
	checks["UseOnce"] = s.UseOnce(short, "ns", "k", time.Now().Add(time.Hour))
	_, checks["BeginTX"] = s.BeginTX(short)
	for name, err := range checks {
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s with the server down = %v, want ErrUnavailable", name, err)
		}
	}
	pg.Start(t)
	if _, err := s.GetClient(ctx, "c"); err != nil {
		t.Fatalf("GetClient after restart: %v", err)
	}
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
