package conformance

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// oidcc-codereuse and oidcc-codereuse-30seconds (B1): the second redemption is a 400
// invalid_grant and the tokens of the first are revoked.
func TestOIDCCCodeReuse(t *testing.T) {
	for _, wait := range []time.Duration{0, 30 * time.Second} {
		env := harness.Start(t, harness.Options{})
		p := harness.NewPKCE()
		res := env.Walk(t, env.Browser(), env.AuthURL(harness.MinistryID, p, nil), harness.Judge, "")
		code := res.Code(t)
		first := env.Redeem(t, harness.MinistryID, harness.MinistrySecret, code, p)
		if first.Status != 200 {
			t.Fatalf("first redemption: %d %s", first.Status, first.Error)
		}
		env.Advance(wait)
		second := env.Redeem(t, harness.MinistryID, harness.MinistrySecret, code, p)
		if second.Status != http.StatusBadRequest || second.Error != "invalid_grant" {
			t.Fatalf("reuse after %v: %d %q", wait, second.Status, second.Error)
		}
		if status, _, _ := userinfo(t, env, first.AccessToken); status != http.StatusUnauthorized {
			t.Errorf("access token of the first redemption still works after reuse (%d)", status)
		}
		refresh := env.Token(t, harness.MinistryID, harness.MinistrySecret, q("grant_type", "refresh_token", "refresh_token", first.RefreshToken))
		if refresh.Status != http.StatusBadRequest {
			t.Errorf("refresh token of the first redemption still works after reuse (%d)", refresh.Status)
		}
	}
}

// B2: two concurrent redemptions of one code give exactly one success.
func TestConcurrentCodeRedemption(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	p := harness.NewPKCE()
	code := env.Walk(t, env.Browser(), env.AuthURL(harness.MinistryID, p, nil), harness.Judge, "").Code(t)
	const n = 8
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			statuses[i] = env.Redeem(t, harness.MinistryID, harness.MinistrySecret, code, p).Status
		}(i)
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		if s == 200 {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("successes = %d (statuses %v), want exactly 1", ok, statuses)
	}
}

// B3: a code older than its lifetime is refused. fosite checks code expiry with the
// real clock, so this broker runs with the shortest lifetime the configuration
// allows (1 s) and the test waits for it to pass.
func TestExpiredCode(t *testing.T) {
	env := harness.Start(t, harness.Options{Tokens: "{code_lifetime: 1s}"})
	p := harness.NewPKCE()
	code := env.Walk(t, env.Browser(), env.AuthURL(harness.MinistryID, p, nil), harness.Judge, "").Code(t)
	time.Sleep(2100 * time.Millisecond)
	if tok := env.Redeem(t, harness.MinistryID, harness.MinistrySecret, code, p); tok.Error != "invalid_grant" {
		t.Fatalf("expired code: %d %q", tok.Status, tok.Error)
	}
}

