package claims

import (
	"errors"
	"fmt"
	"strings"
)

// Role is one entry of the "justice_roles" claim: a role name, scoped to a court
// when the role only holds there (juge@TJ75101), or national when Court is "".
type Role struct {
	Name  string
	Court string
}

// ErrInvalidRole is returned (wrapped) by ParseRole for a malformed role.
var ErrInvalidRole = errors.New("claims: invalid role")

var defaultRoles = [...]string{
	"president", "juge", "juge_instruction", "juge_enfants", "juge_application_peines",
	"juge_libertes_detention", "juge_contentieux_protection", "procureur", "substitut",
	"greffier", "directeur_greffe",
}

// DefaultRoles returns the default role names for agents (VOCABULARY.md).
// Deployments may add names in configuration; the slice is a fresh copy.
func DefaultRoles() []string {
	out := make([]string, len(defaultRoles))
	copy(out, defaultRoles[:])
	return out
}

// ValidRoleName reports whether name is a syntactically valid role name: 1 to 64
// characters among lowercase ASCII letters, digits and underscore, starting with
// a letter. The narrow alphabet keeps "@" and spaces out, so a role always
// round-trips through the "role@COURT" form.
func ValidRoleName(name string) bool {
	if len(name) == 0 || len(name) > 64 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ParseRole parses "role" or "role@COURT". It checks syntax only (role name per
// ValidRoleName, court code per ValidCourtCode); whether the court exists is a
// question for a Courts list.
func ParseRole(s string) (Role, error) {
	name, court, scoped := strings.Cut(s, "@")
	if !ValidRoleName(name) {
		return Role{}, fmt.Errorf("%w %q: role name must be lowercase letters, digits and underscores", ErrInvalidRole, s)
	}
	if scoped && !ValidCourtCode(court) {
		return Role{}, fmt.Errorf("%w %q: bad court code %q", ErrInvalidRole, s, court)
	}
	return Role{Name: name, Court: court}, nil
}

// String returns the claim form: "name" or "name@COURT".
func (r Role) String() string {
	if r.Court == "" {
		return r.Name
	}
	return r.Name + "@" + r.Court
}
