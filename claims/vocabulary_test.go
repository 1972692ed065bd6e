package claims_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/claims"
)

func TestParseProfession(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want claims.Profession
		ok   bool
	}{
		{"magistrat", claims.Magistrat, true},
		{"commissaire_de_justice", claims.CommissaireDeJustice, true},
		{"mandataire_judiciaire", claims.MandataireJudiciaire, true},
		{"Magistrat", "", false},
		{"huissier", "", false},
		{"", "", false},
	} {
		got, ok := claims.ParseProfession(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseProfession(%q) = %q, %v", tc.in, got, ok)
		}
	}
	ps := claims.Professions()
	if len(ps) != 8 {
		t.Fatalf("%d professions", len(ps))
	}
	for _, p := range ps {
		if got, ok := claims.ParseProfession(string(p)); !ok || got != p {
			t.Errorf("%q does not parse back", p)
		}
	}
	ps[0] = "mutated"
	if claims.Professions()[0] != claims.Magistrat {
		t.Error("Professions shares its backing array")
	}
}

func TestACR(t *testing.T) {
	for _, tc := range []struct {
		a, b       claims.ACR
		atLeast    bool
		min        claims.ACR
		levelA     int
		parseableA bool
	}{
		{claims.EIDAS1, claims.EIDAS1, true, claims.EIDAS1, 1, true},
		{claims.EIDAS2, claims.EIDAS1, true, claims.EIDAS1, 2, true},
		{claims.EIDAS1, claims.EIDAS2, false, claims.EIDAS1, 1, true},
		{claims.EIDAS3, claims.EIDAS2, true, claims.EIDAS2, 3, true},
		{"eidas4", claims.EIDAS1, false, "eidas4", 0, false},
		{"", claims.EIDAS1, false, "", 0, false},
		{claims.EIDAS1, "bogus", true, "bogus", 1, true},
		{"EIDAS3", claims.EIDAS1, false, "EIDAS3", 0, false},
	} {
		if got := tc.a.AtLeast(tc.b); got != tc.atLeast {
			t.Errorf("%q.AtLeast(%q) = %v", tc.a, tc.b, got)
		}
		if got := claims.MinACR(tc.a, tc.b); got != tc.min {
			t.Errorf("MinACR(%q, %q) = %q, want %q", tc.a, tc.b, got, tc.min)
		}
		if got := tc.a.Level(); got != tc.levelA {
			t.Errorf("%q.Level() = %d", tc.a, got)
		}
		if got, ok := claims.ParseACR(string(tc.a)); ok != tc.parseableA || (ok && got != tc.a) {
			t.Errorf("ParseACR(%q) = %q, %v", tc.a, got, ok)
		}
	}
}

func TestScopes(t *testing.T) {
	for _, tc := range []struct {
		scope string
		want  []string
	}{
		{claims.ScopeOpenID, []string{"sub"}},
		{claims.ScopeProfile, []string{"given_name", "family_name", "usual_name", "name"}},
		{claims.ScopeEmail, []string{"email"}},
		{claims.ScopeUID, []string{"uid"}},
		{claims.ScopeIdpID, []string{"idp_id"}},
		{claims.ScopeIdpACR, []string{"idp_acr"}},
		{claims.ScopeProfession, []string{"profession", "professional_id", "organization", "barreau"}},
		{claims.ScopeJurisdictions, []string{"jurisdictions"}},
		{claims.ScopeJusticeRoles, []string{"justice_roles"}},
		{claims.ScopeOfflineAccess, nil},
		{"roles", nil},
	} {
		if got := claims.ScopeClaims(tc.scope); !slices.Equal(got, tc.want) {
			t.Errorf("ScopeClaims(%q) = %q, want %q", tc.scope, got, tc.want)
		}
	}
	sc := claims.SupportedScopes()
	for _, s := range []string{"openid", "profile", "email", "uid", "idp_id", "idp_acr", "profession", "jurisdictions", "justice_roles", "offline_access"} {
		if !slices.Contains(sc, s) {
			t.Errorf("SupportedScopes lacks %q", s)
		}
	}
	cl := claims.SupportedClaims()
	seen := map[string]bool{}
	for _, c := range cl {
		if seen[c] {
			t.Errorf("SupportedClaims repeats %q", c)
		}
		seen[c] = true
	}
	for _, c := range []string{"sub", "profession", "justice_roles", "acr", "amr", "auth_time", "nonce", "sid", "act", "client_id", "idp_acr"} {
		if !seen[c] {
			t.Errorf("SupportedClaims lacks %q", c)
		}
	}
	if seen["roles"] {
		t.Error(`"roles" is ProConnect's; ours is justice_roles`)
	}
}

func TestParseRole(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want claims.Role
		ok   bool
	}{
		{"juge@TJ75101", claims.Role{Name: "juge", Court: "TJ75101"}, true},
		{"juge_contentieux_protection@TJ75101", claims.Role{Name: "juge_contentieux_protection", Court: "TJ75101"}, true},
		{"president@CA-AIX-PROVENCE", claims.Role{Name: "president", Court: "CA-AIX-PROVENCE"}, true},
		{"procureur@CC", claims.Role{Name: "procureur", Court: "CC"}, true},
		{"juge@TJ2A004", claims.Role{Name: "juge", Court: "TJ2A004"}, true},
		{"inspecteur2", claims.Role{Name: "inspecteur2"}, true},
		{"Juge@TJ75101", claims.Role{}, false},
		{"juge@", claims.Role{}, false},
		{"@TJ75101", claims.Role{}, false},
		{"", claims.Role{}, false},
		{"juge@tj75101", claims.Role{}, false},
		{"juge@TJ7510", claims.Role{}, false},
		{"juge@TJ751011", claims.Role{}, false},
		{"juge@TJ75101@TJ75101", claims.Role{}, false},
		{"juge-enfants", claims.Role{}, false},
		{"juge enfants", claims.Role{}, false},
		{"_juge", claims.Role{}, false},
		{"1juge", claims.Role{}, false},
		{"jugé", claims.Role{}, false},
		{strings.Repeat("a", 65), claims.Role{}, false},
	} {
		got, err := claims.ParseRole(tc.in)
		if tc.ok {
			if err != nil || got != tc.want {
				t.Errorf("ParseRole(%q) = %+v, %v", tc.in, got, err)
			} else if got.String() != tc.in {
				t.Errorf("String() = %q, want %q", got.String(), tc.in)
			}
			continue
		}
		if !errors.Is(err, claims.ErrInvalidRole) {
			t.Errorf("ParseRole(%q) = %+v, %v; want ErrInvalidRole", tc.in, got, err)
		}
	}
	for _, r := range claims.DefaultRoles() {
		if !claims.ValidRoleName(r) {
			t.Errorf("default role %q invalid", r)
		}
	}
	if len(claims.DefaultRoles()) != 11 || !slices.Contains(claims.DefaultRoles(), "directeur_greffe") {
		t.Errorf("DefaultRoles %q", claims.DefaultRoles())
	}
}
