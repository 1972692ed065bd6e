package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/justiceconnect/justiceconnect/broker/storage/internal/sqlstore"
)

// maxBatch bounds how many transactions share one commit: more amortises the
// commit further but makes the first member of a batch wait for the others.
const maxBatch = 16

// stmtCacheMax bounds the prepared statement caches: most queries are constants,
// but a few are built from variable lists (IN (...)) and must not grow the cache
// without bound.
const stmtCacheMax = 256

// errRolledBack says a transaction gave up after one of its statements failed.
var errRolledBack = errors.New("transaction rolled back after a failed statement")

// groupWriter owns the only write connection and commits the store's transactions
// in groups.
//
// SQLite has one writer at a time and a commit costs a WAL write, so two changes
// keep the lock short and the commits few:
//
//   - A transaction begins lazily (lazyTx): nothing is locked until its first
//     write, so what a caller does between BeginTX and its first write (fosite
//     signs tokens there) runs on every core in parallel.
//   - Group commit: the statements of one transaction run inside a SAVEPOINT of a
//     shared outer transaction (BEGIN IMMEDIATE); when it ends, the next waiting
//     transaction runs in the same outer transaction, and the last one of the
//     group (no one waiting, or maxBatch members) commits for all. Each caller's
//     Commit returns only after that COMMIT: durability is unchanged, and a group
//     whose COMMIT fails fails every member, which all roll back together (one
//     SQLite transaction, never a half-written group).
//
// Members run one after the other on one connection, so a member sees the writes
// of the members before it, exactly as if they had committed: the audit chain is
// read and extended in member order.
type groupWriter struct {
	conn *sql.Conn
	// sem holds the connection: a member takes it at its first statement and
	// gives it back when it ends.
	sem chan struct{}
	// waiting counts members blocked on sem; a member that ends while others wait
	// leaves the group open for them.
	waiting atomic.Int64
	// uses counts the transactions that have asked for the connection, so that
	// the cleanup can tell whether anyone else wrote during its batch.
	uses   atomic.Int64
	closed atomic.Bool
	// commits counts the group commits that have ended (tests, and the
	// checkpointer: counted after the COMMIT, so that a checkpoint pass that
	// saw the count did not run before that commit's pages reached the WAL).
	commits atomic.Int64

	// Guarded by sem.
	open    bool   // the outer transaction is open
	cur     *group // the open group
	members int    // members that ended with RELEASE in cur
	stmts   map[string]*sql.Stmt
}

// group is one outer transaction; done closes after its COMMIT or ROLLBACK.
type group struct {
	done chan struct{}
	err  error
}

func newGroupWriter(conn *sql.Conn) *groupWriter {
	return &groupWriter{conn: conn, sem: make(chan struct{}, 1), stmts: map[string]*sql.Stmt{}}
}

var errClosed = errors.New("sql: database is closed")

// acquire takes the connection; it honours ctx while waiting.
func (w *groupWriter) acquire(ctx context.Context) error {
	w.uses.Add(1)
	w.waiting.Add(1)
	select {
	case w.sem <- struct{}{}:
		w.waiting.Add(-1)
	case <-ctx.Done():
		w.waiting.Add(-1)
		// The member holding the connection may have left the group open for
		// us: make sure someone commits it.
		go w.flush()
		return ctx.Err()
	}
	if w.closed.Load() {
		<-w.sem
		return errClosed
	}
	return nil
}

// flush commits the open group if no one else is waiting to join it.
func (w *groupWriter) flush() {
	w.sem <- struct{}{}
	if w.open && w.waiting.Load() == 0 {
		w.commitLocked()
	}
	<-w.sem
}

// stmt returns a prepared statement for query on the connection (sem held).
func (w *groupWriter) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	if len(w.stmts) >= stmtCacheMax {
		return nil, nil
	}
	st, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

func (w *groupWriter) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return w.conn.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// begin opens the outer transaction if needed and a savepoint for one member.
func (w *groupWriter) begin(ctx context.Context) error {
	if !w.open {
		if _, err := w.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
			return err
		}
		w.open, w.cur, w.members = true, &group{done: make(chan struct{})}, 0
	}
	_, err := w.exec(ctx, "SAVEPOINT member")
	if err != nil {
		// Without the savepoint the member cannot be undone alone.
		w.abortLocked(err)
	}
	return err
}

