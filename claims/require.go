package claims

import (
	"fmt"
	"slices"
	"strings"
)

// Requirement is a condition on verified claims, checked by Check and by
// Verifier.Middleware. Build them with HasProfession, HasRole, InJurisdiction,
// AtLeast, HasScope, All, Any or RequirementFunc.
//
// Access decisions use the subject's claims only: an "act" claim (RFC 8693 §4.1)
// names who acts, and never lends the actor's profession or roles to the token.
type Requirement interface {
	// String describes the requirement in a sentence fragment, for error
	// messages ("profession magistrat or greffier").
	String() string
	// unmet returns descriptions of what c lacks (empty when met) and the
	// scopes among them, for the RFC 6750 §3 scope attribute.
	unmet(c *Claims) (descs, scopes []string)
}

type reqFunc struct {
	desc string
	ok   func(*Claims) bool
}

func (r reqFunc) String() string { return r.desc }

func (r reqFunc) unmet(c *Claims) ([]string, []string) {
	if c != nil && r.ok(c) {
		return nil, nil
	}
	return []string{r.desc}, nil
}

// RequirementFunc wraps a predicate as a Requirement described by desc.
func RequirementFunc(desc string, ok func(*Claims) bool) Requirement {
	return reqFunc{desc: desc, ok: ok}
}

// HasProfession is met when the profession claim is one of ps.
func HasProfession(ps ...Profession) Requirement {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = string(p)
	}
	ps = slices.Clone(ps)
	return reqFunc{
		desc: "profession " + strings.Join(names, " or "),
		ok:   func(c *Claims) bool { return c.Profession != "" && slices.Contains(ps, c.Profession) },
	}
}

// HasRole is met when justice_roles holds role scoped to court ("juge@TJ75101"
// for HasRole("juge", "TJ75101")), or, when court is "", the national
// (unscoped) role. The match is exact: a role held at one court says nothing
// about another, and a court-scoped role does not make a national one
// (VOCABULARY.md). Use Any to accept either.
func HasRole(role, court string) Requirement {
	want := Role{Name: role, Court: court}.String()
	desc := "role " + role + " (national)"
	if court != "" {
		desc = "role " + role + " at " + court
	}
	return reqFunc{desc: desc, ok: func(c *Claims) bool { return slices.Contains(c.JusticeRoles, want) }}
}

// InJurisdiction is met when the jurisdictions claim holds the court code.
func InJurisdiction(court string) Requirement {
	return reqFunc{
		desc: "jurisdiction " + court,
		ok:   func(c *Claims) bool { return slices.Contains(c.Jurisdictions, court) },
	}
}

// AtLeast is met when the acr claim is a known level at least acr (eidas1 <
// eidas2 < eidas3). An unknown or absent acr never meets it.
func AtLeast(acr ACR) Requirement {
	return reqFunc{
		desc: "authentication level " + string(acr) + " or higher",
		ok:   func(c *Claims) bool { return c.ACR.AtLeast(acr) },
	}
}

type scopeReq string

func (s scopeReq) String() string { return "scope " + string(s) }

func (s scopeReq) unmet(c *Claims) ([]string, []string) {
	if c != nil && c.HasScope(string(s)) {
		return nil, nil
	}
	return []string{s.String()}, []string{string(s)}
}

// HasScope is met when scope is among the token's scopes.
func HasScope(scope string) Requirement { return scopeReq(scope) }

type allReq []Requirement

func (a allReq) String() string { return joinReqs(a, " and ") }

func (a allReq) unmet(c *Claims) (descs, scopes []string) {
	for _, r := range a {
		d, s := r.unmet(c)
		descs = append(descs, d...)
		scopes = append(scopes, s...)
	}
	return descs, scopes
}

// All is met when every one of reqs is; its failure names each unmet one.
// All() with no requirement is always met.
func All(reqs ...Requirement) Requirement { return allReq(slices.Clone(reqs)) }

type anyReq []Requirement

func (a anyReq) String() string { return joinReqs(a, " or ") }

func (a anyReq) unmet(c *Claims) (descs, scopes []string) {
	for _, r := range a {
		d, s := r.unmet(c)
		if len(d) == 0 {
			return nil, nil
		}
		scopes = append(scopes, s...)
	}
	return []string{"one of: " + joinReqs(a, "; ")}, scopes
}

// Any is met when at least one of reqs is. Any() with no requirement is never met.
func Any(reqs ...Requirement) Requirement { return anyReq(slices.Clone(reqs)) }

func joinReqs(rs []Requirement, sep string) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		if _, nested := r.(allReq); nested {
			parts[i] = "(" + r.String() + ")"
		} else if _, nested := r.(anyReq); nested {
			parts[i] = "(" + r.String() + ")"
		} else {
			parts[i] = r.String()
		}
	}
	return strings.Join(parts, sep)
}

// UnmetError is Check's error: every requirement the claims do not meet.
type UnmetError struct {
	// Unmet describes each unmet requirement, in the order given.
	Unmet []string
	// Scopes lists the missing scopes among them (the RFC 6750 §3 scope
	// attribute of an insufficient_scope challenge).
	Scopes []string
}

func (e *UnmetError) Error() string {
	return fmt.Sprintf("claims: requirements not met: %s", strings.Join(e.Unmet, "; "))
}

// Check returns nil when c meets every requirement, and otherwise an
// *UnmetError naming all unmet ones. Nil claims meet nothing.
func Check(c *Claims, reqs ...Requirement) error {
	descs, scopes := allReq(reqs).unmet(c)
	if len(descs) == 0 {
		return nil
	}
	return &UnmetError{Unmet: descs, Scopes: slices.Compact(scopes)}
}
