package security

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// Issue #7: rate limits per client at the token endpoint, per address and per
// account at login, each answered with 429 and Retry-After.
func TestRateLimits(t *testing.T) {
	// Refills of one request every 12 minutes or more: each test counts on no refill
	// while it runs, however slow the machine (5 per minute refilled one
	// submission every 12 s).
	env := harness.Start(t, harness.Options{RateLimits: `{token_per_client: {requests: 2, per: 1h, burst: 2},
  login_per_address: {requests: 5, per: 1h, burst: 5}, login_failures_per_account: {requests: 1, per: 10m, burst: 2}}`})
	same := map[string]string{"Origin": env.Issuer, "Sec-Fetch-Site": "same-origin"}
	passwordForm := func(b *http.Client) url.Values {
		t.Helper()
		resp, _ := get(t, b, env.AuthURL(harness.MinistryID, harness.NewPKCE(), nil), nil)
		resp, _ = get(t, b, env.Issuer+resp.Header.Get("Location"), nil)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return url.Values{"flow": {loc.Query().Get("flow")}, "provider": {"dev"}}
	}
	submit := func(user, pass string) (*http.Response, string) {
		b := env.Browser()
		form := passwordForm(b)
		form.Set("username", user)
		form.Set("password", pass)
		return post(t, b, env.Issuer+"/login/password", form, same)
	}
	wantThrottled := func(t *testing.T, resp *http.Response, body string) {
		t.Helper()
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Trop de tentatives") {
			t.Fatalf("want 429 with the French message, got %d", resp.StatusCode)
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
		}
	}

	t.Run("failed passwords per account", func(t *testing.T) {
		for range 2 {
			if resp, _ := submit(harness.Clerk, "not-the-password"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong password: %d", resp.StatusCode)
			}
		}
		// The account's allowance of failures is spent: even the right password waits.
		resp, body := submit(harness.Clerk, harness.Password(harness.Clerk))
		wantThrottled(t, resp, body)
		// Another account is not affected (same address, allowance left).
		if resp, _ := submit(harness.Judge, harness.Password(harness.Judge)); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("another account was throttled too: %d", resp.StatusCode)
		}
	})

	t.Run("submissions per address", func(t *testing.T) {
		// Four submissions so far from 127.0.0.1 (burst 5): one more passes, then 429.
		if resp, _ := submit(harness.Lawyer, harness.Password(harness.Lawyer)); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("5th submission: %d", resp.StatusCode)
		}
		resp, body := submit(harness.Lawyer, harness.Password(harness.Lawyer))
		wantThrottled(t, resp, body)
	})

	t.Run("token requests per client", func(t *testing.T) {
		cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"detenus:read"}, "audience": {harness.APIAudience}}
		for i := range 2 {
			if tok := env.Token(t, harness.APIClientID, harness.APISecret, cc); tok.Status != http.StatusOK {
				t.Fatalf("request %d: %d %s", i, tok.Status, tok.Error)
			}
		}
		tok := env.Token(t, harness.APIClientID, harness.APISecret, cc)
		if tok.Status != http.StatusTooManyRequests || tok.Error != "temporarily_unavailable" || tok.AccessToken != "" {
			t.Fatalf("3rd request: %d %q, want 429 temporarily_unavailable", tok.Status, tok.Error)
		}
		if s, err := strconv.Atoi(tok.Header.Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("Retry-After = %q", tok.Header.Get("Retry-After"))
		}
		// Naming the client without its secret spends nothing of its allowance,
		// and gets invalid_client, not 429.
		if bad := env.Token(t, harness.APIClientID, "wrong-secret", cc); bad.Status != http.StatusUnauthorized {
			t.Errorf("wrong secret: %d %q", bad.Status, bad.Error)
		}
	})
}
