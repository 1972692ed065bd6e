package keys

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

var benchPayload = []byte(`{"iss":"https://justiceconnect.example","sub":"a1b2c3","aud":"app","exp":1900000000,"iat":1899996400,"acr":"eidas2"}`)

// BenchmarkSignES256 is the broker's path for every token: Signer lookup plus Sign.
func BenchmarkSignES256(b *testing.B) {
	ctx := context.Background()
	m, _, _, _ := ensured(b, "ES256")
	b.ReportAllocs()
	for b.Loop() {
		sk, err := m.Signer(ctx, "ES256")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sk.Sign(benchPayload, "JWT"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawES256Sign is go-jose v4 alone, the floor BenchmarkSignES256 compares to.
func BenchmarkRawES256Sign(b *testing.B) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		jws, err := s.Sign(benchPayload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.CompactSerialize(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJWKSJSON is the jwks_uri endpoint's lookup (ES256 and RS256, after one
// rotation: five keys).
func BenchmarkJWKSJSON(b *testing.B) {
	ctx := context.Background()
	m, _, _, _ := ensured(b, "ES256", "RS256")
	if err := m.Rotate(ctx, ""); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.JWKSJSON(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJWKSJSONParallel is the same under concurrent requests.
func BenchmarkJWKSJSONParallel(b *testing.B) {
	ctx := context.Background()
	m, _, _, _ := ensured(b, "ES256")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.JWKSJSON(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
