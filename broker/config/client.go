package config

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v3" // fosite's client interface uses v3 key sets
	"golang.org/x/crypto/bcrypt"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/claims"
)

// Client settings' values.
const (
	KindFirstParty = storage.ClientFirstParty
	KindPartner    = storage.ClientPartner

	SubjectPublic   = "public"
	SubjectPairwise = "pairwise"

	AuthSecretBasic   = "client_secret_basic"
	AuthSecretPost    = "client_secret_post"
	AuthPrivateKeyJWT = "private_key_jwt"
	AuthNone          = "none"

	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
)

var (
	// AuthMethods are the token endpoint authentication methods a client may use.
	AuthMethods = []string{AuthSecretBasic, AuthSecretPost, AuthPrivateKeyJWT, AuthNone}
	// GrantTypes are the grants a client may use.
	GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials, GrantTokenExchange}

	clientIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{3,64}$`)
)

// MinBcryptCost is the lowest bcrypt cost accepted for a client secret hash.
const MinBcryptCost = 10

// ClientConfig declares an OAuth client. A client declared here is written to the
// store at every start (Source "config").
type ClientConfig struct {
	ClientID     string `yaml:"client_id"`
	Name         string `yaml:"name"`
	Organization string `yaml:"organization"`
	// Kind is partner (default: consent page, pairwise sub) or first_party.
	Kind string `yaml:"kind"`
	// Secret is the clear secret's location; SecretHash a bcrypt hash instead.
	Secret     Secret `yaml:"secret"`
	SecretHash string `yaml:"secret_hash"`
	// TokenEndpointAuthMethod defaults to client_secret_basic; none is for public
	// clients (PKCE only).
	TokenEndpointAuthMethod     string   `yaml:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg string   `yaml:"token_endpoint_auth_signing_alg"`
	JWKSFile                    string   `yaml:"jwks_file"`
	RedirectURIs                []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs      []string `yaml:"post_logout_redirect_uris"`
	GrantTypes                  []string `yaml:"grant_types"`
	Scopes                      []string `yaml:"scopes"`
	// Audience lists the APIs (absolute URLs) this client may ask tokens for.
	Audience                  []string `yaml:"audience"`
	IDTokenSignedResponseAlg  string   `yaml:"id_token_signed_response_alg"`
	UserinfoSignedResponseAlg string   `yaml:"userinfo_signed_response_alg"`
	// SubjectType defaults to pairwise for partners and public for first parties.
	SubjectType           string   `yaml:"subject_type"`
	SectorIdentifier      string   `yaml:"sector_identifier"`
	BackchannelLogoutURI  string   `yaml:"backchannel_logout_uri"`
	FrontchannelLogoutURI string   `yaml:"frontchannel_logout_uri"`
	AccessTokenLifetime   Duration `yaml:"access_token_lifetime"`
	RefreshTokenLifetime  Duration `yaml:"refresh_token_lifetime"`
	AllowedProviders      []string `yaml:"allowed_providers"`
	AllowedProfessions    []string `yaml:"allowed_professions"`
	// ExchangeSubjectTokens lists what RFC 8693 token exchange accepts from this
	// client as subject_token beyond the broker's own access tokens: "id_token" (the
	// broker's ID tokens issued to this first-party client) and "upstream:<provider
	// id>" (tokens an upstream OpenID provider issued to the broker).
	ExchangeSubjectTokens []string `yaml:"exchange_subject_tokens"`
}

// ApplyClientDefaults fills the settings left empty: kind, authentication method,
// grant types, ID token algorithm and subject type.
func ApplyClientDefaults(cl *ClientConfig) {
	if cl.Kind == "" {
		cl.Kind = KindPartner
	}
	if cl.TokenEndpointAuthMethod == "" {
		cl.TokenEndpointAuthMethod = AuthSecretBasic
	}
	if len(cl.GrantTypes) == 0 {
		cl.GrantTypes = []string{GrantAuthorizationCode, GrantRefreshToken}
	}
	if cl.IDTokenSignedResponseAlg == "" {
		cl.IDTokenSignedResponseAlg = "ES256"
	}
	if cl.SubjectType == "" {
		cl.SubjectType = SubjectPairwise
		if cl.Kind == KindFirstParty {
			cl.SubjectType = SubjectPublic
		}
	}
}

