package storage

import "context"

// Locker runs background work on one node at a time when several broker nodes
// share a database (DESIGN.md, Storage: expired rows are deleted in the background,
// and that is a job for one node, not for all of them at once).
type Locker interface {
	// TryAdvisoryLock takes the lock called name without waiting. ok is false when
	// another holder (another node, or another store on the same database) has it;
	// err reports a database that cannot be asked. When ok, the caller holds the
	// lock until it calls the lease's Release or until its database connection
	// ends, whichever comes first: a node that dies never keeps the lock.
	//
	// PostgreSQL holds a session advisory lock (pg_try_advisory_lock on a key
	// derived from name) on a connection set aside until Release. SQLite always
	// answers ok: one process owns the file.
	TryAdvisoryLock(ctx context.Context, name string) (lease Lease, ok bool, err error)
}

// Lease is a held advisory lock.
type Lease interface {
	// Held reports whether the lock is still held: nil while the connection
	// holding it lives, an error once it is gone (a database restart or a
	// severed network ended the session, and with it the lock, which another
	// node may hold now). A lease that is not held never becomes held again.
	Held(ctx context.Context) error
	// Release gives the lock back. Idempotent, and safe to call after the
	// database went away.
	Release()
}

// GrantedLease is the lease of a database one process owns (SQLite): always held.
type GrantedLease struct{}

// Held implements Lease.
func (GrantedLease) Held(context.Context) error { return nil }

// Release implements Lease.
func (GrantedLease) Release() {}
