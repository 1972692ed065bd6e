package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is storage.Store on PostgreSQL. Its methods come from the shared SQL
// implementation; it also implements fosite's storage.Transactional.
type Store struct {
	*sqlstore.Store
}

var _ storage.Store = (*Store)(nil)

// Advisory lock keys (pg_advisory_xact_lock takes a bigint; these are arbitrary
// constants, "JCmigr" and "JCaudt" in ASCII, unlikely to collide with other users
// of the same database).
const (
	lockMigrations int64 = 0x4a436d696772
	lockAudit      int64 = 0x4a4361756474
)

// Open connects to dsn (a libpq URL or key=value string; pool settings such as
// pool_max_conns are accepted) and applies pending migrations.
func Open(ctx context.Context, dsn string, opts storage.Options) (*Store, error) {
	opts = opts.WithDefaults()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The error text may contain the DSN's password: do not wrap it verbatim.
		return nil, errors.New("storage: postgres: invalid DSN")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storage: postgres: open: %w", err)
	}
	b := &backend{pool: pool}
	if err := b.migrate(ctx, opts); err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{Store: sqlstore.New(b, opts)}, nil
}

func (b *backend) migrate(ctx context.Context, opts storage.Options) error {
	migs, err := sqlstore.ReadMigrations(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("storage: postgres: %w", err)
	}
	tx, err := b.Begin(ctx)
	if err != nil {
		return b.wrap("migrate", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// PostgreSQL DDL is transactional: the lock, the migrations and their records
	// commit together, and a node that waited on the lock then sees them applied.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(?)", lockMigrations); err != nil {
		return b.wrap("migrate: lock", err)
	}
	if _, err := sqlstore.ApplyMigrations(ctx, tx, migs, opts.Now(), opts.Logger); err != nil {
		return b.wrap("migrate", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return b.wrap("migrate: commit", err)
	}
	return nil
}

func (b *backend) wrap(op string, err error) error {
	if b.IsUnavailable(err) {
		return fmt.Errorf("storage: postgres: %s: %w: %w", op, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("storage: postgres: %s: %w", op, err)
}

type backend struct {
	pool *pgxpool.Pool
}

func (b *backend) Reader() sqlstore.Querier { return querier{b.pool} }
func (b *backend) Writer() sqlstore.Querier { return querier{b.pool} }

func (b *backend) Begin(ctx context.Context) (sqlstore.Tx, error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return pgTx{querier{tx}, tx}, nil
}

// LockAuditChain takes a transaction-scoped advisory lock: the chain head read and
// the insert of the next event are serialised across connections and nodes, and
// the lock ends with the transaction (no unlock to forget).
func (b *backend) LockAuditChain(ctx context.Context, q sqlstore.Querier) error {
	_, err := q.Exec(ctx, "SELECT pg_advisory_xact_lock(?)", lockAudit)
	return err
}

func (b *backend) IsNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// IsUnavailable reports connection-level failures: no server, lost connection,
// server shutting down or starting, too many connections (SQLSTATE classes 08 and
// 57P, 53300), and a closed pool.
func (b *backend) IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300"
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "closed pool") || strings.Contains(msg, "conn closed")
}

func (b *backend) Ping(ctx context.Context) error { return b.pool.Ping(ctx) }

func (b *backend) Close() error {
	b.pool.Close()
	return nil
}

type pgxQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type querier struct{ db pgxQuerier }

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.db.Exec(ctx, rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.db.Query(ctx, rebind(query), args...)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return q.db.QueryRow(ctx, rebind(query), args...)
}

type pgTx struct {
	querier
	tx pgx.Tx
}

func (t pgTx) Commit(ctx context.Context) error { return t.tx.Commit(ctx) }

// Rollback ignores ErrTxClosed: rolling back a committed or failed transaction is
// what deferred cleanups do.
func (t pgTx) Rollback(ctx context.Context) error {
	if err := t.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return err
	}
	return nil
}

var rebound sync.Map // query with ? -> query with $n

// rebind turns the shared queries' "?" placeholders into PostgreSQL's $1, $2, ...
// The shared queries contain no "?" inside string literals.
func rebind(q string) string {
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	if !strings.Contains(q, "?") {
		return q
	}
	var sb strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			sb.WriteByte('$')
			sb.WriteString(strconv.Itoa(n))
			continue
		}
		sb.WriteRune(r)
	}
	out := sb.String()
	rebound.Store(q, out)
	return out
}
