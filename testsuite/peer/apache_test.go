package peer_test

import (
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// TestApacheRP: mod_auth_openidc logs a clerk in at the harness broker (discovery
// over TLS checked against the broker's certificate, code flow with PKCE S256,
// client_secret_basic, userinfo), passes the claims to the protected page, keeps a
// session, and a prompt=none request without an SSO session comes back as
// login_required.
func TestApacheRP(t *testing.T) {
	rp := peer.NewApacheRP(t)
	const clientID, secret = "apache-rp", "apache-rp-secret-0123456789"
	secretFile := filepath.Join(t.TempDir(), "apache-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := harness.Start(t, harness.Options{ExtraYAML: fmt.Sprintf(`  - client_id: %s
    name: "Plateforme Apache"
    kind: first_party
    secret: {file: %q}
    redirect_uris: [%q]
    post_logout_redirect_uris: [%q]
    grant_types: [authorization_code]
    scopes: [openid, profile, email, profession, jurisdictions, justice_roles]
`, clientID, secretFile, rp.RedirectURI, rp.PostLogoutRedirectURI)})
	caFile := filepath.Join(t.TempDir(), "broker.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: env.Server.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	rp.Start(t, peer.ApacheRPOptions{
		MetadataURL: env.Issuer + "/.well-known/openid-configuration", CAFile: caFile,
		ClientID: clientID, ClientSecret: secret,
		Scopes: []string{"openid", "profile", "profession", "jurisdictions", "justice_roles"},
	})

	b := env.Browser()
	get := func(u string) *http.Response {
		t.Helper()
		resp, err := browse(b, u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		return resp
	}
	// The protected page sends the browser to the broker with PKCE S256.
	resp := get(rp.URL + peer.ApacheClaimsPath)
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("protected page answered %d, want a redirect to the broker\n%s", resp.StatusCode, rp.Output())
	}
	authURL, err := resp.Location()
	if err != nil || !strings.HasPrefix(authURL.String(), env.Issuer+"/authorize?") {
		t.Fatalf("redirect to %v (%v), want the broker's authorization endpoint", authURL, err)
	}
	if q := authURL.Query(); q.Get("code_challenge_method") != "S256" || q.Get("client_id") != clientID || q.Get("nonce") == "" {
		t.Fatalf("authorization request %v", q)
	}
	res := env.Walk(t, b, authURL.String(), harness.Clerk, "")
	res.Code(t)
	if !strings.HasPrefix(res.Callback.String(), rp.RedirectURI+"?") {
		t.Fatalf("callback %s, want %s", res.Callback, rp.RedirectURI)
	}
	// mod_auth_openidc redeems the code and sends the browser back to the page.
	resp = get(res.Callback.String())
	resp.Body.Close()
	back, err := resp.Location()
	if err != nil || back.Path != peer.ApacheClaimsPath {
		t.Fatalf("after the callback: %d to %v (%v)\n%s", resp.StatusCode, back, err, rp.Output())
	}
	resp = get(rp.URL + peer.ApacheClaimsPath)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("claims page %d: %s", resp.StatusCode, body)
	}
	reqs := rp.Requests()
	if len(reqs) == 0 {
		t.Fatal("the backend got no request")
	}
	claims := reqs[len(reqs)-1].Claims
	for name, want := range map[string]string{
		"profession": "greffier", "given_name": "Alex", "family_name": "Durand", "acr": "eidas1",
		"iss": env.Issuer, "aud": clientID,
	} {
		if claims[name] != want {
			t.Errorf("claim %s = %q, want %q (all: %v)", name, claims[name], want, claims)
		}
	}
	if !strings.Contains(claims["jurisdictions"], "TJ75101") || !strings.Contains(claims["justice_roles"], "greffier@") {
		t.Errorf("jurisdictions %q, justice_roles %q", claims["jurisdictions"], claims["justice_roles"])
	}
	if !strings.Contains(string(body), `id="claim-profession">greffier<`) {
		t.Errorf("the page does not show the profession:\n%s", body)
	}

	// prompt=none in a fresh browser (no SSO session): the broker answers
	// login_required, and mod_auth_openidc logs nobody in. (mod_auth_openidc 2.4.12
	// takes an error response that carries RFC 9207's iss for a third-party
	// initiated login and shows "Invalid Request" rather than the OP's error.)
	fresh := env.Browser()
	resp, err = browse(fresh, rp.URL+peer.ApacheSilentPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	silent, _ := resp.Location()
	if silent == nil || silent.Query().Get("prompt") != "none" {
		t.Fatalf("silent path redirect %v, want prompt=none", silent)
	}
	res = env.Walk(t, fresh, silent.String(), "", "")
	if res.Callback == nil || res.Callback.Query().Get("error") != "login_required" || !strings.HasPrefix(res.Callback.String(), rp.RedirectURI) {
		t.Fatalf("prompt=none without a session: callback %v, pages %v", res.Callback, res.Pages)
	}
	t.Logf("the broker's answer to prompt=none: %s", res.Callback)
	resp, err = browse(fresh, res.Callback.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "claim-") || !strings.Contains(string(body), "Error") {
		t.Fatalf("mod_auth_openidc after login_required: %d\n%s", resp.StatusCode, body)
	}
	// The same answer without iss reaches mod_auth_openidc's error handling, which
	// shows the OP's error: what confuses 2.4.12 is the iss parameter alone.
	noIss := *res.Callback
	q := noIss.Query()
	q.Del("iss")
	noIss.RawQuery = q.Encode()
	resp, err = browse(fresh, noIss.String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "claim-") || !strings.Contains(string(body), "login_required") {
		t.Fatalf("mod_auth_openidc after login_required without iss: %d\n%s", resp.StatusCode, body)
	}
	if n := len(rp.Requests()); n != len(reqs) {
		t.Fatalf("the backend was reached %d more times after login_required", n-len(reqs))
	}
}

// browse is a browser's GET: mod_auth_openidc answers 401 instead of redirecting
// to the OP when the request does not accept HTML (OIDCUnAuthAction auth).
func browse(c *http.Client, u string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("User-Agent", "JusticeConnect test browser")
	return c.Do(req)
}
