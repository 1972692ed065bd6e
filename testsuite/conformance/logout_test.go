package conformance

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

func endSession(t *testing.T, env *harness.Env, b *http.Client, params url.Values) (int, string, string) {
	t.Helper()
	resp, err := b.Get(env.Issuer + "/session/end?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := new(strings.Builder)
	_, _ = strings.NewReader("").WriteTo(buf)
	body := make([]byte, 64<<10)
	n, _ := resp.Body.Read(body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body[:n])
}

// promptNoneFails checks E9: after logout, prompt=none gets login_required.
func promptNoneFails(t *testing.T, env *harness.Env, b *http.Client) {
	t.Helper()
	res := env.Walk(t, b, env.AuthURL(harness.MinistryID, harness.NewPKCE(), q("prompt", "none")), "", "")
	if res.Callback == nil || res.Callback.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none after logout: %v (pages %v)", res.Callback, res.Pages)
	}
}

// oidcc-rp-initiated-logout (E1, E9, B19).
func TestOIDCCRPInitiatedLogout(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	tok := env.Login(t, b, harness.MinistryID, harness.MinistrySecret, harness.Judge, nil)
	status, loc, _ := endSession(t, env, b, q("id_token_hint", tok.IDToken, "post_logout_redirect_uri", harness.PostLogoutURI, "state", "bye-123"))
	if status != http.StatusSeeOther || loc != harness.PostLogoutURI+"?state=bye-123" {
		t.Fatalf("logout: %d %q", status, loc)
	}
	promptNoneFails(t, env, b)
	r := env.Token(t, harness.MinistryID, harness.MinistrySecret, q("grant_type", "refresh_token", "refresh_token", tok.RefreshToken))
	if r.Status == 200 {
		t.Error("B19: refresh token of the logged-out session still works")
	}
}

// oidcc-rp-initiated-logout-no-state: redirect without state.
func TestOIDCCRPInitiatedLogoutNoState(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	tok := env.Login(t, b, harness.MinistryID, harness.MinistrySecret, harness.Judge, nil)
	status, loc, _ := endSession(t, env, b, q("id_token_hint", tok.IDToken, "post_logout_redirect_uri", harness.PostLogoutURI))
	if status != http.StatusSeeOther || loc != harness.PostLogoutURI {
		t.Fatalf("logout: %d %q", status, loc)
	}
	promptNoneFails(t, env, b)
}

// oidcc-rp-initiated-logout-no-post-logout-redirect-uri: log out, "logged out" page.
func TestOIDCCRPInitiatedLogoutNoPostLogoutRedirectURI(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	tok := env.Login(t, b, harness.MinistryID, harness.MinistrySecret, harness.Judge, nil)
	status, loc, body := endSession(t, env, b, q("id_token_hint", tok.IDToken, "state", "x"))
	if status != 200 || loc != "" || !strings.Contains(body, "déconnecté") {
		t.Fatalf("%d %q", status, loc)
	}
	promptNoneFails(t, env, b)
}

// The negative RP-initiated logout modules (E2-E4, E6, E8): never a redirect.
func TestOIDCCRPInitiatedLogoutNoRedirect(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	tok := env.Login(t, b, harness.MinistryID, harness.MinistrySecret, harness.Judge, nil)
	parts := strings.Split(tok.IDToken, ".")
	noneHint := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	foreign := tamperSignature(tok.IDToken)
	for name, params := range map[string]url.Values{
		"oidcc-rp-initiated-logout-bad-post-logout-redirect-uri":            q("id_token_hint", tok.IDToken, "post_logout_redirect_uri", "https://evil.example/", "state", "s"),
		"oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri": q("id_token_hint", tok.IDToken, "post_logout_redirect_uri", harness.PostLogoutURI+"?foo=bar"),
		"oidcc-rp-initiated-logout-modified-id-token-hint":                  q("id_token_hint", noneHint, "post_logout_redirect_uri", harness.PostLogoutURI),
		"oidcc-rp-initiated-logout-bad-id-token-hint":                       q("id_token_hint", foreign, "post_logout_redirect_uri", harness.PostLogoutURI),
		"oidcc-rp-initiated-logout-no-id-token-hint":                        q("post_logout_redirect_uri", harness.PostLogoutURI),
		"E6 client_id not in the hint's audience":                           q("id_token_hint", tok.IDToken, "client_id", harness.PartnerID, "post_logout_redirect_uri", harness.PostLogoutURI),
	} {
		t.Run(name, func(t *testing.T) {
			status, loc, _ := endSession(t, env, b, params)
			if loc != "" || (status >= 300 && status < 400) {
				t.Fatalf("redirected: %d %q", status, loc)
			}
		})
	}
	// None of those ended the session: prompt=none still works.
	res := env.Walk(t, b, env.AuthURL(harness.MinistryID, harness.NewPKCE(), q("prompt", "none")), "", "")
	res.Code(t)
}

// oidcc-rp-initiated-logout-no-params and -only-state (E7, E8): with a session the
// person confirms on our page (a forged link alone logs nobody out); without one the
// "logged out" page shows.
func TestOIDCCRPInitiatedLogoutNoParams(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	env.Login(t, b, harness.MinistryID, harness.MinistrySecret, harness.Judge, nil)
	status, loc, body := endSession(t, env, b, q("state", "only"))
	if status != 200 || loc != "" || !strings.Contains(body, "/session/end/confirm") {
		t.Fatalf("want a confirmation page: %d %q", status, loc)
	}
	// A cross-site POST to the confirmation is refused (D3).
	req, _ := http.NewRequest(http.MethodPost, env.Issuer+"/session/end/confirm", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site logout confirmation: %d", resp.StatusCode)
	}
	confirm := func(decision string) {
		req, _ := http.NewRequest(http.MethodPost, env.Issuer+"/session/end/confirm", strings.NewReader("decision="+decision))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", env.Issuer)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("confirmation %s: %d", decision, resp.StatusCode)
		}
	}
	confirm("cancel") // "Annuler" keeps the session
	env.Walk(t, b, env.AuthURL(harness.MinistryID, harness.NewPKCE(), q("prompt", "none")), "", "").Code(t)
	confirm("logout")
	promptNoneFails(t, env, b)
	status, loc, body = endSession(t, env, b, nil)
	if status != 200 || loc != "" || !strings.Contains(body, "déconnecté") {
		t.Fatalf("logout without session: %d %q", status, loc)
	}
}

func tamperSignature(jwt string) string {
	parts := strings.Split(jwt, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sig[0] ^= 0xff
	return parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
}
