package claims

// Profession is the value of the "profession" claim. Only the constants below
// are ever issued: an upstream value that maps to none of them gives no claim.
type Profession string

// The professions of VOCABULARY.md.
const (
	Magistrat            Profession = "magistrat"
	Greffier             Profession = "greffier"
	Agent                Profession = "agent" // other ministry staff
	Avocat               Profession = "avocat"
	CommissaireDeJustice Profession = "commissaire_de_justice"
	Notaire              Profession = "notaire"
	Mediateur            Profession = "mediateur"
	MandataireJudiciaire Profession = "mandataire_judiciaire"
)

var professions = [...]Profession{
	Magistrat, Greffier, Agent, Avocat, CommissaireDeJustice, Notaire, Mediateur, MandataireJudiciaire,
}

// Professions returns every profession, in the order of VOCABULARY.md. The slice
// is a fresh copy.
func Professions() []Profession {
	out := make([]Profession, len(professions))
	copy(out, professions[:])
	return out
}

// ParseProfession returns the profession named s exactly (case-sensitive, as
// claims are compared byte for byte). Unknown values give false, never a guess.
func ParseProfession(s string) (Profession, bool) {
	for _, p := range professions {
		if string(p) == s {
			return p, true
		}
	}
	return "", false
}

// ACR is an authentication context class reference (OpenID Connect Core §2,
// "acr"), with ProConnect's eIDAS strings.
type ACR string

// The acr values, ordered eidas1 < eidas2 < eidas3.
const (
	EIDAS1 ACR = "eidas1" // password, or an upstream that asserts nothing more
	EIDAS2 ACR = "eidas2" // upstream multi-factor (OTP, app)
	EIDAS3 ACR = "eidas3" // smart card whose key is used in the TLS handshake
)

// ParseACR returns the acr named s. Unknown values give false; the broker then
// uses the lowest level, never an error (VOCABULARY.md).
func ParseACR(s string) (ACR, bool) {
	a := ACR(s)
	if a.Level() == 0 {
		return "", false
	}
	return a, true
}

// Level returns 1, 2 or 3 for eidas1..eidas3 and 0 for anything else, so an
// unknown value never satisfies a requirement.
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

// AtLeast reports whether a is a known level at least as high as b. An unknown
// a is never at least anything.
func (a ACR) AtLeast(b ACR) bool {
	la := a.Level()
	return la > 0 && la >= b.Level()
}

// MinACR returns the lower of a and b. An unknown value counts as below eidas1,
// so MinACR of an unknown and a known value is the unknown one: a ceiling can
// only lower assurance, never raise it.
func MinACR(a, b ACR) ACR {
	if a.Level() <= b.Level() {
		return a
	}
	return b
}

// Authentication method references used here, from the RFC 8176 §2 registry.
const (
	AMRPassword          = "pwd" // password-based authentication
	AMROTP               = "otp" // one-time password
	AMRMFA               = "mfa" // multiple-factor authentication
	AMRSmartCard         = "sc"  // smart card
	AMRHardwareKey       = "hwk" // proof of possession of a hardware-secured key
	AMRSoftwareKey       = "swk" // proof of possession of a software-secured key
	AMRPIN               = "pin" // personal identification number
	AMRProofOfPossession = "pop" // proof of possession of a key
)

// Claim names. The justice claims are ours (VOCABULARY.md); the others are
// RFC 7519 §4.1, OpenID Connect Core §2 and §5.1, RFC 9068 §2.2, RFC 8693 §4 and
// ProConnect's.
const (
	ClaimProfession     = "profession"
	ClaimProfessionalID = "professional_id"
	ClaimOrganization   = "organization"
	ClaimBarreau        = "barreau"
	ClaimJurisdictions  = "jurisdictions"
	ClaimJusticeRoles   = "justice_roles"
	ClaimUID            = "uid"
	ClaimIdpID          = "idp_id"
	ClaimIdpACR         = "idp_acr"
	ClaimUsualName      = "usual_name"
	ClaimAct            = "act"

	ClaimIssuer     = "iss"
	ClaimSubject    = "sub"
	ClaimAudience   = "aud"
	ClaimExpiry     = "exp"
	ClaimNotBefore  = "nbf"
	ClaimIssuedAt   = "iat"
	ClaimJTI        = "jti"
	ClaimClientID   = "client_id"
	ClaimScope      = "scope"
	ClaimAuthTime   = "auth_time"
	ClaimACR        = "acr"
	ClaimAMR        = "amr"
	ClaimSID        = "sid"
	ClaimNonce      = "nonce"
	ClaimGivenName  = "given_name"
	ClaimFamilyName = "family_name"
	ClaimName       = "name"
	ClaimEmail      = "email"
)

// Scopes the broker supports.
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
	ScopeOfflineAccess = "offline_access" // releases no claim: asks for a refresh token
)

// scopeTable is VOCABULARY.md's scope -> claims table, in its order.
var scopeTable = [...]struct {
	scope  string
	claims []string
}{
	{ScopeOpenID, []string{ClaimSubject}},
	{ScopeProfile, []string{ClaimGivenName, ClaimFamilyName, ClaimUsualName, ClaimName}},
	{ScopeEmail, []string{ClaimEmail}},
	{ScopeUID, []string{ClaimUID}},
	{ScopeIdpID, []string{ClaimIdpID}},
	{ScopeIdpACR, []string{ClaimIdpACR}},
	{ScopeProfession, []string{ClaimProfession, ClaimProfessionalID, ClaimOrganization, ClaimBarreau}},
	{ScopeJurisdictions, []string{ClaimJurisdictions}},
	{ScopeJusticeRoles, []string{ClaimJusticeRoles}},
	{ScopeOfflineAccess, nil},
}

// ScopeClaims returns the claims scope releases (VOCABULARY.md), nil for an
// unknown scope or one that releases no claim (offline_access). The slice is a
// fresh copy.
func ScopeClaims(scope string) []string {
	for _, e := range scopeTable {
		if e.scope == scope {
			if len(e.claims) == 0 {
				return nil
			}
			return append([]string(nil), e.claims...)
		}
	}
	return nil
}

// SupportedScopes returns every scope the broker supports, for discovery's
// scopes_supported (OpenID Connect Discovery §3).
func SupportedScopes() []string {
	out := make([]string, 0, len(scopeTable))
	for _, e := range scopeTable {
		out = append(out, e.scope)
	}
	return out
}

// SupportedClaims returns every claim the broker may issue, for discovery's
// claims_supported: the claims scopes release, then those always present in ID
// tokens (VOCABULARY.md "Always in the ID token") and the RFC 9068 and RFC 8693
// access-token claims. No name appears twice.
func SupportedClaims() []string {
	out := []string{}
	seen := map[string]bool{}
	add := func(names ...string) {
		for _, n := range names {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	for _, e := range scopeTable {
		add(e.claims...)
	}
	add(ClaimIssuer, ClaimAudience, ClaimExpiry, ClaimIssuedAt, ClaimAuthTime, ClaimACR, ClaimAMR,
		ClaimSID, ClaimNonce, ClaimClientID, ClaimScope, ClaimJTI, ClaimAct)
	return out
}
