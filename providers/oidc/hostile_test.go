package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/providers"
)

func TestCompleteGood(t *testing.T) {
	clock := newClock()
	op := newFakeOP(t, clock)
	p := newFakeProvider(t, op, nil)
	c := op.begin(t, p, providers.LoginRequest{})
	id, err := c.complete(t, p)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	if id.Subject != fakeSub || id.Username != "jdupont" {
		t.Errorf("subject %q username %q", id.Subject, id.Username)
	}
	want := map[string][]string{
		"sub": {fakeSub}, "profession": {"commissaire_de_justice"}, "office": {"Étude Dupont"},
		"professional_id": {"CJ-75-0042"}, "groups": {"cj", "idf", "paris"}, "email_verified": {"true"},
		"acr": {"urn:cj:mfa"}, "amr": {"pwd", "otp"}, "sid": {"sid-1"},
	}
	for k, v := range want {
		if !slices.Equal(id.Attributes[k], v) {
			t.Errorf("attribute %s = %q, want %q", k, id.Attributes[k], v)
		}
	}
	for _, k := range []string{"iss", "aud", "exp", "iat", "nonce"} {
		if _, ok := id.Attributes[k]; ok {
			t.Errorf("protocol claim %s in attributes", k)
		}
	}
	if id.Authn.UpstreamACR != "urn:cj:mfa" || !slices.Equal(id.Authn.Methods, []string{"pwd", "otp"}) ||
		!id.Authn.Time.Equal(clock.Now().Add(-10*time.Second).Truncate(time.Second)) {
		t.Errorf("authn %+v", id.Authn)
	}
	var up upstream
	if err := json.Unmarshal(id.Upstream, &up); err != nil || up.RefreshToken != "rt-1" || up.IDToken == "" || up.SID != "sid-1" {
		t.Errorf("upstream %+v %v", up, err)
	}
}

