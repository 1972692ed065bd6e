package browser

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// Client E: a partner platform's web application written with openid-client.
const (
	oidcClientID     = "plateforme-e"
	oidcClientSecret = "rp-e-secret-0123456789abcdef"
	oidcClientName   = "Plateforme openid-client (E)"
	oidcClientTitle  = "Application openid-client"
)

// startOpenIDClientStack is the usual stack plus E, registered with a
// back-channel logout URI, running once the broker serves discovery.
func startOpenIDClientStack(t *testing.T) (*stack, *peer.OpenIDClientRP) {
	t.Helper()
	rp := peer.NewOpenIDClientRP(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "rp-e")
	if err := os.WriteFile(secret, []byte(oidcClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The stack's configuration ends with its clients: E is one more item.
	s := startStack(t, stackOptions{brokerConfig: fmt.Sprintf(`  - client_id: %s
    name: %q
    kind: first_party
    secret: {file: %q}
    redirect_uris: [%q]
    post_logout_redirect_uris: [%q]
    backchannel_logout_uri: %q
    grant_types: [authorization_code]
    scopes: [openid, profile, email, profession, jurisdictions, justice_roles]
    subject_type: public
`, oidcClientID, oidcClientName, secret, rp.RedirectURI, rp.PostLogoutRedirectURI, rp.BackchannelLogoutURI)})

	rp.Start(t, peer.OpenIDClientRPOptions{Issuer: s.issuer, ClientID: oidcClientID, ClientSecret: oidcClientSecret,
		CAFile: s.brokerPEM, Title: oidcClientTitle})
	return s, rp
}

// waitSession waits until E's sessions satisfy cond (back-channel notices may
// land just after the browser's redirect; on a loaded machine the broker's 2 s
// budget for the attempt during the logout can run out, and the worker's retry
// comes 15 s later, logout.DefaultBackoff: hence 30 s).
func waitSession(t *testing.T, rp *peer.OpenIDClientRP, what string, cond func(st peer.OpenIDClientState) bool) peer.OpenIDClientState {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := rp.State(t)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: openid-client RP state %+v\n%s", what, st, rp.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func live(st peer.OpenIDClientState) []peer.OpenIDClientSession {
	var out []peer.OpenIDClientSession
	for _, s := range st.Sessions {
		if !s.Ended {
			out = append(out, s)
		}
	}
	return out
}

// TestSSOAcrossOpenIDClientAndApache (issue #6): a clerk logs in at E
// (openid-client), then reaches B (mod_auth_openidc) by SSO with no broker page.
// Logging out at B ends E's session by back-channel (E checks the logout token
// with jose: signature, typ, iss, aud, event, sid, no nonce), and prompt=none at
// E then gets login_required. The other way round too: after a new login, logging
// out at E (RP-initiated, built by openid-client) ends B's session by back-channel,
// and prompt=none at B gets login_required.
func TestSSOAcrossOpenIDClientAndApache(t *testing.T) {
	s, rp := startOpenIDClientStack(t)
	b := s.browser

	loginAtE := func(when string) {
		t.Helper()
		b.Open(rp.URL + "/login")
		s.loginWithPassword(t, oidcClientName, false)
		expect(t, b, "E after login "+when, oidcClientTitle+" : connecté", "greffier", clerkCourt, "greffier@"+clerkCourt)
	}
	ssoAtB := func(when string) {
		t.Helper()
		b.ForgetVisited()
		b.Open(s.b.URL + peer.ApacheSilentPath)
		expect(t, b, "B by SSO "+when, "Plateforme partenaire : connecté", "greffier")
		if p := visitedPaths(b, s.issuer); contains(p, "/login") {
			t.Fatalf("B's login %s went through broker pages %v; want SSO", when, p)
		}
	}
	// promptNone runs a prompt=none authorization from start and returns the
	// error the RP's redirect URI received.
	promptNone := func(start, redirectURI string) string {
		t.Helper()
		b.ForgetVisited()
		b.Open(start)
		for _, v := range b.Visited() {
			if strings.HasPrefix(v, redirectURI+"?") {
				u, _ := url.Parse(v)
				return u.Query().Get("error")
			}
		}
		t.Fatalf("prompt=none from %s never came back to %s: %v", start, redirectURI, b.Visited())
		return ""
	}

	loginAtE("the first time")
	b.Screenshot("rp-e-claims")
	st := waitSession(t, rp, "after login", func(st peer.OpenIDClientState) bool { return len(live(st)) == 1 })
	if st.Sessions[0].SID == "" {
		t.Fatalf("E's ID token has no sid: %+v", st.Sessions)
	}
	ssoAtB("after E")
	if reqs := s.b.Requests(); len(reqs) == 0 || reqs[len(reqs)-1].Claims["sub"] != st.Sessions[0].Sub {
		t.Fatalf("B's subject differs from E's %q: %+v", st.Sessions[0].Sub, reqs)
	}

	// Logout at B: mod_auth_openidc -> broker end_session -> back-channel to E.
	b.Open(s.b.LogoutURL())
	st = waitSession(t, rp, "after logout at B", func(st peer.OpenIDClientState) bool { return len(live(st)) == 0 })
	if st.Sessions[0].EndedBy != "backchannel" {
		t.Fatalf("E's session ended by %q; want the broker's back-channel logout", st.Sessions[0].EndedBy)
	}
	for _, ev := range st.Events {
		if ev["kind"] == "backchannel_refused" {
			t.Fatalf("E refused a logout token: %v", ev)
		}
	}
	b.Open(rp.URL + "/")
	expect(t, b, "E after logout at B", oidcClientTitle+" : non connecté")
	if got := promptNone(rp.URL+"/login?prompt=none", rp.RedirectURI); got != "login_required" {
		t.Fatalf("prompt=none at E after logout: error %q; want login_required", got)
	}
	expect(t, b, "E's page after login_required", "login_required")

	// The other way: a new login at E, SSO at B, logout at E.
	loginAtE("again")
	ssoAtB("the second time")
	nB := len(s.b.Requests())
	b.Open(rp.URL + "/")
	b.ForgetVisited()
	b.Submit("logout at E", chromedp.Click(chromedp.ID("logout"), chromedp.NodeVisible))
	expect(t, b, "E logged out", oidcClientTitle+" : déconnecté")
	if p := visitedPaths(b, s.issuer); !contains(p, "/session/end") {
		t.Fatalf("E's logout did not go through the broker: %v", b.Visited())
	}
	polled := s.waitApacheSessionGone(t, "logout at E")
	if len(s.b.Requests()) != nB+polled {
		t.Fatal("B's application was reached after the logout at E")
	}
	if got := promptNone(s.b.URL+peer.ApacheSilentPath, s.b.RedirectURI); got != "login_required" {
		t.Fatalf("prompt=none at B after logout at E: error %q; want login_required", got)
	}
}
