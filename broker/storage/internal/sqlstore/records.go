package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// Times are stored as Unix nanoseconds (BIGINT) in both databases: exact round trips
// (the audit hash covers the event time to the nanosecond), no time-zone conversions,
// and plain integer comparisons for expiry. A zero time is NULL.

func nanos(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	n := t.UnixNano()
	return &n
}

func fromNanos(p *int64) time.Time {
	if p == nil {
		return time.Time{}
	}
	return time.Unix(0, *p).UTC()
}

func nanosPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	return nanos(*t)
}

// nullIfEmpty stores "" as NULL: the columns that are set only for some rows
// (SSO sessions' upstream keys) leave the others out of their partial indexes.
func nullIfEmpty(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

func timePtr(p *int64) *time.Time {
	if p == nil {
		return nil
	}
	t := fromNanos(p)
	return &t
}

func jsonString(v any) string {
	b, _ := json.Marshal(v) // string slices and maps cannot fail
	return string(b)
}

// ---- flows ----

// CreateFlow implements storage.FlowStore; the stored version starts at 1 (f.Version
// is set), a duplicate ID is ErrConflict.
func (s *Store) CreateFlow(ctx context.Context, f *storage.Flow) error {
	const op = "create flow"
	if f.CreatedAt.IsZero() {
		f.CreatedAt = s.opts.Now().UTC()
	}
	f.Version = 1
	n, err := s.writer(ctx).Exec(ctx, "INSERT INTO flows (id, state, client_id, data, created_at, expires_at, version) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
		f.ID, f.State, f.ClientID, f.Data, nanos(f.CreatedAt), nanos(f.ExpiresAt), f.Version)
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("storage: %s: %w", op, storage.ErrConflict)
	}
	return nil
}

// GetFlow implements storage.FlowStore (expired flows too, until DeleteExpired).
func (s *Store) GetFlow(ctx context.Context, id string) (*storage.Flow, error) {
	const op = "get flow"
	f := &storage.Flow{ID: id}
	var created, expires *int64
	err := s.reader(ctx).QueryRow(ctx, "SELECT state, client_id, data, created_at, expires_at, version FROM flows WHERE id = ?", id).
		Scan(&f.State, &f.ClientID, &f.Data, &created, &expires, &f.Version)
	if err != nil {
		if s.b.IsNoRows(err) {
			return nil, notFound(op)
		}
		return nil, s.wrap(op, err)
	}
	f.CreatedAt, f.ExpiresAt = fromNanos(created), fromNanos(expires)
	return f, nil
}

// UpdateFlow implements storage.FlowStore with optimistic concurrency: the write
// happens only if the stored version is still f.Version, so two requests racing on
// one login flow (double submit, two tabs) cannot both move it.
func (s *Store) UpdateFlow(ctx context.Context, f *storage.Flow) error {
	const op = "update flow"
	n, err := s.writer(ctx).Exec(ctx, "UPDATE flows SET state = ?, client_id = ?, data = ?, expires_at = ?, version = version + 1 WHERE id = ? AND version = ?",
		f.State, f.ClientID, f.Data, nanos(f.ExpiresAt), f.ID, f.Version)
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		ok, err := s.exists(ctx, "flows", "id", f.ID)
		if err != nil {
			return s.wrap(op, err)
		}
		if !ok {
			return notFound(op)
		}
		return fmt.Errorf("storage: %s: version %d is stale: %w", op, f.Version, storage.ErrConflict)
	}
	f.Version++
	return nil
}

// DeleteFlow implements storage.FlowStore; deleting an absent flow is not an error
// (DeleteExpired may have removed it first).
func (s *Store) DeleteFlow(ctx context.Context, id string) error {
	_, err := s.writer(ctx).Exec(ctx, "DELETE FROM flows WHERE id = ?", id)
	return s.wrap("delete flow", err)
}

// ---- SSO sessions ----

