package faults

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/session"
)

// Corruptions of the upstream token endpoint's answer.
const (
	passThrough = iota
	invalidJSON
	badSignature
	serverError
)

// corrupter is a proxy between the broker's OIDC provider and oidc-provider: it
// forwards every request and corrupts the token endpoint's answer as told.
type corrupter struct {
	next http.RoundTripper
	mode atomic.Int32
	hits atomic.Int32
}

func (c *corrupter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	mode := c.mode.Load()
	if err != nil || req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/token") || mode == passThrough {
		return resp, err
	}
	c.hits.Add(1)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	switch mode {
	case invalidJSON:
		body = []byte(`{"access_token": "` + strings.Repeat("x", 20) + `", "token_type": "Bea`)
	case badSignature:
		var tr map[string]any
		if err := json.Unmarshal(body, &tr); err != nil {
			return nil, err
		}
		idt, _ := tr["id_token"].(string)
		parts := strings.Split(idt, ".")
		if len(parts) != 3 {
			return nil, io.ErrUnexpectedEOF
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || len(sig) == 0 {
			return nil, io.ErrUnexpectedEOF
		}
		sig[len(sig)/2] ^= 0x55
		parts[2] = base64.RawURLEncoding.EncodeToString(sig)
		tr["id_token"] = strings.Join(parts, ".")
		body, _ = json.Marshal(tr)
	case serverError:
		resp.StatusCode, resp.Status = http.StatusInternalServerError, "500 Internal Server Error"
		resp.Header.Set("Content-Type", "text/html")
		body = []byte("<h1>Internal Server Error</h1>")
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return resp, nil
}

// loginCJ runs a bailiff's login at the upstream OP and returns the broker's
// answer to the callback, and the browser.
func (s *stack) loginCJ(t *testing.T, f *flow, user string) *page {
	t.Helper()
	toIdP := f.start(t, url.Values{"idp_hint": {"cj"}})
	if toIdP.Location == nil || !strings.HasPrefix(toIdP.Location.String(), s.cj.Issuer+"/") {
		t.Fatalf("broker did not send the browser to the bailiffs' IdP: %d %v %.1000s", toIdP.Status, toIdP.Location, toIdP.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cb, err := s.cj.Login(ctx, f.b, toIdP.Location.String(), user, s.cj.User(t, user).Password, "")
	if err != nil {
		t.Fatalf("bailiffs' IdP login: %v", err)
	}
	if !strings.HasPrefix(cb.String(), s.Issuer+"/login/callback/cj?") {
		t.Fatalf("bailiffs' IdP returns to %s", cb)
	}
	return walk(t, f.b, http.MethodGet, cb.String(), nil)
}

// hasSSO reports whether the browser holds the broker's SSO session cookie.
func (s *stack) hasSSO(b *http.Client) bool {
	u, _ := url.Parse(s.Issuer + "/")
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == session.SSOCookie && c.Value != "" {
			return true
		}
	}
	return false
}

// TestUpstreamOIDCGarbage: the bailiffs' OP token endpoint answers with invalid
// JSON, then a token whose ID token signature is wrong, then HTTP 500. Each time
// the callback shows the French error page (502) with a correlation ID, the audit
// trail has a failed login with the reason, and no SSO session is created. When the
// proxy stops corrupting, logins work again at once.
func TestUpstreamOIDCGarbage(t *testing.T) {
	c := &corrupter{}
	s := startStack(t, stackOptions{oidc: true, oidcTransport: func(next http.RoundTripper) http.RoundTripper {
		c.next = next
		return c
	}})
	const user = "jdupont"

	// A login before the fault: the proxy forwards faithfully.
	f := s.newFlow()
	f.redeem(t, s.loginCJ(t, f, user))

	for _, tc := range []struct {
		name   string
		mode   int32
		text   string // of the page
		reason string // in the audit event
	}{
		{"InvalidJSON", invalidJSON, "Une erreur inattendue est survenue", "error.generic"},
		{"BadSignature", badSignature, "Une erreur inattendue est survenue", "error.generic"},
		{"HTTP500", serverError, unavailable, "login.unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.mode.Store(tc.mode)
			hits := c.hits.Load()
			from := time.Now()
			f := s.newFlow()
			p := s.loginCJ(t, f, user)
			if c.hits.Load() == hits {
				t.Fatalf("the broker did not call the token endpoint through the proxy")
			}
			wantErrorPage(t, p, http.StatusBadGateway, tc.text)
			if p.URL.Path != "/login/callback/cj" || p.Location != nil {
				t.Errorf("want the page at the callback, got %d at %s (Location %v)", p.Status, p.URL, p.Location)
			}
			if s.hasSSO(f.b) {
				t.Errorf("an SSO session cookie was set after a failed upstream login")
			}
			var fails, oks int
			for _, e := range s.audit(t, from) {
				if e.Type != "login" || e.Provider != "cj" {
					continue
				}
				switch e.Outcome {
				case "failure":
					fails++
					if e.Details["reason"] != tc.reason {
						t.Errorf("audit reason %q, want %q", e.Details["reason"], tc.reason)
					}
				case "success":
					oks++
				}
			}
			if fails != 1 || oks != 0 {
				t.Errorf("audit: %d failed and %d successful cj logins, want 1 and 0", fails, oks)
			}
			// No session: the next authorization request in this browser asks to log in
			// again (it goes to the upstream) rather than issuing a code.
			again := f.start(t, url.Values{"idp_hint": {"cj"}})
			if again.Location == nil || !strings.HasPrefix(again.Location.String(), s.cj.Issuer+"/") {
				t.Errorf("after the failed login the broker did not ask to log in again: %d %v", again.Status, again.Location)
			}
			t.Logf("%s: %d %q, correlation ID %s, audit reason %s", tc.name, p.Status, tc.text, correlationID(p), tc.reason)
		})
	}

	c.mode.Store(passThrough)
	f = s.newFlow()
	done := s.loginCJ(t, f, user)
	f.redeem(t, done)
	if !s.hasSSO(f.b) {
		t.Errorf("no SSO session after the recovered login")
	}
}
