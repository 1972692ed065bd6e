package claims

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Defaults of VerifierConfig.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultRefreshMinInterval = 30 * time.Second
	DefaultCacheTTL           = 10 * time.Minute
	defaultFetchTimeout       = 10 * time.Second
)

// MaxTokenLength bounds the tokens Verify looks at. Our access tokens are a
// few hundred bytes to a few kilobytes; anything far larger is refused before
// any decoding (SECURITY.md K3).
const MaxTokenLength = 16 << 10

// maxOpaqueLength bounds tokens sent to introspection.
const maxOpaqueLength = 4 << 10

// VerifierConfig configures a Verifier. Issuer and Audience are required.
type VerifierConfig struct {
	// Issuer is the broker's issuer identifier; "iss" must equal it exactly
	// (RFC 9068 §4 step 3, OpenID Connect Core §16.15). It must be https,
	// except on a loopback host for development and tests.
	Issuer string
	// Audience is this API's identifier; "aud" must contain it (RFC 9068 §4
	// step 4), so a token minted for another API is refused (RFC 9700 §2.3).
	Audience string
	// JWKSURL is where the issuer's keys are published; default Issuer+"/jwks".
	JWKSURL string
	// HTTPClient fetches the JWKS and calls introspection; default a client
	// with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Leeway is the clock skew tolerated on exp, nbf and iat; 0 means the
	// default (30 s), a negative value means none.
	Leeway time.Duration
	// Algorithms is the allow-list of JWS algorithms (RFC 8725 §3.1); default
	// ES256, RS256, PS256. Only asymmetric algorithms are accepted: HS* (whose
	// key would be the public key, SECURITY.md K6) and "none" make NewVerifier fail.
	Algorithms []string
	// RefreshMinInterval is the least time between two JWKS fetches triggered
	// by an unknown kid or an expired cache; default 30 s.
	RefreshMinInterval time.Duration
	// CacheTTL is how long fetched keys are used before a refetch; default 10 min.
	CacheTTL time.Duration
	// Introspection, when set, sends opaque (non-JWT) tokens to the issuer's
	// RFC 7662 endpoint. Without it, opaque tokens are refused.
	Introspection *IntrospectionConfig
	// Realm is the realm of WWW-Authenticate challenges (RFC 6750 §3); default
	// Audience.
	Realm string
}

// Verifier checks JusticeConnect access tokens (RFC 9068). It is safe for
// concurrent use; build one per API and keep it.
type Verifier struct {
	issuer   string
	audience string
	realm    string
	now      func() time.Time
	leeway   time.Duration
	algs     []jose.SignatureAlgorithm
	keys     *keySet
	intro    *introspector
	noRoots  *x509.CertPool
}

// allowedAlgorithms are the asymmetric JWS algorithms of RFC 7518 §3.1 and
// RFC 8037 that a Verifier may be configured with.
var allowedAlgorithms = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512,
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.EdDSA,
}

