package claims_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/claims/claimstest"
)

func TestVerifyAcceptsBrokerShapedToken(t *testing.T) {
	iss, v, _ := setup(t)
	in := claims.Claims{
		Subject: "u-123", JTI: "jti-1", Scope: "openid profession justice_roles", ACR: claims.EIDAS3,
		AMR: []string{claims.AMRSmartCard, claims.AMRPIN}, Profession: claims.Magistrat,
		Jurisdictions: []string{"TJ75101"}, JusticeRoles: []string{"juge@TJ75101"},
		AuthTime: date(t0.Add(-time.Hour)), Extra: map[string]any{"email": "a@justice.fr"},
	}
	got, err := v.Verify(context.Background(), iss.Mint(in))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := iss.Fill(in)
	if !got.Equal(&want) {
		t.Errorf("claims differ:\n got %+v\nwant %+v", got, want)
	}
	if got.Extra["email"] != "a@justice.fr" {
		t.Errorf("extra claim lost: %v", got.Extra)
	}
}

// hostile builds a compact JWS from raw parts, for tokens go-jose would not make.
func hostile(header, payload any, sig []byte) string {
	h, _ := json.Marshal(header)
	p, ok := payload.([]byte)
	if !ok {
		p, _ = json.Marshal(payload)
	}
	return b64(h) + "." + b64(p) + "." + b64(sig)
}

func hs256(key []byte, header map[string]any, payload []byte) string {
	h, _ := json.Marshal(header)
	input := b64(h) + "." + b64(payload)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + b64(m.Sum(nil))
}

