package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

var _ storage.LogoutStore = (*Store)(nil)

// ---- back-channel logout queue ----

// EnqueueLogouts implements storage.LogoutStore in one transaction; a (session,
// client) pair already queued is skipped.
func (s *Store) EnqueueLogouts(ctx context.Context, ds []*storage.LogoutDelivery) (int64, error) {
	const op = "enqueue logouts"
	var added int64
	err := s.inTx(ctx, op, func(ctx context.Context, q Querier) error {
		for _, d := range ds {
			if d.ID == "" || d.SessionID == "" || d.ClientID == "" || d.URI == "" {
				return fmt.Errorf("storage: %s: id, session, client and uri are required", op)
			}
			if d.CreatedAt.IsZero() {
				d.CreatedAt = s.opts.Now().UTC()
			}
			if d.NextAttemptAt.IsZero() {
				d.NextAttemptAt = d.CreatedAt
			}
			n, err := q.Exec(ctx, "INSERT INTO logout_deliveries (id, session_id, subject, client_id, uri, attempts, next_attempt_at, lease_until, lease, created_at, last_error)"+
				" VALUES (?, ?, ?, ?, ?, ?, ?, NULL, '', ?, ?) ON CONFLICT DO NOTHING",
				d.ID, d.SessionID, d.Subject, d.ClientID, d.URI, d.Attempts, d.NextAttemptAt.UnixNano(), d.CreatedAt.UnixNano(), d.LastError)
			if err != nil {
				return s.wrap(op, err)
			}
			added += n
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

const logoutColumns = "id, session_id, subject, client_id, uri, attempts, next_attempt_at, created_at, last_error, lease"

func scanLogout(r Row) (*storage.LogoutDelivery, error) {
	d := new(storage.LogoutDelivery)
	var next, created int64
	if err := r.Scan(&d.ID, &d.SessionID, &d.Subject, &d.ClientID, &d.URI, &d.Attempts, &next, &created, &d.LastError, &d.Lease); err != nil {
		return nil, err
	}
	d.NextAttemptAt, d.CreatedAt = time.Unix(0, next).UTC(), time.Unix(0, created).UTC()
	return d, nil
}

// ClaimLogouts implements storage.LogoutStore. The claim is one UPDATE ... RETURNING
// whose WHERE repeats the lease test on the row itself: under PostgreSQL's READ
// COMMITTED a second node blocked on the same row re-evaluates that WHERE after
// the first commits and skips the row; SQLite serialises writers.
func (s *Store) ClaimLogouts(ctx context.Context, now time.Time, lease time.Duration, limit int, ids ...string) ([]*storage.LogoutDelivery, error) {
	const op = "claim logouts"
	if limit <= 0 {
		limit = 1
	}
	token := randomLease()
	n := now.UnixNano()
	free := "(lease_until IS NULL OR lease_until <= ?)"
	var sel string
	args := []any{now.Add(lease).UnixNano(), token}
	if len(ids) > 0 {
		sel = "SELECT id FROM logout_deliveries WHERE id IN (?" + strings.Repeat(", ?", len(ids)-1) + ") AND " + free + " LIMIT ?"
		for _, id := range ids {
			args = append(args, id)
		}
	} else {
		sel = "SELECT id FROM logout_deliveries WHERE next_attempt_at <= ? AND " + free + " ORDER BY next_attempt_at LIMIT ?"
		args = append(args, n)
	}
	args = append(args, n, limit, n)
	q := "UPDATE logout_deliveries SET lease_until = ?, lease = ? WHERE id IN (" + sel + ") AND " + free + " RETURNING " + logoutColumns
	var out []*storage.LogoutDelivery
	err := s.inTx(ctx, op, func(ctx context.Context, tx Querier) error {
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return s.wrap(op, err)
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanLogout(rows)
			if err != nil {
				return s.wrap(op, err)
			}
			out = append(out, d)
		}
		return s.wrap(op, rows.Err())
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func randomLease() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("sqlstore: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// FinishLogout implements storage.LogoutStore.
func (s *Store) FinishLogout(ctx context.Context, id, lease string) error {
	const op = "finish logout"
	n, err := s.writer(ctx).Exec(ctx, "DELETE FROM logout_deliveries WHERE id = ? AND lease = ? AND lease <> ''", id, lease)
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("storage: %s %q: lease lost: %w", op, id, storage.ErrConflict)
	}
	return nil
}

// RetryLogout implements storage.LogoutStore.
func (s *Store) RetryLogout(ctx context.Context, id, lease string, next time.Time, lastError string) error {
	const op = "retry logout"
	if len(lastError) > 500 {
		lastError = lastError[:500]
	}
	n, err := s.writer(ctx).Exec(ctx, "UPDATE logout_deliveries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?, lease_until = NULL, lease = ''"+
		" WHERE id = ? AND lease = ? AND lease <> ''", next.UnixNano(), lastError, id, lease)
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("storage: %s %q: lease lost: %w", op, id, storage.ErrConflict)
	}
	return nil
}

// CountLogouts implements storage.LogoutStore.
func (s *Store) CountLogouts(ctx context.Context) (int64, error) {
	var n int64
	err := s.reader(ctx).QueryRow(ctx, "SELECT COUNT(*) FROM logout_deliveries").Scan(&n)
	return n, s.wrap("count logouts", err)
}

// ---- cascades ----

// RevokeTokensOfSubject implements storage.LogoutStore. Token rows carry the sub
// released to their client (pairwise for partners) in the subject column and the
// broker's public subject inside the session JSON, so a row matches on either: the
// column directly, the JSON by a LIKE pre-filter confirmed by decoding it.
func (s *Store) RevokeTokensOfSubject(ctx context.Context, publicSubject string) (int64, error) {
	const op = "revoke tokens of subject"
	if publicSubject == "" {
		return 0, fmt.Errorf("storage: %s: empty subject", op)
	}
	key, _ := json.Marshal(publicSubject)
	pattern := "%" + likeEscape(`"public_subject":`+string(key)) + "%"
	var total int64
	err := s.inTx(ctx, op, func(ctx context.Context, q Querier) error {
		for _, table := range []string{tableAccess, tableRefresh, tableCode} {
			rows, err := q.Query(ctx, "SELECT signature, subject, session FROM "+table+` WHERE subject = ? OR session LIKE ? ESCAPE '\'`, publicSubject, pattern)
			if err != nil {
				return s.wrap(op, err)
			}
			var sigs []string
			for rows.Next() {
				var sig, sub, sess string
				if err := rows.Scan(&sig, &sub, &sess); err != nil {
					rows.Close()
					return s.wrap(op, err)
				}
				var js struct {
					PublicSubject string `json:"public_subject"`
				}
				_ = json.Unmarshal([]byte(sess), &js)
				if sub == publicSubject || js.PublicSubject == publicSubject {
					sigs = append(sigs, sig)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return s.wrap(op, err)
			}
			for _, sig := range sigs {
				var n int64
				if table == tableAccess {
					n, err = q.Exec(ctx, "DELETE FROM "+table+" WHERE signature = ?", sig)
				} else {
					n, err = q.Exec(ctx, "UPDATE "+table+" SET active = ? WHERE signature = ? AND active", false, sig)
				}
				if err != nil {
					return s.wrap(op, err)
				}
				if table != tableCode {
					total += n
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}

// UpstreamSessionsQuery is ListSSOSessionsByUpstream's statement, with a
// subject, a sid or both; its arguments are the provider, the keys given, and
// the provider again. Exported for the query-plan tests.
func UpstreamSessionsQuery(subject, sid bool) string {
	keyed := "provider = ?"
	if subject {
		keyed += " AND upstream_subject = ?"
	}
	if sid {
		keyed += " AND upstream_sid = ?"
	}
	return "SELECT " + ssoColumns + " FROM sso_sessions WHERE " + keyed + " AND ended_at IS NULL" +
		" UNION ALL SELECT " + ssoColumns + " FROM sso_sessions WHERE provider = ? AND upstream_subject IS NULL AND ended_at IS NULL" +
		" ORDER BY created_at, id"
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// ListSSOSessionsByUpstream implements storage.LogoutStore: sessions not ended,
// oldest first, without their clients. The first branch is a lookup in
// sso_sessions_upstream_subject (provider, upstream_subject) or, for a logout
// token with a sid alone, in sso_sessions_upstream_sid; the second reads the
// provider's sessions stored without upstream keys, a range of
// sso_sessions_upstream_subject too (provider, NULL), empty once every session
// written before migration 0008 has expired.
func (s *Store) ListSSOSessionsByUpstream(ctx context.Context, provider, subject, sid string) ([]*storage.SSOSession, error) {
	const op = "list sso sessions by upstream"
	if subject == "" && sid == "" {
		return nil, fmt.Errorf("storage: %s: neither an upstream subject nor a session ID", op)
	}
	args := []any{provider}
	if subject != "" {
		args = append(args, subject)
	}
	if sid != "" {
		args = append(args, sid)
	}
	args = append(args, provider)
	rows, err := s.reader(ctx).Query(ctx, UpstreamSessionsQuery(subject != "", sid != ""), args...)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	var out []*storage.SSOSession
	for rows.Next() {
		ss, err := scanSSO(rows)
		if err != nil {
			rows.Close()
			return nil, s.wrap(op, err)
		}
		out = append(out, ss)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap(op, err)
	}
	return out, nil
}
