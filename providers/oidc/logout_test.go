package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestVerifyLogoutToken is SECURITY.md E11 at the provider: every bad logout
// token is refused, a good one yields its sub, sid and jti.
func TestVerifyLogoutToken(t *testing.T) {
	clock := newClock()
	op := newFakeOP(t, clock)
	p := newFakeProvider(t, op, nil)
	good := func() map[string]any {
		now := clock.Now()
		return map[string]any{"iss": op.srv.URL, "aud": fakeClientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
			"jti": "jti-1", "sid": "sid-1", "sub": fakeSub, "events": map[string]any{backchannelEvent: map[string]any{}}}
	}
	logoutSigner := op.defaultSigner()
	logoutSigner.typ = "logout+jwt"
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sub, sid, jti, _, err := p.VerifyLogoutToken(context.Background(), mint(t, logoutSigner, good()))
	if err != nil || sub != fakeSub || sid != "sid-1" || jti != "jti-1" {
		t.Fatalf("good token: %q %q %q %v", sub, sid, jti, err)
	}
	for name, tc := range map[string]struct {
		s      signer
		mutate func(c map[string]any)
	}{
		"bad signature":    {signer{alg: jose.RS256, key: foreign, kid: op.kid, typ: "logout+jwt"}, nil},
		"alg none":         {signer{none: true, kid: op.kid}, nil},
		"wrong iss":        {logoutSigner, func(c map[string]any) { c["iss"] = "https://evil.example" }},
		"wrong aud":        {logoutSigner, func(c map[string]any) { c["aud"] = "someone-else" }},
		"expired":          {logoutSigner, func(c map[string]any) { c["exp"] = clock.Now().Add(-5 * time.Minute).Unix() }},
		"no exp":           {logoutSigner, func(c map[string]any) { delete(c, "exp") }},
		"no iat":           {logoutSigner, func(c map[string]any) { delete(c, "iat") }},
		"no sub nor sid":   {logoutSigner, func(c map[string]any) { delete(c, "sub"); delete(c, "sid") }},
		"no events":        {logoutSigner, func(c map[string]any) { delete(c, "events") }},
		"events not obj":   {logoutSigner, func(c map[string]any) { c["events"] = map[string]any{backchannelEvent: "x"} }},
		"wrong event":      {logoutSigner, func(c map[string]any) { c["events"] = map[string]any{"urn:other": map[string]any{}} }},
		"nonce present":    {logoutSigner, func(c map[string]any) { c["nonce"] = "n" }},
		"no jti":           {logoutSigner, func(c map[string]any) { delete(c, "jti") }},
		"access token typ": {signer{alg: jose.RS256, key: op.key, kid: op.kid, typ: "at+jwt"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			c := good()
			if tc.mutate != nil {
				tc.mutate(c)
			}
			if _, _, _, _, err := p.VerifyLogoutToken(context.Background(), mint(t, tc.s, c)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// sid alone is enough.
	c := good()
	delete(c, "sub")
	if _, sid, _, _, err := p.VerifyLogoutToken(context.Background(), mint(t, logoutSigner, c)); err != nil || sid != "sid-1" {
		t.Fatalf("sid-only token: %v", err)
	}
}
