package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/broker/logout"
	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// rpEndpoint is a relying party's back-channel logout endpoint: it records the
// logout tokens it receives and answers with status (settable).
type rpEndpoint struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	tokens []string
	forms  []url.Values
}

func newRPEndpoint(t *testing.T, status int) *rpEndpoint {
	rp := &rpEndpoint{status: status}
	rp.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		rp.mu.Lock()
		defer rp.mu.Unlock()
		rp.forms = append(rp.forms, r.PostForm)
		if r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
			rp.tokens = append(rp.tokens, r.PostForm.Get("logout_token"))
		}
		w.WriteHeader(rp.status)
	}))
	t.Cleanup(rp.Close)
	return rp
}

func (rp *rpEndpoint) setStatus(s int) { rp.mu.Lock(); rp.status = s; rp.mu.Unlock() }

func (rp *rpEndpoint) received() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]string(nil), rp.tokens...)
}

const bclClient, bclSecret = "bcl-partner", "bcl-secret-0123456789"

// startWithBCL runs a broker with a partner client whose back-channel endpoint is
// rp (and front-channel URI front, if set).
func startWithBCL(t *testing.T, rp *rpEndpoint, dir, front string) *harness.Env {
	t.Helper()
	secret := t.TempDir() + "/bcl-secret"
	if err := writeFile(secret, bclSecret); err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf(`  - client_id: %s
    name: "Partenaire BCL"
    kind: partner
    secret: {file: %q}
    redirect_uris: [%q]
    post_logout_redirect_uris: [%q]
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, profile, offline_access]
    backchannel_logout_uri: %q
`, bclClient, secret, harness.RedirectURI, harness.PostLogoutURI, rp.URL+"/bcl")
	if front != "" {
		extra += fmt.Sprintf("    frontchannel_logout_uri: %q\n", front)
	}
	return harness.Start(t, harness.Options{ExtraYAML: extra, Dir: dir, LogoutHTTPClient: rp.Client()})
}

func writeFile(p, v string) error {
	return os.WriteFile(p, []byte(v+"\n"), 0o600)
}

// verifyLogoutToken checks a logout token the way an RP must (OIDC BCL §2.6) and
// the conformance suite's ValidateLogoutTokenClaims does, plus SECURITY.md E10.
func verifyLogoutToken(t *testing.T, env *harness.Env, raw string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256})
	if err != nil {
		t.Fatalf("logout token: %v", err)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "logout+jwt" {
		t.Errorf("typ = %q, want logout+jwt", typ)
	}
	_, doc, _ := getJSON(t, env.HTTPClient(), env.Issuer+"/jwks", nil)
	b, _ := json.Marshal(doc)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS", h.KeyID)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	if c["iss"] != env.Issuer {
		t.Errorf("iss = %v", c["iss"])
	}
	iat, _ := c["iat"].(float64)
	exp, _ := c["exp"].(float64)
	if iat == 0 || exp == 0 || exp-iat > 120 || exp <= iat {
		t.Errorf("iat %v exp %v: want exp within 2 minutes of iat", c["iat"], c["exp"])
	}
	if j, _ := c["jti"].(string); len(j) < 16 {
		t.Errorf("jti = %v", c["jti"])
	}
	ev, ok := c["events"].(map[string]any)
	if !ok || len(ev) != 1 {
		t.Fatalf("events = %v", c["events"])
	}
	if m, ok := ev[logout.Event].(map[string]any); !ok || len(m) != 0 {
		t.Errorf("events member = %v, want {}", ev[logout.Event])
	}
	if _, has := c["nonce"]; has {
		t.Error("E10: nonce in a logout token")
	}
	return c
}

