package claims_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/justiceconnect/justiceconnect/claims"
)

func TestCheck(t *testing.T) {
	judge := &claims.Claims{
		Scope: "openid justice_roles jurisdictions", ACR: claims.EIDAS2, Profession: claims.Magistrat,
		Jurisdictions: []string{"TJ75101", "CA-PARIS"}, JusticeRoles: []string{"juge@TJ75101", "formateur"},
		Act: &claims.Actor{Subject: "greffier-1", Profession: string(claims.Greffier)},
	}
	cases := []struct {
		name   string
		c      *claims.Claims
		reqs   []claims.Requirement
		unmet  []string // nil = met
		scopes []string
	}{
		{"nothing required", judge, nil, nil, nil},
		{"profession", judge, []claims.Requirement{claims.HasProfession(claims.Magistrat)}, nil, nil},
		{"one of professions", judge, []claims.Requirement{claims.HasProfession(claims.Greffier, claims.Magistrat)}, nil, nil},
		{"wrong profession", judge, []claims.Requirement{claims.HasProfession(claims.Avocat, claims.Notaire)}, []string{"profession avocat or notaire"}, nil},
		{"actor's profession does not count", judge, []claims.Requirement{claims.HasProfession(claims.Greffier)}, []string{"profession greffier"}, nil},
		{"no profession claim", &claims.Claims{}, []claims.Requirement{claims.HasProfession(claims.Magistrat)}, []string{"profession magistrat"}, nil},
		{"scoped role at its court", judge, []claims.Requirement{claims.HasRole("juge", "TJ75101")}, nil, nil},
		{"scoped role at another court", judge, []claims.Requirement{claims.HasRole("juge", "TJ13001")}, []string{"role juge at TJ13001"}, nil},
		{"scoped role is not national", judge, []claims.Requirement{claims.HasRole("juge", "")}, []string{"role juge (national)"}, nil},
		{"national role", judge, []claims.Requirement{claims.HasRole("formateur", "")}, nil, nil},
		{"national role is not a court's", judge, []claims.Requirement{claims.HasRole("formateur", "TJ75101")}, []string{"role formateur at TJ75101"}, nil},
		{"jurisdiction", judge, []claims.Requirement{claims.InJurisdiction("CA-PARIS")}, nil, nil},
		{"other jurisdiction", judge, []claims.Requirement{claims.InJurisdiction("CC")}, []string{"jurisdiction CC"}, nil},
		{"acr equal", judge, []claims.Requirement{claims.AtLeast(claims.EIDAS2)}, nil, nil},
		{"acr lower", judge, []claims.Requirement{claims.AtLeast(claims.EIDAS1)}, nil, nil},
		{"acr higher needed", judge, []claims.Requirement{claims.AtLeast(claims.EIDAS3)}, []string{"authentication level eidas3 or higher"}, nil},
		{"unknown acr", &claims.Claims{ACR: "eidas9"}, []claims.Requirement{claims.AtLeast(claims.EIDAS1)}, []string{"authentication level eidas1 or higher"}, nil},
		{"scope", judge, []claims.Requirement{claims.HasScope("justice_roles")}, nil, nil},
		{"scope prefix is not scope", judge, []claims.Requirement{claims.HasScope("justice")}, []string{"scope justice"}, []string{"justice"}},
		{"empty scope never held", judge, []claims.Requirement{claims.HasScope("")}, []string{"scope "}, []string{""}},
		{"every unmet named", judge, []claims.Requirement{
			claims.HasScope("dossiers"), claims.AtLeast(claims.EIDAS3), claims.HasProfession(claims.Magistrat), claims.InJurisdiction("TJ13001"),
		}, []string{"scope dossiers", "authentication level eidas3 or higher", "jurisdiction TJ13001"}, []string{"dossiers"}},
		{"All nested", judge, []claims.Requirement{claims.All(claims.HasScope("x"), claims.All(claims.HasScope("y"), claims.InJurisdiction("TJ75101")))},
			[]string{"scope x", "scope y"}, []string{"x", "y"}},
		{"Any met by one", judge, []claims.Requirement{claims.Any(claims.HasRole("president", "TJ75101"), claims.HasRole("juge", "TJ75101"))}, nil, nil},
		{"Any unmet", judge, []claims.Requirement{claims.Any(claims.HasRole("president", "TJ75101"), claims.All(claims.HasScope("a"), claims.AtLeast(claims.EIDAS3)))},
			[]string{"one of: role president at TJ75101; (scope a and authentication level eidas3 or higher)"}, []string{"a"}},
		{"empty Any never met", judge, []claims.Requirement{claims.Any()}, []string{"one of: "}, nil},
		{"empty All always met", judge, []claims.Requirement{claims.All()}, nil, nil},
		{"custom", judge, []claims.Requirement{claims.RequirementFunc("has an actor", func(c *claims.Claims) bool { return c.Act != nil })}, nil, nil},
		{"custom unmet", &claims.Claims{}, []claims.Requirement{claims.RequirementFunc("has an actor", func(c *claims.Claims) bool { return c.Act != nil })}, []string{"has an actor"}, nil},
		{"nil claims meet nothing", nil, []claims.Requirement{claims.HasScope("a"), claims.AtLeast(claims.EIDAS1)}, []string{"scope a", "authentication level eidas1 or higher"}, []string{"a"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := claims.Check(tc.c, tc.reqs...)
			if tc.unmet == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ue *claims.UnmetError
			if !errors.As(err, &ue) {
				t.Fatalf("want *UnmetError, got %v", err)
			}
			if !slices.Equal(ue.Unmet, tc.unmet) {
				t.Errorf("Unmet %q, want %q", ue.Unmet, tc.unmet)
			}
			if !slices.Equal(ue.Scopes, tc.scopes) {
				t.Errorf("Scopes %q, want %q", ue.Scopes, tc.scopes)
			}
		})
	}
}
