package mapping

import (
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/providers"
)

// FuzzMapping maps arbitrary upstream attribute values (court names or codes,
// groups, professions, the upstream's acr, the methods) under the agent rules and
// checks the invariants of VOCABULARY.md: no court code outside the reference list,
// a court-scoped role only at a court the person has, no profession outside the
// vocabulary (the rules' "sorcier" never comes out), and an acr never above the
// provider's ceiling whatever the upstream says.
//
//	go test ./broker/mapping -run '^$' -fuzz FuzzMapping -fuzztime 200000x -fuzzminimizetime 200x
func FuzzMapping(f *testing.F) {
	f.Add("Tribunal judiciaire de Paris", "TJ75101", "cn=juges", "MAG", "urn:mfa", "pwd", uint8(0))
	f.Add("TJ01053", "TJ99999", "cn=dsj", "GRF", "eidas3", "sc", uint8(1))
	f.Add("CA-PARIS", "CC", "cn=juges", "XXX", "urn:mfa", "otp", uint8(2))
	f.Add("tj75101", " TJ75101", "CN=JUGES", "magistrat", "", "hwk", uint8(1))
	f.Add("TJ75101\x00", "TJ75101@TJ01053", "cn=juges\n", "MAG", "eidas9", "mfa", uint8(0))
	ceilings := []claims.ACR{claims.EIDAS1, claims.EIDAS2, claims.EIDAS3}
	courts := claims.DefaultCourts()
	f.Fuzz(func(t *testing.T, court1, court2, group, employeeType, upstreamACR, method string, ceiling uint8) {
		c := ceilings[int(ceiling)%len(ceilings)]
		m := &Mapper{Provider: "annuaire", Ceiling: c, Rules: agentRules(), Courts: courts}
		a := m.Map(providers.Identity{Subject: "uuid-1", Username: "u",
			Attributes: map[string][]string{"court": {court1, court2}, "memberOf": {group}, "employeeType": {employeeType}},
			Authn:      providers.Authn{Time: time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC), Methods: []string{method}, UpstreamACR: upstreamACR}})
		if a == nil {
			t.Fatal("Map returned nil")
		}
		if !c.AtLeast(a.ACR) {
			t.Fatalf("acr %q above the ceiling %q (upstream %q, method %q)", a.ACR, c, upstreamACR, method)
		}
		held := map[string]bool{}
		for _, code := range stringsOf(t, a.Claims[claims.ClaimJurisdictions]) {
			if !courts.Has(code) {
				t.Fatalf("court code %q is not in the reference list", code)
			}
			held[code] = true
		}
		for _, r := range stringsOf(t, a.Claims[claims.ClaimJusticeRoles]) {
			role, at, scoped := strings.Cut(r, "@")
			switch {
			case scoped && (!held[at] || !courts.Has(at)):
				t.Fatalf("role %q at a court the person does not have (%v)", r, held)
			case scoped && role != "juge", !scoped && role != "directeur_greffe":
				t.Fatalf("role %q produced by no rule", r)
			}
		}
		if p, ok := a.Claims[claims.ClaimProfession]; ok {
			if s, _ := p.(string); s != "magistrat" && s != "greffier" {
				t.Fatalf("profession %v outside the vocabulary", p)
			}
		}
	})
}

// stringsOf reads a multi-valued claim, failing on any other type.
func stringsOf(t *testing.T, v any) []string {
	t.Helper()
	switch x := v.(type) {
	case nil:
		return nil
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				t.Fatalf("claim value %#v is not a string", e)
			}
			out = append(out, s)
		}
		return out
	}
	t.Fatalf("claim of type %T", v)
	return nil
}