// oidcc-backchannel-rp-initiated-logout (E1, E10, E12): the client hears of the
// logout before the browser is redirected, with a valid logout token naming the
// sid and the (pairwise) sub of its ID token; refresh tokens without
// offline_access die, offline ones live.
func TestBackchannelRPInitiatedLogout(t *testing.T) {
	rp := newRPEndpoint(t, http.StatusOK)
	env := startWithBCL(t, rp, "", "")
	b := env.Browser()
	online := env.Login(t, b, bclClient, bclSecret, harness.Judge, nil)
	offline := env.Login(t, b, bclClient, bclSecret, harness.Judge, q("scope", "openid offline_access", "prompt", "consent"))
	idc := claimsOf(t, online.IDToken)
	start := time.Now()
	status, loc, _ := endSession(t, env, b, q("id_token_hint", online.IDToken, "post_logout_redirect_uri", harness.PostLogoutURI, "state", "s1"))
	took := time.Since(start)
	if status != http.StatusSeeOther || loc != harness.PostLogoutURI+"?state=s1" {
		t.Fatalf("logout: %d %q", status, loc)
	}
	got, late := noticeOfLogout(t, env, rp, took)
	if !late && len(got) != 1 {
		t.Fatalf("E1: %d logout tokens received before the redirect, want 1", len(got))
	}
	c := verifyLogoutToken(t, env, got[len(got)-1])
	if c["aud"] != bclClient {
		t.Errorf("aud = %v", c["aud"])
	}
	if c["sid"] == nil || c["sid"] != idc["sid"] {
		t.Errorf("sid = %v, ID token sid = %v", c["sid"], idc["sid"])
	}
	if c["sub"] != idc["sub"] || c["sub"] == harness.Judge {
		t.Errorf("sub = %v, want the pairwise sub of the ID token %v", c["sub"], idc["sub"])
	}
	promptNoneFails(t, env, b)
	// E12.
	if r := env.Token(t, bclClient, bclSecret, q("grant_type", "refresh_token", "refresh_token", online.RefreshToken)); r.Status == 200 {
		t.Error("E12: refresh token without offline_access still works after logout")
	}
	if offline.RefreshToken != "" {
		if r := env.Token(t, bclClient, bclSecret, q("grant_type", "refresh_token", "refresh_token", offline.RefreshToken)); r.Status != 200 {
			t.Errorf("offline_access refresh token revoked by logout: %d %s", r.Status, r.Error)
		}
	}
	if n, _ := env.Broker.Store.CountLogouts(context.Background()); n != 0 {
		t.Errorf("queue depth = %d after a delivered notice", n)
	}
}

// A client whose endpoint is down does not hold the logout: the redirect comes
// promptly, the session is gone, and the worker retries until it gets through.
func TestBackchannelClientDown(t *testing.T) {
	rp := newRPEndpoint(t, http.StatusServiceUnavailable)
	env := startWithBCL(t, rp, "", "")
	b := env.Browser()
	tok := env.Login(t, b, bclClient, bclSecret, harness.Judge, nil)
	start := time.Now()
	status, loc, _ := endSession(t, env, b, q("id_token_hint", tok.IDToken, "post_logout_redirect_uri", harness.PostLogoutURI))
	if status != http.StatusSeeOther || loc != harness.PostLogoutURI {
		t.Fatalf("logout: %d %q", status, loc)
	}
	// The attempt during the logout is bounded by the notify budget; the rest of
	// the request gets generous slack for a loaded machine, still far below the
	// first retry's backoff (15 s) that a logout waiting for the client would show.
	if d := time.Since(start); d > notifyDeadline+3*time.Second {
		t.Errorf("logout took %v with a client down", d)
	}
	promptNoneFails(t, env, b)
	ctx := context.Background()
	if n, _ := env.Broker.Store.CountLogouts(ctx); n != 1 {
		t.Fatalf("queue depth = %d, want 1", n)
	}
	// Not due yet: nothing sent.
	before := len(rp.received())
	if n, err := env.Broker.Logouts.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("RunOnce before the backoff = %d, %v", n, err)
	}
	env.Advance(logout.DefaultBackoff[0] + time.Second)
	waitRetried(t, env, rp, before+1) // still down: second failure
	rp.setStatus(http.StatusNoContent)
	env.Advance(logout.DefaultBackoff[1] + time.Second)
	waitDrained(t, env)
	if got := rp.received(); len(got) < before+2 {
		t.Fatalf("%d attempts, want at least %d", len(got), before+2)
	} else {
		verifyLogoutToken(t, env, got[len(got)-1]) // minted afresh at each attempt
	}
}

// notifyDeadline is the broker's budget for back-channel notices during a logout
// (broker/oidc notifyDeadline, SECURITY.md E1).
const notifyDeadline = 2 * time.Second

// noticeOfLogout returns the logout tokens rp received for a logout that answered
// after took. E1: the broker tries at once, within notifyDeadline, before it
// redirects; a logout that answered sooner than that must have delivered the
// notice. On a loaded machine the budget can run out first (the request to the RP
// was not through yet): the logout then answered only after spending the whole
// budget, the notice stays queued, and the worker delivers it (late is set, and
// the RP may have got it twice: delivery is at least once).
func noticeOfLogout(t *testing.T, env *harness.Env, rp *rpEndpoint, took time.Duration) (got []string, late bool) {
	t.Helper()
	got = rp.received()
	if took < notifyDeadline {
		if len(got) == 0 {
			t.Fatalf("E1: no logout token received before the redirect, though the logout answered after %v, within its %v budget", took, notifyDeadline)
		}
		return got, false
	}
	t.Logf("the logout answered after %v, its %v budget for back-channel notices spent (%d tokens received by then): the worker delivers the notice", took, notifyDeadline, len(got))
	env.Advance(logout.DefaultBackoff[0] + time.Second)
	waitDrained(t, env)
	if got = rp.received(); len(got) == 0 {
		t.Fatal("E1: the notice whose attempt ran out of the logout's budget was never delivered")
	}
	return got, true
}

