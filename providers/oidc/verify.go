package oidc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"hash"
	"math"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	// maxJWTBytes bounds a token before parsing (K3: go-jose is fast on crafted
	// inputs, this keeps memory bounded too).
	maxJWTBytes = 64 << 10
	// clockSkew is the tolerance on exp, nbf and iat.
	clockSkew = time.Minute
)

// expectations are the checks of one JWT beyond the signature.
type expectations struct {
	// what names the token in errors: "ID token", "userinfo", "access token".
	what string
	// nonce, when set, must be the token's nonce (OIDC Core §3.1.3.7 point 11).
	nonce string
	// requireExpIat requires exp and iat (ID tokens, access tokens; OIDC Core §2).
	requireExpIat bool
	// typ, when set, lists the accepted JOSE typ header values (case-insensitive,
	// "application/" prefix optional); refuse lists the refused ones.
	typ, refuseTyp []string
	// subOptional lets a token go without sub (logout tokens may carry sid only,
	// OIDC Back-Channel Logout §2.4).
	subOptional bool
}

// claimSet is a verified JWT payload, numbers kept as json.Number.
type claimSet map[string]any

func (c claimSet) str(name string) string {
	s, _ := c[name].(string)
	return s
}

// numericDate reads a NumericDate claim (RFC 7519 §2).
func (c claimSet) numericDate(name string) (time.Time, bool, error) {
	v, ok := c[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return time.Time{}, true, invalid("%s is not a number", name)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return time.Time{}, true, invalid("%s is not a date", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// verifyJWT checks a compact JWS from the upstream and returns its claims: signature
// by a key of the upstream's jwks_uri under the alg allow-list, then iss, aud/azp,
// exp, nbf, iat, nonce and typ. The payload is not looked at before the signature is
// verified, and not returned before every check passed.
func (p *Provider) verifyJWT(ctx context.Context, md *metadata, raw string, exp expectations) (claimSet, string, error) {
	if len(raw) > maxJWTBytes {
		return nil, "", invalid("%s: too large", exp.what)
	}
	if strings.Count(raw, ".") != 2 {
		return nil, "", invalid("%s: not a compact JWS (encrypted tokens are not accepted)", exp.what)
	}
	// go-jose refuses any alg outside the list; it has no "none" at all (F5).
	jws, err := jose.ParseSignedCompact(raw, p.algs)
	if err != nil {
		return nil, "", invalid("%s: %v", exp.what, err)
	}
	if len(jws.Signatures) != 1 {
		return nil, "", invalid("%s: expected one signature", exp.what)
	}
	header := jws.Signatures[0].Protected
	alg := header.Algorithm
	if err := checkTyp(header, exp); err != nil {
		return nil, "", err
	}
	// Keys come from jwks_uri only: an embedded jwk, jku or x5u is never used (K5).
	keys, err := p.keysFor(ctx, md, header.KeyID, alg)
	if err != nil {
		return nil, "", invalidWrap(exp.what, err)
	}
	var payload []byte
	for _, k := range keys {
		if payload, err = jws.Verify(k.Key); err == nil {
			break
		}
	}
	if payload == nil {
		return nil, "", invalid("%s: bad signature", exp.what)
	}
	claims := claimSet{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&claims); err != nil {
		return nil, "", invalid("%s: payload: %v", exp.what, err)
	}
	if err := p.checkClaims(claims, exp); err != nil {
		return nil, "", err
	}
	return claims, alg, nil
}

func checkTyp(h jose.Header, exp expectations) error {
	raw, present := h.ExtraHeaders[jose.HeaderType]
	typ, _ := raw.(string)
	norm := strings.TrimPrefix(strings.ToLower(typ), "application/")
	for _, r := range exp.refuseTyp {
		if present && norm == r {
			return invalid("%s: typ %q refused (token confusion)", exp.what, typ)
		}
	}
	if len(exp.typ) == 0 {
		return nil
	}
	for _, want := range exp.typ {
		if norm == want {
			return nil
		}
	}
	return invalid("%s: typ %q is not one of %v", exp.what, typ, exp.typ)
}

// checkClaims applies OIDC Core §3.1.3.7 points 2-5 and 9-11 (and the same rules to
// signed userinfo, §5.3.2, and JWT access tokens, RFC 9068 §4).
func (p *Provider) checkClaims(c claimSet, exp expectations) error {
	now := p.now()
	if iss := c.str("iss"); iss != p.cfg.Issuer {
		return invalid("%s: iss %q is not %q", exp.what, iss, p.cfg.Issuer)
	}
	var aud []string
	switch v := c["aud"].(type) {
	case string:
		aud = []string{v}
	case []any:
		for _, a := range v {
			s, ok := a.(string)
			if !ok {
				return invalid("%s: aud holds a non-string", exp.what)
			}
			aud = append(aud, s)
		}
	default:
		return invalid("%s: aud missing", exp.what)
	}
	found := false
	for _, a := range aud {
		found = found || a == p.cfg.ClientID
	}
	if !found {
		return invalid("%s: aud %v does not contain the client_id", exp.what, aud)
	}
	azp, hasAzp := c["azp"]
	if len(aud) > 1 && !hasAzp {
		return invalid("%s: several audiences and no azp", exp.what)
	}
	if hasAzp && azp != p.cfg.ClientID {
		return invalid("%s: azp is not the client_id", exp.what)
	}
	expires, hasExp, err := c.numericDate("exp")
	if err != nil {
		return invalidWrap(exp.what, err)
	}
	issued, hasIat, err := c.numericDate("iat")
	if err != nil {
		return invalidWrap(exp.what, err)
	}
	if exp.requireExpIat && !hasExp {
		// go-jose's Validate skips a missing exp; a token without one never expires (K7).
		return invalid("%s: exp missing", exp.what)
	}
	if hasExp && !now.Before(expires.Add(clockSkew)) {
		return invalid("%s: expired", exp.what)
	}
	if exp.requireExpIat && !hasIat {
		return invalid("%s: iat missing", exp.what)
	}
	if hasIat && issued.After(now.Add(clockSkew)) {
		return invalid("%s: iat in the future", exp.what)
	}
	if hasIat && hasExp && expires.Before(issued) {
		return invalid("%s: exp before iat", exp.what)
	}
	if nbf, has, err := c.numericDate("nbf"); err != nil {
		return invalidWrap(exp.what, err)
	} else if has && nbf.After(now.Add(clockSkew)) {
		return invalid("%s: not valid yet (nbf)", exp.what)
	}
	if sub := c.str("sub"); sub == "" && !exp.subOptional {
		return invalid("%s: sub missing", exp.what)
	}
	if exp.nonce != "" {
		got := c.str("nonce")
		if subtle.ConstantTimeCompare([]byte(got), []byte(exp.nonce)) != 1 {
			return invalid("%s: nonce mismatch", exp.what)
		}
	}
	return nil
}

// checkAtHash verifies at_hash when the ID token has one (OIDC Core §3.1.3.8, §3.3.2.11).
func checkAtHash(c claimSet, alg, accessToken string) error {
	want, ok := c["at_hash"]
	if !ok {
		return nil
	}
	var h hash.Hash
	switch {
	case strings.HasSuffix(alg, "256"):
		h = sha256.New()
	case strings.HasSuffix(alg, "384"):
		h = sha512.New384()
	case strings.HasSuffix(alg, "512"), alg == "EdDSA":
		h = sha512.New()
	default:
		return invalid("ID token: at_hash with alg %s", alg)
	}
	h.Write([]byte(accessToken))
	sum := h.Sum(nil)
	got := base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
	if s, _ := want.(string); subtle.ConstantTimeCompare([]byte(s), []byte(got)) != 1 {
		return invalid("ID token: at_hash does not match the access token")
	}
	return nil
}
