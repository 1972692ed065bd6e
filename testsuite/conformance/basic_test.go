package conformance

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// oidcc-server: the happy code flow and every ID token check of ValidateIdToken.
func TestOIDCCServer(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	p := harness.NewPKCE()
	authURL := env.AuthURL(harness.MinistryID, p, q("nonce", "nonce-0123456789", "state", "state-0123456789"))
	res := env.Walk(t, b, authURL, harness.Judge, "")
	cb := res.Callback
	code := res.Code(t)
	if cb.Query().Get("state") != "state-0123456789" {
		t.Errorf("state not echoed: %s", cb)
	}
	if cb.Query().Get("iss") != env.Issuer { // RFC 9207
		t.Errorf("iss = %q, want %q", cb.Query().Get("iss"), env.Issuer)
	}
	if len(code) < 22 {
		t.Errorf("code %q looks short on entropy", code)
	}
	tok := env.Redeem(t, harness.MinistryID, harness.MinistrySecret, code, p)
	if tok.Status != 200 || tok.IDToken == "" || tok.AccessToken == "" {
		t.Fatalf("token response %d %s %s", tok.Status, tok.Error, tok.Description)
	}
	if cc := tok.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("token Cache-Control = %q", cc)
	}
	c := claimsOf(t, tok.IDToken)
	now := float64(time.Now().Unix())
	if c["iss"] != env.Issuer {
		t.Errorf("iss = %v", c["iss"])
	}
	if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != harness.MinistryID {
		if c["aud"] != harness.MinistryID {
			t.Errorf("aud = %v", c["aud"])
		}
	}
	if exp, _ := c["exp"].(float64); exp <= now || exp > now+24*3600 {
		t.Errorf("exp = %v", c["exp"])
	}
	if iat, _ := c["iat"].(float64); iat > now+300 || iat < now-300 {
		t.Errorf("iat = %v", c["iat"])
	}
	if at, _ := c["auth_time"].(float64); at == 0 || at > now+5 {
		t.Errorf("auth_time = %v", c["auth_time"])
	}
	if c["nonce"] != "nonce-0123456789" {
		t.Errorf("nonce = %v", c["nonce"])
	}
	if c["acr"] != "eidas1" {
		t.Errorf("acr = %v", c["acr"])
	}
	if c["sub"] == "" || c["sub"] == nil || strings.Contains(c["sub"].(string), "@") {
		t.Errorf("sub = %v", c["sub"])
	}
	if c["sid"] == nil {
		t.Errorf("sid missing")
	}
	h := headerOf(t, tok.IDToken)
	if h["kid"] == nil || h["alg"] != "ES256" {
		t.Errorf("ID token header = %v", h)
	}
	status, info, _ := userinfo(t, env, tok.AccessToken)
	if status != 200 || info["sub"] != c["sub"] {
		t.Errorf("userinfo %d sub %v, ID token sub %v", status, info["sub"], c["sub"])
	}
	if info["given_name"] != "Camille" || info["family_name"] != "Martin" || info["usual_name"] != "Martin" {
		t.Errorf("profile claims = %v", info)
	}
}

// oidcc-response-type-missing: no response_type -> error to the client or error page.
func TestOIDCCResponseTypeMissing(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	res := env.Walk(t, env.Browser(), env.AuthURL(harness.MinistryID, harness.NewPKCE(), q("response_type", "")), "", "")
	if res.Callback != nil {
		if e := res.Callback.Query().Get("error"); e != "unsupported_response_type" && e != "invalid_request" {
			t.Fatalf("error = %q", e)
		}
		if res.Callback.Query().Get("code") != "" {
			t.Fatal("code issued")
		}
		return
	}
	if res.Status < 400 {
		t.Fatalf("no error: %d", res.Status)
	}
}

// oidcc-ensure-registered-redirect-uri and A4: an unregistered redirect_uri gets an
// error page, never a redirect.
func TestOIDCCEnsureRegisteredRedirectURI(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	for _, uri := range []string{"https://evil.example/callback", harness.RedirectURI + "?x=1", "https://RP.example/callback", harness.RedirectURI + "/"} {
		res := env.Walk(t, env.Browser(), env.AuthURL(harness.MinistryID, harness.NewPKCE(), q("redirect_uri", uri)), "", "")
		if res.Callback != nil {
			t.Errorf("%s: redirected to %s", uri, res.Callback)
		}
		if res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "Identifiant") {
			t.Errorf("%s: status %d, want a 400 page with a correlation ID", uri, res.Status)
		}
	}
}

