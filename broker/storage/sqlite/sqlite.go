package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	sqlite "modernc.org/sqlite"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is storage.Store on a SQLite file. Its methods come from the shared SQL
// implementation; it also implements fosite's storage.Transactional.
type Store struct {
	*sqlstore.Store
}

var _ storage.Store = (*Store)(nil)

// busyTimeoutMS is how long a statement waits for a lock held by another process
// before failing with SQLITE_BUSY (reported as storage.ErrUnavailable).
const busyTimeoutMS = 10000

// Open opens (creating if needed) the SQLite database at path and applies pending
// migrations. path must be a file: an in-memory database would be a different one
// on every connection.
func Open(ctx context.Context, path string, opts storage.Options) (*Store, error) {
	opts = opts.WithDefaults()
	if path == "" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, ":memory:") || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("storage: open sqlite %q: path must be a plain file path", path)
	}
	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=1", busyTimeoutMS)
	// temp_store(MEMORY) on the writer: group commit runs each member in a
	// SAVEPOINT, whose sub-journal otherwise spills to a temporary file past
	// 64 KiB; its pwrite calls were a tenth of the SSO code flow's CPU. (A 32 MiB
	// page cache for the writer was tried against a million stored rows: no gain
	// beyond the run-to-run noise, and 57 MB more RSS.)
	writer, err := sql.Open("sqlite", path+"?"+common+"&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate&_pragma=temp_store(MEMORY)")
	if err != nil {
		return nil, fmt.Errorf("storage: open sqlite %s: %w", path, err)
	}
	// One writer connection: SQLite allows one writer at a time anyway; the group
	// writer queues transactions for it (honouring ctx) and shares commits.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	b := &backend{writerDB: writer}
	if err := b.migrate(ctx, opts); err != nil {
		writer.Close()
		return nil, err
	}
	// The group writer keeps the one connection for the store's lifetime.
	conn, err := writer.Conn(ctx)
	if err != nil {
		writer.Close()
		return nil, b.wrapOpen(err)
	}
	b.w = newGroupWriter(conn)
	reader, err := sql.Open("sqlite", path+"?"+common+"&_query_only=1")
	if err != nil {
		_ = b.w.close()
		writer.Close()
		return nil, fmt.Errorf("storage: open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	b.readerDB = reader
	b.reader = &stmtQuerier{db: reader}
	ckpt, err := sql.Open("sqlite", path+"?"+common)
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("storage: open sqlite %s: %w", path, err)
	}
	b.checkpointer = startCheckpointer(ckpt, b.w.commits.Load, opts.Logger)
	return &Store{Store: sqlstore.New(b, opts)}, nil
}

func (b *backend) migrate(ctx context.Context, opts storage.Options) error {
	migs, err := sqlstore.ReadMigrations(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("storage: sqlite: %w", err)
	}
	sqlTx, err := b.writerDB.BeginTx(ctx, nil)
	if err != nil {
		return b.wrapOpen(err)
	}
	tx := txWrap{querier{sqlTx}, sqlTx}
	if _, err := sqlstore.ApplyMigrations(ctx, tx, migs, opts.Now(), opts.Logger); err != nil {
		_ = tx.Rollback(ctx)
		return fmt.Errorf("storage: sqlite: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return b.wrapOpen(err)
	}
	return nil
}

func (b *backend) wrapOpen(err error) error {
	if b.IsUnavailable(err) {
		return fmt.Errorf("storage: sqlite: migrate: %w: %w", storage.ErrUnavailable, err)
	}
	return fmt.Errorf("storage: sqlite: migrate: %w", err)
}

type backend struct {
	writerDB, readerDB *sql.DB
	w                  *groupWriter
	reader             *stmtQuerier
	checkpointer       *checkpointer
}

// WriterUses implements sqlstore.SingleWriter.
func (b *backend) WriterUses() int64 { return b.w.uses.Load() }

func (b *backend) Reader() sqlstore.Querier { return b.reader }
func (b *backend) Writer() sqlstore.Querier { return autocommitWriter{b.w} }

// Begin returns a lazy transaction: the write lock is taken at its first
// statement, and its commit is shared with concurrent transactions (group.go).
func (b *backend) Begin(context.Context) (sqlstore.Tx, error) {
	if b.w.closed.Load() {
		return nil, errClosed
	}
	return &lazyTx{w: b.w, r: b.reader}, nil
}

// LockAuditChain takes the write connection now if the transaction has not yet:
// while a member holds it no other transaction runs, so the chain head read next
// stays the head until the member ends.
func (b *backend) LockAuditChain(ctx context.Context, q sqlstore.Querier) error {
	t, ok := q.(*lazyTx)
	if !ok {
		return errors.New("storage: sqlite: audit append outside a transaction")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.start(ctx)
}

func (b *backend) IsNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// SQLite primary result codes (https://www.sqlite.org/rescode.html) that mean the
// database cannot serve now rather than that the statement is wrong.
const (
	codeIOErr    = 10
	codeBusy     = 5
	codeLocked   = 6
	codeFull     = 13
	codeCantOpen = 14
)

func (b *backend) IsUnavailable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case codeBusy, codeLocked, codeIOErr, codeFull, codeCantOpen:
			return true
		}
		return false
	}
	return errors.Is(err, sql.ErrConnDone) || (err != nil && strings.Contains(err.Error(), "sql: database is closed"))
}

func (b *backend) Ping(ctx context.Context) error {
	if err := b.w.ping(ctx); err != nil {
		return err
	}
	var one int
	return b.readerDB.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

func (b *backend) Close() error {
	var errs []error
	if b.checkpointer != nil {
		errs = append(errs, b.checkpointer.close())
	}
	if b.reader != nil {
		b.reader.close()
	}
	if b.readerDB != nil {
		errs = append(errs, b.readerDB.Close())
	}
	if b.w != nil {
		errs = append(errs, b.w.close())
	}
	errs = append(errs, b.writerDB.Close())
	return errors.Join(errs...)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type querier struct{ db execer }

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return q.db.QueryRowContext(ctx, query, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// txWrap is a plain database/sql transaction (migrations, before the group
// writer takes the connection).
type txWrap struct {
	querier
	tx *sql.Tx
}

func (t txWrap) Commit(context.Context) error   { return t.tx.Commit() }
func (t txWrap) Rollback(context.Context) error { return t.tx.Rollback() }

// stmtQuerier runs reads on the reader pool with prepared statements: parsing a
// statement costs about as much as running these small primary-key reads.
type stmtQuerier struct {
	db    *sql.DB
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
}

func (q *stmtQuerier) stmt(ctx context.Context, query string) *sql.Stmt {
	q.mu.RLock()
	st, ok := q.stmts[query]
	q.mu.RUnlock()
	if ok {
		return st
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if st, ok := q.stmts[query]; ok {
		return st
	}
	if len(q.stmts) >= stmtCacheMax {
		return nil
	}
	st, err := q.db.PrepareContext(ctx, query)
	if err != nil {
		// Run it unprepared: the error, if it is one, comes from the query.
		return nil
	}
	if q.stmts == nil {
		q.stmts = map[string]*sql.Stmt{}
	}
	q.stmts[query] = st
	return st
}

func (q *stmtQuerier) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, st := range q.stmts {
		_ = st.Close()
	}
	q.stmts = nil
}

func (q *stmtQuerier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return querier{q.db}.Exec(ctx, query, args...)
}

func (q *stmtQuerier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	st := q.stmt(ctx, query)
	if st == nil {
		return querier{q.db}.Query(ctx, query, args...)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (q *stmtQuerier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	st := q.stmt(ctx, query)
	if st == nil {
		return q.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}
