package claims

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// NumericDate is an RFC 7519 §2 NumericDate: whole seconds since 1970-01-01T00:00:00Z.
// Fractional seconds in a token are truncated.
type NumericDate int64

// NewNumericDate returns t as a NumericDate pointer, for filling Claims.
func NewNumericDate(t time.Time) *NumericDate {
	d := NumericDate(t.Unix())
	return &d
}

// Time returns d as a time.Time in UTC, or the zero time when d is nil.
func (d *NumericDate) Time() time.Time {
	if d == nil {
		return time.Time{}
	}
	return time.Unix(int64(*d), 0).UTC()
}

// maxNumericDate is 9999-12-31T23:59:59Z: later values are refused as nonsense
// rather than risking overflow when converted to time.Time.
const maxNumericDate = 253402300799

// Actor is the RFC 8693 §4.1 "act" claim: the party acting for the subject. A
// chain of delegation nests: the outer Actor is the current actor, Act the one
// before it. Only the subject and the current (outermost) actor count for access
// decisions (RFC 8693 §4.1: prior actors are informational).
type Actor struct {
	Subject    string `json:"sub"`
	Issuer     string `json:"iss,omitempty"`
	Profession string `json:"profession,omitempty"`
	Act        *Actor `json:"act,omitempty"`
}

// maxActDepth bounds "act" nesting; a longer delegation chain is refused.
const maxActDepth = 16

func (a *Actor) depth() int {
	n := 0
	for ; a != nil; a = a.Act {
		n++
	}
	return n
}

// Claims is the claim set of a JusticeConnect access token (RFC 9068 §2.2 plus
// the justice claims of VOCABULARY.md), and what Verifier.Verify returns.
//
// In JSON, "aud" is read as a string or an array and written as a string when it
// holds one value (RFC 7519 §4.1.3); "scope" is a space-separated string (RFC
// 9068 §2.2.3, RFC 8693 §4.2). Claims with no field of their own go to Extra,
// with numbers as json.Number so they round-trip digit for digit. Duplicate claim
// names are refused (RFC 7519 §4: a parser MUST reject them or keep the last; we
// reject).
type Claims struct {
	Issuer    string       // iss
	Subject   string       // sub
	Audience  []string     // aud
	Expiry    *NumericDate // exp
	IssuedAt  *NumericDate // iat
	NotBefore *NumericDate // nbf
	JTI       string       // jti
	ClientID  string       // client_id (RFC 9068 §2.2, RFC 8693 §4.3)
	Scope     string       // scope, space-separated; see Scopes
	AuthTime  *NumericDate // auth_time
	ACR       ACR          // acr
	AMR       []string     // amr (RFC 8176 values)
	SID       string       // sid

	Profession     Profession // profession
	ProfessionalID string     // professional_id
	Organization   string     // organization
	Barreau        string     // barreau
	Jurisdictions  []string   // jurisdictions: court codes
	JusticeRoles   []string   // justice_roles: "role" or "role@COURT"
	IdpID          string     // idp_id

	Act *Actor // act (RFC 8693 §4.1)

	Extra map[string]any // every other claim
}

// Scopes returns the scope claim split on spaces (RFC 6749 §3.3).
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// HasScope reports whether scope is one of the token's scopes, without allocating.
func (c *Claims) HasScope(scope string) bool {
	if scope == "" {
		return false
	}
	s := c.Scope
	for s != "" {
		var tok string
		tok, s, _ = strings.Cut(s, " ")
		if tok == scope {
			return true
		}
	}
	return false
}

// Roles returns the justice_roles claim parsed; malformed entries are skipped.
func (c *Claims) Roles() []Role {
	out := make([]Role, 0, len(c.JusticeRoles))
	for _, s := range c.JusticeRoles {
		if r, err := ParseRole(s); err == nil {
			out = append(out, r)
		}
	}
	return out
}

