package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
)

// advisoryKey maps a lock name to pg_try_advisory_lock's bigint key: the first
// eight bytes of SHA-256("justiceconnect:lock:" + name). The prefix keeps the keys
// apart from the constants used for migrations and the audit chain, and from other
// users of the same database.
func advisoryKey(name string) int64 {
	h := sha256.Sum256([]byte("justiceconnect:lock:" + name))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

// unlockTimeout bounds the unlock statement: after a database restart the held
// connection is dead and the lock already gone.
const unlockTimeout = 5 * time.Second

// TryAdvisoryLock implements sqlstore.AdvisoryLocker with a session-level advisory
// lock on a connection taken out of the pool until unlock. Session locks end with
// their session, so a node that dies (or loses its connection) releases the lock
// without anyone's help; transaction-level locks would instead hold a transaction
// open for the whole job. The store's Close waits for held locks to be unlocked
// (the pool waits for every borrowed connection), so holders unlock first.
func (b *backend) TryAdvisoryLock(ctx context.Context, name string) (func(), bool, error) {
	key := advisoryKey(name)
	conn, err := b.pool.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		// The connection's state is unknown (the lock may have been granted just
		// before the failure): never give it back to the pool.
		_ = conn.Conn().Close(context.Background())
		conn.Release()
		return nil, false, err
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
			defer cancel()
			var released bool
			if err := conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", key).Scan(&released); err != nil || !released {
				// A pooled connection still holding the lock would keep it for
				// whoever borrows it next: close it (ending the session ends
				// the lock) rather than return it.
				_ = conn.Conn().Close(ctx)
			}
			conn.Release()
		})
	}, true, nil
}
