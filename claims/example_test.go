package claims_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/claims/claimstest"
)

// exampleTB lets examples use claimstest, which wants a testing.TB for key
// generation failures and cleanup.
type exampleTB struct {
	testing.TB
	cleanups []func()
}

func (e *exampleTB) Helper()                           {}
func (e *exampleTB) Cleanup(f func())                  { e.cleanups = append(e.cleanups, f) }
func (e *exampleTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (e *exampleTB) close() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

// A resource server verifies access tokens with a Verifier built once.
func ExampleVerifier_Verify() {
	tb := &exampleTB{}
	defer tb.close()
	issuer := claimstest.NewIssuer(tb) // in production: the broker

	v, err := claims.NewVerifier(claims.VerifierConfig{
		Issuer:     issuer.Issuer(),            // e.g. https://connect.justice.gouv.fr
		Audience:   "https://api.justice.test", // this API's identifier
		HTTPClient: issuer.Client(),
	})
	if err != nil {
		panic(err)
	}
	token := issuer.Mint(claims.Claims{
		Subject: "a1b2", Audience: []string{"https://api.justice.test"},
		Profession: claims.Magistrat, JusticeRoles: []string{"juge@TJ75101"},
	})
	c, err := v.Verify(context.Background(), token)
	fmt.Println(c.Subject, c.Profession, c.JusticeRoles, err)

	_, err = v.Verify(context.Background(), issuer.Mint(claims.Claims{Audience: []string{"https://other-api.test"}}))
	fmt.Println(errors.Is(err, claims.ErrInvalidToken), errors.Is(err, claims.ErrWrongAudience))
	// Output:
	// a1b2 magistrat [juge@TJ75101] <nil>
	// true true
}

// Middleware guards a handler with requirements; the handler reads the claims.
func ExampleVerifier_Middleware() {
	tb := &exampleTB{}
	defer tb.close()
	issuer := claimstest.NewIssuer(tb)
	v := issuer.Verifier() // audience claimstest.DefaultAudience

	api := v.Middleware(
		claims.HasScope("dossiers"),
		claims.Any(claims.HasRole("juge", "TJ75101"), claims.HasRole("greffier", "TJ75101")),
	)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := claims.FromContext(r.Context())
		fmt.Fprintf(w, "bonjour %s", c.Subject)
	}))

	call := func(token string) {
		r := httptest.NewRequest("GET", "/dossiers/42", nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		body, _ := io.ReadAll(w.Result().Body)
		if w.Code == 200 {
			fmt.Println(w.Code, string(body))
		} else {
			fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	call("")
	call(issuer.Mint(claims.Claims{Subject: "greffier-7", Scope: "dossiers", JusticeRoles: []string{"greffier@TJ75101"}}))
	call(issuer.Mint(claims.Claims{Subject: "juge-3", Scope: "openid", JusticeRoles: []string{"juge@TJ13001"}}))
	// Output:
	// 401 Bearer realm="https://api.justice.test"
	// 200 bonjour greffier-7
	// 403 Bearer realm="https://api.justice.test", error="insufficient_scope", error_description="Missing: scope dossiers; one of: role juge at TJ75101; role greffier at TJ75101", scope="dossiers"
}

// Check evaluates requirements outside HTTP and names every unmet one.
func ExampleCheck() {
	c := &claims.Claims{
		Scope: "openid jurisdictions", ACR: claims.EIDAS2, Profession: claims.Greffier,
		Jurisdictions: []string{"TJ75101"},
	}
	fmt.Println(claims.Check(c, claims.HasProfession(claims.Greffier), claims.InJurisdiction("TJ75101")))

	err := claims.Check(c,
		claims.HasProfession(claims.Magistrat),
		claims.AtLeast(claims.EIDAS3),
		claims.InJurisdiction("TJ75101"),
	)
	var unmet *claims.UnmetError
	if errors.As(err, &unmet) {
		for _, u := range unmet.Unmet {
			fmt.Println("-", u)
		}
	}
	// Output:
	// <nil>
	// - profession magistrat
	// - authentication level eidas3 or higher
}
