package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"github.com/justiceconnect/justiceconnect/broker/flow"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/timekey"
)

// Cookie names. The __Host- prefix pins them to our origin, path / and Secure
// (RFC 6265bis §4.1.3.2); the jc- part keeps them apart from peers that share
// 127.0.0.1 in tests (cookies ignore ports).
const (
	SSOCookie     = "__Host-jc-sso"
	BindingCookie = "__Host-jc-bind"
)

// SSO manages the browser's single sign-on session: the record lives in the store,
// the cookie only names it (encrypted and authenticated by gorilla/sessions'
// securecookie, keys shared by every node).
type SSO struct {
	Store           storage.SSOSessionStore
	Cookies         *sessions.CookieStore
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	Now             func() time.Time
	// UpstreamLogout are the providers whose back-channel logout tokens the
	// broker receives, by provider ID: their sessions are stored with the
	// upstream subject and session ID, which a logout token names.
	UpstreamLogout map[string]UpstreamSessionNamer
}

// UpstreamSessionNamer reads the upstream's session ID (the OIDC sid) from the
// provider-private data kept at login, or "".
type UpstreamSessionNamer interface {
	UpstreamSessionID(upstream []byte) string
}

// NewCookieStore builds the gorilla cookie store with the broker's cookie policy:
// Secure, HttpOnly, SameSite=Lax, path / (SECURITY.md D5). keyPairs are hash/block
// key pairs, newest first, so cookies made with the previous pair still open (D9).
func NewCookieStore(maxAge time.Duration, keyPairs ...[]byte) *sessions.CookieStore {
	cs := sessions.NewCookieStore(keyPairs...)
	cs.Options = &sessions.Options{Path: "/", MaxAge: int(maxAge.Seconds()), Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode}
	cs.MaxAge(int(maxAge.Seconds()))
	return cs
}

// Current returns the live SSO session of the browser, or nil. A tampered cookie,
// a foreign key, an ended or expired session all count as no session (D6, D7).
func (m *SSO) Current(r *http.Request) (*storage.SSOSession, error) {
	cs, err := m.Cookies.Get(r, SSOCookie)
	if err != nil {
		return nil, nil // undecodable cookie: treated as no session
	}
	id, _ := cs.Values["id"].(string)
	if id == "" {
		return nil, nil
	}
	return m.Live(r.Context(), id)
}

// Live returns the SSO session id if it is neither ended nor expired, else nil.
func (m *SSO) Live(ctx context.Context, id string) (*storage.SSOSession, error) {
	s, err := m.Store.GetSSOSession(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("session: load sso: %w", err)
	}
	now := m.Now()
	if s.EndedAt != nil || !now.Before(s.IdleExpiresAt) || !now.Before(s.AbsoluteExpiresAt) {
		return nil, nil
	}
	return s, nil
}

// Auth decodes the login outcome kept in the session record.
func Auth(s *storage.SSOSession) (*flow.Auth, error) {
	a := &flow.Auth{}
	if err := json.Unmarshal(s.Identity, a); err != nil {
		return nil, fmt.Errorf("session: decode sso identity: %w", err)
	}
	return a, nil
}

// Start records a new SSO session for a fresh login and points the cookie at it. The
// ID is always new, so a cookie planted before the login cannot name the session
// after it (session fixation, D4); the previous session of the browser is ended.
func (m *SSO) Start(ctx context.Context, w http.ResponseWriter, r *http.Request, a *flow.Auth) (*storage.SSOSession, error) {
	if prev, _ := m.Current(r); prev != nil {
		_ = m.Store.EndSSOSession(ctx, prev.ID, m.Now())
	}
	identity, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("session: encode identity: %w", err)
	}
	now := m.Now()
	s := &storage.SSOSession{
		ID: newSessionID(now), Subject: a.PublicSubject, Provider: a.Provider,
		ACR: string(a.ACR), AMR: a.AMR, AuthTime: a.AuthTime, CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(m.IdleTimeout), AbsoluteExpiresAt: now.Add(m.AbsoluteTimeout),
		Identity: identity,
	}
	if n := m.UpstreamLogout[a.Provider]; n != nil {
		s.UpstreamSubject, s.UpstreamSessionID = a.UpstreamSubject, n.UpstreamSessionID(a.Upstream)
	}
	if err := m.Store.CreateSSOSession(ctx, s); err != nil {
		return nil, fmt.Errorf("session: create sso: %w", err)
	}
	cs := sessions.NewSession(m.Cookies, SSOCookie)
	opts := *m.Cookies.Options
	cs.Options = &opts
	cs.Values["id"] = s.ID
	if err := m.Cookies.Save(r, w, cs); err != nil {
		return nil, fmt.Errorf("session: write sso cookie: %w", err)
	}
	return s, nil
}

// newSessionID names an SSO session begun at now: the time (package timekey),
// then 24 random bytes, as unguessable as before. Its rows in sso_sessions,
// sso_session_clients and sso_session_grants are keyed by this ID. With a
// random ID each new session went to a random leaf of those three B-trees, and
// the cleanup, which deletes sessions about in the order they began (an
// absolute lifetime, or an idle timeout after a working day), dirtied a page of
// each per session: on a 1M-row store, time-ordered IDs delete expired sessions
// 2.0-2.4 times as fast in sqlite3 and 2.2-3.1 times under load (docs/PERFORMANCE.md,
// "Time-ordered SSO session IDs, measured again"). Relying parties see the ID
// as the sid claim, an opaque string (OIDC Front-Channel Logout §3); the time
// it carries is about the ID token's auth_time.
func newSessionID(now time.Time) string {
	return timekey.Key(now, flow.RandomToken(24))
}

// Touch records activity on the session, pushing the idle deadline.
func (m *SSO) Touch(ctx context.Context, s *storage.SSOSession) error {
	now := m.Now()
	idle := now.Add(m.IdleTimeout)
	if idle.After(s.AbsoluteExpiresAt) {
		idle = s.AbsoluteExpiresAt
	}
	return m.Store.TouchSSOSession(ctx, s.ID, now, idle)
}

// End ends the session server-side and clears the cookie.
func (m *SSO) End(ctx context.Context, w http.ResponseWriter, id string) error {
	http.SetCookie(w, &http.Cookie{Name: SSOCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if id == "" {
		return nil
	}
	if err := m.Store.EndSSOSession(ctx, id, m.Now()); err != nil {
		return fmt.Errorf("session: end sso: %w", err)
	}
	return nil
}

// Binding returns the browser's binding value, setting the cookie if absent. Login
// flows store its hash, so a flow ID leaked in a URL is useless in another browser.
func Binding(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(BindingCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("session: crypto/rand failed: " + err.Error())
	}
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: BindingCookie, Value: v, Path: "/", MaxAge: 3600, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return v
}

// BindingValue returns the binding cookie without setting it ("" if absent).
func BindingValue(r *http.Request) string {
	if c, err := r.Cookie(BindingCookie); err == nil {
		return c.Value
	}
	return ""
}