// commitLocked commits the open group and tells its members.
func (w *groupWriter) commitLocked() {
	g := w.cur
	if _, err := w.exec(context.Background(), "COMMIT"); err != nil {
		// A failed COMMIT (SQLITE_FULL, SQLITE_IOERR, SQLITE_BUSY) may leave the
		// transaction open: roll it back so that nothing of the group remains.
		_, _ = w.conn.ExecContext(context.Background(), "ROLLBACK")
		g.err = err
	}
	w.commits.Add(1)
	w.open, w.cur, w.members = false, nil, 0
	close(g.done)
}

// abortLocked rolls the whole group back: a member could not be undone alone
// (SQLite itself rolls back the transaction on some errors, SQLITE_FULL among
// them), so no member's writes may be committed.
func (w *groupWriter) abortLocked(cause error) {
	if !w.open {
		return
	}
	g := w.cur
	_, _ = w.conn.ExecContext(context.Background(), "ROLLBACK")
	g.err = fmt.Errorf("group rolled back: %w", cause)
	w.open, w.cur, w.members = false, nil, 0
	close(g.done)
}

// end finishes a member (sem held) and gives the connection back. It commits the
// group when no one waits to join it, when it is full, or when the member
// asked for a commit of its own (sqlstore.SoloCommit). It returns the group the
// member joined, or nil when the member left nothing in it (rolled back).
func (w *groupWriter) end(ctx context.Context, commit bool) (*group, error) {
	// A cancelled caller must not make RELEASE fail: that would fail the group.
	ctx = context.WithoutCancel(ctx)
	var g *group
	var err error
	if commit {
		if _, err = w.exec(ctx, "RELEASE member"); err != nil {
			w.abortLocked(err)
		} else {
			g = w.cur
			w.members++
		}
	} else if w.open {
		if _, err = w.exec(ctx, "ROLLBACK TO member"); err == nil {
			_, err = w.exec(ctx, "RELEASE member")
		}
		if err != nil {
			w.abortLocked(err)
		}
	}
	if w.open && (w.waiting.Load() == 0 || w.members >= maxBatch || sqlstore.SoloCommit(ctx)) {
		if w.members == 0 {
			// Nothing to keep: end the transaction without a WAL write.
			w.abortLocked(errors.New("empty group"))
		} else {
			w.commitLocked()
		}
	}
	<-w.sem
	return g, err
}

// close commits an open group and closes the connection.
func (w *groupWriter) close() error {
	w.sem <- struct{}{}
	defer func() { <-w.sem }()
	w.closed.Store(true)
	if w.open {
		w.commitLocked()
	}
	for _, st := range w.stmts {
		_ = st.Close()
	}
	return w.conn.Close()
}

// ping checks the write connection without taking it from a member.
func (w *groupWriter) ping(ctx context.Context) error {
	if w.closed.Load() {
		return errClosed
	}
	return w.conn.PingContext(ctx)
}

// lazyTx is one store transaction: it takes the connection at its first write
// (or at LockAuditChain) and keeps it until Commit or Rollback.
type lazyTx struct {
	w      *groupWriter
	r      sqlstore.Querier // the reader pool, for reads before the first write
	mu     sync.Mutex       // sqlstore calls a transaction from one goroutine; this guards misuse
	held   bool
	done   bool
	failed error
	// stop cancels the watch that rolls the transaction back when the context of
	// its first write ends first (a handler that panicked or returned without
	// Commit or Rollback), as database/sql does for a transaction begun with a
	// context, so that the writer is never kept by an abandoned transaction.
	stop  func() bool
	later []pendingExec // ExecLater statements not run yet
}

type pendingExec struct {
	table string
	check func(n int64) error
	query string
	args  []any
}

var (
	_ sqlstore.Tx       = (*lazyTx)(nil)
	_ sqlstore.Deferrer = (*lazyTx)(nil)
)

// ExecLater implements sqlstore.Deferrer: the statement runs when the
// transaction takes the writer (its first write, a read of table, or its
// commit).
func (t *lazyTx) ExecLater(table string, check func(n int64) error, query string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := pendingExec{table, check, query, args}
	if t.held && t.check() == nil {
		// The writer is already ours: run it now, in order with the others.
		t.run(p) //nolint:errcheck // reported by the next statement or the commit
		return
	}
	t.later = append(t.later, p)
}

