package claims_test

import (
	"context"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/claims/claimstest"
)

// benchToken is a broker-shaped access token: RFC 9068 claims plus justice claims.
func benchToken(b *testing.B) (*claimstest.Issuer, *claims.Verifier, string) {
	clk := newClock()
	iss := claimstest.NewIssuer(b, claimstest.WithClock(clk.Now))
	v, err := claims.NewVerifier(iss.Config())
	if err != nil {
		b.Fatal(err)
	}
	tok := iss.Mint(claims.Claims{
		Subject: "f3c1e9a2-pairwise-subject", Scope: "openid profile profession jurisdictions justice_roles",
		ACR: claims.EIDAS3, AMR: []string{claims.AMRSmartCard, claims.AMRPIN, claims.AMRMFA}, SID: "sid-8c1d",
		AuthTime: date(t0), Profession: claims.Magistrat, ProfessionalID: "PA-2011-0042",
		Organization: "Tribunal judiciaire de Paris", Jurisdictions: []string{"TJ75101", "CA-PARIS"},
		JusticeRoles: []string{"juge@TJ75101", "juge_contentieux_protection@TJ75101"}, IdpID: "annuaire-justice",
	})
	if _, err := v.Verify(context.Background(), tok); err != nil { // warms the JWKS cache
		b.Fatal(err)
	}
	return iss, v, tok
}

// BenchmarkVerify is the full check a resource server does per request, with
// the JWKS cached: parse, header rules, key lookup, signature, claims decoding
// and validation.
func BenchmarkVerify(b *testing.B) {
	_, v, tok := benchToken(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawES256Verify is the floor: go-jose's ParseSigned and Verify with
// the key in hand, nothing decoded or checked beyond the signature.
func BenchmarkRawES256Verify(b *testing.B) {
	iss, _, tok := benchToken(b)
	key := iss.PublicKey()
	algs := []jose.SignatureAlgorithm{jose.ES256}
	b.ReportAllocs()
	for b.Loop() {
		jws, err := jose.ParseSigned(tok, algs) //nolint:staticcheck // the call the brief names; deprecated for ParseSignedCompact
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.Verify(key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawES256VerifyCompact is the floor with ParseSignedCompact, the
// parser Verify uses (ParseSigned also scans for JSON serialization and
// whitespace).
func BenchmarkRawES256VerifyCompact(b *testing.B) {
	iss, _, tok := benchToken(b)
	key := iss.PublicKey()
	algs := []jose.SignatureAlgorithm{jose.ES256}
	b.ReportAllocs()
	for b.Loop() {
		jws, err := jose.ParseSignedCompact(tok, algs)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.Verify(key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel measures contention on the shared key cache.
func BenchmarkVerifyParallel(b *testing.B) {
	_, v, tok := benchToken(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkClaimsDecode isolates the claims decoder.
func BenchmarkClaimsDecode(b *testing.B) {
	iss, _, _ := benchToken(b)
	payload := mustJSON(b, iss.Fill(claims.Claims{Subject: "s", Scope: "openid profession", Profession: claims.Magistrat,
		Jurisdictions: []string{"TJ75101"}, JusticeRoles: []string{"juge@TJ75101"}, AMR: []string{"sc", "pin"}}))
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		var c claims.Claims
		if err := c.UnmarshalJSON(payload); err != nil {
			b.Fatal(err)
		}
	}
}