// claimsJSON is the encoding shape; omitzero keeps an empty array distinct from
// an absent one so decoding then encoding gives the same claims back.
type claimsJSON struct {
	Issuer         string       `json:"iss,omitzero"`
	Subject        string       `json:"sub,omitzero"`
	Audience       any          `json:"aud,omitzero"`
	Expiry         *NumericDate `json:"exp,omitzero"`
	IssuedAt       *NumericDate `json:"iat,omitzero"`
	NotBefore      *NumericDate `json:"nbf,omitzero"`
	JTI            string       `json:"jti,omitzero"`
	ClientID       string       `json:"client_id,omitzero"`
	Scope          string       `json:"scope,omitzero"`
	AuthTime       *NumericDate `json:"auth_time,omitzero"`
	ACR            ACR          `json:"acr,omitzero"`
	AMR            []string     `json:"amr,omitzero"`
	SID            string       `json:"sid,omitzero"`
	Profession     Profession   `json:"profession,omitzero"`
	ProfessionalID string       `json:"professional_id,omitzero"`
	Organization   string       `json:"organization,omitzero"`
	Barreau        string       `json:"barreau,omitzero"`
	Jurisdictions  []string     `json:"jurisdictions,omitzero"`
	JusticeRoles   []string     `json:"justice_roles,omitzero"`
	IdpID          string       `json:"idp_id,omitzero"`
	Act            *Actor       `json:"act,omitzero"`
}

// Field indexes, also bits of the duplicate-detection mask in decode.
const (
	fIss = iota
	fSub
	fAud
	fExp
	fIat
	fNbf
	fJti
	fClientID
	fScope
	fAuthTime
	fACR
	fAMR
	fSID
	fProfession
	fProfessionalID
	fOrganization
	fBarreau
	fJurisdictions
	fJusticeRoles
	fIdpID
	fAct
)

// fieldOf maps a claim name to its field index, -1 for claims kept in Extra.
func fieldOf(name string) int {
	switch name {
	case ClaimIssuer:
		return fIss
	case ClaimSubject:
		return fSub
	case ClaimAudience:
		return fAud
	case ClaimExpiry:
		return fExp
	case ClaimIssuedAt:
		return fIat
	case ClaimNotBefore:
		return fNbf
	case ClaimJTI:
		return fJti
	case ClaimClientID:
		return fClientID
	case ClaimScope:
		return fScope
	case ClaimAuthTime:
		return fAuthTime
	case ClaimACR:
		return fACR
	case ClaimAMR:
		return fAMR
	case ClaimSID:
		return fSID
	case ClaimProfession:
		return fProfession
	case ClaimProfessionalID:
		return fProfessionalID
	case ClaimOrganization:
		return fOrganization
	case ClaimBarreau:
		return fBarreau
	case ClaimJurisdictions:
		return fJurisdictions
	case ClaimJusticeRoles:
		return fJusticeRoles
	case ClaimIdpID:
		return fIdpID
	case ClaimAct:
		return fAct
	}
	return -1
}

// MarshalJSON encodes the claims as a JWT claims set. It fails when Extra holds a
// name that has a field of its own, since the output would carry it twice.
func (c Claims) MarshalJSON() ([]byte, error) {
	j := claimsJSON{
		Issuer: c.Issuer, Subject: c.Subject, Expiry: c.Expiry, IssuedAt: c.IssuedAt,
		NotBefore: c.NotBefore, JTI: c.JTI, ClientID: c.ClientID, Scope: c.Scope,
		AuthTime: c.AuthTime, ACR: c.ACR, AMR: c.AMR, SID: c.SID, Profession: c.Profession,
		ProfessionalID: c.ProfessionalID, Organization: c.Organization, Barreau: c.Barreau,
		Jurisdictions: c.Jurisdictions, JusticeRoles: c.JusticeRoles, IdpID: c.IdpID, Act: c.Act,
	}
	switch {
	case len(c.Audience) == 1:
		j.Audience = c.Audience[0]
	case c.Audience != nil:
		j.Audience = c.Audience
	}
	base, err := json.Marshal(j)
	if err != nil || len(c.Extra) == 0 {
		return base, err
	}
	for k := range c.Extra {
		if fieldOf(k) >= 0 {
			return nil, fmt.Errorf("claims: Extra holds %q, which has a field of its own", k)
		}
	}
	extra, err := json.Marshal(c.Extra)
	if err != nil {
		return nil, err
	}
	// Splice the two objects: "{a}" + "{b}" -> "{a,b}".
	out := make([]byte, 0, len(base)+len(extra))
	out = append(out, base[:len(base)-1]...)
	if len(base) > 2 {
		out = append(out, ',')
	}
	return append(out, extra[1:]...), nil
}

// errClaimsSyntax is wrapped by UnmarshalJSON for anything that is not a JSON
// object of well-typed claims.
var errClaimsSyntax = errors.New("claims: malformed claims set")