// CreateSSOSession implements storage.SSOSessionStore; a duplicate ID is ErrConflict.
func (s *Store) CreateSSOSession(ctx context.Context, ss *storage.SSOSession) error {
	const op = "create sso session"
	return s.inTx(ctx, op, func(ctx context.Context, q Querier) error {
		n, err := q.Exec(ctx, "INSERT INTO sso_sessions (id, subject, provider, acr, amr, auth_time, created_at, last_seen_at, idle_expires_at, absolute_expires_at, identity, ended_at, upstream_subject, upstream_sid)"+
			" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
			ss.ID, ss.Subject, ss.Provider, ss.ACR, jsonString(nonNilStrings(ss.AMR)), nanos(ss.AuthTime), nanos(ss.CreatedAt), nanos(ss.LastSeenAt),
			nanos(ss.IdleExpiresAt), nanos(ss.AbsoluteExpiresAt), ss.Identity, nanosPtr(ss.EndedAt), nullIfEmpty(ss.UpstreamSubject), nullIfEmpty(ss.UpstreamSessionID))
		if err != nil {
			return s.wrap(op, err)
		}
		if n == 0 {
			return fmt.Errorf("storage: %s: %w", op, storage.ErrConflict)
		}
		for _, c := range ss.Clients {
			if _, err := q.Exec(ctx, "INSERT INTO sso_session_clients (session_id, client_id) VALUES (?, ?) ON CONFLICT (session_id, client_id) DO NOTHING", ss.ID, c); err != nil {
				return s.wrap(op, err)
			}
		}
		return nil
	})
}

func nonNilStrings(a []string) []string {
	if a == nil {
		return []string{}
	}
	return a
}

const ssoColumns = "id, subject, provider, acr, amr, auth_time, created_at, last_seen_at, idle_expires_at, absolute_expires_at, identity, ended_at, upstream_subject, upstream_sid"

func scanSSO(r Row) (*storage.SSOSession, error) {
	ss := new(storage.SSOSession)
	var amr string
	var auth, created, seen, idle, abs, ended *int64
	var upSubject, upSID *string
	if err := r.Scan(&ss.ID, &ss.Subject, &ss.Provider, &ss.ACR, &amr, &auth, &created, &seen, &idle, &abs, &ss.Identity, &ended, &upSubject, &upSID); err != nil {
		return nil, err
	}
	if upSubject != nil {
		ss.UpstreamSubject = *upSubject
	}
	if upSID != nil {
		ss.UpstreamSessionID = *upSID
	}
	if err := json.Unmarshal([]byte(amr), &ss.AMR); err != nil {
		return nil, fmt.Errorf("decode amr: %w", err)
	}
	ss.AuthTime, ss.CreatedAt, ss.LastSeenAt = fromNanos(auth), fromNanos(created), fromNanos(seen)
	ss.IdleExpiresAt, ss.AbsoluteExpiresAt, ss.EndedAt = fromNanos(idle), fromNanos(abs), timePtr(ended)
	return ss, nil
}

func (s *Store) loadSSOClients(ctx context.Context, ss *storage.SSOSession) error {
	rows, err := s.reader(ctx).Query(ctx, "SELECT client_id FROM sso_session_clients WHERE session_id = ? ORDER BY seq", ss.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	ss.Clients = nil
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return err
		}
		ss.Clients = append(ss.Clients, c)
	}
	return rows.Err()
}

// GetSSOSession implements storage.SSOSessionStore.
func (s *Store) GetSSOSession(ctx context.Context, id string) (*storage.SSOSession, error) {
	const op = "get sso session"
	ss, err := scanSSO(s.reader(ctx).QueryRow(ctx, "SELECT "+ssoColumns+" FROM sso_sessions WHERE id = ?", id))
	if err != nil {
		if s.b.IsNoRows(err) {
			return nil, notFound(op)
		}
		return nil, s.wrap(op, err)
	}
	if err := s.loadSSOClients(ctx, ss); err != nil {
		return nil, s.wrap(op, err)
	}
	return ss, nil
}

// TouchSSOSession implements storage.SSOSessionStore.
func (s *Store) TouchSSOSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error {
	const op = "touch sso session"
	n, err := s.writer(ctx).Exec(ctx, "UPDATE sso_sessions SET last_seen_at = ?, idle_expires_at = ? WHERE id = ?", nanos(lastSeen), nanos(idleExpiresAt), id)
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

// AddSSOSessionClient implements storage.SSOSessionStore. The clients live in their
// own table with a unique (session, client) pair and an insertion sequence, so that
// concurrent token issues cannot lose or duplicate a client (no read-modify-write).
func (s *Store) AddSSOSessionClient(ctx context.Context, id, clientID string) error {
	const op = "add sso session client"
	n, err := s.writer(ctx).Exec(ctx, "INSERT INTO sso_session_clients (session_id, client_id) SELECT ?, ? WHERE EXISTS (SELECT 1 FROM sso_sessions WHERE id = ?)"+
		" ON CONFLICT (session_id, client_id) DO NOTHING", id, clientID, id)
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		ok, err := s.exists(ctx, "sso_sessions", "id", id)
		if err != nil {
			return s.wrap(op, err)
		}
		if !ok {
			return notFound(op)
		}
	}
	return nil
}

