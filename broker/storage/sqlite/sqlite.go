package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"runtime"
	"strings"

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
	writer, err := sql.Open("sqlite", path+"?"+common+"&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("storage: open sqlite %s: %w", path, err)
	}
	// One writer connection: SQLite allows one writer at a time anyway, and queueing
	// in database/sql (which honours ctx) is cheaper and fairer than busy-waiting.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	b := &backend{writerDB: writer}
	if err := b.migrate(ctx, opts); err != nil {
		writer.Close()
		return nil, err
	}
	reader, err := sql.Open("sqlite", path+"?"+common+"&_query_only=1")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("storage: open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	b.readerDB = reader
	return &Store{Store: sqlstore.New(b, opts)}, nil
}

func (b *backend) migrate(ctx context.Context, opts storage.Options) error {
	migs, err := sqlstore.ReadMigrations(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("storage: sqlite: %w", err)
	}
	tx, err := b.Begin(ctx)
	if err != nil {
		return b.wrapOpen(err)
	}
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
}

func (b *backend) Reader() sqlstore.Querier { return querier{b.readerDB} }
func (b *backend) Writer() sqlstore.Querier { return querier{b.writerDB} }

func (b *backend) Begin(ctx context.Context) (sqlstore.Tx, error) {
	tx, err := b.writerDB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return sqlTx{querier{tx}, tx}, nil
}

// LockAuditChain needs nothing: BEGIN IMMEDIATE already holds the database's write
// lock for the whole transaction.
func (b *backend) LockAuditChain(context.Context, sqlstore.Querier) error { return nil }

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
	if err := b.writerDB.PingContext(ctx); err != nil {
		return err
	}
	var one int
	return b.readerDB.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

func (b *backend) Close() error {
	var errs []error
	if b.readerDB != nil {
		errs = append(errs, b.readerDB.Close())
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

type sqlTx struct {
	querier
	tx *sql.Tx
}

func (t sqlTx) Commit(context.Context) error   { return t.tx.Commit() }
func (t sqlTx) Rollback(context.Context) error { return t.tx.Rollback() }