// B4, B5, B6, B7, B10, B11, B12: what the token endpoint must refuse.
func TestTokenEndpointRefusals(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	fresh := func(t *testing.T, extra url.Values) (string, harness.PKCE) {
		p := harness.NewPKCE()
		return env.Walk(t, env.Browser(), env.AuthURL(harness.MinistryID, p, extra), harness.Judge, "").Code(t), p
	}
	t.Run("B4 code bound to its client", func(t *testing.T) {
		code, p := fresh(t, nil)
		tok := env.Redeem(t, harness.PartnerID, harness.PartnerSecret, code, p)
		if tok.Error != "invalid_grant" {
			t.Fatalf("%d %q", tok.Status, tok.Error)
		}
	})
	t.Run("B5 redirect_uri must be identical", func(t *testing.T) {
		code, p := fresh(t, nil)
		tok := env.Token(t, harness.MinistryID, harness.MinistrySecret, q("grant_type", "authorization_code", "code", code,
			"redirect_uri", "https://rp.example/other", "code_verifier", p.Verifier))
		if tok.Error != "invalid_grant" {
			t.Fatalf("%d %q", tok.Status, tok.Error)
		}
	})
	t.Run("B6 missing verifier", func(t *testing.T) {
		code, _ := fresh(t, nil)
		tok := env.Token(t, harness.MinistryID, harness.MinistrySecret, q("grant_type", "authorization_code", "code", code, "redirect_uri", harness.RedirectURI))
		if tok.Error != "invalid_grant" {
			t.Fatalf("%d %q", tok.Status, tok.Error)
		}
	})
	t.Run("B6 wrong verifier", func(t *testing.T) {
		code, _ := fresh(t, nil)
		tok := env.Redeem(t, harness.MinistryID, harness.MinistrySecret, code, harness.NewPKCE())
		if tok.Error != "invalid_grant" {
			t.Fatalf("%d %q", tok.Status, tok.Error)
		}
	})
	t.Run("B10 verifier too short", func(t *testing.T) {
		code, _ := fresh(t, nil)
		tok := env.Token(t, harness.MinistryID, harness.MinistrySecret, q("grant_type", "authorization_code", "code", code,
			"redirect_uri", harness.RedirectURI, "code_verifier", "short"))
		if tok.Status != http.StatusBadRequest {
			t.Fatalf("%d %q", tok.Status, tok.Error)
		}
	})
	t.Run("B11 wrong secret", func(t *testing.T) {
		code, p := fresh(t, nil)
		tok := env.Redeem(t, harness.MinistryID, "wrong-secret", code, p)
		if tok.Status != http.StatusUnauthorized || tok.Error != "invalid_client" {
			t.Fatalf("%d %q", tok.Status, tok.Error)
		}
	})
	t.Run("B11 unknown client", func(t *testing.T) {
		tok := env.Token(t, "nobody", "x", q("grant_type", "client_credentials"))
		if tok.Status != http.StatusUnauthorized || tok.Error != "invalid_client" {
			t.Fatalf("%d %q", tok.Status, tok.Error)
		}
	})
	t.Run("B12 secret by POST for a basic client", func(t *testing.T) {
		code, p := fresh(t, nil)
		tok := env.Token(t, "", "", q("grant_type", "authorization_code", "code", code, "redirect_uri", harness.RedirectURI,
			"code_verifier", p.Verifier, "client_id", harness.MinistryID, "client_secret", harness.MinistrySecret))
		if tok.Error != "invalid_client" {
			t.Fatalf("%d %q", tok.Status, tok.Error)
		}
	})
	t.Run("B22 password grant", func(t *testing.T) {
		tok := env.Token(t, harness.MinistryID, harness.MinistrySecret, q("grant_type", "password", "username", harness.Judge, "password", harness.Password(harness.Judge)))
		if tok.Status != http.StatusBadRequest || (tok.Error != "unsupported_grant_type" && tok.Error != "unauthorized_client" && tok.Error != "invalid_request") {
			t.Fatalf("%d %q", tok.Status, tok.Error)
		}
		if tok.AccessToken != "" {
			t.Fatal("password grant issued a token")
		}
	})
}

// B7-B9: PKCE is required for every client and S256 only (authorization endpoint).
func TestPKCERequired(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	for name, extra := range map[string]url.Values{
		"no PKCE":      q("code_challenge", "", "code_challenge_method", ""),
		"plain method": q("code_challenge_method", "plain"),
	} {
		res := env.Walk(t, env.Browser(), env.AuthURL(harness.MinistryID, harness.NewPKCE(), extra), harness.Judge, "")
		if res.Callback == nil || res.Callback.Query().Get("error") != "invalid_request" || res.Callback.Query().Get("code") != "" {
			t.Errorf("%s: %v", name, res.Callback)
		}
	}
}