// EndSSOSession implements storage.SSOSessionStore; ending an ended session keeps
// the first end time and is not an error.
func (s *Store) EndSSOSession(ctx context.Context, id string, t time.Time) error {
	const op = "end sso session"
	n, err := s.writer(ctx).Exec(ctx, "UPDATE sso_sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL", nanos(t), id)
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		ok, err := s.exists(ctx, "sso_sessions", "id", id)
		if err != nil {
			return s.wrap(op, err)
		}
		if !ok {
			return notFound(op)
		}
	}
	return nil
}

// ListSSOSessionsBySubject implements storage.SSOSessionStore: sessions not ended,
// oldest first.
func (s *Store) ListSSOSessionsBySubject(ctx context.Context, subject string) ([]*storage.SSOSession, error) {
	const op = "list sso sessions"
	rows, err := s.reader(ctx).Query(ctx, "SELECT "+ssoColumns+" FROM sso_sessions WHERE subject = ? AND ended_at IS NULL ORDER BY created_at, id", subject)
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
	// Clients are loaded after the first result is closed: one open result per
	// connection inside a transaction.
	for _, ss := range out {
		if err := s.loadSSOClients(ctx, ss); err != nil {
			return nil, s.wrap(op, err)
		}
	}
	return out, nil
}

// ---- consents ----

// SaveConsent implements storage.ConsentStore; saving clears a previous revocation
// unless c.RevokedAt is set.
func (s *Store) SaveConsent(ctx context.Context, c *storage.Consent) error {
	_, err := s.writer(ctx).Exec(ctx, "INSERT INTO consents (subject, client_id, scopes, granted_at, revoked_at) VALUES (?, ?, ?, ?, ?)"+
		" ON CONFLICT (subject, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at, revoked_at = excluded.revoked_at",
		c.Subject, c.ClientID, jsonString(nonNilStrings(c.Scopes)), nanos(c.GrantedAt), nanosPtr(c.RevokedAt))
	return s.wrap("save consent", err)
}

const consentColumns = "subject, client_id, scopes, granted_at, revoked_at"

func scanConsent(r Row) (*storage.Consent, error) {
	c := new(storage.Consent)
	var scopes string
	var granted, revoked *int64
	if err := r.Scan(&c.Subject, &c.ClientID, &scopes, &granted, &revoked); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &c.Scopes); err != nil {
		return nil, fmt.Errorf("decode scopes: %w", err)
	}
	c.GrantedAt, c.RevokedAt = fromNanos(granted), timePtr(revoked)
	return c, nil
}

// GetConsent implements storage.ConsentStore: a revoked consent is ErrNotFound.
func (s *Store) GetConsent(ctx context.Context, subject, clientID string) (*storage.Consent, error) {
	const op = "get consent"
	c, err := scanConsent(s.reader(ctx).QueryRow(ctx, "SELECT "+consentColumns+" FROM consents WHERE subject = ? AND client_id = ? AND revoked_at IS NULL", subject, clientID))
	if err != nil {
		if s.b.IsNoRows(err) {
			return nil, notFound(op)
		}
		return nil, s.wrap(op, err)
	}
	return c, nil
}

// RevokeConsent implements storage.ConsentStore; an unknown consent is ErrNotFound,
// revoking a revoked one keeps the first time.
func (s *Store) RevokeConsent(ctx context.Context, subject, clientID string, t time.Time) error {
	const op = "revoke consent"
	n, err := s.writer(ctx).Exec(ctx, "UPDATE consents SET revoked_at = COALESCE(revoked_at, ?) WHERE subject = ? AND client_id = ?", nanos(t), subject, clientID)
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

// ListConsents implements storage.ConsentStore: every consent of the subject,
// revoked ones included (RevokedAt set), ordered by client ID.
func (s *Store) ListConsents(ctx context.Context, subject string) ([]*storage.Consent, error) {
	const op = "list consents"
	rows, err := s.reader(ctx).Query(ctx, "SELECT "+consentColumns+" FROM consents WHERE subject = ? ORDER BY client_id", subject)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []*storage.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, s.wrap(op, err)
		}
		out = append(out, c)
	}
	return out, s.wrap(op, rows.Err())
}

// ---- keys ----

