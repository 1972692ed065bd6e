package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// checkpointEvery is how often the background checkpointer copies the WAL's new
// pages into the database file when something was written. Measured with the SSO
// code flow (BenchmarkBrokerSSOLatency): every 3 ms cost a fifth of the
// saturated rate; every 30 ms left p99 at one flow in flight at 13 ms against
// 9 ms.
const checkpointEvery = 10 * time.Millisecond

// checkpointer copies the WAL into the database file from a connection of its
// own, so that the writer's checkpoint finds little left to do.
//
// SQLite's automatic checkpoint (wal_autocheckpoint, 1,000 pages) runs on the
// writer connection, at the commit that crosses the threshold: it syncs the WAL,
// copies its pages into the database file and syncs that file. The two fsyncs
// cost in proportion to the pages written since the last (about 15 ms for 1,000
// pages on the test machine), and every transaction of the group, and every one
// queued behind it, waits for them: they were the SSO code flow's p99 even with
// one flow at a time (22–30 ms, against a p50 of 3 ms; 6–8 ms with
// synchronous=OFF, which is not an option: a checkpoint not synced can lose
// committed data in a power cut).
//
// A PASSIVE checkpoint from another connection does the same copy and syncs
// while the writer goes on (https://sqlite.org/c3ref/wal_checkpoint_v2.html),
// so the writer's own checkpoint now copies and syncs only the pages written
// since the last background pass. The writer's checkpoint stays: the WAL file
// restarts from its beginning only when a write starts after a checkpoint that
// copied every frame, and under continuous writes only the writer can see to
// that (a background checkpoint alone lets the WAL grow without end; tried,
// PERFORMANCE.md).
type checkpointer struct {
	db *sql.DB
	// commits is the writer's commits so far, each counted once it has ended: a
	// count taken when a transaction starts would let a pass run during its
	// COMMIT, find everything before it copied, and go idle with that commit's
	// pages left uncopied and the WAL unsynced until the next write.
	commits func() int64
	logger  *slog.Logger
	stop    context.CancelFunc
	done    sync.WaitGroup
	// passes counts the checkpoints run; frames and backfilled are the last
	// one's WAL frames and how many of them are in the database file; caughtUpTo
	// is the writer's commit count a pass found all copied at, -1 when the
	// last pass left frames behind (tests).
	passes, frames, backfilled, caughtUpTo atomic.Int64
}

func startCheckpointer(db *sql.DB, commits func() int64, logger *slog.Logger) *checkpointer {
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	ctx, stop := context.WithCancel(context.Background())
	c := &checkpointer{db: db, commits: commits, logger: logger, stop: stop}
	c.caughtUpTo.Store(-1)
	c.done.Add(1)
	go c.run(ctx)
	return c
}

func (c *checkpointer) run(ctx context.Context) {
	defer c.done.Done()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	failing, caughtUp := false, false
	seen := int64(-1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w := c.commits()
		if w == seen && caughtUp {
			continue // nothing committed since the last pass copied it all (idle)
		}
		seen = w
		// PASSIVE never waits for the writer or the readers: it copies what it
		// can. Its row: whether it was busy, the WAL's frames, the frames copied
		// into the database file so far.
		var busy, frames, backfilled int64
		err := c.db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &backfilled)
		caughtUp = err == nil && frames == backfilled
		if err == nil {
			c.passes.Add(1)
			c.frames.Store(frames)
			c.backfilled.Store(backfilled)
			if caughtUp {
				c.caughtUpTo.Store(w)
			} else {
				c.caughtUpTo.Store(-1)
			}
		}
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			// The writer's own checkpoint still runs: logged once, not fatal.
			c.logger.Warn("storage: sqlite: background checkpoint", "err", err)
			failing = true
		case err == nil && failing:
			c.logger.Info("storage: sqlite: background checkpoint works again")
			failing = false
		}
	}
}

func (c *checkpointer) close() error {
	c.stop()
	c.done.Wait()
	return c.db.Close()
}