// oidcc-ensure-redirect-uri-in-authorization-request: a client with two registered
// URIs and none in the request gets an error page.
func TestOIDCCEnsureRedirectURIInAuthorizationRequest(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	res := env.Walk(t, env.Browser(), env.AuthURL(harness.PartnerID, harness.NewPKCE(), q("redirect_uri", "")), "", "")
	if res.Callback != nil || res.Status < 400 {
		t.Fatalf("want an error page, got %d %v", res.Status, res.Callback)
	}
}

// oidcc-ensure-request-without-nonce-succeeds-for-code-flow.
func TestOIDCCEnsureRequestWithoutNonceSucceeds(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	tok := env.Login(t, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Judge, q("nonce", ""))
	if _, ok := claimsOf(t, tok.IDToken)["nonce"]; ok {
		t.Fatal("nonce in ID token although none was sent")
	}
}

// oidcc-ensure-request-with-unknown-parameter-succeeds, oidcc-display-page,
// oidcc-display-popup, oidcc-login-hint, oidcc-ui-locales, oidcc-claims-locales,
// oidcc-alternate-happy-flow: none of these must break the flow.
func TestOIDCCParametersThatMustNotError(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	for name, extra := range map[string]url.Values{
		"oidcc-ensure-request-with-unknown-parameter-succeeds": q("extra", "foobar"),
		"oidcc-display-page":         q("display", "page"),
		"oidcc-display-popup":        q("display", "popup"),
		"oidcc-login-hint":           q("login_hint", "juge.martin"),
		"oidcc-ui-locales":           q("ui_locales", "en fr"),
		"oidcc-claims-locales":       q("claims_locales", "se"),
		"oidcc-alternate-happy-flow": q("scope", "profile openid"),
	} {
		t.Run(name, func(t *testing.T) {
			env.Login(t, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Judge, extra)
		})
	}
}

