package sqlstore

import (
	"context"
)

// Querier runs statements on a connection pool or inside a transaction.
type Querier interface {
	// Exec runs a statement and returns the number of rows it affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Rows is a result set; Close must be called before the next statement on the same
// transaction (pgx allows one open result per connection).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a single-row result; Scan returns the backend's no-rows error when empty.
type Row interface {
	Scan(dest ...any) error
}

// Tx is a write transaction.
type Tx interface {
	Querier
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Deferrer is a Tx that can put off a write until its next write, a read of the
// same table, or its commit, so that it does not take a lock early. check, if
// not nil, judges the number of rows the write affected; its error, or the
// write's, fails that statement or the commit.
type Deferrer interface {
	ExecLater(table string, check func(n int64) error, query string, args ...any)
}

// Backend is what a database package provides to the shared store.
type Backend interface {
	// Reader runs reads outside a transaction.
	Reader() Querier
	// Writer runs single-statement writes outside a transaction.
	Writer() Querier
	// Begin starts a write transaction. SQLite takes the write lock at BEGIN
	// (BEGIN IMMEDIATE) so that a transaction that reads then writes never fails
	// with SQLITE_BUSY halfway; PostgreSQL uses READ COMMITTED and row locks.
	Begin(ctx context.Context) (Tx, error)
	// LockAuditChain serialises audit appends inside tx until it ends.
	LockAuditChain(ctx context.Context, tx Querier) error
	// IsNoRows reports the backend's "no rows" error.
	IsNoRows(err error) bool
	// IsUnavailable reports errors that mean the database cannot be reached or is
	// overloaded (connection refused or lost, SQLITE_BUSY past busy_timeout).
	IsUnavailable(err error) bool
	Ping(ctx context.Context) error
	Close() error
}

// soloCommitKey marks the context of a transaction that a SingleWriter commits
// as soon as it ends, instead of leaving its group commit open for the
// transactions waiting behind it.
type soloCommitKey struct{}

// WithSoloCommit marks ctx for a commit of its own: the cleanup's batches, so
// that a batch's commit does not wait for the group's other members and its
// duration is the batch's own.
func WithSoloCommit(ctx context.Context) context.Context {
	return context.WithValue(ctx, soloCommitKey{}, true)
}

// SoloCommit reports a context marked by WithSoloCommit.
func SoloCommit(ctx context.Context) bool {
	solo, _ := ctx.Value(soloCommitKey{}).(bool)
	return solo
}

// SingleWriter is a Backend whose writes all go through one connection, one
// transaction at a time (SQLite). WriterUses counts the transactions that have
// asked for that connection so far: a count that moved by no more than one's own
// use means nobody else wrote meanwhile.
type SingleWriter interface {
	WriterUses() int64
}
