package oidc

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Client authentication methods at the token endpoint (OIDC Core §9).
const (
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// Where the identity's claims come from.
const (
	// ClaimsIDToken uses the ID token's claims only.
	ClaimsIDToken = "id_token"
	// ClaimsUserinfo uses the userinfo response, after the ID token's sub.
	ClaimsUserinfo = "userinfo"
	// ClaimsBoth merges the ID token's claims with userinfo's (userinfo wins).
	ClaimsBoth = "both"
)

// Defaults applied by New.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultClaimsSource = ClaimsBoth
	maxTimeout          = 2 * time.Minute
)

// DefaultScopes are requested when Config.Scopes is empty.
var DefaultScopes = []string{"openid", "profile", "email"}

// DefaultAllowedAlgs are the ID token signature algorithms accepted by default.
var DefaultAllowedAlgs = []string{"RS256", "ES256", "PS256"}

// asymmetricAlgs are the only algorithms that may be allowed. none and the HMAC
// algorithms are absent on purpose: an HS256 token keyed with the client secret (or a
// public key) would let anyone holding it mint identities (OIDC Core §10.1, K6).
var asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Config is the provider's settings block (providers[].settings), decoded strictly.
type Config struct {
	// Issuer is the upstream's issuer identifier, compared exactly (no trailing-slash
	// tolerance) with the discovery document, the authorization response's iss and
	// the ID token's iss. Discovery is read from Issuer + "/.well-known/openid-configuration".
	Issuer string `yaml:"issuer"`
	// ClientID is the broker's client_id at the upstream.
	ClientID string `yaml:"client_id"`
	// ClientSecretFile or ClientSecretEnv holds the client secret (one of them for the
	// client_secret_* methods; neither for private_key_jwt). Never inline.
	ClientSecretFile string `yaml:"client_secret_file"`
	ClientSecretEnv  string `yaml:"client_secret_env"`
	// AuthMethod is client_secret_basic (default), client_secret_post or private_key_jwt.
	AuthMethod string `yaml:"auth_method"`
	// PrivateKeyFile is the PEM private key (RSA, P-256, P-384 or Ed25519) signing
	// the client assertion of private_key_jwt (RFC 7523).
	PrivateKeyFile string `yaml:"private_key_file"`
	// Scopes requested; must include openid. Default: openid profile email.
	Scopes []string `yaml:"scopes"`
	// ClaimsSource is id_token, userinfo or both (default). Signed userinfo
	// (application/jwt) is accepted and verified like an ID token.
	ClaimsSource string `yaml:"claims_source"`
	// AllowedAlgs are the accepted JWS algorithms (default RS256, ES256, PS256).
	// none and HS* are refused.
	AllowedAlgs []string `yaml:"allowed_algs"`
	// Timeout bounds each request to the upstream (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// InsecureAllowHTTP accepts an http:// issuer and endpoints on a loopback address,
	// for tests only. It logs a warning at start.
	InsecureAllowHTTP bool `yaml:"insecure_allow_http"`
}

func (c Config) authMethod() string {
	if c.AuthMethod == "" {
		return AuthClientSecretBasic
	}
	return c.AuthMethod
}

func (c Config) scopes() []string {
	if len(c.Scopes) == 0 {
		return DefaultScopes
	}
	return c.Scopes
}

func (c Config) claimsSource() string {
	if c.ClaimsSource == "" {
		return DefaultClaimsSource
	}
	return c.ClaimsSource
}

func (c Config) allowedAlgs() []string {
	if len(c.AllowedAlgs) == 0 {
		return DefaultAllowedAlgs
	}
	return c.AllowedAlgs
}

func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// Validate lists every problem of the settings, with paths relative to settings.
func (c Config) Validate() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if strings.TrimSpace(c.Issuer) == "" {
		add("issuer: required (the upstream's issuer identifier, an https URL)")
	} else if msg := checkURL(c.Issuer, c.InsecureAllowHTTP); msg != "" {
		add("issuer: %s", msg)
	} else if u, _ := url.Parse(c.Issuer); u.RawQuery != "" || u.Fragment != "" {
		add("issuer: must not have a query or fragment (OpenID Connect Discovery §2)")
	}
	if c.InsecureAllowHTTP && c.Issuer != "" {
		if u, err := url.Parse(c.Issuer); err == nil && !isLoopback(u.Hostname()) {
			add("insecure_allow_http: only for an issuer on a loopback address (tests)")
		}
	}
	if strings.TrimSpace(c.ClientID) == "" {
		add("client_id: required")
	}
	switch c.authMethod() {
	case AuthClientSecretBasic, AuthClientSecretPost:
		switch {
		case c.ClientSecretFile == "" && c.ClientSecretEnv == "":
			add("client_secret_file: one of client_secret_file or client_secret_env is required with %s", c.authMethod())
		case c.ClientSecretFile != "" && c.ClientSecretEnv != "":
			add("client_secret_env: set client_secret_file or client_secret_env, not both")
		}
		if c.PrivateKeyFile != "" {
			add("private_key_file: only with auth_method private_key_jwt")
		}
	case AuthPrivateKeyJWT:
		if c.PrivateKeyFile == "" {
			add("private_key_file: required with auth_method private_key_jwt")
		}
		if c.ClientSecretFile != "" || c.ClientSecretEnv != "" {
			add("client_secret_file: no client secret with auth_method private_key_jwt")
		}
	default:
		add("auth_method: %q is not one of client_secret_basic, client_secret_post, private_key_jwt", c.AuthMethod)
	}
	if len(c.Scopes) > 0 {
		if !slices.Contains(c.Scopes, "openid") {
			add("scopes: must include openid")
		}
		for i, s := range c.Scopes {
			if s == "" || strings.ContainsAny(s, " \"\\") {
				add("scopes[%d]: %q is not a scope token (RFC 6749 §3.3)", i, s)
			}
		}
	}
	switch c.claimsSource() {
	case ClaimsIDToken, ClaimsUserinfo, ClaimsBoth:
	default:
		add("claims_source: %q is not one of id_token, userinfo, both", c.ClaimsSource)
	}
	for i, alg := range c.AllowedAlgs {
		switch {
		case strings.EqualFold(alg, "none") || strings.HasPrefix(strings.ToUpper(alg), "HS"):
			add("allowed_algs[%d]: %q is never accepted (unsigned or symmetric; OIDC Core §10.1)", i, alg)
		case !slices.Contains(asymmetricAlgs, alg):
			add("allowed_algs[%d]: %q is not one of %s", i, alg, strings.Join(asymmetricAlgs, ", "))
		}
	}
	if c.Timeout < 0 || c.Timeout > maxTimeout {
		add("timeout: between 1ms and %v (0 means %v)", maxTimeout, DefaultTimeout)
	}
	return problems
}

// checkURL accepts https URLs, and http ones on a loopback host when insecure.
func checkURL(s string, insecure bool) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "must be an absolute URL"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if insecure && isLoopback(u.Hostname()) {
			return ""
		}
		return "must use https (http only with insecure_allow_http on a loopback address)"
	default:
		return "must use https"
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
