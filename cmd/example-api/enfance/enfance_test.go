package enfance

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/claims/claimstest"
)

// The route requirements, checked with minted tokens (the broker flow is in
// testsuite/api).
func TestRoutes(t *testing.T) {
	issuer := claimstest.NewIssuer(t)
	api := NewAPI(issuer.Verifier())
	judge := claims.Claims{Subject: "juge-1", Scope: "profession justice_roles", ACR: claims.EIDAS1,
		Profession: claims.Magistrat, JusticeRoles: []string{"juge_enfants@TJ75101"}}
	for _, tc := range []struct {
		name, path string
		c          claims.Claims
		status     int
		unmet      string
	}{
		{"judge", "/dossiers", judge, 200, ""},
		{"judge urgent", "/dossiers/urgents", judge, 200, ""},
		{"mediator", "/dossiers", claims.Claims{Subject: "m", Scope: "profession", Profession: claims.Mediateur}, 200, ""},
		{"no profession scope", "/dossiers", claims.Claims{Subject: "m", Scope: "openid", Profession: claims.Mediateur}, 403, "scope profession"},
		{"no profession", "/dossiers", claims.Claims{Subject: "m", Scope: "profession"}, 403, "profession magistrat or greffier"},
		{"judge of another court", "/dossiers/urgents", func() claims.Claims {
			c := judge
			c.JusticeRoles = []string{"juge_enfants@TJ01053"}
			return c
		}(), 403, "role juge_enfants at TJ75101"},
		{"no acr", "/dossiers/urgents", func() claims.Claims { c := judge; c.ACR = ""; return c }(), 403, "authentication level eidas1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			r.Header.Set("Authorization", "Bearer "+issuer.Mint(tc.c))
			w := httptest.NewRecorder()
			api.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d (%s), want %d", w.Code, w.Header().Get("WWW-Authenticate"), tc.status)
			}
			if ch := w.Header().Get("WWW-Authenticate"); !strings.Contains(ch, tc.unmet) {
				t.Fatalf("WWW-Authenticate %q does not name %q", ch, tc.unmet)
			}
			if tc.status == 200 && !strings.Contains(w.Body.String(), `"sub":"`+tc.c.Subject+`"`) {
				t.Fatalf("body %s does not name the caller", w.Body.String())
			}
		})
	}
}
