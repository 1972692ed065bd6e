package oidc

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/flow"
	"github.com/justiceconnect/justiceconnect/broker/grants/tokenexchange"
	"github.com/justiceconnect/justiceconnect/broker/keys"
	"github.com/justiceconnect/justiceconnect/broker/logout"
	"github.com/justiceconnect/justiceconnect/broker/ratelimit"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/web"
	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/providers"
)

// Config is what the OIDC server needs; broker.New fills it.
type Config struct {
	Issuer string
	Store  storage.Store
	Keys   *keys.Manager
	Pages  *web.Pages
	SSO    *session.SSO
	Flows  *flow.Store
	Audit  *audit.Log

	// HMACSecret keys fosite's opaque codes and refresh tokens (32 bytes, the same on
	// every node).
	HMACSecret   []byte
	PairwiseSalt []byte

	CodeLifetime         time.Duration
	AccessTokenLifetime  time.Duration
	IDTokenLifetime      time.Duration
	RefreshTokenLifetime time.Duration

	// MaxACR tells the highest acr any provider this client may use can reach; a
	// request above it gets unmet_authentication_requirements.
	MaxACR func(ctx context.Context, c *storage.Client) claims.ACR
	// ExtraScopes are API scopes declared in configuration, advertised in discovery.
	ExtraScopes []string
	// Refresh re-checks the person at their provider when a refresh token is used
	// (a disabled or deleted account must stop getting tokens) and returns the
	// updated login outcome, or nil when the provider cannot re-check.
	Refresh func(ctx context.Context, sess *session.Session) (*flow.Auth, error)
	// Delegations answers whether an actor may act for a subject in RFC 8693 token
	// exchange; nil refuses every actor token.
	Delegations tokenexchange.Delegations
	// TokenLimiter limits token requests per authenticated client; nil: no limit.
	TokenLimiter *ratelimit.Limiter
	// UpstreamToken verifies an upstream provider's token for token exchange; nil
	// refuses upstream subject tokens.
	UpstreamToken UpstreamTokenFunc
	// Logouts sends back-channel logout notices when a session ends; nil sends none.
	Logouts *logout.Queue
	// UpstreamLogout ends the person's session at their provider (RP-Initiated
	// Logout or SAML SLO) and returns the browser step, or a zero Step when there
	// is nothing to do in the browser; nil skips it.
	UpstreamLogout func(ctx context.Context, a *flow.Auth, returnTo string) (providers.Step, error)

	Logger *slog.Logger
	Now    func() time.Time
}

// Server serves the protocol endpoints.
type Server struct {
	cfg      Config
	provider fosite.OAuth2Provider
	signer   *tokenSigner
	fosite   *fosite.Config
}

