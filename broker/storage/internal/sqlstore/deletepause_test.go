package sqlstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/internal/sqlstore"
	"github.com/justiceconnect/justiceconnect/broker/storage/sqlite"
)

// On SQLite's single writer, the cleanup pauses between batches only when other
// transactions wrote during a batch: an idle store deletes its backlog without
// pauses, a busy one leaves the writer to the requests between batches.
func TestDeleteExpiredPausesOnlyWhenOthersWrite(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jc.db"), storage.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var pauses atomic.Int64
	t.Cleanup(sqlstore.SetDeletePauseHook(func(time.Duration) { pauses.Add(1) }))

	now := time.Now()
	const expired = 3 * sqlstore.DeleteBatch // three full batches at least
	backlog := func(prefix string) {
		t.Helper()
		tctx, err := s.BeginTX(ctx)
		if err != nil {
			t.Fatalf("BeginTX: %v", err)
		}
		for i := range expired {
			if err := s.UseOnce(tctx, "backlog", fmt.Sprintf("%s-%d", prefix, i), now.Add(-time.Minute)); err != nil {
				t.Fatalf("UseOnce: %v", err)
			}
		}
		if err := s.Commit(tctx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	}

	backlog("idle")
	n, err := s.DeleteExpired(ctx, now)
	if err != nil || n != expired {
		t.Fatalf("idle store: DeleteExpired = %d, %v; want %d", n, err, expired)
	}
	if p := pauses.Load(); p != 0 {
		t.Errorf("idle store: %d pauses between batches, want none", p)
	}

	backlog("busy")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.UseOnce(ctx, "requests", fmt.Sprint(i), now.Add(time.Hour)); err != nil {
				t.Errorf("concurrent write: %v", err)
				return
			}
		}
	}()
	n, err = s.DeleteExpired(ctx, now)
	close(stop)
	<-done
	if err != nil || n != expired {
		t.Fatalf("busy store: DeleteExpired = %d, %v; want %d", n, err, expired)
	}
	if pauses.Load() == 0 {
		t.Errorf("busy store: no pause between batches while another transaction kept writing")
	}
}

// Each cleanup batch asks for a commit of its own (WithSoloCommit): in a group
// commit its duration would include the transactions that joined the group after
// it, and the batches would shrink under load for no cost of theirs.
func TestDeleteExpiredCommitsAlone(t *testing.T) {
	b := &commitsBackend{}
	s := sqlstore.New(b, storage.Options{Logger: slog.New(slog.DiscardHandler)})
	if _, err := s.DeleteExpired(context.Background(), time.Now()); err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if b.commits == 0 || b.solo != b.commits {
		t.Errorf("%d of %d cleanup commits asked for a commit of their own; want all", b.solo, b.commits)
	}
}

// commitsBackend counts the commits of its transactions, and those that asked
// for a commit of their own; every statement affects no row.
type commitsBackend struct{ commits, solo int }

func (b *commitsBackend) Reader() sqlstore.Querier                               { return noRows{} }
func (b *commitsBackend) Writer() sqlstore.Querier                               { return noRows{} }
func (b *commitsBackend) Begin(context.Context) (sqlstore.Tx, error)             { return &countedTx{b: b}, nil }
func (b *commitsBackend) LockAuditChain(context.Context, sqlstore.Querier) error { return nil }
func (b *commitsBackend) IsNoRows(error) bool                                    { return false }
func (b *commitsBackend) IsUnavailable(error) bool                               { return false }
func (b *commitsBackend) Ping(context.Context) error                             { return nil }
func (b *commitsBackend) Close() error                                           { return nil }

type countedTx struct {
	noRows
	b *commitsBackend
}

func (t *countedTx) Commit(ctx context.Context) error {
	t.b.commits++
	if sqlstore.SoloCommit(ctx) {
		t.b.solo++
	}
	return nil
}

func (t *countedTx) Rollback(context.Context) error { return nil }

type noRows struct{}

func (noRows) Exec(context.Context, string, ...any) (int64, error) { return 0, nil }
func (noRows) Query(context.Context, string, ...any) (sqlstore.Rows, error) {
	return nil, fmt.Errorf("no query expected")
}
func (noRows) QueryRow(context.Context, string, ...any) sqlstore.Row { return nil }
