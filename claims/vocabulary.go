package claims

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Profession is one of the professions of the vocabulary.
type Profession string

// The professions (VOCABULARY.md).
const (
	Magistrat            Profession = "magistrat"
	Greffier             Profession = "greffier"
	Agent                Profession = "agent"
	Avocat               Profession = "avocat"
	CommissaireDeJustice Profession = "commissaire_de_justice"
	Notaire              Profession = "notaire"
	Mediateur            Profession = "mediateur"
	MandataireJudiciaire Profession = "mandataire_judiciaire"
)

var professions = []Profession{Magistrat, Greffier, Agent, Avocat, CommissaireDeJustice, Notaire, Mediateur, MandataireJudiciaire}

// Professions lists every profession.
func Professions() []Profession { return slices.Clone(professions) }

// ParseProfession accepts only the vocabulary's values: an unknown value maps to
// nothing, never to a guess.
func ParseProfession(s string) (Profession, bool) {
	p := Profession(s)
	return p, slices.Contains(professions, p)
}

// ACR is an assurance level, ProConnect's strings.
type ACR string

// The assurance levels, in order.
const (
	EIDAS1 ACR = "eidas1"
	EIDAS2 ACR = "eidas2"
	EIDAS3 ACR = "eidas3"
)

// ParseACR accepts the three known levels.
func ParseACR(s string) (ACR, bool) {
	a := ACR(s)
	return a, a.Level() > 0
}

// Level is 1, 2 or 3 for the known levels and 0 otherwise.
func (a ACR) Level() int {
	switch a {
	case EIDAS1:
		return 1
	case EIDAS2:
		return 2
	case EIDAS3:
		return 3
	}
	return 0
}

// AtLeast reports whether a is b or stronger. An unknown a satisfies nothing.
func (a ACR) AtLeast(b ACR) bool { return a.Level() > 0 && a.Level() >= b.Level() }

// MinACR returns the weaker of two levels.
func MinACR(a, b ACR) ACR {
	if a.Level() <= b.Level() {
		return a
	}
	return b
}

// Authentication methods (RFC 8176 §2) used by the broker.
const (
	AMRPassword          = "pwd"
	AMROTP               = "otp"
	AMRMFA               = "mfa"
	AMRSmartCard         = "sc"
	AMRHardwareKey       = "hwk"
	AMRSoftwareKey       = "swk"
	AMRPIN               = "pin"
	AMRProofOfPossession = "pop"
)

// Claim names.
const (
	ClaimSubject        = "sub"
	ClaimGivenName      = "given_name"
	ClaimFamilyName     = "family_name"
	ClaimUsualName      = "usual_name"
	ClaimName           = "name"
	ClaimEmail          = "email"
	ClaimUID            = "uid"
	ClaimIdpID          = "idp_id"
	ClaimIdpACR         = "idp_acr"
	ClaimProfession     = "profession"
	ClaimProfessionalID = "professional_id"
	ClaimOrganization   = "organization"
	ClaimBarreau        = "barreau"
	ClaimJurisdictions  = "jurisdictions"
	ClaimJusticeRoles   = "justice_roles"
	ClaimAct            = "act"
)

// Scopes.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeUID           = "uid"
	ScopeIdpID         = "idp_id"
	ScopeIdpACR        = "idp_acr"
	ScopeProfession    = "profession"
	ScopeJurisdictions = "jurisdictions"
	ScopeJusticeRoles  = "justice_roles"
	ScopeOfflineAccess = "offline_access"
)

var scopeClaims = map[string][]string{
	ScopeOpenID:        {ClaimSubject},
	ScopeProfile:       {ClaimGivenName, ClaimFamilyName, ClaimUsualName, ClaimName},
	ScopeEmail:         {ClaimEmail},
	ScopeUID:           {ClaimUID},
	ScopeIdpID:         {ClaimIdpID},
	ScopeIdpACR:        {ClaimIdpACR},
	ScopeProfession:    {ClaimProfession, ClaimProfessionalID, ClaimOrganization, ClaimBarreau},
	ScopeJurisdictions: {ClaimJurisdictions},
	ScopeJusticeRoles:  {ClaimJusticeRoles},
	ScopeOfflineAccess: nil,
}

var scopeOrder = []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeUID, ScopeIdpID, ScopeIdpACR,
	ScopeProfession, ScopeJurisdictions, ScopeJusticeRoles, ScopeOfflineAccess}

// ScopeClaims returns the claims a scope releases (nil for unknown scopes).
func ScopeClaims(scope string) []string { return slices.Clone(scopeClaims[scope]) }

// SupportedScopes lists the vocabulary's scopes.
func SupportedScopes() []string { return slices.Clone(scopeOrder) }

// SupportedClaims lists every claim a scope can release, without duplicates.
func SupportedClaims() []string {
	var out []string
	for _, s := range scopeOrder {
		for _, c := range scopeClaims[s] {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

var roleName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Role is a justice role, scoped to a court or national (Court "").
type Role struct {
	Name  string
	Court string
}

// ParseRole parses "role" or "role@COURT". It checks syntax only; whether the court
// is in the reference list is the caller's business.
func ParseRole(s string) (Role, error) {
	name, court, scoped := strings.Cut(s, "@")
	if !roleName.MatchString(name) {
		return Role{}, fmt.Errorf("claims: role %q: name must be lowercase letters, digits and _", s)
	}
	if scoped && !courtCode.MatchString(court) {
		return Role{}, fmt.Errorf("claims: role %q: %q is not a court code", s, court)
	}
	return Role{Name: name, Court: court}, nil
}

// String is the claim form: role or role@COURT.
func (r Role) String() string {
	if r.Court == "" {
		return r.Name
	}
	return r.Name + "@" + r.Court
}

// DefaultRoles are the role names deployments map their directory groups onto.
func DefaultRoles() []string {
	return []string{"president", "juge", "juge_instruction", "juge_enfants", "juge_application_peines",
		"juge_libertes_detention", "juge_contentieux_protection", "procureur", "substitut", "greffier", "directeur_greffe"}
}
