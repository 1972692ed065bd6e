package broker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// runExclusive runs fn every period on at most one node of those sharing the
// store, until ctx ends. At each tick the node that holds the job's advisory lock
// releases it and takes it again at once, then runs fn; a node that finds the lock
// held skips that period. So the holder keeps the job while it lives, the others
// stay idle, and when the holder dies its database connection (and so the lock)
// goes with it: another node takes over at its next tick, within one period.
//
// fn must stay idempotent: if the holder loses its connection in the middle of a
// period (a database restart), another node may run fn in the same period before
// the former holder notices at its next tick.
//
// Every background job that must not run on every node at once (expired rows,
// key pruning, reports) should go through here with its own name.
func runExclusive(ctx context.Context, locker storage.Locker, logger *slog.Logger, name string, period time.Duration, fn func(ctx context.Context)) {
	t := time.NewTicker(period)
	defer t.Stop()
	var unlock func()
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	leading := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if unlock != nil {
			unlock()
			unlock = nil
		}
		u, ok, err := locker.TryAdvisoryLock(ctx, name)
		switch {
		case err != nil:
			if !errors.Is(err, context.Canceled) {
				logger.Warn("background: cannot take the job's lock; skipped this time", "job", name, "err", err)
			}
			leading = false
			continue
		case !ok:
			if leading {
				logger.Info("background: another node runs the job now", "job", name)
			}
			leading = false
			continue
		}
		unlock = u
		if !leading {
			logger.Info("background: this node runs the job", "job", name)
			leading = true
		}
		fn(ctx)
	}
}