// oidcc-server-client-secret-post and oidcc-idtoken-signature: a client_secret_post
// client that asked for RS256 ID tokens and signed userinfo.
func TestOIDCCServerClientSecretPost(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	p := harness.NewPKCE()
	code := env.Walk(t, env.Browser(), env.AuthURL(harness.PostClientID, p, nil), harness.Judge, "").Code(t)
	tok := env.Token(t, "", "", q("grant_type", "authorization_code", "code", code, "redirect_uri", harness.RedirectURI,
		"code_verifier", p.Verifier, "client_id", harness.PostClientID, "client_secret", harness.PostSecret))
	if tok.Status != 200 {
		t.Fatalf("%d %s %s", tok.Status, tok.Error, tok.Description)
	}
	if h := headerOf(t, tok.IDToken); h["alg"] != "RS256" || h["kid"] == nil {
		t.Errorf("ID token header %v, want RS256 with kid", h)
	}
	req, _ := http.NewRequest(http.MethodGet, env.Issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := env.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/jwt") {
		t.Errorf("signed userinfo content type = %q", ct)
	}
}

// oidcc-userinfo-get, -post-header, -post-body and C6.
func TestOIDCCUserinfo(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	tok := env.Login(t, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Judge, q("scope", "openid profile email profession"))
	sub := claimsOf(t, tok.IDToken)["sub"]
	if status, info, _ := userinfo(t, env, tok.AccessToken); status != 200 || info["sub"] != sub || info["email"] != "camille.martin@justice.example" || info["profession"] != "magistrat" {
		t.Errorf("GET: %d %v", status, info)
	}
	req, _ := http.NewRequest(http.MethodPost, env.Issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := env.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("POST with header: %d", resp.StatusCode)
	}
	if status, _, _, _ := postForm(t, env.HTTPClient(), env.Issuer+"/userinfo", q("access_token", tok.AccessToken)); status != 200 {
		t.Errorf("POST with body: %d", status)
	}
	for name, bad := range map[string]string{"garbage": "not-a-token", "tampered": tok.AccessToken[:len(tok.AccessToken)-4] + "AAAA"} {
		status, _, h := userinfo(t, env, bad)
		if status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: %d %q", name, status, h.Get("WWW-Authenticate"))
		}
	}
	env.Advance(11 * time.Minute)
	if status, _, _ := userinfo(t, env, tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("expired token: %d", status)
	}
}

// oidcc-refresh-token, B15-B17, B20: rotation, reuse detection, client binding, no
// scope escalation, consistent ID token claims.
func TestOIDCCRefreshToken(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	tok := env.Login(t, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Judge, q("scope", "openid profile"))
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	t.Run("B15 other client", func(t *testing.T) {
		r := env.Token(t, harness.PartnerID, harness.PartnerSecret, q("grant_type", "refresh_token", "refresh_token", tok.RefreshToken))
		if r.Status != http.StatusBadRequest || r.Error != "invalid_grant" {
			t.Fatalf("%d %q", r.Status, r.Error)
		}
	})
	t.Run("B18 no client authentication", func(t *testing.T) {
		r := env.Token(t, "", "", q("grant_type", "refresh_token", "refresh_token", tok.RefreshToken, "client_id", harness.MinistryID))
		if r.Status != http.StatusUnauthorized || r.Error != "invalid_client" {
			t.Fatalf("%d %q", r.Status, r.Error)
		}
	})
	r1 := env.Token(t, harness.MinistryID, harness.MinistrySecret, q("grant_type", "refresh_token", "refresh_token", tok.RefreshToken, "scope", "openid profile email"))
	if r1.Status != 200 || r1.RefreshToken == "" || r1.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %d %s, rotated=%v", r1.Status, r1.Error, r1.RefreshToken != tok.RefreshToken)
	}
	if strings.Contains(r1.Scope, "email") {
		t.Errorf("B17: refresh widened the scope to %q", r1.Scope)
	}
	c0, c1 := claimsOf(t, tok.IDToken), claimsOf(t, r1.IDToken)
	for _, k := range []string{"iss", "sub", "auth_time", "acr"} {
		if c0[k] != c1[k] {
			t.Errorf("B20: %s changed on refresh: %v -> %v", k, c0[k], c1[k])
		}
	}
	// B16: replaying the rotated token revokes the family.
	replay := env.Token(t, harness.MinistryID, harness.MinistrySecret, q("grant_type", "refresh_token", "refresh_token", tok.RefreshToken))
	if replay.Status != http.StatusBadRequest || replay.Error != "invalid_grant" {
		t.Fatalf("replay: %d %q", replay.Status, replay.Error)
	}
	after := env.Token(t, harness.MinistryID, harness.MinistrySecret, q("grant_type", "refresh_token", "refresh_token", r1.RefreshToken))
	if after.Status == 200 {
		t.Fatal("B16: the newest refresh token still works after a replay of the old one")
	}
	if status, _, _ := userinfo(t, env, r1.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("B16: access token of the family still accepted (%d)", status)
	}
}