// ValidateClient checks one client declaration (defaults applied) against the
// rules of the file and the rest of c (scopes, providers, signing algorithms).
// Paths start with path ("clients[1]"; "" for a client on its own, as the clients
// command does). Uniqueness of the client_id is the caller's business.
func (c *Config) ValidateClient(cl ClientConfig, path string) []Problem {
	p := &Problems{}
	at := func(key string) string { return join(path, key) }
	if !clientIDRE.MatchString(cl.ClientID) {
		p.add(at("client_id"), "%q: 3 to 64 letters, digits, . _ -", cl.ClientID)
	}
	if strings.TrimSpace(cl.Name) == "" {
		p.add(at("name"), "required: shown on the consent page")
	}
	if cl.Kind != KindPartner && cl.Kind != KindFirstParty {
		p.add(at("kind"), "must be partner or first_party, not %q", cl.Kind)
	}

	method := cl.TokenEndpointAuthMethod
	if !slices.Contains(AuthMethods, method) {
		p.add(at("token_endpoint_auth_method"), "must be one of %s, not %q", strings.Join(AuthMethods, ", "), method)
	}
	usesSecret := method == AuthSecretBasic || method == AuthSecretPost
	switch {
	case cl.Secret.IsSet() && cl.SecretHash != "":
		p.add(at("secret"), "give either secret or secret_hash, not both")
	case usesSecret && !cl.Secret.IsSet() && cl.SecretHash == "":
		p.add(at("secret"), "required with %s: {file: PATH}, {env: NAME} or secret_hash", method)
	case !usesSecret && cl.Secret.IsSet():
		p.add(at("secret"), "not used with token_endpoint_auth_method %s", method)
	case !usesSecret && cl.SecretHash != "":
		p.add(at("secret_hash"), "not used with token_endpoint_auth_method %s", method)
	}
	checkSecret(p, at("secret"), cl.Secret, false)
	if cl.SecretHash != "" {
		if msg := checkBcrypt(cl.SecretHash); msg != "" {
			p.add(at("secret_hash"), "%s", msg)
		}
	}
	if method == AuthNone {
		for j, g := range cl.GrantTypes {
			if g == GrantClientCredentials || g == GrantTokenExchange {
				p.add(index(at("grant_types"), j), "%q needs an authenticated client, not token_endpoint_auth_method none", g)
			}
		}
	}
	if method == AuthPrivateKeyJWT {
		if cl.JWKSFile == "" {
			p.add(at("jwks_file"), "required with private_key_jwt: the client's public keys (JWKS)")
		}
		if a := cl.TokenEndpointAuthSigningAlg; a != "" && !slices.Contains(Algorithms, a) {
			p.add(at("token_endpoint_auth_signing_alg"), "must be one of %s, not %q", strings.Join(Algorithms, ", "), a)
		}
	} else {
		if cl.JWKSFile != "" {
			p.add(at("jwks_file"), "only used with private_key_jwt")
		}
		if cl.TokenEndpointAuthSigningAlg != "" {
			p.add(at("token_endpoint_auth_signing_alg"), "only used with private_key_jwt")
		}
	}

	for j, g := range cl.GrantTypes {
		switch {
		case !slices.Contains(GrantTypes, g):
			p.add(index(at("grant_types"), j), "%q is not supported (%s)", g, strings.Join(GrantTypes, ", "))
		case slices.Contains(cl.GrantTypes[:j], g):
			p.add(index(at("grant_types"), j), "duplicate %q", g)
		}
	}
	if slices.Contains(cl.GrantTypes, GrantAuthorizationCode) && len(cl.RedirectURIs) == 0 {
		p.add(at("redirect_uris"), "required with the authorization_code grant")
	}
	for j, u := range cl.RedirectURIs {
		if msg := CheckRedirectURI(u); msg != "" {
			p.add(index(at("redirect_uris"), j), "%s", msg)
		}
	}
	for j, u := range cl.PostLogoutRedirectURIs {
		if msg := CheckRedirectURI(u); msg != "" {
			p.add(index(at("post_logout_redirect_uris"), j), "%s", msg)
		}
	}
	for _, f := range []struct{ key, v string }{{"backchannel_logout_uri", cl.BackchannelLogoutURI}, {"frontchannel_logout_uri", cl.FrontchannelLogoutURI}} {
		if f.v != "" {
			if msg := CheckRedirectURI(f.v); msg != "" {
				p.add(at(f.key), "%s", msg)
			}
		}
	}

	if len(cl.Scopes) == 0 {
		p.add(at("scopes"), "at least one scope is required")
	}
	for j, s := range cl.Scopes {
		if !slices.Contains(claims.SupportedScopes(), s) && !slices.Contains(c.APIScopes, s) {
			p.add(index(at("scopes"), j), "%q is not a supported scope nor one of api_scopes", s)
		}
	}
	for j, a := range cl.Audience {
		if u, err := url.Parse(a); err != nil || !u.IsAbs() || u.Host == "" {
			p.add(index(at("audience"), j), "%q must be an absolute URL identifying an API", a)
		}
	}

	for _, f := range []struct{ key, v string }{{"id_token_signed_response_alg", cl.IDTokenSignedResponseAlg}, {"userinfo_signed_response_alg", cl.UserinfoSignedResponseAlg}} {
		switch {
		case f.v == "":
		case !slices.Contains(Algorithms, f.v):
			p.add(at(f.key), "must be one of %s (never none), not %q", strings.Join(Algorithms, ", "), f.v)
		case !slices.Contains(c.Keys.Algorithms, f.v):
			p.add(at(f.key), "%s has no signing key: add it to keys.algorithms", f.v)
		}
	}
	if cl.SubjectType != SubjectPublic && cl.SubjectType != SubjectPairwise {
		p.add(at("subject_type"), "must be public or pairwise, not %q", cl.SubjectType)
	}

	access := time.Duration(cl.AccessTokenLifetime)
	if access != 0 && (access < time.Minute || access > time.Hour) {
		p.add(at("access_token_lifetime"), "must be between 1m and 1h, not %v", short(access))
	}
	if access == 0 {
		access = time.Duration(c.Tokens.AccessTokenLifetime)
	}
	if r := time.Duration(cl.RefreshTokenLifetime); r < 0 || (r != 0 && r < access) {
		p.add(at("refresh_token_lifetime"), "must not be shorter than the access token lifetime (%v)", short(access))
	}

	for j, id := range cl.AllowedProviders {
		if !slices.ContainsFunc(c.Providers, func(pr ProviderConfig) bool { return pr.ID == id }) {
			p.add(index(at("allowed_providers"), j), "%q is not a configured provider", id)
		}
	}
	for j, prof := range cl.AllowedProfessions {
		if _, ok := claims.ParseProfession(prof); !ok {
			p.add(index(at("allowed_professions"), j), "%q is not a known profession (%s)", prof, professionList())
		}
	}
	c.checkExchangeSubjects(p, cl, at("exchange_subject_tokens"))
	return p.List
}

