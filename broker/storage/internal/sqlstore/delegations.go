package sqlstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// ---- delegations ----

// CreateDelegation implements storage.DelegationStore: the delegation and its
// audiences in one transaction; a duplicate ID is ErrConflict.
func (s *Store) CreateDelegation(ctx context.Context, d *storage.Delegation) error {
	const op = "create delegation"
	if d.ID == "" || d.Actor == "" || d.Subject == "" || len(d.Audiences) == 0 {
		return fmt.Errorf("storage: %s: id, actor, subject and at least one audience are required", op)
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = s.opts.Now().UTC()
	}
	return s.inTx(ctx, op, func(ctx context.Context, q Querier) error {
		n, err := q.Exec(ctx, "INSERT INTO delegations (id, actor, subject, not_before, not_after, revoked_at, created_at, reason)"+
			" VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
			d.ID, d.Actor, d.Subject, nanos(d.NotBefore), nanos(d.NotAfter), nanosPtr(d.RevokedAt), nanos(d.CreatedAt), d.Reason)
		if err != nil {
			return s.wrap(op, err)
		}
		if n == 0 {
			return fmt.Errorf("storage: %s %q: %w", op, d.ID, storage.ErrConflict)
		}
		seen := map[string]bool{}
		for _, aud := range d.Audiences {
			if seen[aud] {
				continue
			}
			seen[aud] = true
			if _, err := q.Exec(ctx, "INSERT INTO delegation_audiences (delegation_id, audience) VALUES (?, ?)", d.ID, aud); err != nil {
				return s.wrap(op, err)
			}
		}
		return nil
	})
}

const delegationColumns = "id, actor, subject, not_before, not_after, revoked_at, created_at, reason"

func scanDelegation(r Row) (*storage.Delegation, error) {
	d := new(storage.Delegation)
	var notBefore, notAfter, revoked, created *int64
	if err := r.Scan(&d.ID, &d.Actor, &d.Subject, &notBefore, &notAfter, &revoked, &created, &d.Reason); err != nil {
		return nil, err
	}
	d.NotBefore, d.NotAfter, d.RevokedAt, d.CreatedAt = fromNanos(notBefore), fromNanos(notAfter), timePtr(revoked), fromNanos(created)
	return d, nil
}

// loadAudiences fills the Audiences of ds (sorted) with one query.
func (s *Store) loadAudiences(ctx context.Context, ds []*storage.Delegation) error {
	if len(ds) == 0 {
		return nil
	}
	byID := make(map[string]*storage.Delegation, len(ds))
	args := make([]any, 0, len(ds))
	for _, d := range ds {
		byID[d.ID] = d
		args = append(args, d.ID)
	}
	q := "SELECT delegation_id, audience FROM delegation_audiences WHERE delegation_id IN (?" + strings.Repeat(", ?", len(ds)-1) + ")"
	rows, err := s.reader(ctx).Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, aud string
		if err := rows.Scan(&id, &aud); err != nil {
			return err
		}
		if d := byID[id]; d != nil {
			d.Audiences = append(d.Audiences, aud)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, d := range ds {
		sort.Strings(d.Audiences)
	}
	return nil
}

// ListDelegations implements storage.DelegationStore: the delegations of subject
// ("" = all), revoked and expired ones included, oldest first.
func (s *Store) ListDelegations(ctx context.Context, subject string) ([]*storage.Delegation, error) {
	const op = "list delegations"
	q, args := "SELECT "+delegationColumns+" FROM delegations", []any{}
	if subject != "" {
		q += " WHERE subject = ?"
		args = append(args, subject)
	}
	rows, err := s.reader(ctx).Query(ctx, q+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	var out []*storage.Delegation
	for rows.Next() {
		d, err := scanDelegation(rows)
		if err != nil {
			rows.Close()
			return nil, s.wrap(op, err)
		}
		out = append(out, d)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, s.wrap(op, err)
	}
	// Audiences after the rows are closed: a single connection (a transaction, or
	// SQLite's pool of one) serves one query at a time.
	if err := s.loadAudiences(ctx, out); err != nil {
		return nil, s.wrap(op, err)
	}
	return out, nil
}

// RevokeDelegation implements storage.DelegationStore; an unknown ID is ErrNotFound,
// revoking a revoked one keeps the first time.
func (s *Store) RevokeDelegation(ctx context.Context, id string, at time.Time) error {
	const op = "revoke delegation"
	n, err := s.writer(ctx).Exec(ctx, "UPDATE delegations SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", nanos(at), id)
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

// ActiveDelegation implements storage.DelegationStore: a delegation in force at at
// (not revoked by then, not_before <= at < not_after, open ends allowed) from actor
// for subject that names audience; ErrNotFound when none.
func (s *Store) ActiveDelegation(ctx context.Context, actor, subject, audience string, at time.Time) (*storage.Delegation, error) {
	const op = "active delegation"
	t := at.UnixNano()
	d, err := scanDelegation(s.reader(ctx).QueryRow(ctx, "SELECT d.id, d.actor, d.subject, d.not_before, d.not_after, d.revoked_at, d.created_at, d.reason"+
		" FROM delegations d JOIN delegation_audiences a ON a.delegation_id = d.id"+
		" WHERE d.actor = ? AND d.subject = ? AND a.audience = ?"+
		" AND (d.revoked_at IS NULL OR d.revoked_at > ?)"+
		" AND (d.not_before IS NULL OR d.not_before <= ?)"+
		" AND (d.not_after IS NULL OR d.not_after > ?)"+
		" ORDER BY d.created_at, d.id LIMIT 1",
		actor, subject, audience, t, t, t))
	if err != nil {
		if s.b.IsNoRows(err) {
			return nil, notFound(op)
		}
		return nil, s.wrap(op, err)
	}
	if err := s.loadAudiences(ctx, []*storage.Delegation{d}); err != nil {
		return nil, s.wrap(op, err)
	}
	return d, nil
}