func selfSignedCert(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "attacker"},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestVerifyRefusals covers every refusal path of Verify, with the SECURITY.md
// rows (K3, K5, K6, K7, C8) they implement.
func TestVerifyRefusals(t *testing.T) {
	iss, _, _ := setup(t)
	attacker, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := iss.Fill(claims.Claims{})
	goodJSON := mustJSON(t, good)
	kid := iss.KeyID()
	attackerJWK := jose.JSONWebKey{Key: &attacker.PublicKey, KeyID: kid, Algorithm: "ES256"}
	pubDER, _ := x509.MarshalPKIXPublicKey(iss.PublicKey())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: iss.PublicKey(), KeyID: kid})
	certDER := selfSignedCert(t, attacker)

	with := func(mod func(c *claims.Claims)) claims.Claims {
		c := good
		mod(&c)
		return c
	}
	without := func(name string) []byte {
		var m map[string]any
		_ = json.Unmarshal(goodJSON, &m)
		delete(m, name)
		return mustJSON(t, m)
	}
	signAs := func(key *ecdsa.PrivateKey, header map[string]any, payload []byte) string {
		return claimstest.SignES256(key, mustJSON(t, header), payload)
	}

	cases := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", claims.ErrMalformed},
		{"alg none", hostile(map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}, goodJSON, nil), claims.ErrAlgorithm},
		{"alg None", hostile(map[string]any{"alg": "None", "typ": "at+jwt", "kid": kid}, goodJSON, nil), claims.ErrAlgorithm},
		{"K6 HS256 keyed with public key PEM", hs256(pubPEM, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}, goodJSON), claims.ErrAlgorithm},
		{"K6 HS256 keyed with public key DER", hs256(pubDER, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}, goodJSON), claims.ErrAlgorithm},
		{"K6 HS256 keyed with JWK JSON", hs256(pubJWK, map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}, goodJSON), claims.ErrAlgorithm},
		{"alg not allowed ES384", iss.MintWithHeader(map[string]any{"alg": "ES384"}, good), claims.ErrAlgorithm},
		{"K5 embedded jwk, our kid, attacker signature", signAs(attacker, map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid, "jwk": attackerJWK}, goodJSON), claims.ErrHeader},
		{"K5 embedded jwk, attacker kid", signAs(attacker, map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": "evil", "jwk": attackerJWK}, goodJSON), claims.ErrHeader},
		{"K5 embedded jwk even when signed by us", iss.MintWithHeader(map[string]any{"jwk": attackerJWK}, good), claims.ErrHeader},
		{"K5 jku", iss.MintWithHeader(map[string]any{"jku": "https://evil.example/jwks"}, good), claims.ErrHeader},
		{"K5 x5u", iss.MintWithHeader(map[string]any{"x5u": "https://evil.example/cert.pem"}, good), claims.ErrHeader},
		{"K5 x5c", signAs(attacker, map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid, "x5c": []string{base64.StdEncoding.EncodeToString(certDER)}}, goodJSON), claims.ErrHeader},
		{"typ JWT (ID token)", iss.MintWithHeader(map[string]any{"typ": "JWT"}, good), claims.ErrWrongType},
		{"typ absent", iss.MintWithHeader(map[string]any{"typ": nil}, good), claims.ErrWrongType},
		{"typ not a string", iss.MintWithHeader(map[string]any{"typ": 1}, good), claims.ErrWrongType},
		{"typ at+jwt with suffix", iss.MintWithHeader(map[string]any{"typ": "at+jwt2"}, good), claims.ErrWrongType},
		{"no kid", iss.MintWithHeader(map[string]any{"kid": nil}, good), claims.ErrUnknownKey},
		{"unknown kid", iss.MintWithHeader(map[string]any{"kid": "nope"}, good), claims.ErrUnknownKey},
		{"signed by unknown key under our kid", signAs(attacker, map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid}, goodJSON), claims.ErrSignature},
		{"payload tampered", tamper(iss.Mint(good)), claims.ErrSignature},
		{"K7 missing exp", iss.Sign(nil, without("exp")), claims.ErrMissingClaim},
		{"exp null", iss.Sign(nil, []byte(strings.Replace(string(goodJSON), `"exp":`, `"exp":null,"x":`, 1))), claims.ErrMissingClaim},
		{"missing iat", iss.Sign(nil, without("iat")), claims.ErrMissingClaim},
		{"missing sub", iss.Sign(nil, without("sub")), claims.ErrMissingClaim},
		{"missing client_id", iss.Sign(nil, without("client_id")), claims.ErrMissingClaim},
		{"missing jti", iss.Sign(nil, without("jti")), claims.ErrMissingClaim},
		{"expired beyond leeway", iss.Mint(with(func(c *claims.Claims) {
			c.IssuedAt = date(t0.Add(-time.Hour))
			c.Expiry = date(t0.Add(-31 * time.Second))
		})), claims.ErrExpired},
		{"expired exactly at leeway", iss.Mint(with(func(c *claims.Claims) { c.Expiry = date(t0.Add(-30 * time.Second)) })), claims.ErrExpired},
		{"nbf beyond leeway", iss.Mint(with(func(c *claims.Claims) { c.NotBefore = date(t0.Add(31 * time.Second)) })), claims.ErrNotYetValid},
		{"iat beyond leeway", iss.Mint(with(func(c *claims.Claims) { c.IssuedAt = date(t0.Add(time.Minute)) })), claims.ErrNotYetValid},
		{"wrong iss", iss.Mint(with(func(c *claims.Claims) { c.Issuer = "https://evil.example" })), claims.ErrWrongIssuer},
		{"iss with trailing slash", iss.Mint(with(func(c *claims.Claims) { c.Issuer += "/" })), claims.ErrWrongIssuer},
		{"C8 aud of another API", iss.Mint(with(func(c *claims.Claims) { c.Audience = []string{"https://other-api.justice.test"} })), claims.ErrWrongAudience},
		{"aud prefix is not a match", iss.Mint(with(func(c *claims.Claims) { c.Audience = []string{claimstest.DefaultAudience + "/x"} })), claims.ErrWrongAudience},
		{"aud absent", iss.Sign(nil, without("aud")), claims.ErrWrongAudience},
		{"duplicate claim", iss.Sign(nil, []byte(strings.Replace(string(goodJSON), "{", `{"sub":"admin",`, 1))), claims.ErrMalformed},
		{"duplicate claim by escape", iss.Sign(nil, []byte(strings.Replace(string(goodJSON), "{", `{"\u0073ub":"admin",`, 1))), claims.ErrMalformed},
		{"exp a string", iss.Sign(nil, []byte(strings.Replace(string(goodJSON), `"exp":`, `"exp":"soon","y":`, 1))), claims.ErrMalformed},
		{"payload not JSON", iss.Sign(nil, []byte("not json")), claims.ErrMalformed},
		{"payload a JSON array", iss.Sign(nil, []byte(`[1,2]`)), claims.ErrMalformed},
		{"two parts", "abc.def", claims.ErrMalformed},
		{"JWE five parts", "a.b.c.d.e", claims.ErrMalformed},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, claims.ErrMalformed},
		{"header not base64", "!!!." + strings.SplitN(iss.Mint(good), ".", 2)[1], claims.ErrMalformed},
		{"too long", strings.Repeat("a", claims.MaxTokenLength+1), claims.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A fresh verifier per case so JWKS rate limiting of one case
			// cannot hide the refusal under test in another.
			v := iss.Verifier()
			c, err := v.Verify(context.Background(), tc.token)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if c != nil {
				t.Errorf("claims returned with error")
			}
			if !errors.Is(err, claims.ErrInvalidToken) {
				t.Errorf("error %v does not match ErrInvalidToken", err)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("error %v does not match %v", err, tc.want)
			}
		})
	}
}