// checkExchangeSubjects checks exchange_subject_tokens: token exchange must be
// granted, ID tokens are traded by first parties only (a partner's ID token carries
// a pairwise sub and consented claims meant for that partner alone), and an
// upstream must be a configured OpenID provider, the only type that verifies tokens.
func (c *Config) checkExchangeSubjects(p *Problems, cl ClientConfig, path string) {
	if len(cl.ExchangeSubjectTokens) > 0 && !slices.Contains(cl.GrantTypes, GrantTokenExchange) {
		p.add(path, "needs %q in grant_types", GrantTokenExchange)
	}
	for j, v := range cl.ExchangeSubjectTokens {
		at := index(path, j)
		switch id, upstream := strings.CutPrefix(v, storage.ExchangeUpstreamPrefix); {
		case v == storage.ExchangeIDToken:
			if cl.Kind != KindFirstParty {
				p.add(at, "%q is for first_party clients only", v)
			}
		case upstream:
			i := slices.IndexFunc(c.Providers, func(pr ProviderConfig) bool { return pr.ID == id })
			switch {
			case i < 0:
				p.add(at, "%q is not a configured provider", id)
			case c.Providers[i].Type != "oidc":
				p.add(at, "provider %q is of type %s; only oidc providers verify tokens", id, c.Providers[i].Type)
			}
		default:
			p.add(at, "%q: use %s or %s<provider id>", v, storage.ExchangeIDToken, storage.ExchangeUpstreamPrefix)
		}
	}
}

// checkBcrypt accepts a $2a$ or $2b$ bcrypt hash of cost MinBcryptCost or more.
func checkBcrypt(hash string) string {
	if !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") {
		return "must be a bcrypt hash ($2a$ or $2b$)"
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return "is not a well-formed bcrypt hash"
	}
	if cost < MinBcryptCost {
		return fmt.Sprintf("bcrypt cost %d is too low (at least %d)", cost, MinBcryptCost)
	}
	return ""
}

