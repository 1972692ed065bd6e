package session

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/flow"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/timekey"
)

// TestNewSessionID: an SSO session ID starts with the time it began (so that its
// rows go at the right edge of the indexes keyed by session) and keeps 24
// random bytes after it.
func TestNewSessionID(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	a, b := newSessionID(now), newSessionID(now)
	if a == b {
		t.Fatalf("two session IDs are equal: %q", a)
	}
	if got := timekey.Of(a); got != timekey.Prefix(now) {
		t.Errorf("newSessionID(%v) = %q: time prefix %q, want %q", now, a, got, timekey.Prefix(now))
	}
	random := a[timekey.PrefixLen+1:]
	if raw, err := base64.RawURLEncoding.DecodeString(random); err != nil || len(raw) != 24 {
		t.Errorf("random part %q: %d bytes (%v), want 24", random, len(raw), err)
	}
	if later := newSessionID(now.Add(time.Millisecond)); later <= a {
		t.Errorf("a later session's ID %q does not sort after %q", later, a)
	}
}

// createRecorder keeps the sessions Start creates; the other methods are not
// called by Start on a browser without a session cookie.
type createRecorder struct {
	storage.SSOSessionStore
	created []*storage.SSOSession
}

func (c *createRecorder) CreateSSOSession(_ context.Context, s *storage.SSOSession) error {
	c.created = append(c.created, s)
	return nil
}

type sidFromUpstream struct{}

func (sidFromUpstream) UpstreamSessionID(upstream []byte) string { return "sid:" + string(upstream) }

// TestStartKeepsUpstreamKeys: a session of a provider that sends back-channel
// logout tokens is stored with its upstream subject and session ID, so that a
// token finds it by index; any other provider's session is stored without them.
func TestStartKeepsUpstreamKeys(t *testing.T) {
	store := &createRecorder{}
	m := &SSO{Store: store, Cookies: NewCookieStore(time.Hour, make([]byte, 32), make([]byte, 32)),
		IdleTimeout: time.Hour, AbsoluteTimeout: 8 * time.Hour, Now: time.Now,
		UpstreamLogout: map[string]UpstreamSessionNamer{"bailiffs": sidFromUpstream{}}}
	for _, a := range []*flow.Auth{
		{PublicSubject: "p1", Provider: "bailiffs", UpstreamSubject: "cj-1", Upstream: []byte("abc")},
		{PublicSubject: "p2", Provider: "agents", UpstreamSubject: "uid=a,ou=people", Upstream: []byte("abc")},
	} {
		r := httptest.NewRequest("GET", "https://broker.test/login", nil)
		if _, err := m.Start(context.Background(), httptest.NewRecorder(), r, a); err != nil {
			t.Fatalf("Start(%s): %v", a.Provider, err)
		}
	}
	if len(store.created) != 2 {
		t.Fatalf("%d sessions created, want 2", len(store.created))
	}
	if s := store.created[0]; s.UpstreamSubject != "cj-1" || s.UpstreamSessionID != "sid:abc" {
		t.Errorf("bailiffs session upstream keys = %q, %q; want cj-1, sid:abc", s.UpstreamSubject, s.UpstreamSessionID)
	}
	if s := store.created[1]; s.UpstreamSubject != "" || s.UpstreamSessionID != "" {
		t.Errorf("agents session upstream keys = %q, %q; want none (no back-channel logout from the directory)", s.UpstreamSubject, s.UpstreamSessionID)
	}
}