// run executes a put-off statement (writer held) and records its failure.
func (t *lazyTx) run(p pendingExec) error {
	res, err := t.w.exec(context.Background(), p.query, p.args...)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && p.check != nil {
			err = p.check(n)
		}
	}
	if err != nil && t.failed == nil {
		t.failed = err
	}
	return err
}

// pendingOn reports a put-off write to a table query reads: the read must see it.
func (t *lazyTx) pendingOn(query string) bool {
	for _, p := range t.later {
		if strings.Contains(query, p.table) {
			return true
		}
	}
	return false
}

// isRead reports a plain SELECT; an UPDATE ... RETURNING read through Query is a
// write.
func isRead(query string) bool {
	q := strings.TrimLeft(query, " \t\n")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

// check reports a transaction that can run no more statements.
func (t *lazyTx) check() error {
	if t.done {
		return errors.New("storage: sqlite: transaction already ended")
	}
	if t.failed != nil {
		return fmt.Errorf("%w: %w", errRolledBack, t.failed)
	}
	return nil
}

func (t *lazyTx) start(ctx context.Context) error {
	if err := t.check(); err != nil {
		return err
	}
	if t.held {
		return nil
	}
	if err := t.w.acquire(ctx); err != nil {
		return err
	}
	if err := t.w.begin(context.WithoutCancel(ctx)); err != nil {
		t.w.end(ctx, false) //nolint:errcheck // the begin error is the one to report
		t.done = true
		return err
	}
	t.held = true
	t.stop = context.AfterFunc(ctx, t.abandon)
	later := t.later
	t.later = nil
	for _, p := range later {
		if err := t.run(p); err != nil {
			return err
		}
	}
	return nil
}

// abandon rolls back a transaction still holding the writer when its context ends.
func (t *lazyTx) abandon() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.held && !t.done {
		t.done = true
		t.w.end(context.Background(), false) //nolint:errcheck // nobody to report to
	}
}

// release stops the abandon watch; the caller ends the transaction.
func (t *lazyTx) release() {
	if t.stop != nil {
		t.stop()
	}
}

// fail records a statement error: the transaction can then only roll back.
func (t *lazyTx) fail(err error) error {
	if err != nil && !errors.Is(err, sql.ErrNoRows) && t.failed == nil {
		t.failed = err
	}
	return err
}

// Statements run without the caller's cancellation: SQLite answers an interrupt
// during a write by rolling back the whole transaction, which is shared by the
// group; a cancelled caller still stops waiting in acquire.
func (t *lazyTx) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.start(ctx); err != nil {
		return 0, err
	}
	res, err := t.w.exec(context.WithoutCancel(ctx), query, args...)
	if err != nil {
		return 0, t.fail(err)
	}
	n, err := res.RowsAffected()
	return n, t.fail(err)
}

// Query and QueryRow read from the reader pool until the transaction's first
// write: like PostgreSQL's READ COMMITTED, a read sees what is committed, and the
// writes that depend on it are conditional (InvalidateAuthorizeCodeSession,
// RotateRefreshToken update only an active row), so reading first does not hold
// the writer while the caller works on what it read (fosite re-reads the code,
// then signs two tokens). After the first write, reads see the transaction's own
// writes. The audit chain head is read after LockAuditChain, which takes the
// writer.
func (t *lazyTx) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return nil, err
	}
	if !t.held && isRead(query) && !t.pendingOn(query) {
		return t.r.Query(ctx, query, args...)
	}
	if err := t.start(ctx); err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	st, err := t.w.stmt(ctx, query)
	if err != nil {
		return nil, t.fail(err)
	}
	var rows *sql.Rows
	if st == nil {
		rows, err = t.w.conn.QueryContext(ctx, query, args...)
	} else {
		rows, err = st.QueryContext(ctx, args...)
	}
	if err != nil {
		return nil, t.fail(err)
	}
	return txRows{sqlRows{rows}, t}, nil
}