// CheckRedirectURI applies the rules for redirect and logout URIs and returns
// what is wrong, or "". They are compared exactly, so: absolute, no fragment
// (RFC 6749 §3.1.2), no wildcard; https, or plain http on a loopback IP literal
// (127.0.0.1 or [::1]) for native apps (RFC 8252 §7.3, RFC 9700 §2.1).
func CheckRedirectURI(raw string) string {
	const mustHTTPS = "must be an absolute https URL (loopback http allowed)"
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return mustHTTPS
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "must not contain a fragment (RFC 6749 §3.1.2)"
	case strings.Contains(raw, "*"):
		return "must not contain a wildcard: redirect URIs are compared exactly"
	case u.User != nil:
		return "must not contain a user name or password"
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http":
		if h := u.Hostname(); h == "127.0.0.1" || h == "::1" {
			return ""
		}
	}
	return mustHTTPS
}

// ToStorageClient turns a declaration into the stored client (Source "config"):
// the defaults are applied, a clear secret is read and hashed with hashSecret
// (bcrypt), and jwks_file is read, public keys only. It does not validate:
// Parse did.
func ToStorageClient(cc ClientConfig, hashSecret func([]byte) ([]byte, error)) (*storage.Client, error) {
	ApplyClientDefaults(&cc)
	c := &storage.Client{
		ID: cc.ClientID, Name: cc.Name, Organization: cc.Organization, Kind: cc.Kind,
		Public:                      cc.TokenEndpointAuthMethod == AuthNone,
		RedirectURIs:                slices.Clone(cc.RedirectURIs),
		PostLogoutRedirectURIs:      slices.Clone(cc.PostLogoutRedirectURIs),
		GrantTypes:                  slices.Clone(cc.GrantTypes),
		Scopes:                      slices.Clone(cc.Scopes),
		Audience:                    slices.Clone(cc.Audience),
		TokenEndpointAuthMethod:     cc.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg: cc.TokenEndpointAuthSigningAlg,
		IDTokenSignedResponseAlg:    cc.IDTokenSignedResponseAlg,
		UserinfoSignedResponseAlg:   cc.UserinfoSignedResponseAlg,
		SubjectType:                 cc.SubjectType,
		SectorIdentifier:            cc.SectorIdentifier,
		BackchannelLogoutURI:        cc.BackchannelLogoutURI,
		// The logout token carries sid whenever the broker has one (OIDC BCL §2.4).
		BackchannelLogoutSessionRequired: cc.BackchannelLogoutURI != "",
		FrontchannelLogoutURI:            cc.FrontchannelLogoutURI,
		AccessTokenLifespan:              time.Duration(cc.AccessTokenLifetime),
		RefreshTokenLifespan:             time.Duration(cc.RefreshTokenLifetime),
		AllowedProviders:                 slices.Clone(cc.AllowedProviders),
		AllowedProfessions:               slices.Clone(cc.AllowedProfessions),
		ExchangeSubjectTokens:            slices.Clone(cc.ExchangeSubjectTokens),
		Source:                           "config",
	}
	switch {
	case cc.SecretHash != "":
		c.SecretHash = []byte(cc.SecretHash)
	case cc.Secret.IsSet():
		secret, err := cc.Secret.Read()
		if err != nil {
			return nil, fmt.Errorf("secret: %w", err)
		}
		if c.SecretHash, err = hashSecret(secret); err != nil {
			return nil, fmt.Errorf("hash secret: %w", err)
		}
	}
	if cc.JWKSFile != "" {
		set, err := ReadJWKS(cc.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("jwks_file: %w", err)
		}
		c.JWKS = set
	}
	return c, nil
}

// ReadJWKS reads a client's key set: JSON, at least one key, public keys only (a
// private member means the client leaked its key to us).
func ReadJWKS(path string) (*jose.JSONWebKeySet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("%s: not a JWK set: %w", path, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("%s: no key", path)
	}
	for i, k := range set.Keys {
		if !k.IsPublic() {
			return nil, fmt.Errorf("%s: key %d (kid %q) holds private material: give public keys only", path, i, k.KeyID)
		}
		if !k.Valid() {
			return nil, fmt.Errorf("%s: key %d (kid %q) is not a valid key", path, i, k.KeyID)
		}
	}
	return &set, nil
}
