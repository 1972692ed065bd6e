package bench

import (
	"context"
	"crypto"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/claims/claimstest"
)

// t0 is the benchmarks' fixed clock.
var t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

func now() time.Time { return t0 }

// setup mints one broker-shaped access token (ES256, typ at+jwt, justice
// claims) and returns its issuer.
func setup(b *testing.B) (*claimstest.Issuer, string) {
	iss := claimstest.NewIssuer(b, claimstest.WithClock(now))
	auth := claims.NewNumericDate(t0)
	tok := iss.Mint(claims.Claims{
		Subject: "f3c1e9a2-pairwise-subject", Scope: "openid profile profession jurisdictions justice_roles",
		ACR: claims.EIDAS3, AMR: []string{claims.AMRSmartCard, claims.AMRPIN, claims.AMRMFA}, SID: "sid-8c1d",
		AuthTime: auth, Profession: claims.Magistrat, ProfessionalID: "PA-2011-0042",
		Organization: "Tribunal judiciaire de Paris", Jurisdictions: []string{"TJ75101", "CA-PARIS"},
		JusticeRoles: []string{"juge@TJ75101", "juge_contentieux_protection@TJ75101"}, IdpID: "annuaire-justice",
	})
	return iss, tok
}

// BenchmarkClaimsVerifier is our verifier with the JWKS cached: every RFC 9068
// check, and all claims decoded into claims.Claims.
func BenchmarkClaimsVerifier(b *testing.B) {
	iss, tok := setup(b)
	v := iss.Verifier()
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := v.Verify(ctx, tok)
		if err != nil || c.Profession != claims.Magistrat {
			b.Fatal(err)
		}
	}
}

func goOIDCVerifier(iss *claimstest.Issuer) *oidc.IDTokenVerifier {
	// go-oidc checks "aud" against ClientID: with the API's identifier there,
	// and SkipClientIDCheck false, it checks what our Audience does.
	return oidc.NewVerifier(iss.Issuer(), &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{iss.PublicKey()}},
		&oidc.Config{ClientID: claimstest.DefaultAudience, SupportedSigningAlgs: []string{"ES256"}, Now: now})
}

// BenchmarkGoOIDCVerify is go-oidc's verifier on the same token with a static
// key set: signature, iss, aud, exp, but no typ check and only the standard
// claims decoded.
func BenchmarkGoOIDCVerify(b *testing.B) {
	iss, tok := setup(b)
	v := goOIDCVerifier(iss)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// justiceClaims is what a go-oidc user would decode the justice claims into.
type justiceClaims struct {
	Scope          string   `json:"scope"`
	ClientID       string   `json:"client_id"`
	ACR            string   `json:"acr"`
	AMR            []string `json:"amr"`
	Profession     string   `json:"profession"`
	ProfessionalID string   `json:"professional_id"`
	Organization   string   `json:"organization"`
	Jurisdictions  []string `json:"jurisdictions"`
	JusticeRoles   []string `json:"justice_roles"`
	IdpID          string   `json:"idp_id"`
}

// BenchmarkGoOIDCVerifyAndClaims adds decoding the justice claims with
// encoding/json, the same work BenchmarkClaimsVerifier does.
func BenchmarkGoOIDCVerifyAndClaims(b *testing.B) {
	iss, tok := setup(b)
	v := goOIDCVerifier(iss)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		t, err := v.Verify(ctx, tok)
		if err != nil {
			b.Fatal(err)
		}
		var c justiceClaims
		if err := t.Claims(&c); err != nil || c.Profession != "magistrat" {
			b.Fatal(err)
		}
	}
}
