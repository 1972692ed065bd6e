package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// GetClient implements fosite.ClientManager; it returns *storage.Client.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	c, err := s.getClient(ctx, id)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Store) getClient(ctx context.Context, id string) (*storage.Client, error) {
	const op = "get client"
	var data string
	err := s.reader(ctx).QueryRow(ctx, "SELECT data FROM clients WHERE id = ?", id).Scan(&data)
	if err != nil {
		if s.b.IsNoRows(err) {
			return nil, notFound(op)
		}
		return nil, s.wrap(op, err)
	}
	c, err := s.clients.decode(data)
	if err != nil {
		return nil, fmt.Errorf("storage: %s: decode: %w", op, err)
	}
	return c, nil
}

func encodeClient(c *storage.Client) (string, error) {
	b, err := json.Marshal(c)
	return string(b), err
}

// stampClient sets CreatedAt when unset and UpdatedAt to now, as UTC.
func (s *Store) stampClient(c *storage.Client) {
	now := s.opts.Now().UTC()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	c.UpdatedAt = now
}

// CreateClient implements storage.ClientStore; it sets CreatedAt (when unset) and
// UpdatedAt on c.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	const op = "create client"
	s.stampClient(c)
	data, err := encodeClient(c)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", op, err)
	}
	n, err := s.writer(ctx).Exec(ctx, "INSERT INTO clients (id, data) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", c.ID, data)
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("storage: %s %q: %w", op, c.ID, storage.ErrConflict)
	}
	return nil
}

// UpsertClient implements storage.ClientStore. It updates in place (never delete and
// insert), so the client's tokens, which cascade on client deletion, survive a
// configuration sync.
func (s *Store) UpsertClient(ctx context.Context, c *storage.Client) error {
	const op = "upsert client"
	s.stampClient(c)
	data, err := encodeClient(c)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", op, err)
	}
	_, err = s.writer(ctx).Exec(ctx, "INSERT INTO clients (id, data) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data", c.ID, data)
	return s.wrap(op, err)
}

// UpdateClient implements storage.ClientStore; an unknown client is ErrNotFound.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client) error {
	const op = "update client"
	s.stampClient(c)
	data, err := encodeClient(c)
	if err != nil {
		return fmt.Errorf("storage: %s: %w", op, err)
	}
	n, err := s.writer(ctx).Exec(ctx, "UPDATE clients SET data = ? WHERE id = ?", data, c.ID)
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

// DeleteClient implements storage.ClientStore. The client's codes and tokens go with
// it (ON DELETE CASCADE): a removed client keeps no usable grant.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	const op = "delete client"
	n, err := s.writer(ctx).Exec(ctx, "DELETE FROM clients WHERE id = ?", id)
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

// ListClients implements storage.ClientStore, ordered by ID.
func (s *Store) ListClients(ctx context.Context) ([]*storage.Client, error) {
	const op = "list clients"
	rows, err := s.reader(ctx).Query(ctx, "SELECT data FROM clients ORDER BY id")
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []*storage.Client
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, s.wrap(op, err)
		}
		c := new(storage.Client)
		if err := json.Unmarshal([]byte(data), c); err != nil {
			return nil, fmt.Errorf("storage: %s: decode: %w", op, err)
		}
		out = append(out, c)
	}
	return out, s.wrap(op, rows.Err())
}

// ClientAssertionJWTValid implements fosite.ClientManager: a jti seen before and not
// yet expired is fosite.ErrJTIKnown (RFC 7523 §3 item 7, replay of a client
// assertion).
func (s *Store) ClientAssertionJWTValid(ctx context.Context, jti string) error {
	const op = "check client assertion jti"
	var one int
	err := s.reader(ctx).QueryRow(ctx, "SELECT 1 FROM client_assertion_jti WHERE jti = ? AND expires_at > ?", hashKey(jti), s.opts.Now().UnixNano()).Scan(&one)
	if err == nil {
		return fmt.Errorf("storage: %s: %w", op, fosite.ErrJTIKnown)
	}
	if s.b.IsNoRows(err) {
		return nil
	}
	return s.wrap(op, err)
}

// SetClientAssertionJWT implements fosite.ClientManager. Like fosite's MemoryStore it
// first removes expired jti rows, then records jti until exp; a live jti already
// recorded is fosite.ErrJTIKnown, which also closes the window between
// ClientAssertionJWTValid and this call for two concurrent uses of one assertion.
func (s *Store) SetClientAssertionJWT(ctx context.Context, jti string, exp time.Time) error {
	const op = "record client assertion jti"
	now := s.opts.Now().UnixNano()
	return s.inTx(ctx, op, func(ctx context.Context, q Querier) error {
		if _, err := q.Exec(ctx, "DELETE FROM client_assertion_jti WHERE expires_at <= ?", now); err != nil {
			return s.wrap(op, err)
		}
		n, err := q.Exec(ctx, "INSERT INTO client_assertion_jti (jti, expires_at) VALUES (?, ?)"+
			" ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at WHERE client_assertion_jti.expires_at <= ?",
			hashKey(jti), exp.UnixNano(), now)
		if err != nil {
			return s.wrap(op, err)
		}
		if n == 0 {
			return fmt.Errorf("storage: %s: %w", op, fosite.ErrJTIKnown)
		}
		return nil
	})
}