// NewVerifier checks cfg and returns a Verifier. It does not fetch the JWKS:
// the first token does.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	var problems []string
	if err := checkIssuerURL(cfg.Issuer); err != nil {
		problems = append(problems, "Issuer: "+err.Error())
	}
	if cfg.Audience == "" {
		problems = append(problems, "Audience: required")
	}
	jwksURL := cfg.JWKSURL
	if jwksURL == "" {
		jwksURL = strings.TrimSuffix(cfg.Issuer, "/") + "/jwks"
	} else if err := checkIssuerURL(jwksURL); err != nil {
		problems = append(problems, "JWKSURL: "+err.Error())
	}
	algNames := cfg.Algorithms
	if len(algNames) == 0 {
		algNames = []string{string(jose.ES256), string(jose.RS256), string(jose.PS256)}
	}
	var algs []jose.SignatureAlgorithm
	for _, a := range algNames {
		if !slices.Contains(allowedAlgorithms, jose.SignatureAlgorithm(a)) {
			problems = append(problems, fmt.Sprintf("Algorithms: %q not allowed (asymmetric JWS algorithms only)", a))
			continue
		}
		if !slices.Contains(algs, jose.SignatureAlgorithm(a)) {
			algs = append(algs, jose.SignatureAlgorithm(a))
		}
	}
	var intro *introspector
	if cfg.Introspection != nil {
		var err error
		if intro, err = newIntrospector(*cfg.Introspection); err != nil {
			problems = append(problems, "Introspection: "+err.Error())
		}
	}
	if cfg.RefreshMinInterval < 0 || cfg.CacheTTL < 0 {
		problems = append(problems, "RefreshMinInterval, CacheTTL: must not be negative")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("claims: invalid verifier config: %s", strings.Join(problems, "; "))
	}

	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: defaultFetchTimeout}
	}
	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0:
		leeway = 0
	}
	realm := cfg.Realm
	if realm == "" {
		realm = cfg.Audience
	}
	v := &Verifier{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		realm:    realm,
		now:      now,
		leeway:   leeway,
		algs:     algs,
		keys: &keySet{
			url:          jwksURL,
			client:       client,
			now:          now,
			ttl:          orDefault(cfg.CacheTTL, DefaultCacheTTL),
			minInterval:  orDefault(cfg.RefreshMinInterval, DefaultRefreshMinInterval),
			fetchTimeout: defaultFetchTimeout,
		},
		noRoots: x509.NewCertPool(),
	}
	if intro != nil {
		intro.client, intro.now = client, now
		v.intro = intro
	}
	return v, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// checkIssuerURL requires an absolute https URL without query or fragment
// (OpenID Connect Discovery §3), allowing http on a loopback host.
func checkIssuerURL(s string) error {
	if s == "" {
		return errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q must be an absolute URL without query, fragment or user info", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h).IsLoopback() {
			return nil
		}
	}
	return fmt.Errorf("%q must use https (http only on a loopback host)", s)
}

// Verify checks token and returns its claims. A compact JWS goes through the
// RFC 9068 §4 checks; an opaque token goes to introspection when configured.
// Refusals of the token match ErrInvalidToken (and a precise sentinel);
// failures to reach the issuer match ErrKeySetUnavailable or
// ErrIntrospectionUnavailable. The returned Claims are the caller's.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if token == "" {
		return nil, invalid(ErrMalformed, "empty token")
	}
	if len(token) > MaxTokenLength {
		return nil, invalid(ErrMalformed, "token too long")
	}
	// Counting dots first rejects a token made of thousands of segments in
	// linear time, before any decoding (GO-2025-3485, SECURITY.md K3).
	switch strings.Count(token, ".") {
	case 2:
		return v.verifyJWT(ctx, token)
	case 4:
		return nil, invalid(ErrMalformed, "encrypted tokens (JWE) are not accepted")
	case 0, 1:
		if v.intro != nil && len(token) <= maxOpaqueLength {
			return v.introspect(ctx, token)
		}
		return nil, invalid(ErrMalformed, "not a compact JWS")
	}
	return nil, invalid(ErrMalformed, "not a compact JWS")
}

