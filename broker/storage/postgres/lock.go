package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/justiceconnect/justiceconnect/broker/storage"
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
// lock on a connection taken out of the pool until Release. Session locks end with
// their session, so a node that dies (or loses its connection) releases the lock
// without anyone's help; transaction-level locks would instead hold a transaction
// open for the whole job. The store's Close waits for held locks to be released
// (the pool waits for every borrowed connection), so holders release first.
func (b *backend) TryAdvisoryLock(ctx context.Context, name string) (storage.Lease, bool, error) {
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
	return &lease{conn: conn, key: key}, true, nil
}

// lease is a session advisory lock held on a connection out of the pool.
type lease struct {
	mu       sync.Mutex
	conn     *pgxpool.Conn
	key      int64
	lost     error
	released bool
}

// Held asks PostgreSQL whether this session still holds the lock (pg_locks, the
// session's own advisory lock on key). A dead connection, or a session that no
// longer holds it, is final: the lock may belong to another node now.
func (l *lease) Held(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return errors.New("advisory lock released")
	}
	if l.lost != nil {
		return l.lost
	}
	// pg_locks splits a bigint advisory key into classid (high 32 bits) and
	// objid (low 32 bits), with objsubid 1 (PostgreSQL docs, pg_locks).
	var held bool
	err := l.conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks
		WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
		AND objsubid = 1 AND classid::bigint = (($1::bigint >> 32) & 4294967295)
		AND objid::bigint = ($1::bigint & 4294967295))`, l.key).Scan(&held)
	switch {
	case err != nil && ctx.Err() != nil:
		// Our own deadline, not an answer about the lock.
		return err
	case err != nil:
		l.lost = fmt.Errorf("advisory lock connection lost: %w", err)
	case !held:
		l.lost = errors.New("advisory lock no longer held by this session")
	}
	return l.lost
}

// Release implements storage.Lease.
func (l *lease) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return
	}
	l.released = true
	ctx, cancel := context.WithTimeout(context.Background(), unlockTimeout)
	defer cancel()
	var released bool
	if err := l.conn.QueryRow(ctx, "SELECT pg_advisory_unlock($1)", l.key).Scan(&released); err != nil || !released {
		// A pooled connection still holding the lock would keep it for
		// whoever borrows it next: close it (ending the session ends
		// the lock) rather than return it.
		_ = l.conn.Conn().Close(ctx)
	}
	l.conn.Release()
}