// New composes fosite with the broker's choices (SECURITY.md §4 item 8): exact scope
// and audience matching, PKCE S256 required for every client, 60 s codes, and only
// the code flow — no implicit, hybrid or password handler is composed (RFC 9700
// §2.1.2, §2.4).
func New(cfg Config) (*Server, error) {
	fc := &fosite.Config{
		IDTokenIssuer:                  cfg.Issuer,
		AccessTokenIssuer:              cfg.Issuer,
		TokenURL:                       cfg.Issuer + "/token",
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       fosite.ExactAudienceMatchingStrategy,
		EnforcePKCE:                    true,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		AuthorizeCodeLifespan:          cfg.CodeLifetime,
		AccessTokenLifespan:            cfg.AccessTokenLifetime,
		IDTokenLifespan:                cfg.IDTokenLifetime,
		RefreshTokenLifespan:           cfg.RefreshTokenLifetime,
		// An empty list means a refresh token is issued to every client allowed the
		// refresh_token grant, offline_access or not; logout then revokes those
		// without offline_access (OIDC Back-Channel Logout §2.7).
		RefreshTokenScopes:         []string{},
		GlobalSecret:               cfg.HMACSecret,
		SendDebugMessagesToClients: false,
		MinParameterEntropy:        fosite.MinParameterEntropy,
		AllowedPromptValues:        []string{"login", "none", "consent", "select_account"},
		RedirectSecureChecker:      fosite.IsRedirectURISecureStrict,
	}
	fc.ClientSecretsHasher = newCachingHasher(&fosite.BCrypt{Config: fc}, 10000)
	signer := &tokenSigner{keys: cfg.Keys, issuer: cfg.Issuer, now: cfg.Now}
	hmac := &timeKeyedHMAC{HMACSHAStrategy: compose.NewOAuth2HMACStrategy(fc), now: cfg.Now}
	core := &accessTokenStrategy{CoreStrategy: hmac, signer: signer, issuer: cfg.Issuer}
	strategy := &compose.CommonStrategy{
		CoreStrategy:               core,
		OpenIDConnectTokenStrategy: &openid.DefaultStrategy{Signer: signer, Config: fc},
		Signer:                     signer,
	}
	provider := compose.Compose(fc, cfg.Store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		// PKCE must come after the authorize code handler (fosite handler/pkce).
		compose.OAuth2PKCEFactory,
	)
	if f, ok := provider.(*fosite.Fosite); ok {
		// fosite v0.49.0 passes the bare claim-validation error of an expired or
		// premature client assertion up as a server error (500); RFC 7523 §3 and
		// RFC 6749 §5.2 want invalid_client.
		fc.ClientAuthenticationStrategy = func(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
			c, err := f.DefaultClientAuthenticationStrategy(ctx, r, form)
			var rfc *fosite.RFC6749Error
			if err != nil && !errors.As(err, &rfc) {
				return nil, fosite.ErrInvalidClient.WithHint("The client_assertion is not valid.").WithWrap(err).WithDebug(err.Error())
			}
			return c, err
		}
	}
	exchange := &tokenexchange.Handler{
		Strategy: core, Storage: cfg.Store, Delegations: cfg.Delegations, Issuer: cfg.Issuer,
		MaxLifetime: cfg.AccessTokenLifetime, Now: cfg.Now,
		Audit: func(ctx context.Context, clientID, subject, actor, audience, delegation string) {
			cfg.Audit.Record(ctx, storage.AuditEvent{Type: audit.Exchange, Outcome: audit.OutcomeOK, ClientID: clientID, Subject: subject,
				Details: map[string]string{"actor": actor, "audience": audience, "delegation": delegation}})
		},
	}
	fc.TokenEndpointHandlers.Append(exchange)
	srv := &Server{cfg: cfg, provider: provider, signer: signer, fosite: fc}
	exchange.Foreign = foreignTokens{srv}
	return srv, nil
}

// Provider exposes the composed fosite provider (token exchange and tests use it).
func (s *Server) Provider() fosite.OAuth2Provider { return s.provider }

// Register adds the endpoints to mux, with the ProConnect-compatible paths
// (VOCABULARY.md principle 1).
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("GET /jwks", s.jwks)
	mux.HandleFunc("GET /authorize", s.authorize)
	mux.HandleFunc("POST /authorize", s.authorize)
	mux.HandleFunc("GET /authorize/resume", s.resume)
	mux.HandleFunc("GET /consent", s.consentPage)
	mux.HandleFunc("POST /consent", s.consentDecision)
	mux.HandleFunc("POST /token", s.token)
	mux.HandleFunc("GET /userinfo", s.userinfo)
	mux.HandleFunc("POST /userinfo", s.userinfo)
	mux.HandleFunc("POST /token/introspection", s.introspect)
	mux.HandleFunc("POST /token/revocation", s.revoke)
	mux.HandleFunc("GET /session/end", s.endSession)
	mux.HandleFunc("POST /session/end", s.endSession)
	mux.HandleFunc("POST /session/end/confirm", s.endSessionConfirm)
	mux.HandleFunc("GET /session/end/return", s.endSessionReturn)
}

func randomID() string { return flow.RandomToken(16) }

func (s *Server) logger() *slog.Logger { return s.cfg.Logger }