func tamper(token string) string {
	parts := strings.Split(token, ".")
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	p = []byte(strings.Replace(string(p), `"sub":"`, `"sub":"x`, 1))
	parts[1] = b64(p)
	return strings.Join(parts, ".")
}

func TestVerifyAccepts(t *testing.T) {
	iss, _, _ := setup(t)
	good := iss.Fill(claims.Claims{})
	with := func(mod func(c *claims.Claims)) claims.Claims {
		c := good
		mod(&c)
		return c
	}
	cases := []struct {
		name  string
		token string
	}{
		{"typ application/at+jwt", iss.MintWithHeader(map[string]any{"typ": "application/at+jwt"}, good)},
		{"typ in capitals", iss.MintWithHeader(map[string]any{"typ": "AT+JWT"}, good)},
		{"expired within leeway", iss.Mint(with(func(c *claims.Claims) { c.Expiry = date(t0.Add(-29 * time.Second)) }))},
		{"nbf within leeway", iss.Mint(with(func(c *claims.Claims) { c.NotBefore = date(t0.Add(30 * time.Second)) }))},
		{"iat within leeway", iss.Mint(with(func(c *claims.Claims) { c.IssuedAt = date(t0.Add(20 * time.Second)) }))},
		{"aud array containing ours", iss.Mint(with(func(c *claims.Claims) { c.Audience = []string{"https://a.test", claimstest.DefaultAudience} }))},
		{"unknown critical-free extra header", iss.MintWithHeader(map[string]any{"foo": "bar"}, good)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := iss.Verifier().Verify(context.Background(), tc.token); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
}

// TestVerifyManyDotsFast is SECURITY.md K3 (GO-2025-3485): a token made of
// thousands of dots is refused without quadratic work.
func TestVerifyManyDotsFast(t *testing.T) {
	_, v, _ := setup(t)
	for _, tok := range []string{
		strings.Repeat(".", 10000),
		strings.Repeat("a.", 8000),
		"eyJhbGciOiJFUzI1NiJ9." + strings.Repeat(".", 16000),
	} {
		start := time.Now()
		const rounds = 100
		for range rounds {
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, claims.ErrMalformed) {
				t.Fatalf("want ErrMalformed, got %v", err)
			}
		}
		// 100 rounds in well under a second even with -race on a busy machine;
		// the quadratic go-jose bug took seconds for one such token.
		if d := time.Since(start); d > time.Second {
			t.Errorf("%d rounds took %v", rounds, d)
		}
	}
}

func TestNewVerifierConfig(t *testing.T) {
	ok := claims.VerifierConfig{Issuer: "https://idp.justice.fr", Audience: "https://api"}
	cases := []struct {
		name string
		mod  func(c *claims.VerifierConfig)
		want string // substring of the error; "" = success
	}{
		{"ok", func(c *claims.VerifierConfig) {}, ""},
		{"loopback http ok", func(c *claims.VerifierConfig) { c.Issuer = "http://127.0.0.1:8080" }, ""},
		{"localhost http ok", func(c *claims.VerifierConfig) { c.Issuer = "http://localhost:8080" }, ""},
		{"RS and EdDSA ok", func(c *claims.VerifierConfig) { c.Algorithms = []string{"RS256", "EdDSA"} }, ""},
		{"no issuer", func(c *claims.VerifierConfig) { c.Issuer = "" }, "Issuer"},
		{"http issuer", func(c *claims.VerifierConfig) { c.Issuer = "http://idp.justice.fr" }, "https"},
		{"issuer with query", func(c *claims.VerifierConfig) { c.Issuer = "https://idp/?a=b" }, "query"},
		{"no audience", func(c *claims.VerifierConfig) { c.Audience = "" }, "Audience"},
		{"HS256 refused", func(c *claims.VerifierConfig) { c.Algorithms = []string{"ES256", "HS256"} }, `"HS256" not allowed`},
		{"HS512 refused", func(c *claims.VerifierConfig) { c.Algorithms = []string{"HS512"} }, `"HS512" not allowed`},
		{"none refused", func(c *claims.VerifierConfig) { c.Algorithms = []string{"none"} }, `"none" not allowed`},
		{"http JWKS", func(c *claims.VerifierConfig) { c.JWKSURL = "http://keys.example/jwks" }, "JWKSURL"},
		{"introspection without secret", func(c *claims.VerifierConfig) {
			c.Introspection = &claims.IntrospectionConfig{URL: "https://idp/introspect", ClientID: "api"}
		}, "ClientSecret"},
		{"every problem at once", func(c *claims.VerifierConfig) { c.Issuer, c.Audience = "", "" }, "Audience"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			v, err := claims.NewVerifier(cfg)
			if tc.want == "" {
				if err != nil || v == nil {
					t.Fatalf("NewVerifier: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestKeyRotation: a token under a new kid is accepted once the JWKS is
// refetched, the refetch is rate-limited, and the old key keeps working while
// published.
func TestKeyRotation(t *testing.T) {
	iss, v, clk := setup(t)
	ctx := context.Background()
	oldTok := iss.Mint(claims.Claims{})
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatal(err)
	}
	if n := iss.JWKSRequests(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", n)
	}
	oldKid := iss.KeyID()
	iss.Rotate()
	newTok := iss.Mint(claims.Claims{})

	// Within RefreshMinInterval of the first fetch: the new kid is unknown and
	// no request reaches the issuer.
	clk.Advance(10 * time.Second)
	for range 5 {
		if _, err := v.Verify(ctx, newTok); !errors.Is(err, claims.ErrUnknownKey) {
			t.Fatalf("want ErrUnknownKey while rate-limited, got %v", err)
		}
	}
	if n := iss.JWKSRequests(); n != 1 {
		t.Fatalf("JWKS fetched %d times during the rate-limit window, want 1", n)
	}
	// Interval passed: one refetch, then the new token is accepted.
	clk.Advance(21 * time.Second)
	newTok = iss.Mint(claims.Claims{}) // fresh iat/exp for the advanced clock
	if _, err := v.Verify(ctx, newTok); err != nil {
		t.Fatalf("new kid after refetch: %v", err)
	}
	if n := iss.JWKSRequests(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want 2", n)
	}
	if _, err := v.Verify(ctx, oldTok); err != nil {
		t.Fatalf("old kid still published but refused: %v", err)
	}
	// The old key leaves the JWKS: after the next refetch its tokens fail.
	iss.Unpublish(oldKid)
	clk.Advance(claims.DefaultCacheTTL)
	oldTok2 := iss.MintWithHeader(map[string]any{"kid": oldKid}, claims.Claims{}) // a token claiming the removed kid
	if _, err := v.Verify(ctx, oldTok2); !errors.Is(err, claims.ErrUnknownKey) {
		t.Fatalf("removed kid: want ErrUnknownKey, got %v", err)
	}
	if n := iss.JWKSRequests(); n != 3 {
		t.Fatalf("JWKS fetched %d times, want 3 (cache TTL expired)", n)
	}
}

// TestRefetchRateLimit: tokens with random kids cannot make the verifier
// hammer the issuer.
func TestRefetchRateLimit(t *testing.T) {
	iss, v, clk := setup(t)
	ctx := context.Background()
	for i := range 50 {
		tok := iss.MintWithHeader(map[string]any{"kid": "random-" + string(rune('a'+i%26)) + time.Duration(i).String()}, claims.Claims{})
		if _, err := v.Verify(ctx, tok); !errors.Is(err, claims.ErrUnknownKey) {
			t.Fatalf("want ErrUnknownKey, got %v", err)
		}
		clk.Advance(100 * time.Millisecond)
	}
	// 50 tokens over 5 s: only the first fetch.
	if n := iss.JWKSRequests(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1", n)
	}
	clk.Advance(claims.DefaultRefreshMinInterval)
	if _, err := v.Verify(ctx, iss.MintWithHeader(map[string]any{"kid": "another"}, claims.Claims{})); !errors.Is(err, claims.ErrUnknownKey) {
		t.Fatalf("want ErrUnknownKey, got %v", err)
	}
	if n := iss.JWKSRequests(); n != 2 {
		t.Fatalf("JWKS fetched %d times after the interval, want 2", n)
	}
}

// TestConcurrentFetchCoalesced: many first requests at once share one fetch.
func TestConcurrentFetchCoalesced(t *testing.T) {
	iss, v, _ := setup(t)
	tok := iss.Mint(claims.Claims{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := iss.JWKSRequests(); n != 1 {
		t.Fatalf("JWKS fetched %d times by 64 concurrent callers, want 1", n)
	}
}

// TestJWKSUnavailable: a verifier that cannot reach the JWKS says so with an
// error that is not ErrInvalidToken, and keeps using keys it already has.
func TestJWKSUnavailable(t *testing.T) {
	iss, v, clk := setup(t)
	ctx := context.Background()
	iss.FailJWKS(503)
	_, err := v.Verify(ctx, iss.Mint(claims.Claims{}))
	if !errors.Is(err, claims.ErrKeySetUnavailable) || errors.Is(err, claims.ErrInvalidToken) {
		t.Fatalf("want ErrKeySetUnavailable only, got %v", err)
	}
	iss.FailJWKS(0)
	clk.Advance(claims.DefaultRefreshMinInterval)
	if _, err := v.Verify(ctx, iss.Mint(claims.Claims{})); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	// Cache expires while the endpoint is down: the known key is still used.
	iss.FailJWKS(500)
	clk.Advance(claims.DefaultCacheTTL + time.Second)
	if _, err := v.Verify(ctx, iss.Mint(claims.Claims{})); err != nil {
		t.Fatalf("stale key refused while JWKS down: %v", err)
	}
	if n := iss.JWKSRequests(); n != 3 {
		t.Fatalf("JWKS requests %d, want 3", n)
	}
}

func TestVerifyContextCanceled(t *testing.T) {
	iss, v, _ := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Verify(ctx, iss.Mint(claims.Claims{})); !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}
