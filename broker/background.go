package broker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// runExclusive runs fn every period on at most one node of those sharing the
// store, until ctx ends. The node that takes the job's advisory lock keeps it
// while it lives and runs fn at each tick; the others try to take the lock at
// each tick and stay idle while it is held. Before each run the holder asks
// whether it still holds the lock (Lease.Held): when its database connection
// died (a database restart, a severed network) the lock went with it and
// another node may hold it now, so the former holder lets it go and competes
// again like the others. When the holder dies, another node takes over at its
// next tick, within one period.
//
// fn must stay idempotent: if the holder loses its connection in the middle of a
// period, another node may run fn in the same period before the former holder
// notices at its next tick.
//
// Every background job that must not run on every node at once (expired rows,
// key pruning, reports) should go through here with its own name.
func runExclusive(ctx context.Context, locker storage.Locker, logger *slog.Logger, name string, period time.Duration, fn func(ctx context.Context)) {
	t := time.NewTicker(period)
	defer t.Stop()
	var lease storage.Lease
	defer func() {
		if lease != nil {
			lease.Release()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if lease != nil {
			err := lease.Held(ctx)
			if err != nil && ctx.Err() != nil {
				return
			}
			if err != nil {
				logger.Warn("background: this node lost the job's lock", "job", name, "err", err)
				lease.Release()
				lease = nil
			}
		}
		if lease == nil {
			l, ok, err := locker.TryAdvisoryLock(ctx, name)
			switch {
			case err != nil:
				if !errors.Is(err, context.Canceled) {
					logger.Warn("background: cannot take the job's lock; skipped this time", "job", name, "err", err)
				}
				continue
			case !ok:
				continue
			}
			lease = l
			logger.Info("background: this node runs the job", "job", name)
		}
		fn(ctx)
	}
}