// CreateKey implements storage.KeyStore; a duplicate kid is ErrConflict.
func (s *Store) CreateKey(ctx context.Context, k *storage.Key) error {
	const op = "create key"
	n, err := s.writer(ctx).Exec(ctx, "INSERT INTO signing_keys (id, use, alg, state, private_sealed, public_jwk, created_at, activated_at, retired_at, retire_until)"+
		" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
		k.ID, k.Use, k.Alg, k.State, k.PrivateSealed, k.PublicJWK, nanos(k.CreatedAt), nanosPtr(k.ActivatedAt), nanosPtr(k.RetiredAt), nanosPtr(k.RetireUntil))
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("storage: %s %q: %w", op, k.ID, storage.ErrConflict)
	}
	return nil
}

// ListKeys implements storage.KeyStore, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]*storage.Key, error) {
	const op = "list keys"
	rows, err := s.reader(ctx).Query(ctx, "SELECT id, use, alg, state, private_sealed, public_jwk, created_at, activated_at, retired_at, retire_until FROM signing_keys ORDER BY created_at, id")
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []*storage.Key
	for rows.Next() {
		k := new(storage.Key)
		var created, activated, retired, until *int64
		if err := rows.Scan(&k.ID, &k.Use, &k.Alg, &k.State, &k.PrivateSealed, &k.PublicJWK, &created, &activated, &retired, &until); err != nil {
			return nil, s.wrap(op, err)
		}
		k.CreatedAt, k.ActivatedAt, k.RetiredAt, k.RetireUntil = fromNanos(created), timePtr(activated), timePtr(retired), timePtr(until)
		out = append(out, k)
	}
	return out, s.wrap(op, rows.Err())
}

// UpdateKeys implements storage.KeyStore in one transaction: a rotation (next ->
// current, current -> retired) is seen whole or not at all. An unknown kid is
// ErrNotFound and nothing is written.
func (s *Store) UpdateKeys(ctx context.Context, keys []*storage.Key) error {
	const op = "update keys"
	return s.inTx(ctx, op, func(ctx context.Context, q Querier) error {
		for _, k := range keys {
			n, err := q.Exec(ctx, "UPDATE signing_keys SET state = ?, activated_at = ?, retired_at = ?, retire_until = ? WHERE id = ?",
				k.State, nanosPtr(k.ActivatedAt), nanosPtr(k.RetiredAt), nanosPtr(k.RetireUntil), k.ID)
			if err != nil {
				return s.wrap(op, err)
			}
			if n == 0 {
				return fmt.Errorf("storage: %s: key %q: %w", op, k.ID, storage.ErrNotFound)
			}
		}
		return nil
	})
}

// DeleteKey implements storage.KeyStore; an unknown kid is ErrNotFound.
func (s *Store) DeleteKey(ctx context.Context, id string) error {
	const op = "delete key"
	n, err := s.writer(ctx).Exec(ctx, "DELETE FROM signing_keys WHERE id = ?", id)
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

// ---- one-time markers ----

// UseOnce implements storage.Store. One statement decides: the insert succeeds for a
// new key or replaces an expired marker, and does nothing for a live one, so two
// concurrent uses of one SAML assertion ID give exactly one success (SAML Profiles
// §4.1.4.5: bearer assertions MUST NOT be replayed).
func (s *Store) UseOnce(ctx context.Context, namespace, key string, expiresAt time.Time) error {
	const op = "use once"
	n, err := s.writer(ctx).Exec(ctx, "INSERT INTO used_markers (namespace, marker, expires_at) VALUES (?, ?, ?)"+
		" ON CONFLICT (namespace, marker) DO UPDATE SET expires_at = excluded.expires_at WHERE used_markers.expires_at <= ?",
		namespace, key, expiresAt.UnixNano(), s.opts.Now().UnixNano())
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return fmt.Errorf("storage: %s %s: %w", op, namespace, storage.ErrAlreadyUsed)
	}
	return nil
}

// ---- audit ----

