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
