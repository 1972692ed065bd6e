package keys

import (
	"context"
	"fmt"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// storeLockName is the advisory lock that key writes take on a shared database.
const storeLockName = "keys"

// Waiting for the store lock: key writes last milliseconds (an RSA key is generated
// while the lock is held, a few hundred milliseconds on a loaded 2-core machine), so
// a node that still holds it after storeLockWait is stuck, and the caller is told.
const (
	storeLockPoll = 20 * time.Millisecond
	storeLockWait = 30 * time.Second
)

// lockWrites serialises key writes: writeMu between this node's own writers, and,
// when the store is shared (storage.Locker), the advisory lock "keys" between nodes.
// Without the cross-node lock, nodes starting together each read an empty store,
// each create keys, and converge only by retiring the duplicates; with three nodes
// writing one key at a time, a node could keep seeing new duplicates until it gave
// up (a three-node start failed that way). The retry in Ensure stays for a node of a
// previous release, which writes without the lock.
func (m *Manager) lockWrites(ctx context.Context) (unlock func(), err error) {
	m.writeMu.Lock()
	locker, shared := m.store.(storage.Locker)
	if !shared {
		return m.writeMu.Unlock, nil
	}
	lease, err := m.waitStoreLock(ctx, locker)
	if err != nil {
		m.writeMu.Unlock()
		return nil, err
	}
	return func() {
		lease.Release()
		m.writeMu.Unlock()
	}, nil
}

func (m *Manager) waitStoreLock(ctx context.Context, locker storage.Locker) (storage.Lease, error) {
	deadline := time.Now().Add(storeLockWait)
	for {
		lease, ok, err := locker.TryAdvisoryLock(ctx, storeLockName)
		if err != nil {
			return nil, fmt.Errorf("key lock: %w", err)
		}
		if ok {
			return lease, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("key lock: another node has held it for more than %s", storeLockWait)
		}
		t := time.NewTimer(storeLockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("key lock: %w", ctx.Err())
		case <-t.C:
		}
	}
}