// AppendAudit implements storage.AuditStore. The chain head is read and the event
// inserted in one transaction holding the backend's audit lock, so concurrent
// appends (several goroutines, several broker nodes) form one unbroken chain. It
// sets e.Seq, e.PrevHash, e.Hash, and e.Time when zero.
func (s *Store) AppendAudit(ctx context.Context, e *storage.AuditEvent) error {
	const op = "append audit event"
	if e.Time.IsZero() {
		e.Time = s.opts.Now()
	}
	e.Time = e.Time.UTC()
	return s.inTx(ctx, op, func(ctx context.Context, q Querier) error {
		if err := s.b.LockAuditChain(ctx, q); err != nil {
			return s.wrap(op, err)
		}
		var seq int64
		var prev string
		err := q.QueryRow(ctx, "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1").Scan(&seq, &prev)
		if err != nil && !s.b.IsNoRows(err) {
			return s.wrap(op, err)
		}
		e.Seq, e.PrevHash = seq+1, prev
		e.Hash = storage.AuditHash(prev, e)
		var details *string
		if len(e.Details) > 0 {
			d := jsonString(e.Details)
			details = &d
		}
		_, err = q.Exec(ctx, "INSERT INTO audit_events (seq, time, type, outcome, subject, client_id, provider, session_id, request_id, details, prev_hash, hash)"+
			" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			e.Seq, e.Time.UnixNano(), e.Type, e.Outcome, e.Subject, e.ClientID, e.Provider, e.Session, e.Request, details, e.PrevHash, e.Hash)
		return s.wrap(op, err)
	})
}

// ListAudit implements storage.AuditStore.
func (s *Store) ListAudit(ctx context.Context, from, until time.Time, limit int) ([]*storage.AuditEvent, error) {
	const op = "list audit events"
	var where []string
	var args []any
	if !from.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, from.UnixNano())
	}
	if !until.IsZero() {
		where = append(where, "time < ?")
		args = append(args, until.UnixNano())
	}
	q := "SELECT seq, time, type, outcome, subject, client_id, provider, session_id, request_id, details, prev_hash, hash FROM audit_events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY seq"
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := s.reader(ctx).Query(ctx, q, args...)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	defer rows.Close()
	var out []*storage.AuditEvent
	for rows.Next() {
		e := new(storage.AuditEvent)
		var t int64
		var details *string
		if err := rows.Scan(&e.Seq, &t, &e.Type, &e.Outcome, &e.Subject, &e.ClientID, &e.Provider, &e.Session, &e.Request, &details, &e.PrevHash, &e.Hash); err != nil {
			return nil, s.wrap(op, err)
		}
		e.Time = time.Unix(0, t).UTC()
		if details != nil {
			if err := json.Unmarshal([]byte(*details), &e.Details); err != nil {
				return nil, fmt.Errorf("storage: %s: decode details: %w", op, err)
			}
		}
		out = append(out, e)
	}
	return out, s.wrap(op, rows.Err())
}

// ---- expiry ----

// DeleteBatch is how many rows one DeleteExpired transaction removes at most.
// Each batch is its own short transaction, so SQLite's single writer is never held
// for long: a million expired rows in one transaction held it for seconds, a
// pause every request queued behind.
const DeleteBatch = 1000

// Batches aim at deleteBatchTarget each: on a big store under load, 1,000 rows of
// a token table (five indexes each, keys at random places) took 300 ms, and the
// requests queued behind every batch. The cleanup then waits deletePause times a
// batch's duration before the next, so it takes at most half of the writer's
// time; under load it also waits its turn for the writer among the requests.
// On a single writer (SQLite) that nobody else used during the batch it goes on
// at once (pauseAfter): an idle store deletes its backlog twice as fast.
const (
	deleteBatchTarget = 20 * time.Millisecond
	deleteBatchMin    = 32
	deletePause       = 1
)

// writerUses is the single writer's use count, or -1 when the backend has
// concurrent writers (PostgreSQL) and cannot tell.
func (s *Store) writerUses() int64 {
	if w, ok := s.b.(SingleWriter); ok {
		return w.WriterUses()
	}
	return -1
}

// pauseAfter is how long the cleanup waits after a batch that held the writer
// for took: deletePause times as long when other transactions used the writer
// meanwhile (they wait for it while a batch runs, so they get the time between
// batches), none when nobody else did.
func pauseAfter(took time.Duration, othersWrote bool) time.Duration {
	if !othersWrote {
		return 0
	}
	return deletePause * took
}

// deletePaused is told of each pause (tests count them).
var deletePaused = func(time.Duration) {}