func (t *lazyTx) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.check(); err != nil {
		return errRow{err}
	}
	if !t.held && isRead(query) && !t.pendingOn(query) {
		return t.r.QueryRow(ctx, query, args...)
	}
	if err := t.start(ctx); err != nil {
		return errRow{err}
	}
	ctx = context.WithoutCancel(ctx)
	st, err := t.w.stmt(ctx, query)
	if err != nil {
		return errRow{t.fail(err)}
	}
	if st == nil {
		return txRow{t.w.conn.QueryRowContext(ctx, query, args...), t}
	}
	return txRow{st.QueryRowContext(ctx, args...), t}
}

// Commit waits for the group's COMMIT. A transaction that ran no statement has
// nothing to commit.
func (t *lazyTx) Commit(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return errors.New("storage: sqlite: transaction already ended")
	}
	if !t.held && len(t.later) > 0 && t.failed == nil {
		if err := t.start(ctx); err != nil && !t.held {
			t.done = true
			return err
		}
	}
	t.done = true
	if !t.held {
		if t.failed != nil {
			return fmt.Errorf("%w: %w", errRolledBack, t.failed)
		}
		return nil
	}
	t.release()
	if t.failed != nil {
		t.w.end(ctx, false) //nolint:errcheck // the statement's error is the one to report
		return fmt.Errorf("%w: %w", errRolledBack, t.failed)
	}
	g, err := t.w.end(ctx, true)
	if err != nil {
		return err
	}
	<-g.done
	return g.err
}

// Rollback undoes this transaction's statements only; the group goes on.
func (t *lazyTx) Rollback(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	if !t.held {
		return nil
	}
	t.release()
	_, err := t.w.end(ctx, false)
	return err
}

type txRow struct {
	r *sql.Row
	t *lazyTx
}

// Scan records a failed read (but not "no rows") as a failed statement. The
// transaction's mutex is not taken: sqlstore scans a row before its next
// statement on the same transaction.
func (r txRow) Scan(dest ...any) error { return r.t.fail(r.r.Scan(dest...)) }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type txRows struct {
	sqlRows
	t *lazyTx
}

func (r txRows) Err() error { return r.t.fail(r.Rows.Err()) }

// autocommitWriter runs a single statement outside a store transaction as its own
// member of a group, so it queues with the transactions instead of competing for
// the connection.
type autocommitWriter struct{ w *groupWriter }

// hold returns a transaction that already holds the writer, for a statement that
// must run on it even though it is read through Query or QueryRow.
func (a autocommitWriter) hold(ctx context.Context) (*lazyTx, error) {
	t := &lazyTx{w: a.w}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t, t.start(ctx)
}

func (a autocommitWriter) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	t := &lazyTx{w: a.w}
	n, err := t.Exec(ctx, query, args...)
	if err != nil {
		_ = t.Rollback(ctx)
		return 0, err
	}
	return n, t.Commit(ctx)
}

func (a autocommitWriter) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	// A statement with RETURNING reads its result after the write; buffering it
	// would be needed to commit first. No caller writes through Query outside a
	// transaction, so run it in a transaction committed when the rows close.
	t, err := a.hold(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := t.Query(ctx, query, args...)
	if err != nil {
		_ = t.Rollback(ctx)
		return nil, err
	}
	return &commitOnClose{Rows: rows, t: t, ctx: ctx}, nil
}

func (a autocommitWriter) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return autocommitRow{a: a, ctx: ctx, query: query, args: args}
}

type autocommitRow struct {
	a     autocommitWriter
	ctx   context.Context
	query string
	args  []any
}

func (r autocommitRow) Scan(dest ...any) error {
	t, err := r.a.hold(r.ctx)
	if err != nil {
		return err
	}
	err = t.QueryRow(r.ctx, r.query, r.args...).Scan(dest...)
	if err != nil {
		_ = t.Rollback(r.ctx)
		return err
	}
	return t.Commit(r.ctx)
}

type commitOnClose struct {
	sqlstore.Rows
	t   *lazyTx
	ctx context.Context
	err error
}

func (c *commitOnClose) Close() {
	c.Rows.Close()
	if c.t.failed != nil {
		_ = c.t.Rollback(c.ctx)
		return
	}
	c.err = c.t.Commit(c.ctx)
}

func (c *commitOnClose) Err() error {
	if err := c.Rows.Err(); err != nil {
		return err
	}
	return c.err
}
