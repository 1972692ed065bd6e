package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Cache lifetimes.
const (
	// metadataTTL is how long a discovery document or a key set is used before it is
	// fetched again. A failed refresh keeps the previous copy (logged).
	metadataTTL = time.Hour
	// checkTTL is how long a successful discovery fetch answers Check.
	checkTTL = 30 * time.Second
	// minJWKSRefetch rate-limits key set fetches triggered by an unknown kid, so
	// that tokens with made-up kids (token exchange is reachable by API clients)
	// cannot turn the broker into a request amplifier.
	minJWKSRefetch = 10 * time.Second
	// minRSABits refuses weak upstream keys.
	minRSABits = 2048
)

// metadata is the part of the discovery document the provider uses (OpenID Connect
// Discovery §3; RFC 9207 §3 for the iss parameter).
type metadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	UserinfoEndpoint      string   `json:"userinfo_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	IssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
}

// discover returns the cached discovery document, fetching it when missing or older
// than metadataTTL. A failed refresh falls back to the previous document.
func (p *Provider) discover(ctx context.Context) (*metadata, error) {
	p.mu.Lock()
	md, fetched := p.md, p.mdFetched
	p.mu.Unlock()
	if md != nil && p.now().Sub(fetched) < metadataTTL {
		return md, nil
	}
	fresh, err := p.fetchMetadata(ctx)
	if err != nil {
		if md != nil {
			p.log.Warn("oidc: discovery refresh failed, keeping the previous document", "issuer", p.cfg.Issuer, "err", err)
			return md, nil
		}
		return nil, err
	}
	return fresh, nil
}

func (p *Provider) fetchMetadata(ctx context.Context) (*metadata, error) {
	p.fetchMu.Lock()
	defer p.fetchMu.Unlock()
	var md metadata
	if err := p.getJSON(ctx, "discovery", p.cfg.Issuer+"/.well-known/openid-configuration", &md); err != nil {
		return nil, err
	}
	// OpenID Connect Discovery §4.3: "The issuer value returned MUST be identical to
	// the Issuer URL that was used as the prefix to /.well-known/openid-configuration".
	if md.Issuer != p.cfg.Issuer {
		return nil, invalid("discovery: issuer %q is not the configured %q (Discovery §4.3)", md.Issuer, p.cfg.Issuer)
	}
	for name, u := range map[string]string{
		"authorization_endpoint": md.AuthorizationEndpoint,
		"token_endpoint":         md.TokenEndpoint,
		"jwks_uri":               md.JWKSURI,
	} {
		if u == "" {
			return nil, invalid("discovery: %s missing", name)
		}
	}
	for name, u := range map[string]string{
		"authorization_endpoint": md.AuthorizationEndpoint,
		"token_endpoint":         md.TokenEndpoint,
		"jwks_uri":               md.JWKSURI,
		"userinfo_endpoint":      md.UserinfoEndpoint,
		"end_session_endpoint":   md.EndSessionEndpoint,
	} {
		if u == "" {
			continue
		}
		if msg := checkURL(u, p.cfg.InsecureAllowHTTP); msg != "" {
			return nil, invalid("discovery: %s %s", name, msg)
		}
	}
	if p.cfg.claimsSource() != ClaimsIDToken && md.UserinfoEndpoint == "" {
		return nil, invalid("discovery: userinfo_endpoint missing but claims_source is %s", p.cfg.claimsSource())
	}
	if len(md.CodeChallengeMethods) > 0 && !slices.Contains(md.CodeChallengeMethods, "S256") {
		// RFC 9700 §2.1.1: PKCE is sent anyway; an upstream that ignores it leaves
		// code injection to the nonce check alone.
		p.log.Warn("oidc: the upstream does not advertise PKCE S256", "issuer", p.cfg.Issuer)
	}
	now := p.now()
	p.mu.Lock()
	if p.md == nil || p.md.JWKSURI != md.JWKSURI {
		p.keys, p.keysFetched = nil, time.Time{}
	}
	p.md, p.mdFetched = &md, now
	p.mu.Unlock()
	return &md, nil
}

// keysFor returns the upstream's verification keys that may have signed a JWS with
// this kid and alg. An unknown kid triggers one key set fetch (rate-limited by
// minJWKSRefetch), which is how an upstream key rollover is picked up.
func (p *Provider) keysFor(ctx context.Context, md *metadata, kid, alg string) ([]jose.JSONWebKey, error) {
	p.mu.Lock()
	keys, fetched := p.keys, p.keysFetched
	p.mu.Unlock()
	now := p.now()
	if keys == nil || now.Sub(fetched) >= metadataTTL {
		fresh, err := p.fetchKeys(ctx, md)
		switch {
		case err == nil:
			keys, fetched = fresh, now
		case keys != nil:
			// As for discovery: the keys the upstream published an hour ago
			// still verify its tokens; the next call tries again.
			p.log.Warn("oidc: key set refresh failed, keeping the previous keys", "issuer", p.cfg.Issuer, "err", err)
		default:
			return nil, err
		}
	}
	found := matchKeys(keys, kid, alg)
	if len(found) == 0 && now.Sub(fetched) >= minJWKSRefetch {
		var err error
		if keys, err = p.fetchKeys(ctx, md); err != nil {
			return nil, err
		}
		found = matchKeys(keys, kid, alg)
	}
	if len(found) == 0 {
		return nil, invalid("no upstream key for kid %q and alg %s", kid, alg)
	}
	return found, nil
}

// fetchKeys reads jwks_uri. Keys it cannot use (symmetric, private, encryption,
// unknown type, weak RSA) are skipped rather than failing the whole set.
func (p *Provider) fetchKeys(ctx context.Context, md *metadata) ([]jose.JSONWebKey, error) {
	p.fetchMu.Lock()
	defer p.fetchMu.Unlock()
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := p.getJSON(ctx, "jwks", md.JWKSURI, &set); err != nil {
		return nil, err
	}
	keys := make([]jose.JSONWebKey, 0, len(set.Keys))
	for i, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			p.log.Warn("oidc: skipping an unreadable upstream key", "issuer", p.cfg.Issuer, "index", i, "err", err)
			continue
		}
		if !usableKey(k) {
			p.log.Warn("oidc: skipping an upstream key that cannot verify signatures", "issuer", p.cfg.Issuer, "kid", k.KeyID)
			continue
		}
		keys = append(keys, k)
	}
	p.mu.Lock()
	p.keys, p.keysFetched = keys, p.now()
	p.mu.Unlock()
	return keys, nil
}

// usableKey keeps public asymmetric signature keys only: a symmetric key in the set
// would turn an HS256 token into a valid one (K6).
func usableKey(k jose.JSONWebKey) bool {
	if !k.Valid() || !k.IsPublic() || (k.Use != "" && k.Use != "sig") {
		return false
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		return pub.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey, ed25519.PublicKey:
		return true
	default:
		return false
	}
}

// matchKeys returns the keys with this kid (any key when the JWS names none) whose
// type fits alg and whose own alg, when set, is alg.
func matchKeys(keys []jose.JSONWebKey, kid, alg string) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		if !keyFitsAlg(k.Key, alg) {
			continue
		}
		out = append(out, k)
	}
	return out
}

func keyFitsAlg(key any, alg string) bool {
	switch pub := key.(type) {
	case *rsa.PublicKey:
		return alg[:2] == "RS" || alg[:2] == "PS"
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pub.Curve.Params().BitSize == 256
		case "ES384":
			return pub.Curve.Params().BitSize == 384
		case "ES512":
			return pub.Curve.Params().BitSize == 521
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// getJSON GETs u and decodes a JSON object from a 200 answer.
func (p *Provider) getJSON(ctx context.Context, op, u string, into any) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("oidc: %s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, body, err := p.do(req)
	if err != nil {
		return transport(op, err)
	}
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode >= 500 {
			return unavailable("%s: HTTP %d", op, resp.StatusCode)
		}
		return invalid("%s: HTTP %d", op, resp.StatusCode)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return invalid("%s: %v", op, err)
	}
	return nil
}