func (v *Verifier) verifyJWT(ctx context.Context, token string) (*Claims, error) {
	// Compact serialization only (RFC 9068 §2.1 tokens are JWTs, RFC 7519 §7.2);
	// go-jose refuses any alg outside the allow-list before reading the rest
	// of the header.
	jws, err := jose.ParseSignedCompact(token, v.algs)
	if err != nil {
		var algErr *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &algErr) {
			return nil, invalidCause(ErrAlgorithm, "", err)
		}
		return nil, invalidCause(ErrMalformed, "", err)
	}
	h := &jws.Signatures[0].Protected

	// RFC 9068 §4 step 1 and §2.1: typ must be "at+jwt" (or the full media type
	// "application/at+jwt", RFC 7515 §4.1.9), compared case-insensitively
	// (RFC 2045 §5.1). This refuses ID tokens (typ JWT or absent) used as
	// access tokens (RFC 8725 §3.11).
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, invalid(ErrWrongType, fmt.Sprintf("typ %q, want at+jwt", typ))
	}
	// Keys come only from the issuer's JWKS. A token that points at its own key
	// (jwk, jku, x5u, x5c; RFC 7515 §4.1.2-4.1.6) is refused outright rather than
	// ignored: nothing we issue carries them (SECURITY.md K5).
	if h.JSONWebKey != nil {
		return nil, invalid(ErrHeader, "embedded jwk")
	}
	for _, name := range [...]jose.HeaderKey{"jku", "x5u", "x5t", "x5t#S256"} {
		if _, ok := h.ExtraHeaders[name]; ok {
			return nil, invalid(ErrHeader, string(name))
		}
	}
	// Certificates reports ErrMissingX5cHeader without doing anything else when
	// there is no x5c; with one, the empty root pool makes it fail fast.
	if _, err := h.Certificates(x509.VerifyOptions{Roots: v.noRoots}); !errors.Is(err, jose.ErrMissingX5cHeader) {
		return nil, invalid(ErrHeader, "x5c")
	}
	if h.KeyID == "" {
		return nil, invalid(ErrUnknownKey, "no kid in header")
	}
	key, err := v.keys.key(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return nil, err
	}
	payload, err := jws.Verify(key.key)
	if err != nil {
		return nil, invalidCause(ErrSignature, "", err)
	}
	c := new(Claims)
	if err := c.decode(payload); err != nil {
		return nil, invalidCause(ErrMalformed, "", err)
	}
	if err := v.checkJWTClaims(c); err != nil {
		return nil, err
	}
	return c, nil
}

// checkJWTClaims applies RFC 9068 §4 steps 3-5 and the RFC 7519 §4.1 time rules.
func (v *Verifier) checkJWTClaims(c *Claims) error {
	if c.Issuer != v.issuer {
		return invalid(ErrWrongIssuer, fmt.Sprintf("iss %q", c.Issuer))
	}
	if !slices.Contains(c.Audience, v.audience) {
		return invalid(ErrWrongAudience, fmt.Sprintf("aud %q does not contain %q", c.Audience, v.audience))
	}
	// RFC 9068 §2.2 makes these REQUIRED. exp matters most: go-jose and many
	// libraries skip a missing exp, which would make the token eternal
	// (SECURITY.md K7).
	switch {
	case c.Expiry == nil:
		return invalid(ErrMissingClaim, "exp")
	case c.IssuedAt == nil:
		return invalid(ErrMissingClaim, "iat")
	case c.Subject == "":
		return invalid(ErrMissingClaim, "sub")
	case c.ClientID == "":
		return invalid(ErrMissingClaim, "client_id")
	case c.JTI == "":
		return invalid(ErrMissingClaim, "jti")
	}
	return v.checkTimes(c)
}

// checkTimes applies RFC 7519 §4.1.4 (now must be before exp), §4.1.5 (not
// before nbf) and refuses an iat in the future, each with the leeway.
func (v *Verifier) checkTimes(c *Claims) error {
	now := v.now().Unix()
	lw := int64(v.leeway / time.Second)
	if c.Expiry != nil && now >= int64(*c.Expiry)+lw {
		return invalid(ErrExpired, fmt.Sprintf("exp %s", c.Expiry.Time().Format(time.RFC3339)))
	}
	if c.NotBefore != nil && now+lw < int64(*c.NotBefore) {
		return invalid(ErrNotYetValid, fmt.Sprintf("nbf %s", c.NotBefore.Time().Format(time.RFC3339)))
	}
	if c.IssuedAt != nil && now+lw < int64(*c.IssuedAt) {
		return invalid(ErrNotYetValid, fmt.Sprintf("iat %s is in the future", c.IssuedAt.Time().Format(time.RFC3339)))
	}
	return nil
}

// Issuer returns the configured issuer.
func (v *Verifier) Issuer() string { return v.issuer }

// Audience returns the configured audience.
func (v *Verifier) Audience() string { return v.audience }