// oidcc-ensure-post-request-succeeds: the authorization request by POST.
func TestOIDCCEnsurePostRequestSucceeds(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	p := harness.NewPKCE()
	u, _ := url.Parse(env.AuthURL(harness.MinistryID, p, nil))
	req, _ := http.NewRequest(http.MethodPost, env.Issuer+"/authorize", strings.NewReader(u.RawQuery))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?flow=") {
		t.Fatalf("POST /authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	res := env.Walk(t, b, env.Issuer+resp.Header.Get("Location"), harness.Judge, "")
	tok := env.Redeem(t, harness.MinistryID, harness.MinistrySecret, res.Code(t), p)
	if tok.Status != 200 {
		t.Fatalf("token: %d %s", tok.Status, tok.Error)
	}
}

// oidcc-prompt-none-not-logged-in (A10): login_required-class error, same state
// (128 characters), no code.
func TestOIDCCPromptNoneNotLoggedIn(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	state := strings.Repeat("s", 128)
	res := env.Walk(t, env.Browser(), env.AuthURL(harness.MinistryID, harness.NewPKCE(), q("prompt", "none", "state", state)), "", "")
	if res.Callback == nil {
		t.Fatalf("no redirect: %d", res.Status)
	}
	cq := res.Callback.Query()
	switch cq.Get("error") {
	case "login_required", "interaction_required", "consent_required", "account_selection_required":
	default:
		t.Fatalf("error = %q", cq.Get("error"))
	}
	if cq.Get("state") != state || cq.Get("code") != "" {
		t.Fatalf("state %q code %q", cq.Get("state"), cq.Get("code"))
	}
	if cq.Get("iss") != env.Issuer {
		t.Errorf("iss missing from error response (RFC 9207)")
	}
}

// oidcc-prompt-none-logged-in: with a session, prompt=none shows nothing and gives
// the same sub and auth_time.
func TestOIDCCPromptNoneLoggedIn(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	first := env.Login(t, b, harness.MinistryID, harness.MinistrySecret, harness.Judge, nil)
	p := harness.NewPKCE()
	res := env.Walk(t, b, env.AuthURL(harness.MinistryID, p, q("prompt", "none")), "", "")
	if len(res.Pages) != 1 {
		t.Errorf("prompt=none visited %v", res.Pages)
	}
	second := env.Redeem(t, harness.MinistryID, harness.MinistrySecret, res.Code(t), p)
	c1, c2 := claimsOf(t, first.IDToken), claimsOf(t, second.IDToken)
	if c1["sub"] != c2["sub"] || c1["auth_time"] != c2["auth_time"] {
		t.Fatalf("first %v/%v second %v/%v", c1["sub"], c1["auth_time"], c2["sub"], c2["auth_time"])
	}
}

// oidcc-prompt-login (A13): a second request with prompt=login shows the login page
// again and gives a later auth_time.
func TestOIDCCPromptLogin(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	first := env.Login(t, b, harness.MinistryID, harness.MinistrySecret, harness.Judge, nil)
	env.Advance(2 * time.Second)
	p := harness.NewPKCE()
	res := env.Walk(t, b, env.AuthURL(harness.MinistryID, p, q("prompt", "login")), harness.Judge, "")
	if !contains(res.Pages, "/login/password") {
		t.Fatalf("no login page on prompt=login: %v", res.Pages)
	}
	second := env.Redeem(t, harness.MinistryID, harness.MinistrySecret, res.Code(t), p)
	if claimsOf(t, second.IDToken)["auth_time"].(float64) <= claimsOf(t, first.IDToken)["auth_time"].(float64) {
		t.Fatal("auth_time did not move forward")
	}
}

// oidcc-max-age-1 (A14): after the age limit a new login is required and auth_time
// is in the ID token; max_age=0 acts as prompt=login.
func TestOIDCCMaxAge1(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	env.Login(t, b, harness.MinistryID, harness.MinistrySecret, harness.Judge, nil)
	for _, maxAge := range []string{"1", "0"} {
		env.Advance(2 * time.Second)
		p := harness.NewPKCE()
		res := env.Walk(t, b, env.AuthURL(harness.MinistryID, p, q("max_age", maxAge)), harness.Judge, "")
		if !contains(res.Pages, "/login/password") {
			t.Fatalf("max_age=%s: no new login: %v", maxAge, res.Pages)
		}
		tok := env.Redeem(t, harness.MinistryID, harness.MinistrySecret, res.Code(t), p)
		if _, ok := claimsOf(t, tok.IDToken)["auth_time"]; !ok {
			t.Fatalf("max_age=%s: no auth_time", maxAge)
		}
	}
}

// oidcc-max-age-10000: a recent session satisfies a large max_age without a login.
func TestOIDCCMaxAge10000(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	env.Login(t, b, harness.MinistryID, harness.MinistrySecret, harness.Judge, q("max_age", "15000"))
	p := harness.NewPKCE()
	res := env.Walk(t, b, env.AuthURL(harness.MinistryID, p, q("max_age", "10000")), "", "")
	if contains(res.Pages, "/login/password") {
		t.Fatalf("login shown although the session is recent: %v", res.Pages)
	}
	res.Code(t)
}

// oidcc-id-token-hint and A15: prompt=none with the first ID token as hint gives the
// same sub; a hint for another user is login_required.
func TestOIDCCIDTokenHint(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	b := env.Browser()
	first := env.Login(t, b, harness.MinistryID, harness.MinistrySecret, harness.Judge, nil)
	p := harness.NewPKCE()
	res := env.Walk(t, b, env.AuthURL(harness.MinistryID, p, q("prompt", "none", "id_token_hint", first.IDToken)), "", "")
	second := env.Redeem(t, harness.MinistryID, harness.MinistrySecret, res.Code(t), p)
	if claimsOf(t, second.IDToken)["sub"] != claimsOf(t, first.IDToken)["sub"] {
		t.Fatal("different sub")
	}
	other := env.Login(t, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Clerk, nil)
	res = env.Walk(t, b, env.AuthURL(harness.MinistryID, harness.NewPKCE(), q("prompt", "none", "id_token_hint", other.IDToken)), "", "")
	if res.Callback == nil || res.Callback.Query().Get("error") != "login_required" || res.Callback.Query().Get("code") != "" {
		t.Fatalf("hint for another user: %v", res.Callback)
	}
}

// oidcc-ensure-request-with-acr-values-succeeds.
func TestOIDCCEnsureRequestWithACRValuesSucceeds(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	tok := env.Login(t, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Judge, q("acr_values", "eidas1 urn:unknown"))
	if claimsOf(t, tok.IDToken)["acr"] != "eidas1" {
		t.Fatal("acr is not the requested one")
	}
}

// An acr no provider can reach: unmet_authentication_requirements to the client.
func TestUnmetAuthenticationRequirements(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	for _, extra := range []url.Values{
		q("acr_values", "eidas3"),
		q("claims", `{"id_token":{"acr":{"essential":true,"values":["eidas2","eidas3"]}}}`),
	} {
		res := env.Walk(t, env.Browser(), env.AuthURL(harness.MinistryID, harness.NewPKCE(), extra), "", "")
		if res.Callback == nil || res.Callback.Query().Get("error") != "unmet_authentication_requirements" {
			t.Fatalf("%v: got %d %v", extra, res.Status, res.Callback)
		}
	}
}

// oidcc-claims-essential: an essential name claim request succeeds.
func TestOIDCCClaimsEssential(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	tok := env.Login(t, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Judge,
		q("claims", `{"userinfo":{"name":{"essential":true}}}`))
	_, info, _ := userinfo(t, env, tok.AccessToken)
	if info["name"] != "Camille Martin" {
		t.Fatalf("name = %v", info["name"])
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
