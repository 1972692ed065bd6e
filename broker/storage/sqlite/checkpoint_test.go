package sqlite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// bigMarker is a random marker of about 1.5 KB: a few of them fill a page.
func bigMarker(t *testing.T) string {
	b := make([]byte, 750)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestBackgroundCheckpointCopiesTheWAL: what the writer commits is copied into
// the database file by the checkpointer's own connection, without the writer's
// checkpoint (far fewer pages than its 1,000-page threshold are written here).
func TestBackgroundCheckpointCopiesTheWAL(t *testing.T) {
	s, b := groupEnv(t)
	ctx := context.Background()
	for i := range 20 {
		if err := member(ctx, s, fmt.Sprintf("m%d-%s", i, bigMarker(t)), false); err != nil {
			t.Fatal(err)
		}
	}
	c := b.checkpointer
	// Wait for a pass that read every write and copied it all: a pass that began
	// before the last write also finds frames == backfilled, and the passes still
	// due after it could land in the idle window below on a loaded machine (CI).
	deadline := time.Now().Add(10 * time.Second)
	for !(c.frames.Load() > 0 && c.caughtUpTo.Load() == b.w.commits.Load()) {
		if time.Now().After(deadline) {
			t.Fatalf("no pass copied every write within 10 s: frames %d, backfilled %d, caught up to write %d of %d, %d passes",
				c.frames.Load(), c.backfilled.Load(), c.caughtUpTo.Load(), b.w.commits.Load(), c.passes.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if c.frames.Load() >= 1000 {
		t.Fatalf("%d WAL frames: the writer's own checkpoint may have run, the test proves nothing", c.frames.Load())
	}
	// Idle now: the checkpointer stops running passes.
	n := c.passes.Load()
	time.Sleep(15 * checkpointEvery)
	if idle := c.passes.Load() - n; idle != 0 {
		t.Errorf("%d checkpoints on an idle store", idle)
	}
}

// TestCheckpointAfterTheLastCommit: a commit that ends while the checkpointer is
// idle, or after a pass ran during its transaction, still gets a pass: its pages
// reach the database file and the WAL is synced (what bounds the commits a
// power cut can lose, docs/operations.md). When the count the checkpointer
// watches went up as transactions began, the pass during the open transaction
// found everything before it copied and the checkpointer went idle for good.
func TestCheckpointAfterTheLastCommit(t *testing.T) {
	s, b := groupEnv(t)
	c := b.checkpointer
	if err := member(context.Background(), s, "first-"+bigMarker(t), false); err != nil {
		t.Fatal(err)
	}
	txCtx := hold(t, s, "last-"+bigMarker(t))
	// Passes run while the transaction is open (the checkpointer sees the
	// first commit, then nothing new).
	n := c.passes.Load()
	deadline := time.Now().Add(10 * time.Second)
	for c.passes.Load() < n+1 {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint pass while the transaction was open")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(5 * checkpointEvery)
	if err := s.Commit(txCtx); err != nil {
		t.Fatal(err)
	}
	after, passesThen := b.w.commits.Load(), c.passes.Load()
	// A pass after the commit that found it all copied.
	deadline = time.Now().Add(10 * time.Second)
	for c.passes.Load() == passesThen || c.caughtUpTo.Load() != after {
		if time.Now().After(deadline) {
			t.Fatalf("the last commit was never checkpointed: %d passes since it, caught up to commit %d of %d, frames %d, backfilled %d",
				c.passes.Load()-passesThen, c.caughtUpTo.Load(), after, c.frames.Load(), c.backfilled.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if f, bf := c.frames.Load(), c.backfilled.Load(); f == 0 || f != bf {
		t.Errorf("after the pass: %d WAL frames, %d copied", f, bf)
	}
}

// TestWALStaysBoundedUnderContinuousWrites: with the checkpointer copying from
// its own connection, the WAL file still restarts from its beginning (the
// writer's checkpoint finishes what the background one leaves), so it does not
// grow with what is written. About 40 MB go through the WAL here; its file
// stays near the writer's 1,000-page (4 MB) threshold.
func TestWALStaysBoundedUnderContinuousWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wal.db")
	s, err := Open(context.Background(), path, storage.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	const writers, each = 8, 1000
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := member(context.Background(), s, fmt.Sprintf("w%d-%d-%s", w, i, bigMarker(t)), false); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Backend().(*backend).checkpointer; c.passes.Load() == 0 {
		t.Error("the background checkpointer never ran")
	}
	if st.Size() > 16<<20 {
		t.Errorf("WAL file %d MB after %d transactions: it no longer restarts", st.Size()>>20, writers*each)
	}
}
