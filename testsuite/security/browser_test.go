package security

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

func get(t *testing.T, c *http.Client, u string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// D1, D2: every page carries anti-framing, referrer and no-store headers.
func TestSecurityHeadersOnPages(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	resp, _ := get(t, b, env.AuthURL(harness.PartnerID, harness.NewPKCE(), nil), nil)
	loginURL := env.Issuer + resp.Header.Get("Location")
	pages := map[string]string{
		"login":      loginURL,
		"error page": env.Issuer + "/authorize?client_id=nobody",
		"logged out": env.Issuer + "/session/end",
		"home":       env.Issuer + "/",
	}
	for name, u := range pages {
		resp, body := get(t, b, u, nil)
		for _, loc := 0, resp.Header.Get("Location"); loc != "" && loc[0] == '/'; loc = resp.Header.Get("Location") {
			resp, body = get(t, b, env.Issuer+loc, nil)
		}
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", name, csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: headers %v", name, h)
		}
		if !strings.Contains(h.Get("Cache-Control"), "no-store") {
			t.Errorf("%s: Cache-Control %q", name, h.Get("Cache-Control"))
		}
		if strings.Contains(body, "<script>") {
			t.Errorf("%s: inline script", name)
		}
	}
}

// D3: a cross-site POST to the login form is refused before any credential check.
func TestCrossSiteLoginPostRefused(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	resp, _ := get(t, b, env.AuthURL(harness.PartnerID, harness.NewPKCE(), nil), nil)
	flowID := strings.TrimPrefix(resp.Header.Get("Location"), "/login?flow=")
	form := url.Values{"flow": {flowID}, "provider": {"dev"}, "username": {harness.Judge}, "password": {harness.Password(harness.Judge)}}
	resp, _ = post(t, b, env.Issuer+"/login/password", form, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site login POST: %d", resp.StatusCode)
	}
}

var alertRe = regexp.MustCompile(`(?s)id="login-error"[^>]*>\s*<p>([^<]*)</p>`)

// D11: unknown user and wrong password give the same answer.
func TestNoUserEnumeration(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	answer := func(user, pass string) (int, string) {
		b := env.Browser()
		resp, _ := get(t, b, env.AuthURL(harness.MinistryID, harness.NewPKCE(), nil), nil)
		resp, _ = get(t, b, env.Issuer+resp.Header.Get("Location"), nil)
		form := url.Values{"flow": {""}, "provider": {"dev"}, "username": {user}, "password": {pass}}
		loc, _ := url.Parse(resp.Header.Get("Location"))
		form.Set("flow", loc.Query().Get("flow"))
		resp, body := post(t, b, env.Issuer+"/login/password", form, map[string]string{"Origin": env.Issuer, "Sec-Fetch-Site": "same-origin"})
		m := alertRe.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no error message on the page (status %d)", resp.StatusCode)
		}
		return resp.StatusCode, m[1]
	}
	s1, m1 := answer("nobody.here", "whatever-pass")
	s2, m2 := answer(harness.Judge, "wrong-pass")
	if s1 != s2 || m1 != m2 {
		t.Fatalf("unknown user (%d %q) and wrong password (%d %q) differ", s1, m1, s2, m2)
	}
	if s1 != http.StatusUnauthorized {
		t.Fatalf("status %d", s1)
	}
}

// D4, D6, D7: after a new login the previous session cookie is worthless; a
// tampered cookie counts as no session, without a server error.
func TestSessionCookies(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	env.Login(t, b, harness.MinistryID, harness.MinistrySecret, harness.Judge, nil)
	u, _ := url.Parse(env.Issuer + "/")
	var old *http.Cookie
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "__Host-jc-sso" {
			old = c
		}
	}
	if old == nil {
		t.Fatal("no __Host-jc-sso cookie after login")
	}
	env.Login(t, b, harness.MinistryID, harness.MinistrySecret, harness.Clerk, url.Values{"prompt": {"login"}})
	thief := env.Browser()
	thief.Jar.SetCookies(u, []*http.Cookie{{Name: old.Name, Value: old.Value, Path: "/", Secure: true}})
	res := env.Walk(t, thief, env.AuthURL(harness.MinistryID, harness.NewPKCE(), url.Values{"prompt": {"none"}}), "", "")
	if res.Callback == nil || res.Callback.Query().Get("error") != "login_required" {
		t.Fatalf("old session cookie still authenticates: %v", res.Callback)
	}
	tampered := env.Browser()
	tampered.Jar.SetCookies(u, []*http.Cookie{{Name: old.Name, Value: old.Value[:len(old.Value)-6] + "AAAAAA", Path: "/", Secure: true}})
	res = env.Walk(t, tampered, env.AuthURL(harness.MinistryID, harness.NewPKCE(), url.Values{"prompt": {"none"}}), "", "")
	if res.Callback == nil || res.Callback.Query().Get("error") != "login_required" {
		t.Fatalf("tampered cookie: %d %v", res.Status, res.Callback)
	}
	for _, c := range []string{"__Host-jc-sso"} {
		_ = c
	}
}

// A flow started in one browser cannot be finished in another (binding cookie).
func TestFlowBoundToBrowser(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	victim := env.Browser()
	resp, _ := get(t, victim, env.AuthURL(harness.MinistryID, harness.NewPKCE(), nil), nil)
	other := env.Browser()
	resp, body := get(t, other, env.Issuer+resp.Header.Get("Location"), nil)
	if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, `name="password"`) {
		t.Fatalf("foreign browser got the flow: %d", resp.StatusCode)
	}
}

// A1-A3, A22, A28: requests that must end on our error page, never at a redirect.
func TestAuthorizeErrorPages(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	p := harness.NewPKCE()
	cases := map[string]string{
		"A1 unknown client":             env.AuthURL("nobody", p, nil),
		"A2 no client_id":               env.AuthURL("", p, url.Values{"client_id": {""}}),
		"A22 unsupported response_mode": env.AuthURL(harness.MinistryID, p, url.Values{"response_mode": {"fragment"}}),
		"A22 form_post (not offered)":   env.AuthURL(harness.MinistryID, p, url.Values{"response_mode": {"form_post"}}),
	}
	for name, u := range cases {
		resp, body := get(t, env.Browser(), u, map[string]string{"Origin": "https://evil.example"})
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d %q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
		if !strings.Contains(body, "<html") {
			t.Errorf("%s: not an HTML page", name)
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: CORS on the authorization endpoint (A28)", name)
		}
	}
}

// A8: an unregistered scope goes back to the client as invalid_scope.
func TestUnknownScope(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	res := env.Walk(t, env.Browser(), env.AuthURL(harness.PostClientID, harness.NewPKCE(), url.Values{"scope": {"openid justice_roles"}}), "", "")
	if res.Callback == nil || res.Callback.Query().Get("error") != "invalid_scope" {
		t.Fatalf("%d %v", res.Status, res.Callback)
	}
}