// DeleteExpired implements storage.Store in batches of at most DeleteBatch rows,
// each committed on its own and sized to hold the writer about
// deleteBatchTarget, with a pause after each that others waited behind
// (pauseAfter): a failure or a cancelled ctx keeps what earlier batches
// removed (the count returned with the error). Codes are kept CodeRetention past
// their expiry (replay detection), SSO sessions storage.SessionRetention past
// their end or expiry; rotated refresh tokens stay until their own
// expiry, so reuse is detected for as long as the token could have been valid;
// rows with no expiry (lifespan -1) are kept. Rows are chosen by key in a
// subquery (DELETE ... LIMIT is not standard SQL nor in PostgreSQL).
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	const op = "delete expired"
	n := now.UnixNano()
	type stmt struct {
		q    string
		args []any
	}
	// key lists the primary key's columns; the batch size is the last argument.
	expired := func(table, key, cond string, args ...any) stmt {
		lhs := key
		if strings.Contains(key, ",") {
			lhs = "(" + key + ")" // a row value (SQLite 3.15, PostgreSQL)
		}
		return stmt{"DELETE FROM " + table + " WHERE " + lhs + " IN (SELECT " + key + " FROM " + table + " WHERE " + cond + " LIMIT ?)",
			append(args, 0)}
	}
	tok := "expires_at IS NOT NULL AND expires_at < ?"
	sessionsBefore := now.Add(-storage.SessionRetention).UnixNano()
	stmts := []stmt{
		expired(tableCode, "signature", tok, now.Add(-CodeRetention).UnixNano()),
		expired(tableAccess, "signature", tok, n),
		expired(tableRefresh, "signature", tok, n),
		expired(tablePKCE, "signature", tok, n),
		expired(tableOIDC, "signature", tok, n),
		expired("flows", "id", tok, n),
		// Ended or expired sessions. Each term is a two-sided range (NULL fails
		// both sides) so that SQLite's planner searches the three indexes of
		// migration 0005 and unites them: it takes a one-sided range for a
		// quarter of the table, and three of those for a reason to scan it all.
		// They stay storage.SessionRetention past their end or expiry, and
		// with them the grants logout revokes through (ON DELETE CASCADE).
		expired("sso_sessions", "id", "(ended_at > 0 AND ended_at <= ?) OR (absolute_expires_at > 0 AND absolute_expires_at < ?) OR (idle_expires_at > 0 AND idle_expires_at < ?)",
			sessionsBefore, sessionsBefore, sessionsBefore),
		expired("used_markers", "namespace, marker", "expires_at <= ?", n),
		expired("client_assertion_jti", "jti", "expires_at <= ?", n),
		expired("signing_keys", "id", "state = ? AND retire_until IS NOT NULL AND retire_until < ?", storage.KeyRetired, n),
	}
	var total int64
	// The first batch is the smallest: a first batch of DeleteBatch rows held
	// the writer for 166-203 ms on a big store under load, and it and the
	// halved batches after it showed as the worst seconds of p99 at every
	// cleanup's start (2026-12-07). Fast batches double up to DeleteBatch.
	size := deleteBatchMin
	for _, st := range stmts {
		for {
			if err := ctx.Err(); err != nil {
				return total, s.wrap(op, err)
			}
			st.args[len(st.args)-1] = size
			var c int64
			// took runs from the batch's statement to its commit (real time,
			// not the store's clock). On SQLite it includes the wait for the
			// writer behind requests (the transaction takes the writer at its
			// first statement), which makes the cleanup back off on a busy
			// writer, but not the other members of a group commit
			// (sqlite/group.go): the batch commits on its own. Waiting for the
			// group's commit after up to 15 other transactions made every batch
			// look slow at 70 % of capacity and shrank it to 32-128 rows
			// (2026-12-07).
			var began time.Time
			usesBefore := s.writerUses()
			err := s.inTx(WithSoloCommit(ctx), op, func(ctx context.Context, q Querier) (err error) {
				began = time.Now()
				c, err = q.Exec(ctx, st.q, st.args...)
				return s.wrap(op, err)
			})
			if err != nil {
				return total, err
			}
			took := time.Since(began)
			othersWrote := usesBefore < 0 || s.writerUses()-usesBefore > 1
			total += c
			if c < int64(size) {
				break
			}
			switch {
			case took > 2*deleteBatchTarget && size > deleteBatchMin:
				size = max(size/2, deleteBatchMin)
			case took < deleteBatchTarget/2 && size < DeleteBatch:
				size = min(size*2, DeleteBatch)
			}
			pause := pauseAfter(took, othersWrote)
			if pause == 0 {
				continue
			}
			deletePaused(pause)
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return total, s.wrap(op, ctx.Err())
			case <-t.C:
			}
		}
	}
	return total, nil
}
