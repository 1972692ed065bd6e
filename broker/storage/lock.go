package storage

import "context"

// Locker runs background work on one node at a time when several broker nodes
// share a database (DESIGN.md, Storage: expired rows are deleted in the background,
// and that is a job for one node, not for all of them at once).
type Locker interface {
	// TryAdvisoryLock takes the lock called name without waiting. ok is false when
	// another holder (another node, or another store on the same database) has it;
	// err reports a database that cannot be asked. When ok, the caller holds the
	// lock until it calls unlock (idempotent, safe to call after the database went
	// away) or until its database connection ends, whichever comes first: a node
	// that dies never keeps the lock.
	//
	// PostgreSQL holds a session advisory lock (pg_try_advisory_lock on a key
	// derived from name) on a connection set aside until unlock. SQLite always
	// answers ok: one process owns the file.
	TryAdvisoryLock(ctx context.Context, name string) (unlock func(), ok bool, err error)
}
