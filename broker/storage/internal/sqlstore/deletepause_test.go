package sqlstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
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
	writing := make(chan struct{})
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
			if i == 0 {
				close(writing)
			}
		}
	}()
	// The cleanup starts once the other writer is under way: on a loaded machine
	// its goroutine could otherwise first run after the last batch.
	select {
	case <-writing:
	case <-done:
		t.FailNow() // its error is reported
	}
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
	b := &fakeBackend{expiredCodes: 2500}
	s := sqlstore.New(b, storage.Options{Logger: slog.New(slog.DiscardHandler)})
	if _, err := s.DeleteExpired(context.Background(), time.Now()); err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if b.commits == 0 || b.solo != b.commits {
		t.Errorf("%d of %d cleanup commits asked for a commit of their own; want all", b.solo, b.commits)
	}
}

// The first batch is the smallest and fast batches grow to DeleteBatch: a first
// batch of DeleteBatch rows held a busy writer for 166-203 ms at every cleanup's
// start.
func TestDeleteExpiredStartsSmall(t *testing.T) {
	const expired = 5000
	b := &fakeBackend{expiredCodes: expired}
	s := sqlstore.New(b, storage.Options{Logger: slog.New(slog.DiscardHandler)})
	n, err := s.DeleteExpired(context.Background(), time.Now())
	if err != nil || n != expired {
		t.Fatalf("DeleteExpired = %d, %v; want %d", n, err, expired)
	}
	if len(b.codeLimits) < 2 || b.codeLimits[0] != sqlstore.DeleteBatchMin {
		t.Fatalf("batch sizes %v; want the first at %d", b.codeLimits, sqlstore.DeleteBatchMin)
	}
	if last := b.codeLimits[len(b.codeLimits)-1]; last != sqlstore.DeleteBatch {
		t.Errorf("batch sizes %v; want fast batches to grow to %d", b.codeLimits, sqlstore.DeleteBatch)
	}
}

// fakeBackend has expiredCodes expired codes, deleted in the batches asked for
// (their sizes in codeLimits); every other statement affects no row. It counts
// the commits of its transactions, and those that asked for a commit of their
// own.
type fakeBackend struct {
	expiredCodes  int64
	codeLimits    []int64
	commits, solo int
}

func (b *fakeBackend) Reader() sqlstore.Querier                               { return fakeTx{b: b} }
func (b *fakeBackend) Writer() sqlstore.Querier                               { return fakeTx{b: b} }
func (b *fakeBackend) Begin(context.Context) (sqlstore.Tx, error)             { return fakeTx{b: b}, nil }
func (b *fakeBackend) LockAuditChain(context.Context, sqlstore.Querier) error { return nil }
func (b *fakeBackend) IsNoRows(error) bool                                    { return false }
func (b *fakeBackend) IsUnavailable(error) bool                               { return false }
func (b *fakeBackend) Ping(context.Context) error                             { return nil }
func (b *fakeBackend) Close() error                                           { return nil }

type fakeTx struct{ b *fakeBackend }

func (t fakeTx) Exec(_ context.Context, query string, args ...any) (int64, error) {
	if !strings.HasPrefix(query, "DELETE FROM oauth_codes ") || len(args) == 0 {
		return 0, nil
	}
	limit, ok := args[len(args)-1].(int)
	if !ok {
		return 0, fmt.Errorf("batch size %T, want int", args[len(args)-1])
	}
	t.b.codeLimits = append(t.b.codeLimits, int64(limit))
	n := min(int64(limit), t.b.expiredCodes)
	t.b.expiredCodes -= n
	return n, nil
}

func (fakeTx) Query(context.Context, string, ...any) (sqlstore.Rows, error) {
	return nil, fmt.Errorf("no query expected")
}
func (fakeTx) QueryRow(context.Context, string, ...any) sqlstore.Row { return nil }

func (t fakeTx) Commit(ctx context.Context) error {
	t.b.commits++
	if sqlstore.SoloCommit(ctx) {
		t.b.solo++
	}
	return nil
}

func (fakeTx) Rollback(context.Context) error { return nil }