// client_credentials with an audience and an API scope; RFC 9068 access token shape.
func TestClientCredentials(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	tok := env.Token(t, harness.APIClientID, harness.APISecret, q("grant_type", "client_credentials", "scope", "detenus:read", "audience", harness.APIAudience))
	if tok.Status != 200 {
		t.Fatalf("%d %s %s", tok.Status, tok.Error, tok.Description)
	}
	h, c := headerOf(t, tok.AccessToken), claimsOf(t, tok.AccessToken)
	if h["typ"] != "at+jwt" || h["kid"] == nil || h["alg"] != "ES256" {
		t.Errorf("header = %v", h)
	}
	for _, k := range []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti"} {
		if c[k] == nil {
			t.Errorf("RFC 9068 §2.2 claim %s missing: %v", k, c)
		}
	}
	if aud, _ := c["aud"].([]any); len(aud) != 1 || aud[0] != harness.APIAudience {
		t.Errorf("aud = %v", c["aud"])
	}
	if c["scope"] != "detenus:read" || c["sub"] != harness.APIClientID {
		t.Errorf("scope %v sub %v", c["scope"], c["sub"])
	}
	bad := env.Token(t, harness.APIClientID, harness.APISecret, q("grant_type", "client_credentials", "audience", "https://api.justice.example/other"))
	if bad.Status == 200 {
		t.Error("an audience outside the client's registration was granted")
	}
	bad = env.Token(t, harness.APIClientID, harness.APISecret, q("grant_type", "client_credentials", "scope", "openid"))
	if bad.Status == 200 || bad.Error != "invalid_scope" {
		t.Errorf("unregistered scope: %d %q", bad.Status, bad.Error)
	}
}

// RFC 7662 introspection for authenticated clients; RFC 7009 revocation.
func TestIntrospectionAndRevocation(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	tok := env.Login(t, env.Browser(), harness.MinistryID, harness.MinistrySecret, harness.Judge, nil)
	status, m, _, _ := postForm(t, env.HTTPClient(), env.Issuer+"/token/introspection", q("token", tok.AccessToken), harness.MinistryID, harness.MinistrySecret)
	if status != 200 || m["active"] != true || m["client_id"] != harness.MinistryID {
		t.Fatalf("introspection: %d %v", status, m)
	}
	if status, _, _, _ := postForm(t, env.HTTPClient(), env.Issuer+"/token/introspection", q("token", tok.AccessToken)); status != http.StatusUnauthorized {
		t.Errorf("unauthenticated introspection: %d", status)
	}
	if status, _, _, _ := postForm(t, env.HTTPClient(), env.Issuer+"/token/revocation", q("token", tok.RefreshToken, "token_type_hint", "refresh_token"), harness.MinistryID, harness.MinistrySecret); status != 200 {
		t.Fatalf("revocation: %d", status)
	}
	r := env.Token(t, harness.MinistryID, harness.MinistrySecret, q("grant_type", "refresh_token", "refresh_token", tok.RefreshToken))
	if r.Status == 200 {
		t.Error("revoked refresh token still works")
	}
	_, m, _, _ = postForm(t, env.HTTPClient(), env.Issuer+"/token/introspection", q("token", tok.AccessToken), harness.MinistryID, harness.MinistrySecret)
	if m["active"] != false {
		t.Errorf("access token active after its grant was revoked: %v", m)
	}
}
