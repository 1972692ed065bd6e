package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	fositestorage "github.com/ory/fosite/storage"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// Store implements storage.Store on a Backend. The sqlite and postgres packages embed
// it, so its methods are theirs.
type Store struct {
	b       Backend
	opts    storage.Options
	clients clientDecoder
}

var (
	_ storage.Store               = (*Store)(nil)
	_ fositestorage.Transactional = (*Store)(nil)
)

// New returns a store on b; opts must already have its defaults.
func New(b Backend, opts storage.Options) *Store {
	return &Store{b: b, opts: opts.WithDefaults()}
}

// Backend returns the backend (for the database packages' own helpers).
func (s *Store) Backend() Backend { return s.b }

// txKey keys the transaction of one Store in a context, so that two stores (tests
// open several) never pick up each other's transactions.
type txKey struct{ s *Store }

// txState is one database transaction, shared by nested BeginTX calls.
type txState struct {
	tx           Tx
	mu           sync.Mutex
	rollbackOnly bool
}

// txHandle is what BeginTX puts in the context: the transaction and whether this
// level owns it (the outermost BeginTX) or joined it.
type txHandle struct {
	st     *txState
	nested bool
}

func (s *Store) handle(ctx context.Context) *txHandle {
	h, _ := ctx.Value(txKey{s}).(*txHandle)
	return h
}

// BeginTX implements fosite's storage.Transactional: fosite calls it through
// storage.MaybeBeginTx before multi-write steps (code redemption:
// InvalidateAuthorizeCodeSession + CreateAccessTokenSession +
// CreateRefreshTokenSession; refresh: RotateRefreshToken + Create*), and every
// method of the store uses the transaction found in ctx. A BeginTX on a context
// that already carries a transaction joins it: its Commit is a no-op and its
// Rollback makes the outer Commit fail.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if h := s.handle(ctx); h != nil {
		return context.WithValue(ctx, txKey{s}, &txHandle{st: h.st, nested: true}), nil
	}
	tx, err := s.b.Begin(ctx)
	if err != nil {
		return ctx, s.wrap("begin transaction", err)
	}
	return context.WithValue(ctx, txKey{s}, &txHandle{st: &txState{tx: tx}}), nil
}

// Commit implements storage.Transactional.
func (s *Store) Commit(ctx context.Context) error {
	h := s.handle(ctx)
	if h == nil {
		return errors.New("storage: commit: no transaction in context")
	}
	if h.nested {
		return nil
	}
	h.st.mu.Lock()
	rollbackOnly := h.st.rollbackOnly
	h.st.mu.Unlock()
	if rollbackOnly {
		_ = h.st.tx.Rollback(ctx)
		return errors.New("storage: commit: a nested transaction was rolled back")
	}
	if err := h.st.tx.Commit(ctx); err != nil {
		return s.wrap("commit", err)
	}
	return nil
}

// Rollback implements storage.Transactional.
func (s *Store) Rollback(ctx context.Context) error {
	h := s.handle(ctx)
	if h == nil {
		return errors.New("storage: rollback: no transaction in context")
	}
	if h.nested {
		h.st.mu.Lock()
		h.st.rollbackOnly = true
		h.st.mu.Unlock()
		return nil
	}
	if err := h.st.tx.Rollback(ctx); err != nil {
		return s.wrap("rollback", err)
	}
	return nil
}

// reader returns the querier for a read: the context's transaction if any (reads
// inside a transaction must see its writes), else the read pool.
func (s *Store) reader(ctx context.Context) Querier {
	if h := s.handle(ctx); h != nil {
		return h.st.tx
	}
	return s.b.Reader()
}

// writer returns the querier for a single-statement write.
func (s *Store) writer(ctx context.Context) Querier {
	if h := s.handle(ctx); h != nil {
		return h.st.tx
	}
	return s.b.Writer()
}

// inTx runs fn in the context's transaction, or in a new one committed when fn
// succeeds, so that writes that belong together are atomic.
func (s *Store) inTx(ctx context.Context, op string, fn func(ctx context.Context, q Querier) error) error {
	if h := s.handle(ctx); h != nil {
		return fn(ctx, h.st.tx)
	}
	tx, err := s.b.Begin(ctx)
	if err != nil {
		return s.wrap(op+": begin", err)
	}
	txCtx := context.WithValue(ctx, txKey{s}, &txHandle{st: &txState{tx: tx}})
	if err := fn(txCtx, tx); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return s.wrap(op+": commit", err)
	}
	return nil
}

// wrap names the operation and marks connectivity failures with
// storage.ErrUnavailable, keeping the driver error in the chain.
func (s *Store) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if s.b.IsUnavailable(err) {
		return fmt.Errorf("storage: %s: %w: %w", op, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("storage: %s: %w", op, err)
}

// notFound returns storage.ErrNotFound (fosite.ErrNotFound) named by op.
func notFound(op string) error { return fmt.Errorf("storage: %s: %w", op, storage.ErrNotFound) }

// Ping implements storage.Store.
func (s *Store) Ping(ctx context.Context) error { return s.wrap("ping", s.b.Ping(ctx)) }

// Close implements storage.Store.
func (s *Store) Close() error { return s.b.Close() }
