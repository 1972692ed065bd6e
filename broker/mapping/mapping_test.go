package mapping

import (
	"slices"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/providers"
)

func agentRules() config.Mapping {
	return config.Mapping{
		GivenName: "givenName", FamilyName: "sn", Email: "mail", ProfessionalID: "employeeNumber",
		Organization: config.ValueRule{Value: "Ministère de la Justice"},
		Profession:   config.ProfessionRule{Attribute: "employeeType", Values: map[string]string{"MAG": "magistrat", "GRF": "greffier", "XXX": "sorcier"}},
		Courts:       config.CourtRule{Attribute: "court", Values: map[string]string{"Tribunal judiciaire de Paris": "TJ75101"}},
		Roles: []config.RoleRule{
			{Attribute: "memberOf", Equals: "cn=juges", Role: "juge", Scope: "court"},
			{Attribute: "memberOf", Equals: "cn=dsj", Role: "directeur_greffe", Scope: "national"},
		},
		UpstreamACR: map[string]string{"urn:mfa": "eidas2"},
	}
}

func TestMapClaims(t *testing.T) {
	m := &Mapper{Provider: "annuaire", Ceiling: claims.EIDAS3, Rules: agentRules(), Courts: claims.DefaultCourts()}
	when := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		attrs     map[string][]string
		wantProf  any
		wantCourt []string
		wantRoles []string
	}{
		{"judge of Paris by court name", map[string][]string{"employeeType": {"MAG"}, "court": {"Tribunal judiciaire de Paris"}, "memberOf": {"cn=juges"}},
			"magistrat", []string{"TJ75101"}, []string{"juge@TJ75101"}},
		{"clerk of two courts, one unknown", map[string][]string{"employeeType": {"GRF"}, "court": {"TJ01053", "TJ75101", "TJ99999"}, "memberOf": {"cn=juges", "cn=dsj"}},
			"greffier", []string{"TJ01053", "TJ75101"}, []string{"juge@TJ01053", "juge@TJ75101", "directeur_greffe"}},
		{"profession outside the vocabulary gives no claim", map[string][]string{"employeeType": {"XXX"}}, nil, nil, nil},
		{"untranslated value gives no claim", map[string][]string{"employeeType": {"magistrat"}}, nil, nil, nil},
		{"court-scoped role without a court is not issued", map[string][]string{"employeeType": {"MAG"}, "memberOf": {"cn=juges"}}, "magistrat", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := m.Map(providers.Identity{Subject: "uuid-1", Username: "cmartin", Attributes: tt.attrs,
				Authn: providers.Authn{Time: when, Methods: []string{"pwd"}}})
			if got := a.Claims[claims.ClaimProfession]; got != tt.wantProf {
				t.Errorf("profession = %v, want %v", got, tt.wantProf)
			}
			got, _ := a.Claims[claims.ClaimJurisdictions].([]string)
			if !slices.Equal(got, tt.wantCourt) {
				t.Errorf("jurisdictions = %v, want %v", got, tt.wantCourt)
			}
			roles, _ := a.Claims[claims.ClaimJusticeRoles].([]string)
			if !slices.Equal(roles, tt.wantRoles) {
				t.Errorf("roles = %v, want %v", roles, tt.wantRoles)
			}
			if a.Claims[claims.ClaimIdpID] != "annuaire" || a.Claims[claims.ClaimUID] != "cmartin" || a.Claims[claims.ClaimOrganization] != "Ministère de la Justice" {
				t.Errorf("claims = %v", a.Claims)
			}
		})
	}
}

func TestACRFromFactsAndCeiling(t *testing.T) {
	tests := []struct {
		name     string
		ceiling  claims.ACR
		methods  []string
		upstream string
		want     claims.ACR
	}{
		{"password", claims.EIDAS3, []string{"pwd"}, "", claims.EIDAS1},
		{"card", claims.EIDAS3, []string{"sc", "hwk"}, "", claims.EIDAS3},
		{"card under an eidas2 ceiling", claims.EIDAS2, []string{"sc", "hwk"}, "", claims.EIDAS2},
		{"otp", claims.EIDAS3, []string{"pwd", "otp"}, "", claims.EIDAS2},
		{"upstream statement mapped", claims.EIDAS3, []string{"pwd"}, "urn:mfa", claims.EIDAS2},
		{"upstream eidas3 lowered by the ceiling", claims.EIDAS2, nil, "eidas3", claims.EIDAS2},
		{"unknown upstream acr is the lowest", claims.EIDAS3, []string{"otp"}, "urn:something-else", claims.EIDAS1},
		{"invalid ceiling counts as eidas1", claims.ACR(""), []string{"sc"}, "", claims.EIDAS1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &Mapper{Provider: "p", Ceiling: tt.ceiling, Rules: agentRules(), Courts: claims.DefaultCourts()}
			a := m.Map(providers.Identity{Subject: "s", Authn: providers.Authn{Methods: tt.methods, UpstreamACR: tt.upstream}})
			if a.ACR != tt.want {
				t.Fatalf("acr = %s, want %s", a.ACR, tt.want)
			}
		})
	}
}

func TestPublicSubjectStableAndNamespaced(t *testing.T) {
	a, b := PublicSubject("annuaire", "uuid-1"), PublicSubject("annuaire", "uuid-1")
	if a != b || a == PublicSubject("barreau", "uuid-1") || a == PublicSubject("annuaire", "uuid-2") {
		t.Fatal("subject not stable per (namespace, upstream subject)")
	}
	m := &Mapper{Provider: "carte", SubjectNamespace: "annuaire", Ceiling: claims.EIDAS3, Courts: claims.DefaultCourts()}
	if got := m.Map(providers.Identity{Subject: "uuid-1"}).PublicSubject; got != a {
		t.Fatal("the card and the directory give different subs for one entry")
	}
}