// UnmarshalJSON decodes a JWT claims set. It replaces every field of c.
func (c *Claims) UnmarshalJSON(b []byte) error {
	*c = Claims{}
	return c.decode(b)
}

// decode fills c from a JSON object in one pass over the bytes. It avoids
// encoding/json's reflection for the claims we know (the verifier's hot path)
// while staying strict: the input must be valid JSON (json.Valid), each claim
// must have the type RFC 7519/9068 and VOCABULARY.md give it, and no claim may
// appear twice. A null value counts as absent.
func (c *Claims) decode(b []byte) error {
	if !json.Valid(b) {
		return fmt.Errorf("%w: not valid JSON", errClaimsSyntax)
	}
	d := decoder{b: b, s: string(b)}
	return d.claims(c)
}

// decoder holds the payload once as a string: every claim string without
// escapes is a substring of it, so a token costs one string allocation instead
// of one per claim, and the NumericDates share one array.
type decoder struct {
	b     []byte
	s     string
	dates [4]NumericDate
	nd    int
}

func (d *decoder) claims(c *Claims) error {
	b := d.b
	if len(b) == 0 {
		return fmt.Errorf("%w: not valid JSON", errClaimsSyntax)
	}
	i := skipWS(b, 0)
	if b[i] != '{' {
		return fmt.Errorf("%w: not a JSON object", errClaimsSyntax)
	}
	i++
	var seen uint32
	for {
		i = skipWS(b, i)
		if b[i] == '}' {
			return nil
		}
		if b[i] == ',' {
			i = skipWS(b, i+1)
		}
		ks := i
		i = endString(b, i)
		rawKey := b[ks:i]
		i = skipWS(b, i) + 1 // ':'
		i = skipWS(b, i)
		vs := i
		i = skipValue(b, i)
		val := b[vs:i]

		var key string
		var keyBytes []byte
		if bytes.IndexByte(rawKey, '\\') < 0 && utf8.Valid(rawKey) {
			keyBytes = rawKey[1 : len(rawKey)-1]
		} else {
			if err := json.Unmarshal(rawKey, &key); err != nil {
				return fmt.Errorf("%w: %w", errClaimsSyntax, err)
			}
			keyBytes = []byte(key)
		}
		f := fieldOf(string(keyBytes))
		if f < 0 {
			if key == "" {
				key = string(keyBytes)
			}
			if _, dup := c.Extra[key]; dup {
				return fmt.Errorf("%w: claim %q appears twice", errClaimsSyntax, key)
			}
			v, err := d.decodeAny(val)
			if err != nil {
				return fmt.Errorf("%w: claim %q: %w", errClaimsSyntax, key, err)
			}
			if c.Extra == nil {
				c.Extra = map[string]any{}
			}
			c.Extra[key] = v
			continue
		}
		if seen&(1<<f) != 0 {
			return fmt.Errorf("%w: claim %q appears twice", errClaimsSyntax, keyBytes)
		}
		seen |= 1 << f
		if isNull(val) {
			continue
		}
		if err := d.setField(c, f, val); err != nil {
			return fmt.Errorf("%w: claim %q: %w", errClaimsSyntax, keyBytes, err)
		}
	}
}

func (d *decoder) setField(c *Claims, f int, val []byte) error {
	var err error
	switch f {
	case fIss:
		c.Issuer, err = d.str(val)
	case fSub:
		c.Subject, err = d.str(val)
	case fAud:
		if val[0] == '"' {
			var s string
			s, err = d.str(val)
			c.Audience = []string{s}
		} else {
			c.Audience, err = d.strs(val)
		}
	case fExp:
		c.Expiry, err = d.date(val)
	case fIat:
		c.IssuedAt, err = d.date(val)
	case fNbf:
		c.NotBefore, err = d.date(val)
	case fJti:
		c.JTI, err = d.str(val)
	case fClientID:
		c.ClientID, err = d.str(val)
	case fScope:
		c.Scope, err = d.str(val)
	case fAuthTime:
		c.AuthTime, err = d.date(val)
	case fACR:
		var s string
		s, err = d.str(val)
		c.ACR = ACR(s)
	case fAMR:
		c.AMR, err = d.strs(val)
	case fSID:
		c.SID, err = d.str(val)
	case fProfession:
		var s string
		s, err = d.str(val)
		c.Profession = Profession(s)
	case fProfessionalID:
		c.ProfessionalID, err = d.str(val)
	case fOrganization:
		c.Organization, err = d.str(val)
	case fBarreau:
		c.Barreau, err = d.str(val)
	case fJurisdictions:
		c.Jurisdictions, err = d.strs(val)
	case fJusticeRoles:
		c.JusticeRoles, err = d.strs(val)
	case fIdpID:
		c.IdpID, err = d.str(val)
	case fAct:
		if val[0] != '{' {
			return errors.New("want an object")
		}
		a := new(Actor)
		if err = json.Unmarshal(val, a); err != nil {
			return err
		}
		if a.depth() > maxActDepth {
			return fmt.Errorf("delegation chain deeper than %d", maxActDepth)
		}
		c.Act = a
	}
	return err
}