// waitRetried drives the worker (RunOnce; the background worker may win the race,
// which is fine) until rp received n tokens.
func waitRetried(t *testing.T, env *harness.Env, rp *rpEndpoint, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(rp.received()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts received, want %d", len(rp.received()), n)
		}
		_, _ = env.Broker.Logouts.RunOnce(context.Background())
		time.Sleep(50 * time.Millisecond)
	}
}

func waitDrained(t *testing.T, env *harness.Env) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _ = env.Broker.Logouts.RunOnce(context.Background())
		n, err := env.Broker.Store.CountLogouts(context.Background())
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue depth %d, %v: want 0", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A notice that failed before a restart is delivered by the restarted broker (the
// queue lives in the database).
func TestBackchannelRetrySurvivesRestart(t *testing.T) {
	rp := newRPEndpoint(t, http.StatusInternalServerError)
	dir := t.TempDir()
	env := startWithBCL(t, rp, dir, "")
	b := env.Browser()
	tok := env.Login(t, b, bclClient, bclSecret, harness.Judge, nil)
	if status, _, _ := endSession(t, env, b, q("id_token_hint", tok.IDToken, "post_logout_redirect_uri", harness.PostLogoutURI)); status != http.StatusSeeOther {
		t.Fatalf("logout: %d", status)
	}
	// The attempt made during the logout fails: the RP answers 500, or, on a loaded
	// machine, the logout's 2 s budget runs out first. Either way the notice stays
	// queued, which is what the restart must not lose.
	if n, _ := env.Broker.Store.CountLogouts(context.Background()); n != 1 {
		t.Fatalf("queue depth after the failed attempt = %d, want 1", n)
	}
	before := len(rp.received())
	env.Server.Close()
	env.Broker.Close()

	rp.setStatus(http.StatusOK)
	again := startWithBCL(t, rp, dir, "")
	if n, _ := again.Broker.Store.CountLogouts(context.Background()); n != 1 {
		t.Fatalf("queue depth after restart = %d, want 1", n)
	}
	again.Advance(logout.DefaultBackoff[0] + time.Second)
	waitDrained(t, again)
	if len(rp.received()) <= before {
		t.Fatal("notice not delivered after the restart")
	}
}

// Front-Channel Logout 1.0 §2, §3: the "logged out" page frames the client's
// frontchannel_logout_uri with iss and sid, and its CSP allows that origin in
// frame-src on this page only.
func TestFrontchannelLogoutPage(t *testing.T) {
	rp := newRPEndpoint(t, http.StatusOK)
	env := startWithBCL(t, rp, "", "https://front.rp.example/fcl?x=1")
	b := env.Browser()
	tok := env.Login(t, b, bclClient, bclSecret, harness.Judge, nil)
	sid, _ := claimsOf(t, tok.IDToken)["sid"].(string)
	start := time.Now()
	resp, err := b.Get(env.Issuer + "/session/end?" + q("id_token_hint", tok.IDToken).Encode())
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := new(strings.Builder)
	_, _ = io.Copy(body, resp.Body)
	want := "https://front.rp.example/fcl?iss=" + url.QueryEscape(env.Issuer) + "&amp;sid=" + sid + "&amp;x=1"
	if resp.StatusCode != 200 || !strings.Contains(body.String(), `<iframe class="jc-frame" src="`+want+`"`) {
		t.Fatalf("logged-out page %d without the frame %s:\n%s", resp.StatusCode, want, body)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-src") || !strings.Contains(csp, "https://front.rp.example") {
		t.Errorf("CSP = %q", csp)
	}
	// Other pages keep the strict policy.
	r2, err := b.Get(env.Issuer + "/")
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if strings.Contains(r2.Header.Get("Content-Security-Policy"), "front.rp.example") {
		t.Error("frame-src widened beyond the logged-out page")
	}
	if got, late := noticeOfLogout(t, env, rp, took); !late && len(got) != 1 {
		t.Errorf("back-channel notices = %d, want 1", len(got))
	}
}
