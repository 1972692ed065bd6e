package claims_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/claims"
)

// jwksServer serves keys as a JWKS document, for key shapes claimstest does
// not make (RSA, private parts, wrong use).
func jwksServer(t *testing.T, keys ...jose.JSONWebKey) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: keys})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func signWith(t *testing.T, alg jose.SignatureAlgorithm, key any, kid, iss string) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	c := claims.Claims{Issuer: iss, Subject: "s", Audience: []string{"api"}, ClientID: "c", JTI: "j",
		IssuedAt: date(t0), Expiry: date(t0.Add(60e9))}
	obj, err := s.Sign(mustJSON(t, c))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestKeySetShapes(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	encKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pinned, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	published := []jose.JSONWebKey{
		{Key: &rsaKey.PublicKey, KeyID: "rsa"},
		{Key: &ecKey.PublicKey, KeyID: "ec"},
		{Key: &ec384.PublicKey, KeyID: "ec384-as-p256"}, // curve does not fit ES256
		{Key: &encKey.PublicKey, KeyID: "enc", Use: "enc"},
		{Key: &pinned.PublicKey, KeyID: "pinned-rs", Algorithm: "RS256"}, // JWK alg disagrees with key
		{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "oct"},
	}
	var srvURL string
	srv := jwksServer(t, published...)
	srvURL = srv.URL
	cfg := claims.VerifierConfig{Issuer: srvURL, Audience: "api", JWKSURL: srvURL + "/jwks", HTTPClient: srv.Client(),
		Now: newClock().Now, Algorithms: []string{"ES256", "ES384", "RS256", "PS256"}}
	v, err := claims.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"RS256", signWith(t, jose.RS256, rsaKey, "rsa", srvURL), nil},
		{"PS256", signWith(t, jose.PS256, rsaKey, "rsa", srvURL), nil},
		{"ES256", signWith(t, jose.ES256, ecKey, "ec", srvURL), nil},
		{"ES256 token under the RSA kid", signWith(t, jose.ES256, ecKey, "rsa", srvURL), claims.ErrUnknownKey},
		{"P-384 key used as ES256", signWith(t, jose.ES256, ecKey, "ec384-as-p256", srvURL), claims.ErrUnknownKey},
		{"ES384 with its key", signWith(t, jose.ES384, ec384, "ec384-as-p256", srvURL), nil},
		{"encryption key", signWith(t, jose.ES256, encKey, "enc", srvURL), claims.ErrUnknownKey},
		{"JWK alg mismatch", signWith(t, jose.ES256, pinned, "pinned-rs", srvURL), claims.ErrUnknownKey},
		{"symmetric key never used", signWith(t, jose.ES256, ecKey, "oct", srvURL), claims.ErrUnknownKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), tc.tok)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestKeySetRefused(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		keys []jose.JSONWebKey
		tok  func(url string) string
		want error
	}{
		// A JWKS leaking a private key means that key is compromised: refuse it all.
		{"private key published", []jose.JSONWebKey{{Key: priv, KeyID: "p"}}, func(u string) string { return signWith(t, jose.ES256, priv, "p", u) }, claims.ErrKeySetUnavailable},
		{"RSA below 2048 bits", []jose.JSONWebKey{{Key: &small.PublicKey, KeyID: "small"}}, func(u string) string { return signWith(t, jose.RS256, small, "small", u) }, claims.ErrKeySetUnavailable}, // no usable key left
		{"no kid", []jose.JSONWebKey{{Key: &priv.PublicKey}}, func(u string) string { return signWith(t, jose.ES256, priv, "", u) }, claims.ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := jwksServer(t, tc.keys...)
			v, err := claims.NewVerifier(claims.VerifierConfig{Issuer: srv.URL, Audience: "api", HTTPClient: srv.Client(),
				Now: newClock().Now, Algorithms: []string{"ES256", "RS256"}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), tc.tok(srv.URL))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v", err)
			}
		})
	}
}