// The helpers below walk JSON that json.Valid has accepted, so they only need to
// find where things end, not to diagnose syntax.

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// endString returns the index just past the string starting at b[i] == '"'.
func endString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return endString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = endString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

func isNull(v []byte) bool { return len(v) == 4 && string(v) == "null" }

// str decodes the JSON string v, a subslice of d.b.
func (d *decoder) str(v []byte) (string, error) {
	if v[0] != '"' {
		return "", errors.New("want a string")
	}
	inner := v[1 : len(v)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		// v shares d.b's backing array, so its offset in d.b is the
		// difference of capacities.
		off := cap(d.b) - cap(v) + 1
		return d.s[off : off+len(inner)], nil
	}
	var s string
	err := json.Unmarshal(v, &s)
	return s, err
}

// parseStrings decodes an array of strings; an empty array gives an empty,
// non-nil slice so that it re-encodes as [].
func (d *decoder) strs(v []byte) ([]string, error) {
	if v[0] != '[' {
		return nil, errors.New("want an array of strings")
	}
	n := 0
	for i := 1; i < len(v); i++ {
		if v[i] == '"' {
			n++
			i = endString(v, i) - 1
		}
	}
	out := make([]string, 0, n)
	i := skipWS(v, 1)
	for v[i] != ']' {
		if v[i] == ',' {
			i = skipWS(v, i+1)
		}
		if v[i] != '"' {
			return nil, errors.New("want an array of strings")
		}
		e := endString(v, i)
		s, err := d.str(v[i:e])
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		i = skipWS(v, e)
	}
	return out, nil
}

// parseDate decodes an RFC 7519 §2 NumericDate. Integers take a fast path; other
// JSON numbers go through ParseFloat and are truncated to whole seconds.
func (d *decoder) date(v []byte) (*NumericDate, error) {
	if v[0] != '-' && (v[0] < '0' || v[0] > '9') {
		return nil, errors.New("want a number of seconds")
	}
	var n int64
	fast := len(v) <= 15
	for _, ch := range v {
		if ch < '0' || ch > '9' {
			fast = false
			break
		}
		n = n*10 + int64(ch-'0')
	}
	if !fast {
		f, err := parseFloat(v)
		if err != nil {
			return nil, err
		}
		if math.IsNaN(f) || f < 0 || f > maxNumericDate {
			return nil, errors.New("date out of range")
		}
		n = int64(f)
	}
	if n > maxNumericDate {
		return nil, errors.New("date out of range")
	}
	if d.nd == len(d.dates) {
		nd := NumericDate(n)
		return &nd, nil
	}
	p := &d.dates[d.nd]
	d.nd++
	*p = NumericDate(n)
	return p, nil
}

// decodeAny decodes a claim kept in Extra, with json.Number for numbers.
func (d *decoder) decodeAny(v []byte) (any, error) {
	switch v[0] {
	case '"':
		return d.str(v)
	case 't':
		return true, nil
	case 'f':
		return false, nil
	case 'n':
		return nil, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return json.Number(v), nil
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var out any
	err := dec.Decode(&out)
	return out, err
}

// Equal reports whether a and b hold the same claims. Extra is compared by its
// JSON encoding, so 1 and json.Number("1") are equal.
func (c *Claims) Equal(o *Claims) bool {
	if c == nil || o == nil {
		return c == o
	}
	x, err1 := json.Marshal(c)
	y, err2 := json.Marshal(o)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func parseFloat(v []byte) (float64, error) {
	var f float64
	err := json.Unmarshal(v, &f)
	return f, err
}
