package mapping

import (
	"crypto/sha256"
	"encoding/base32"
	"log/slog"
	"slices"
	"strings"

	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/flow"
	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/providers"
)

// Mapper applies one provider's rules.
type Mapper struct {
	// Provider is the configured provider ID (the idp_id claim).
	Provider string
	// SubjectNamespace groups providers that name the same people with the same
	// upstream subject (the directory and the smart card enriched from it), so a
	// person gets one sub whichever way they log in. Defaults to Provider.
	SubjectNamespace string
	// Ceiling is the highest acr this provider may ever produce.
	Ceiling claims.ACR
	Rules   config.Mapping
	Courts  *claims.Courts
	Logger  *slog.Logger
}

// Map turns an identity into the login outcome. It never fails on missing or unknown
// attribute values: they simply produce no claim.
func (m *Mapper) Map(id providers.Identity) *flow.Auth {
	r := m.Rules
	upstreamSubject := id.Subject
	if r.Subject != "" {
		if v := id.Attribute(r.Subject); v != "" {
			upstreamSubject = v
		}
	}
	ns := m.SubjectNamespace
	if ns == "" {
		ns = m.Provider
	}
	c := map[string]any{claims.ClaimIdpID: m.Provider}
	set := func(name, value string) {
		if value != "" {
			c[name] = value
		}
	}
	attr := func(name string) string {
		if name == "" {
			return ""
		}
		return id.Attribute(name)
	}
	given, family := attr(r.GivenName), attr(r.FamilyName)
	set("given_name", given)
	set("family_name", family)
	set(claims.ClaimUsualName, family)
	set("name", strings.TrimSpace(given+" "+family))
	set("email", attr(r.Email))
	username := id.Username
	if r.Username != "" {
		if v := id.Attribute(r.Username); v != "" {
			username = v
		}
	}
	set(claims.ClaimUID, username)
	set(claims.ClaimIdpACR, id.Authn.UpstreamACR)
	set(claims.ClaimProfessionalID, attr(r.ProfessionalID))
	set(claims.ClaimOrganization, valueRule(id, r.Organization))
	set(claims.ClaimBarreau, valueRule(id, r.Barreau))

	if p, ok := m.profession(id); ok {
		c[claims.ClaimProfession] = string(p)
	}
	courts := m.courts(id)
	if len(courts) > 0 {
		c[claims.ClaimJurisdictions] = courts
	}
	if roles := m.roles(id, courts); len(roles) > 0 {
		c[claims.ClaimJusticeRoles] = roles
	}
	return &flow.Auth{
		PublicSubject:   PublicSubject(ns, upstreamSubject),
		Provider:        m.Provider,
		UpstreamSubject: id.Subject,
		Username:        username,
		ACR:             m.acr(id.Authn),
		AMR:             slices.Clone(id.Authn.Methods),
		AuthTime:        id.Authn.Time,
		Claims:          c,
		Upstream:        id.Upstream,
	}
}

func valueRule(id providers.Identity, v config.ValueRule) string {
	if v.Value != "" {
		return v.Value
	}
	if v.Attribute != "" {
		return id.Attribute(v.Attribute)
	}
	return ""
}

func (m *Mapper) profession(id providers.Identity) (claims.Profession, bool) {
	rule := m.Rules.Profession
	raw := rule.Value
	if raw == "" && rule.Attribute != "" {
		for _, v := range id.Attributes[rule.Attribute] {
			if t, ok := rule.Values[v]; ok {
				raw = t
				break
			}
			if len(rule.Values) == 0 {
				raw = v
				break
			}
		}
	}
	return claims.ParseProfession(raw)
}

// courts translates the upstream's court values into codes of the reference list in
// force; a value with no known code is logged and dropped (VOCABULARY.md: a claim
// never carries a code that is not in the reference).
func (m *Mapper) courts(id providers.Identity) []string {
	rule := m.Rules.Courts
	if rule.Attribute == "" {
		return nil
	}
	var out []string
	for _, v := range id.Attributes[rule.Attribute] {
		code := v
		if t, ok := rule.Values[v]; ok {
			code = t
		} else if rule.ByJudilibreID {
			if court, ok := m.Courts.ByJudilibreID(v); ok {
				code = court.Code
			}
		}
		if !m.Courts.Has(code) {
			m.logger().Warn("mapping: court value maps to no known court code; no claim issued",
				"provider", m.Provider, "attribute", rule.Attribute, "value", v)
			continue
		}
		if !slices.Contains(out, code) {
			out = append(out, code)
		}
	}
	return out
}

// roles applies the role rules. A court-scoped role is issued once per court of the
// user (role@COURT), never unscoped: a judge of one court is not a judge everywhere.
func (m *Mapper) roles(id providers.Identity, courts []string) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, rule := range m.Rules.Roles {
		matched := false
		for _, v := range id.Attributes[rule.Attribute] {
			if strings.EqualFold(v, rule.Equals) {
				matched = true
				break
			}
		}
		if !matched {
			continue
		}
		if rule.Scope == "national" {
			add(rule.Role)
			continue
		}
		for _, court := range courts {
			add(claims.Role{Name: rule.Role, Court: court}.String())
		}
	}
	return out
}

// acr decides the assurance level from the facts, then applies the provider's
// ceiling: the broker may lower what an upstream claims, never raise it
// (VOCABULARY.md, "Assurance"). An unknown upstream acr counts as the lowest level.
func (m *Mapper) acr(a providers.Authn) claims.ACR {
	level := claims.EIDAS1
	switch {
	case slices.Contains(a.Methods, claims.AMRSmartCard) || slices.Contains(a.Methods, claims.AMRHardwareKey):
		level = claims.EIDAS3
	case slices.Contains(a.Methods, claims.AMROTP) || slices.Contains(a.Methods, claims.AMRMFA):
		level = claims.EIDAS2
	}
	if a.UpstreamACR != "" {
		stated := claims.EIDAS1
		if t, ok := m.Rules.UpstreamACR[a.UpstreamACR]; ok {
			if v, ok := claims.ParseACR(t); ok {
				stated = v
			}
		} else if v, ok := claims.ParseACR(a.UpstreamACR); ok {
			stated = v
		}
		// An upstream that states its assurance is believed up to the ceiling;
		// its methods alone are not, since they are reported loosely.
		level = stated
	}
	ceiling := m.Ceiling
	if _, ok := claims.ParseACR(string(ceiling)); !ok {
		ceiling = claims.EIDAS1
	}
	return claims.MinACR(level, ceiling)
}

func (m *Mapper) logger() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

var subjectEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// PublicSubject derives the broker's stable subject for a person from the namespace
// and the upstream subject. It is opaque (never an e-mail, VOCABULARY.md) and the
// same at every login.
func PublicSubject(namespace, upstreamSubject string) string {
	h := sha256.Sum256([]byte("justiceconnect-sub\x00" + namespace + "\x00" + upstreamSubject))
	return strings.ToLower(subjectEncoding.EncodeToString(h[:20]))
}
