package oidc

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"

	"github.com/justiceconnect/justiceconnect/broker/timekey"
)

func jws(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"ES256","typ":"at+jwt"}`)) + "." + enc([]byte(payload)) + ".SIGNATURE"
}

func TestAccessTokenKey(t *testing.T) {
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	jti := timekey.NewUUIDv7(at)
	tests := []struct {
		name, token, want string
	}{
		{"time-keyed", jws(`{"iss":"x","jti":"` + jti + `"}`), timekey.Prefix(at) + "~SIGNATURE"},
		// Issued before time keys: a random jti, stored under the bare signature.
		{"random jti", jws(`{"jti":"Zm9vYmFyYmF6cXV4cXV1eA"}`), "SIGNATURE"},
		{"version 4 jti", jws(`{"jti":"` + "0b1c7e6e-2f1d-4c3e-9a6b-1f2e3d4c5b6a" + `"}`), "SIGNATURE"},
		{"no jti", jws(`{"iss":"x"}`), "SIGNATURE"},
		{"payload not JSON", jws(`not json`), "SIGNATURE"},
		{"payload not base64", "aGVhZA.!!!.SIGNATURE", "SIGNATURE"},
		{"not a JWS", "opaque-token", ""},
		{"two parts", "a.b", ""},
		{"four parts", "a.b.c.d", ""},
		{"empty signature", jws(`{"jti":"` + jti + `"}`)[:len(jws(`{"jti":"`+jti+`"}`))-len("SIGNATURE")], ""},
	}
	for _, tc := range tests {
		if got := accessTokenKey(tc.token); got != tc.want {
			t.Errorf("%s: accessTokenKey = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func newTimeKeyedHMAC(now func() time.Time) *timeKeyedHMAC {
	fc := &fosite.Config{GlobalSecret: []byte("0123456789abcdef0123456789abcdef"), AuthorizeCodeLifespan: time.Minute, RefreshTokenLifespan: time.Hour}
	return &timeKeyedHMAC{HMACSHAStrategy: compose.NewOAuth2HMACStrategy(fc), now: now}
}

func TestTimeKeyedHMAC(t *testing.T) {
	ctx := context.Background()
	// fosite checks a code's expiry against the real clock.
	clock := time.Now().UTC()
	h := newTimeKeyedHMAC(func() time.Time { return clock })
	req := fosite.NewRequest()
	req.RequestedAt = clock
	req.Session = &fosite.DefaultSession{}

	kinds := []struct {
		prefix   string
		generate func(context.Context, fosite.Requester) (string, string, error)
		sig      func(context.Context, string) string
		validate func(context.Context, fosite.Requester, string) error
		legacy   func(context.Context, fosite.Requester) (string, string, error)
	}{
		{"jc_ac_", h.GenerateAuthorizeCode, h.AuthorizeCodeSignature, h.ValidateAuthorizeCode, h.HMACSHAStrategy.GenerateAuthorizeCode},
		{"jc_rt_", h.GenerateRefreshToken, h.RefreshTokenSignature, h.ValidateRefreshToken, h.HMACSHAStrategy.GenerateRefreshToken},
	}
	for _, k := range kinds {
		t.Run(k.prefix, func(t *testing.T) {
			token, key, err := k.generate(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			p := timekey.Prefix(clock)
			if !strings.HasPrefix(token, k.prefix+p) || !strings.HasPrefix(key, p) || len(key) <= len(p) {
				t.Fatalf("token %q, key %q: want %s%s… and %s…", token, key, k.prefix, p, p)
			}
			if got := k.sig(ctx, token); got != key {
				t.Errorf("signature of the token = %q, want the key it was generated with %q", got, key)
			}
			if err := k.validate(ctx, req, token); err != nil {
				t.Errorf("validate: %v", err)
			}
			// A later token sorts after this one.
			clock = clock.Add(time.Millisecond)
			_, later, _ := k.generate(ctx, req)
			if later <= key {
				t.Errorf("key issued 1 ms later %q does not sort after %q", later, key)
			}
			// An altered time prefix names another key (nothing is stored there)
			// and the HMAC still holds: the lookup is what rejects it.
			tampered := k.prefix + timekey.Prefix(time.Unix(0, 0)) + token[len(k.prefix)+timekey.PrefixLen:]
			if got := k.sig(ctx, tampered); got == key || got == "" {
				t.Errorf("tampered token's key = %q", got)
			}
			// A broken HMAC fails validation.
			broken := token[:len(token)-2] + "AA"
			if token[len(token)-2:] == "AA" {
				broken = token[:len(token)-2] + "BB"
			}
			if err := k.validate(ctx, req, broken); err == nil {
				t.Error("a token with a broken HMAC validated")
			}
			// Tokens from before time keys: fosite's ory_xx_ format, stored
			// under the bare HMAC signature.
			old, oldKey, err := k.legacy(ctx, req)
			if err != nil || !strings.HasPrefix(old, "ory_") {
				t.Fatalf("legacy token %q: %v", old, err)
			}
			if got := k.sig(ctx, old); got != oldKey {
				t.Errorf("legacy token's key = %q, want %q", got, oldKey)
			}
			if err := k.validate(ctx, req, old); err != nil {
				t.Errorf("legacy token: %v", err)
			}
			for _, junk := range []string{"", k.prefix, k.prefix + p, k.prefix + "zzzzzzzzzzzz" + "key.sig", "garbage"} {
				if got := k.sig(ctx, junk); strings.HasPrefix(got, p) {
					t.Errorf("junk %q got a time key %q", junk, got)
				}
				if err := k.validate(ctx, req, junk); err == nil {
					t.Errorf("junk %q validated", junk)
				}
			}
		})
	}
}

// BenchmarkAccessTokenKey: the cost of reading the jti out of an access token on
// every introspection, userinfo and revocation (a token of the usual size).
func BenchmarkAccessTokenKey(b *testing.B) {
	token := jws(`{"iss":"https://justiceconnect.example","sub":"3f2a9c0e5b7d4e61a8c2f0b9d6e4a1c3","aud":["demo-partner"],"exp":1796000000,"iat":1795999400,"jti":"` +
		timekey.NewUUIDv7(time.Now()) + `","client_id":"demo-partner","scope":"openid profile","auth_time":1795999000,"acr":"eidas1","amr":["pwd"],"sid":"c2lkLW9mLXRoZS1zZXNzaW9u","profession":"magistrat","jurisdictions":["TJ75101"]}`)
	b.ReportAllocs()
	for b.Loop() {
		if accessTokenKey(token) == "" {
			b.Fatal("no key")
		}
	}
}
