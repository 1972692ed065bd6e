package storage

import (
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v3" // fosite v0.49.0's client interfaces use v3 types
	"github.com/ory/fosite"
)

// Client kinds. First-party (ministry) clients skip the consent page and may receive
// the public sub; partner clients get consent and a pairwise sub by default.
const (
	ClientFirstParty = "first_party"
	ClientPartner    = "partner"
)

// Client is an OAuth 2.0 / OpenID Connect client of the broker. It implements
// fosite's client interfaces; the JSON form is what the stores keep.
type Client struct {
	ID   string `json:"client_id"`
	Name string `json:"name"`
	// Organization is the organisation shown on the consent page ("Plateforme de
	// médiation X").
	Organization string `json:"organization,omitempty"`
	Kind         string `json:"kind"`
	// SecretHash is the bcrypt hash of the secret; RotatedSecretHashes are previous
	// secrets still accepted during a rotation.
	SecretHash          []byte   `json:"secret_hash,omitempty"`
	RotatedSecretHashes [][]byte `json:"rotated_secret_hashes,omitempty"`
	Public              bool     `json:"public,omitempty"`

	RedirectURIs           []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes             []string `json:"grant_types"`
	Scopes                 []string `json:"scopes"`
	// Audience lists the APIs this client may ask tokens for (resource/audience).
	Audience []string `json:"audience,omitempty"`

	// TokenEndpointAuthMethod: client_secret_basic, client_secret_post,
	// private_key_jwt, or none (public).
	TokenEndpointAuthMethod     string              `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg string              `json:"token_endpoint_auth_signing_alg,omitempty"`
	JWKS                        *jose.JSONWebKeySet `json:"jwks,omitempty"`
	JWKSURI                     string              `json:"jwks_uri,omitempty"`

	IDTokenSignedResponseAlg  string `json:"id_token_signed_response_alg,omitempty"`
	UserinfoSignedResponseAlg string `json:"userinfo_signed_response_alg,omitempty"`
	// SubjectType is "public" or "pairwise"; SectorIdentifier groups clients that
	// share pairwise subjects (defaults to the redirect URIs' host).
	SubjectType      string `json:"subject_type"`
	SectorIdentifier string `json:"sector_identifier,omitempty"`

	BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required,omitempty"`
	FrontchannelLogoutURI            string `json:"frontchannel_logout_uri,omitempty"`

	// AccessTokenLifespan and RefreshTokenLifespan override the broker's defaults
	// when non-zero.
	AccessTokenLifespan  time.Duration `json:"access_token_lifespan,omitempty"`
	RefreshTokenLifespan time.Duration `json:"refresh_token_lifespan,omitempty"`

	// AllowedProviders limits the upstreams this client's users may use (empty: all).
	AllowedProviders []string `json:"allowed_providers,omitempty"`
	// AllowedProfessions limits the population admitted (empty: everyone).
	AllowedProfessions []string `json:"allowed_professions,omitempty"`
	// ExchangeSubjectTokens lists the subject tokens token exchange accepts from this
	// client beyond the broker's own access tokens: ExchangeIDToken and
	// ExchangeUpstreamPrefix+provider ID.
	ExchangeSubjectTokens []string `json:"exchange_subject_tokens,omitempty"`

	// Source says where the client was declared: "config" (synced at start) or
	// "cli" (justiceconnect clients add).
	Source    string    `json:"source"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Values of Client.ExchangeSubjectTokens.
const (
	ExchangeIDToken        = "id_token"
	ExchangeUpstreamPrefix = "upstream:"
)

var (
	_ fosite.Client                         = (*Client)(nil)
	_ fosite.ClientWithSecretRotation       = (*Client)(nil)
	_ fosite.OpenIDConnectClient            = (*Client)(nil)
	_ fosite.ResponseModeClient             = (*Client)(nil)
	_ fosite.ClientWithCustomTokenLifespans = (*Client)(nil)
)

func (c *Client) GetID() string                   { return c.ID }
func (c *Client) GetHashedSecret() []byte         { return c.SecretHash }
func (c *Client) GetRotatedHashes() [][]byte      { return c.RotatedSecretHashes }
func (c *Client) GetRedirectURIs() []string       { return c.RedirectURIs }
func (c *Client) GetGrantTypes() fosite.Arguments { return c.GrantTypes }

// GetResponseTypes is always "code": the broker serves the code flow only (RFC 9700
// §2.1.2 advises against implicit and hybrid).
func (c *Client) GetResponseTypes() fosite.Arguments { return fosite.Arguments{"code"} }
func (c *Client) GetScopes() fosite.Arguments        { return c.Scopes }
func (c *Client) IsPublic() bool                     { return c.Public }
func (c *Client) GetAudience() fosite.Arguments      { return c.Audience }

// GetRequestURIs is empty: request_uri is not supported, so nothing is ever fetched
// on a client's behalf (SSRF guard, OIDC 6.2).
func (c *Client) GetRequestURIs() []string                 { return nil }
func (c *Client) GetJSONWebKeys() *jose.JSONWebKeySet      { return c.JWKS }
func (c *Client) GetJSONWebKeysURI() string                { return c.JWKSURI }
func (c *Client) GetRequestObjectSigningAlgorithm() string { return "" }
func (c *Client) GetTokenEndpointAuthMethod() string       { return c.TokenEndpointAuthMethod }

// GetTokenEndpointAuthSigningAlgorithm defaults to ES256 for private_key_jwt.
func (c *Client) GetTokenEndpointAuthSigningAlgorithm() string {
	if c.TokenEndpointAuthSigningAlg == "" {
		return "ES256"
	}
	return c.TokenEndpointAuthSigningAlg
}

// GetResponseModes allows the query response mode only: fosite's form_post page
// needs an inline script that the broker's Content-Security-Policy forbids, and the
// fragment mode belongs to the implicit flows the broker does not serve.
func (c *Client) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery}
}

// GetEffectiveLifespan applies the client's overrides to fosite's defaults.
func (c *Client) GetEffectiveLifespan(gt fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	switch {
	case tt == fosite.AccessToken && c.AccessTokenLifespan > 0:
		return c.AccessTokenLifespan
	case tt == fosite.RefreshToken && c.RefreshTokenLifespan > 0:
		return c.RefreshTokenLifespan
	}
	return fallback
}

// IsPartner reports whether the client is a third party (consent, pairwise sub).
func (c *Client) IsPartner() bool { return c.Kind != ClientFirstParty }

// AllowsProvider reports whether this client's users may come through the
// provider with that ID (AllowedProviders; empty allows all).
func (c *Client) AllowsProvider(id string) bool {
	return len(c.AllowedProviders) == 0 || slices.Contains(c.AllowedProviders, id)
}