func TestBeginRequest(t *testing.T) {
	op := newFakeOP(t, newClock())
	p := newFakeProvider(t, op, func(c *Config) { c.Scopes = []string{"openid", "profile", "profession"} })
	step, err := p.Begin(context.Background(), providers.LoginRequest{
		CallbackURL: fakeCallback, State: "flow.secret", LoginHint: "jdupont", ACRValues: []string{"urn:cj:mfa", "urn:cj:pwd"}, ForceAuthn: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(step.RedirectURL)
	q := u.Query()
	var pend pending
	if err := json.Unmarshal(step.Pending, &pend); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"response_type": "code", "client_id": fakeClientID, "redirect_uri": fakeCallback, "scope": "openid profile profession",
		"state": "flow.secret", "nonce": pend.Nonce, "code_challenge_method": "S256", "login_hint": "jdupont",
		"acr_values": "urn:cj:mfa urn:cj:pwd", "prompt": "login", "max_age": "0",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if !strings.HasPrefix(step.RedirectURL, op.srv.URL+"/auth?") {
		t.Errorf("redirect %s", step.RedirectURL)
	}
	if len(pend.Verifier) < 43 || len(pend.Nonce) < 43 || pend.Issuer != op.srv.URL || pend.RedirectURI != fakeCallback || pend.State != "flow.secret" {
		t.Errorf("pending %+v", pend)
	}
	if q.Get("code_challenge") == "" || strings.Contains(step.RedirectURL, pend.Verifier) {
		t.Error("PKCE: the challenge must be sent and the verifier kept")
	}
	step2, _ := p.Begin(context.Background(), providers.LoginRequest{CallbackURL: fakeCallback, State: "flow.secret"})
	var pend2 pending
	_ = json.Unmarshal(step2.Pending, &pend2)
	if pend2.Nonce == pend.Nonce || pend2.Verifier == pend.Verifier {
		t.Error("nonce and verifier must be fresh at each Begin")
	}
	if u2, _ := url.Parse(step2.RedirectURL); u2.Query().Has("prompt") || u2.Query().Has("login_hint") {
		t.Errorf("unexpected parameters %s", step2.RedirectURL)
	}
	if _, err := p.Begin(context.Background(), providers.LoginRequest{CallbackURL: fakeCallback}); err == nil {
		t.Error("Begin without state must fail")
	}
}

// TestCompleteHostile is SECURITY.md §3.F (F1-F5) and §3.K: each crafted answer must
// be refused with the right sentinel.
func TestCompleteHostile(t *testing.T) {
	clock := newClock()
	op := newFakeOP(t, clock)
	foreign := rsaKey(t)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	invalidResp, unavailableErr, cancelled := providers.ErrInvalidResponse, providers.ErrUnavailable, providers.ErrCancelled
	tests := []struct {
		name   string
		config func(*Config)
		op     func(*fakeOP)
		mutate func(*loginCase)
		want   error
	}{
		{name: "control: valid answer", want: nil},
		// F1, mix-up.
		{name: "F1 iss of another upstream", mutate: func(c *loginCase) { c.query.Set("iss", "https://other-idp.example") }, want: invalidResp},
		{name: "F1 iss missing although advertised", mutate: func(c *loginCase) { c.query.Del("iss") }, want: invalidResp},
		{name: "F1 iss missing, not advertised", op: func(o *fakeOP) { o.issSupported = false }, mutate: func(c *loginCase) { c.query.Del("iss") }, want: nil},
		{name: "F1 iss with trailing slash", mutate: func(c *loginCase) { c.query.Set("iss", op.srv.URL+"/") }, want: invalidResp},
		{name: "F1 ID token from another issuer", mutate: func(c *loginCase) { c.claims["iss"] = "https://other-idp.example" }, want: invalidResp},
		{name: "F1 pending made for another upstream", mutate: func(c *loginCase) {
			c.pending.Issuer = "https://other-idp.example"
			c.raw, _ = json.Marshal(c.pending)
		}, want: invalidResp},
		{name: "F1 error response with foreign iss", mutate: func(c *loginCase) {
			c.query = url.Values{"error": {"access_denied"}, "state": {c.pending.State}, "iss": {"https://other-idp.example"}}
		}, want: invalidResp},
		// F2, state.
		{name: "F2 state mismatch", mutate: func(c *loginCase) { c.query.Set("state", "flow-2.other") }, want: invalidResp},
		{name: "F2 state missing", mutate: func(c *loginCase) { c.query.Del("state") }, want: invalidResp},
		{name: "F2 state repeated", mutate: func(c *loginCase) { c.query.Add("state", "flow-2.other") }, want: invalidResp},
		{name: "F2 error response with wrong state", mutate: func(c *loginCase) {
			c.query = url.Values{"error": {"access_denied"}, "state": {"x"}, "iss": {op.srv.URL}}
		}, want: invalidResp},
		// F3, nonce.
		{name: "F3 nonce mismatch", mutate: func(c *loginCase) { c.claims["nonce"] = "replayed-nonce" }, want: invalidResp},
		{name: "F3 nonce missing", mutate: func(c *loginCase) { delete(c.claims, "nonce") }, want: invalidResp},
		// F4, code injection: the code was bound to another flow's PKCE challenge.
		{name: "F4 code from another flow (PKCE)", mutate: func(c *loginCase) {
			c.pending.Verifier = randomString()
			c.raw, _ = json.Marshal(c.pending)
		}, want: invalidResp},
		{name: "F4 repeated code", mutate: func(c *loginCase) { c.query.Add("code", "injected") }, want: invalidResp},
		{name: "no code", mutate: func(c *loginCase) { c.query.Del("code") }, want: invalidResp},
		// F5 and K5-K7, the ID token.
		{name: "F5 alg none", mutate: func(c *loginCase) { c.signer = signer{none: true, kid: op.kid} }, want: invalidResp},
		{name: "F5 HS256 keyed with the client secret", mutate: func(c *loginCase) {
			c.signer = signer{alg: jose.HS256, key: []byte(fakeClientSecret), kid: op.kid}
		}, want: invalidResp},
		{name: "F5 wrong aud", mutate: func(c *loginCase) { c.claims["aud"] = "another-client" }, want: invalidResp},
		{name: "F5 aud missing", mutate: func(c *loginCase) { delete(c.claims, "aud") }, want: invalidResp},
		{name: "F5 several aud without azp", mutate: func(c *loginCase) { c.claims["aud"] = []string{fakeClientID, "api"} }, want: invalidResp},
		{name: "F5 several aud with azp", mutate: func(c *loginCase) {
			c.claims["aud"] = []string{fakeClientID, "api"}
			c.claims["azp"] = fakeClientID
		}, want: nil},
		{name: "F5 azp of another client", mutate: func(c *loginCase) { c.claims["azp"] = "another-client" }, want: invalidResp},
		{name: "F5 no exp (K7)", mutate: func(c *loginCase) { delete(c.claims, "exp") }, want: invalidResp},
		{name: "F5 expired", mutate: func(c *loginCase) { c.claims["exp"] = clock.Now().Add(-10 * time.Minute).Unix() }, want: invalidResp},
		{name: "F5 exp as a string", mutate: func(c *loginCase) { c.claims["exp"] = "4102444800" }, want: invalidResp},
		{name: "F5 no iat", mutate: func(c *loginCase) { delete(c.claims, "iat") }, want: invalidResp},
		{name: "F5 iat in the future", mutate: func(c *loginCase) { c.claims["iat"] = clock.Now().Add(time.Hour).Unix() }, want: invalidResp},
		{name: "F5 nbf in the future", mutate: func(c *loginCase) { c.claims["nbf"] = clock.Now().Add(time.Hour).Unix() }, want: invalidResp},
		{name: "F5 no sub", mutate: func(c *loginCase) { delete(c.claims, "sub") }, want: invalidResp},
		{name: "F5 unknown kid", mutate: func(c *loginCase) { c.signer = signer{alg: jose.RS256, key: foreign, kid: "unknown"} }, want: invalidResp},
		{name: "F5 foreign key under the known kid", mutate: func(c *loginCase) { c.signer = signer{alg: jose.RS256, key: foreign, kid: op.kid} }, want: invalidResp},
		{name: "F5 foreign key without kid", mutate: func(c *loginCase) { c.signer = signer{alg: jose.RS256, key: foreign} }, want: invalidResp},
		{name: "F5 right key without kid", mutate: func(c *loginCase) { c.signer = signer{alg: jose.RS256, key: op.key} }, want: nil},
		{name: "F5 alg outside allowed_algs", config: func(c *Config) { c.AllowedAlgs = []string{"ES256"} }, want: invalidResp},
		{name: "F5 JWK alg pins RS256, token says PS256", mutate: func(c *loginCase) { c.signer.alg = jose.PS256 }, want: invalidResp},
		{name: "F5 PS256 with an unpinned RSA key", op: func(o *fakeOP) { o.jwks[0].Algorithm = "" }, mutate: func(c *loginCase) { c.signer.alg = jose.PS256 }, want: nil},
		{name: "K5 embedded jwk of the attacker", mutate: func(c *loginCase) {
			c.signer = signer{alg: jose.ES256, key: ecKey, headers: map[jose.HeaderKey]any{"jwk": jose.JSONWebKey{Key: &ecKey.PublicKey}}}
		}, want: invalidResp},
		{name: "K5 jku of the attacker", mutate: func(c *loginCase) {
			c.signer = signer{alg: jose.RS256, key: foreign, kid: "attacker", headers: map[jose.HeaderKey]any{"jku": "https://attacker.example/jwks"}}
		}, want: invalidResp},
		{name: "K3 many dots", mutate: func(c *loginCase) { c.token = strings.Repeat(".", 100000) }, want: invalidResp},
		{name: "JWE instead of JWS", mutate: func(c *loginCase) { c.token = "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d" }, want: invalidResp},
		{name: "access token offered as ID token (typ at+jwt)", mutate: func(c *loginCase) { c.signer.typ = "at+jwt" }, want: invalidResp},
		{name: "signature bytes altered", mutate: func(c *loginCase) {
			tok := mint(t, c.signer, c.claims)
			c.token = tok[:len(tok)-4] + "AAAA"
		}, want: invalidResp},
		{name: "payload swapped after signing", mutate: func(c *loginCase) {
			good := strings.Split(mint(t, c.signer, c.claims), ".")
			c.claims["sub"] = "someone-else"
			evil := strings.Split(mint(t, c.signer, c.claims), ".")
			c.token = good[0] + "." + evil[1] + "." + good[2]
		}, want: invalidResp},
		// Upstream error responses (RFC 6749 §4.1.2.1).
		{name: "access_denied", mutate: func(c *loginCase) {
			c.query = url.Values{"error": {"access_denied"}, "state": {c.pending.State}, "iss": {op.srv.URL}}
		}, want: cancelled},
		{name: "server_error", mutate: func(c *loginCase) {
			c.query = url.Values{"error": {"server_error"}, "state": {c.pending.State}, "iss": {op.srv.URL}}
		}, want: invalidResp},
		// The token endpoint.
		{name: "garbage JSON from the token endpoint", op: func(o *fakeOP) {
			o.tokenHandler = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"access_token": "at-1", "id_token": [`))
			}
		}, want: invalidResp},
		{name: "HTML from the token endpoint", op: func(o *fakeOP) {
			o.tokenHandler = func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>maintenance</html>")) }
		}, want: invalidResp},
		{name: "token endpoint 503", op: func(o *fakeOP) {
			o.tokenHandler = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }
		}, want: unavailableErr},
		{name: "token endpoint redirects", op: func(o *fakeOP) {
			o.tokenHandler = func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://attacker.example/", http.StatusTemporaryRedirect)
			}
		}, want: invalidResp},
		{name: "no id_token", op: func(o *fakeOP) {
			o.tokenHandler = func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, map[string]any{"access_token": "at-1", "token_type": "Bearer"})
			}
		}, want: invalidResp},
		{name: "token_type not Bearer", op: func(o *fakeOP) {
			o.tokenHandler = func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, map[string]any{"access_token": "at-1", "token_type": "DPoP", "id_token": o.idToken})
			}
		}, want: invalidResp},
		{name: "at_hash mismatch", mutate: func(c *loginCase) { c.claims["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }, want: invalidResp},
		{name: "at_hash right", mutate: func(c *loginCase) {
			sum := sha256.Sum256([]byte("at-1"))
			c.claims["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:16])
		}, want: nil},
		// Userinfo.
		{name: "signed userinfo with a bad signature", op: func(o *fakeOP) {
			o.userinfoHandler = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/jwt")
				_, _ = w.Write([]byte(mint(t, signer{alg: jose.RS256, key: foreign, kid: o.kid}, map[string]any{"iss": o.srv.URL, "aud": fakeClientID, "sub": fakeSub})))
			}
		}, want: invalidResp},
		{name: "signed userinfo for another client", op: func(o *fakeOP) {
			o.userinfoHandler = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/jwt")
				_, _ = w.Write([]byte(mint(t, o.defaultSigner(), map[string]any{"iss": o.srv.URL, "aud": "another-client", "sub": fakeSub})))
			}
		}, want: invalidResp},
		{name: "signed userinfo, valid", op: func(o *fakeOP) {
			o.userinfoHandler = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/jwt; charset=utf-8")
				_, _ = w.Write([]byte(mint(t, o.defaultSigner(), map[string]any{"iss": o.srv.URL, "aud": fakeClientID, "sub": fakeSub, "office": "Étude Dupont"})))
			}
		}, want: nil},
		{name: "userinfo about another sub", op: func(o *fakeOP) {
			o.userinfoHandler = func(w http.ResponseWriter, r *http.Request) { writeJSON(w, map[string]any{"sub": "someone-else"}) }
		}, want: invalidResp},
		{name: "userinfo garbage", op: func(o *fakeOP) {
			o.userinfoHandler = func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte("nope"))
			}
		}, want: invalidResp},
		{name: "userinfo not asked with claims_source id_token", config: func(c *Config) { c.ClaimsSource = ClaimsIDToken }, op: func(o *fakeOP) {
			o.userinfoHandler = func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }
		}, want: nil},
		// Freshness asked with ForceAuthn (max_age=0).
		{name: "ForceAuthn with a fresh auth_time", want: nil},
		{name: "ForceAuthn with an old auth_time", mutate: func(c *loginCase) {
			c.claims["auth_time"] = clock.Now().Add(-time.Hour).Unix()
		}, want: invalidResp},
		{name: "ForceAuthn without auth_time", mutate: func(c *loginCase) { delete(c.claims, "auth_time") }, want: invalidResp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op.set(func(o *fakeOP) {
				o.issSupported, o.tokenHandler, o.userinfoHandler, o.discoveryIssuer = true, nil, nil, ""
				o.jwks[0].Algorithm = "RS256"
				if tt.op != nil {
					tt.op(o)
				}
			})
			p := newFakeProvider(t, op, tt.config)
			req := providers.LoginRequest{ForceAuthn: strings.HasPrefix(tt.name, "ForceAuthn")}
			c := op.begin(t, p, req)
			if tt.mutate != nil {
				tt.mutate(c)
			}
			id, err := c.complete(t, p)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Complete: %v", err)
				}
				if id.Subject != fakeSub {
					t.Fatalf("subject %q", id.Subject)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Complete = %v; want %v", err, tt.want)
			}
			if id.Subject != "" || id.Attributes != nil {
				t.Fatalf("an identity leaked with the error: %+v", id)
			}
		})
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	op := newFakeOP(t, newClock())
	for _, iss := range []string{op.srv.URL + "/", "https://other-idp.example", "http://127.0.0.1:1"} {
		op.set(func(o *fakeOP) { o.discoveryIssuer = iss })
		p := newFakeProvider(t, op, nil)
		_, err := p.Begin(context.Background(), providers.LoginRequest{CallbackURL: fakeCallback, State: "s.t"})
		if !errors.Is(err, providers.ErrInvalidResponse) {
			t.Errorf("discovery issuer %q: Begin = %v; want ErrInvalidResponse (Discovery §4.3)", iss, err)
		}
		if err := p.Check(context.Background()); !errors.Is(err, providers.ErrInvalidResponse) {
			t.Errorf("discovery issuer %q: Check = %v", iss, err)
		}
	}
}

func TestTokenEndpointHangs(t *testing.T) {
	op := newFakeOP(t, newClock())
	release := make(chan struct{})
	defer close(release)
	op.set(func(o *fakeOP) {
		o.tokenHandler = func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
	})
	p := newFakeProvider(t, op, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	c := op.begin(t, p, providers.LoginRequest{})
	start := time.Now()
	_, err := c.complete(t, p)
	if !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Complete = %v; want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Complete took %v with a 300ms timeout", d)
	}
}

// TestJWKSRefetch pins the key rollover rule: an unknown kid refetches jwks_uri, at
// most once per minJWKSRefetch.
func TestJWKSRefetch(t *testing.T) {
	clock := newClock()
	op := newFakeOP(t, clock)
	p := newFakeProvider(t, op, nil)
	if _, err := op.begin(t, p, providers.LoginRequest{}).complete(t, p); err != nil {
		t.Fatal(err)
	}
	hits := func() int {
		op.mu.Lock()
		defer op.mu.Unlock()
		return op.jwksHits
	}
	if hits() != 1 {
		t.Fatalf("jwks fetched %d times", hits())
	}
	// Rollover: the upstream publishes a new key and signs with it.
	next := rsaKey(t)
	op.set(func(o *fakeOP) {
		o.jwks = append(o.jwks, jose.JSONWebKey{Key: &next.PublicKey, KeyID: "k2", Algorithm: "RS256", Use: "sig"})
	})
	clock.Advance(2 * time.Second)
	c := op.begin(t, p, providers.LoginRequest{})
	c.signer = signer{alg: jose.RS256, key: next, kid: "k2"}
	if _, err := c.complete(t, p); !errors.Is(err, providers.ErrInvalidResponse) {
		t.Fatalf("unknown kid within the refetch interval: %v", err)
	}
	if hits() != 1 {
		t.Fatalf("jwks refetched within %v: %d fetches", minJWKSRefetch, hits())
	}
	clock.Advance(minJWKSRefetch)
	c = op.begin(t, p, providers.LoginRequest{})
	c.signer = signer{alg: jose.RS256, key: next, kid: "k2"}
	if _, err := c.complete(t, p); err != nil {
		t.Fatalf("after rollover: %v", err)
	}
	if hits() != 2 {
		t.Fatalf("jwks fetched %d times, want 2", hits())
	}
	// Made-up kids do not turn into fetches: one per interval at most.
	clock.Advance(minJWKSRefetch)
	for range 5 {
		c = op.begin(t, p, providers.LoginRequest{})
		c.signer = signer{alg: jose.RS256, key: next, kid: "made-up-" + randomString()}
		if _, err := c.complete(t, p); !errors.Is(err, providers.ErrInvalidResponse) {
			t.Fatal(err)
		}
	}
	if hits() != 3 {
		t.Fatalf("jwks fetched %d times, want 3 (one rate-limited refetch)", hits())
	}
}

// TestJWKSRefreshFailureKeepsKeys: when the key set is due for its hourly
// refresh and jwks_uri fails, logins signed with a key already fetched still
// work (metadataTTL: a failed refresh keeps the previous copy); a kid that copy
// does not have is still refused.
func TestJWKSRefreshFailureKeepsKeys(t *testing.T) {
	clock := newClock()
	op := newFakeOP(t, clock)
	p := newFakeProvider(t, op, nil)
	if _, err := op.begin(t, p, providers.LoginRequest{}).complete(t, p); err != nil {
		t.Fatal(err)
	}
	op.set(func(o *fakeOP) { o.jwksStatus = http.StatusServiceUnavailable })
	clock.Advance(metadataTTL + time.Minute)
	if _, err := op.begin(t, p, providers.LoginRequest{}).complete(t, p); err != nil {
		t.Fatalf("key set due for refresh, jwks_uri down: %v", err)
	}
	op.mu.Lock()
	hits := op.jwksHits
	op.mu.Unlock()
	if hits < 2 {
		t.Fatalf("jwks fetched %d times: the refresh was not even tried", hits)
	}
	other := rsaKey(t)
	c := op.begin(t, p, providers.LoginRequest{})
	c.signer = signer{alg: jose.RS256, key: other, kid: "not-published"}
	if _, err := c.complete(t, p); err == nil {
		t.Fatal("a kid the kept key set does not have was accepted")
	}
	// Back up: the next refresh replaces the copy.
	op.set(func(o *fakeOP) { o.jwksStatus = 0 })
	clock.Advance(minJWKSRefetch)
	if _, err := op.begin(t, p, providers.LoginRequest{}).complete(t, p); err != nil {
		t.Fatalf("after jwks_uri recovered: %v", err)
	}
}

func TestRefreshFake(t *testing.T) {
	clock := newClock()
	op := newFakeOP(t, clock)
	p := newFakeProvider(t, op, nil)
	id, err := op.begin(t, p, providers.LoginRequest{}).complete(t, p)
	if err != nil {
		t.Fatal(err)
	}
	// Rotated refresh token, new userinfo, original authentication facts.
	op.set(func(o *fakeOP) {
		o.userinfoHandler = func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, map[string]any{"sub": fakeSub, "office": "Étude Dupont & Associés"})
		}
	})
	clock.Advance(time.Minute)
	next, err := p.Refresh(context.Background(), id)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	var up upstream
	_ = json.Unmarshal(next.Upstream, &up)
	if up.RefreshToken != "rt-2" || up.IDToken == "" || next.Attribute("office") != "Étude Dupont & Associés" || next.Authn.UpstreamACR != "urn:cj:mfa" {
		t.Errorf("refreshed %+v upstream %+v", next, up)
	}
	// The rotated token is the one now known; the old one is invalid_grant.
	if _, err := p.Refresh(context.Background(), next); !errors.Is(err, providers.ErrAccountDisabled) {
		t.Errorf("invalid_grant: %v; want ErrAccountDisabled", err)
	}
	// A refreshed ID token about someone else is refused.
	op.set(func(o *fakeOP) {
		cl := o.idClaims("")
		delete(cl, "nonce")
		cl["sub"] = "someone-else"
		o.refreshIDToken = mint(t, o.defaultSigner(), cl)
	})
	if _, err := p.Refresh(context.Background(), id); !errors.Is(err, providers.ErrInvalidResponse) {
		t.Errorf("refresh with another sub: %v", err)
	}
	// No upstream refresh token: unchanged.
	bare := id
	bare.Upstream = []byte(`{"id_token":"x"}`)
	if same, err := p.Refresh(context.Background(), bare); err != nil || string(same.Upstream) != string(bare.Upstream) {
		t.Errorf("without refresh token: %v", err)
	}
	// Upstream down.
	op.srv.Close()
	if _, err := p.Refresh(context.Background(), id); !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("upstream down: %v", err)
	}
}

func TestVerifyTokenFake(t *testing.T) {
	clock := newClock()
	op := newFakeOP(t, clock)
	p := newFakeProvider(t, op, nil)
	now := clock.Now()
	base := func() map[string]any {
		return map[string]any{"iss": op.srv.URL, "aud": fakeClientID, "sub": fakeSub, "exp": now.Add(time.Minute).Unix(), "iat": now.Unix(),
			"client_id": "api", "scope": "openid profession", "profession": "commissaire_de_justice"}
	}
	at := op.defaultSigner()
	at.typ = "at+jwt"
	tests := []struct {
		name    string
		typ     string
		s       signer
		mutate  func(map[string]any)
		wantErr bool
	}{
		{name: "access token", typ: TokenTypeAccessToken, s: at},
		{name: "access token without typ at+jwt", typ: TokenTypeAccessToken, s: op.defaultSigner(), wantErr: true},
		{name: "ID token", typ: TokenTypeIDToken, s: op.defaultSigner()},
		{name: "access token as ID token", typ: TokenTypeIDToken, s: at, wantErr: true},
		{name: "jwt", typ: TokenTypeJWT, s: at},
		{name: "other audience", typ: TokenTypeAccessToken, s: at, mutate: func(m map[string]any) { m["aud"] = "https://api.other.example" }, wantErr: true},
		{name: "expired", typ: TokenTypeAccessToken, s: at, mutate: func(m map[string]any) { m["exp"] = now.Add(-time.Hour).Unix() }, wantErr: true},
		{name: "no exp", typ: TokenTypeAccessToken, s: at, mutate: func(m map[string]any) { delete(m, "exp") }, wantErr: true},
		{name: "HS256", typ: TokenTypeJWT, s: signer{alg: jose.HS256, key: []byte(fakeClientSecret), typ: "at+jwt"}, wantErr: true},
		{name: "unknown type", typ: "urn:ietf:params:oauth:token-type:saml2", s: at, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := base()
			if tt.mutate != nil {
				tt.mutate(cl)
			}
			id, err := p.VerifyToken(context.Background(), mint(t, tt.s, cl), tt.typ)
			if tt.wantErr {
				if !errors.Is(err, providers.ErrInvalidResponse) {
					t.Fatalf("VerifyToken = %v; want ErrInvalidResponse", err)
				}
				return
			}
			if err != nil || id.Subject != fakeSub || id.Attribute("profession") != "commissaire_de_justice" {
				t.Fatalf("VerifyToken = %+v, %v", id, err)
			}
		})
	}
}

func TestLogoutFake(t *testing.T) {
	op := newFakeOP(t, newClock())
	p := newFakeProvider(t, op, nil)
	id := providers.Identity{Subject: fakeSub, Upstream: []byte(`{"id_token":"the.id.token"}`)}
	step, err := p.Logout(context.Background(), id, "https://broker.justice.example/logout/done")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(step.RedirectURL)
	q := u.Query()
	if u.Path != "/session/end" || q.Get("id_token_hint") != "the.id.token" || q.Get("client_id") != fakeClientID ||
		q.Get("post_logout_redirect_uri") != "https://broker.justice.example/logout/done" {
		t.Errorf("logout step %s", step.RedirectURL)
	}
}

func TestCheckFake(t *testing.T) {
	clock := newClock()
	op := newFakeOP(t, clock)
	p := newFakeProvider(t, op, nil)
	if err := p.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	op.srv.Close()
	if err := p.Check(context.Background()); err != nil {
		t.Fatalf("within the check TTL the cached result answers: %v", err)
	}
	clock.Advance(checkTTL)
	if err := p.Check(context.Background()); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Check = %v; want ErrUnavailable", err)
	}
}
