package oidc

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/providers"
)

// pendingLifetime bounds how long an authorization request may wait for its answer.
// The broker's flow has its own, usually shorter, expiry.
const pendingLifetime = 30 * time.Minute

// RFC 8693 §3 token type identifiers accepted by VerifyToken.
const (
	TokenTypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
)

// Options are the provider's dependencies.
type Options struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now; it drives token time checks and the caches.
	Now func() time.Time
	// HTTPClient talks to the upstream; defaults to a client with the configured
	// timeout. Redirects are never followed whichever client is given, and every
	// request is bounded by Config.Timeout.
	HTTPClient *http.Client
}

// Provider is an OpenID Connect relying party for one upstream OP.
type Provider struct {
	cfg             Config
	log             *slog.Logger
	now             func() time.Time
	httpClient      *http.Client
	secret          string
	assertionSigner jose.Signer
	algs            []jose.SignatureAlgorithm

	fetchMu     sync.Mutex // one discovery or key set fetch at a time
	mu          sync.Mutex
	md          *metadata
	mdFetched   time.Time
	keys        []jose.JSONWebKey
	keysFetched time.Time
}

var (
	_ providers.RedirectProvider = (*Provider)(nil)
	_ providers.Refresher        = (*Provider)(nil)
	_ providers.TokenVerifier    = (*Provider)(nil)
	_ providers.Logouter         = (*Provider)(nil)
)

// New builds the provider and reads its secret or key. It does not contact the
// upstream: discovery happens at the first Check or Begin, so that a broker starts
// while an upstream is down (Check reports it).
func New(cfg Config, opts Options) (*Provider, error) {
	if problems := cfg.Validate(); len(problems) > 0 {
		return nil, fmt.Errorf("oidc: invalid settings: %s", strings.Join(problems, "; "))
	}
	p := &Provider{cfg: cfg, log: opts.Logger, now: opts.Now}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	client := &http.Client{Timeout: cfg.timeout()}
	if opts.HTTPClient != nil {
		c := *opts.HTTPClient
		client = &c
	}
	// A redirect from a token or userinfo endpoint is not followed: the request
	// carries credentials, and RFC 6749 defines no redirect there.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	p.httpClient = client
	for _, a := range cfg.allowedAlgs() {
		p.algs = append(p.algs, jose.SignatureAlgorithm(a))
	}
	switch cfg.authMethod() {
	case AuthPrivateKeyJWT:
		signer, err := loadSigner(cfg.PrivateKeyFile)
		if err != nil {
			return nil, err
		}
		p.assertionSigner = signer
	default:
		secret, err := readSecret(cfg)
		if err != nil {
			return nil, err
		}
		p.secret = secret
	}
	if cfg.InsecureAllowHTTP {
		p.log.Warn("oidc: insecure_allow_http is set: plain HTTP to the upstream (loopback tests only)", "issuer", cfg.Issuer)
	}
	return p, nil
}

func readSecret(cfg Config) (string, error) {
	var secret string
	if cfg.ClientSecretFile != "" {
		b, err := os.ReadFile(cfg.ClientSecretFile)
		if err != nil {
			return "", fmt.Errorf("oidc: client_secret_file: %w", err)
		}
		secret = strings.TrimRight(string(b), "\r\n")
	} else {
		secret = os.Getenv(cfg.ClientSecretEnv)
	}
	if secret == "" {
		return "", errors.New("oidc: the client secret is empty")
	}
	return secret, nil
}

// Check reports whether the upstream's discovery document can be read. A success
// is remembered for checkTTL so that /readyz does not hammer the upstream.
func (p *Provider) Check(ctx context.Context) error {
	p.mu.Lock()
	fetched := p.mdFetched
	p.mu.Unlock()
	if !fetched.IsZero() && p.now().Sub(fetched) < checkTTL {
		return nil
	}
	_, err := p.fetchMetadata(ctx)
	return err
}

// pending is what Begin keeps for Complete (server-side, in the broker's flow).
type pending struct {
	Verifier    string    `json:"verifier"`
	Nonce       string    `json:"nonce"`
	State       string    `json:"state"`
	RedirectURI string    `json:"redirect_uri"`
	Issuer      string    `json:"issuer"`
	Created     time.Time `json:"created"`
	ForceAuthn  bool      `json:"force_authn,omitempty"`
}

// Begin builds the authorization request (OIDC Core §3.1.2.1) with PKCE S256
// (RFC 7636 §4; RFC 9700 §2.1.1), the broker's state and a fresh nonce.
func (p *Provider) Begin(ctx context.Context, req providers.LoginRequest) (providers.Step, error) {
	if req.State == "" || req.CallbackURL == "" {
		return providers.Step{}, errors.New("oidc: begin: state and callback URL are required")
	}
	md, err := p.discover(ctx)
	if err != nil {
		return providers.Step{}, fmt.Errorf("oidc: begin: %w", err)
	}
	pend := pending{
		Verifier:    randomString(), // 43 characters of 256 bits (RFC 7636 §4.1)
		Nonce:       randomString(),
		State:       req.State,
		RedirectURI: req.CallbackURL,
		Issuer:      p.cfg.Issuer,
		Created:     p.now().UTC(),
		ForceAuthn:  req.ForceAuthn,
	}
	challenge := sha256.Sum256([]byte(pend.Verifier))
	u, err := url.Parse(md.AuthorizationEndpoint)
	if err != nil {
		return providers.Step{}, invalid("begin: authorization_endpoint: %v", err)
	}
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", p.cfg.ClientID)
	q.Set("redirect_uri", pend.RedirectURI)
	q.Set("scope", strings.Join(p.cfg.scopes(), " "))
	q.Set("state", pend.State)
	q.Set("nonce", pend.Nonce)
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(challenge[:]))
	q.Set("code_challenge_method", "S256")
	if req.LoginHint != "" {
		q.Set("login_hint", req.LoginHint)
	}
	if len(req.ACRValues) > 0 {
		q.Set("acr_values", strings.Join(req.ACRValues, " "))
	}
	if req.ForceAuthn {
		// OIDC Core §3.1.2.1: prompt=login asks for a new authentication; max_age=0
		// makes auth_time REQUIRED in the ID token, which Complete checks.
		q.Set("prompt", "login")
		q.Set("max_age", "0")
	}
	u.RawQuery = q.Encode()
	raw, err := json.Marshal(pend)
	if err != nil {
		return providers.Step{}, fmt.Errorf("oidc: begin: %w", err)
	}
	return providers.Step{RedirectURL: u.String(), Pending: raw}, nil
}

// upstream is Identity.Upstream: what Refresh and Logout need later.
type upstream struct {
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	SID          string `json:"sid,omitempty"`
}

// Complete validates the authorization response carried by r (query, or form for
// response_mode=form_post), exchanges the code and verifies the ID token.
func (p *Provider) Complete(ctx context.Context, r *http.Request, pendingBytes []byte) (providers.Identity, error) {
	var pend pending
	if err := json.Unmarshal(pendingBytes, &pend); err != nil || pend.State == "" || pend.Verifier == "" || pend.Nonce == "" {
		return providers.Identity{}, invalid("complete: unreadable pending request")
	}
	// F1: the request was made to this issuer (RFC 9700 §4.4.2: store the issuer per request).
	if pend.Issuer != p.cfg.Issuer {
		return providers.Identity{}, invalid("complete: pending request was for issuer %q", pend.Issuer)
	}
	if age := p.now().Sub(pend.Created); age > pendingLifetime || age < -clockSkew {
		return providers.Identity{}, invalid("complete: pending request expired")
	}
	if err := r.ParseForm(); err != nil {
		return providers.Identity{}, invalid("complete: %v", err)
	}
	param := func(name string) (string, error) {
		v := r.Form[name]
		if len(v) > 1 {
			return "", invalid("complete: %s repeated", name)
		}
		if len(v) == 0 {
			return "", nil
		}
		return v[0], nil
	}
	state, err := param("state")
	if err != nil {
		return providers.Identity{}, err
	}
	// F2: RFC 9700 §4.7, RFC 6749 §10.12.
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(pend.State)) != 1 {
		return providers.Identity{}, invalid("complete: state missing or mismatched")
	}
	md, err := p.discover(ctx)
	if err != nil {
		return providers.Identity{}, fmt.Errorf("oidc: complete: %w", err)
	}
	// F1: RFC 9207 §2.4, checked before the error parameter too.
	iss, err := param("iss")
	if err != nil {
		return providers.Identity{}, err
	}
	if iss != "" && iss != p.cfg.Issuer {
		return providers.Identity{}, invalid("complete: iss %q is not the configured issuer (mix-up, RFC 9207)", iss)
	}
	if iss == "" && md.IssParameterSupported {
		return providers.Identity{}, invalid("complete: iss missing although the upstream advertises it (RFC 9207 §2.4)")
	}
	if code, _ := param("error"); code != "" {
		desc, _ := param("error_description")
		p.log.Info("oidc: upstream error response", "issuer", p.cfg.Issuer, "error", truncate(code, 64), "error_description", truncate(desc, 200))
		if code == "access_denied" {
			return providers.Identity{}, fmt.Errorf("oidc: complete: upstream said access_denied: %w", providers.ErrCancelled)
		}
		return providers.Identity{}, invalid("complete: upstream error %q", truncate(code, 64))
	}
	code, err := param("code")
	if err != nil {
		return providers.Identity{}, err
	}
	if code == "" {
		return providers.Identity{}, invalid("complete: code missing")
	}
	tr, err := p.token(ctx, md, "code exchange", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {pend.RedirectURI},
		"code_verifier": {pend.Verifier}, // F4, RFC 7636 §4.5
	})
	if err != nil {
		return providers.Identity{}, err
	}
	if tr.IDToken == "" {
		return providers.Identity{}, invalid("code exchange: no id_token (OIDC Core §3.1.3.3)")
	}
	idClaims, alg, err := p.verifyJWT(ctx, md, tr.IDToken, expectations{
		what: "ID token", nonce: pend.Nonce, requireExpIat: true, refuseTyp: []string{"at+jwt", "logout+jwt"},
	})
	if err != nil {
		return providers.Identity{}, err
	}
	if err := checkAtHash(idClaims, alg, tr.AccessToken); err != nil {
		return providers.Identity{}, err
	}
	if pend.ForceAuthn {
		// OIDC Core §3.1.2.1 (max_age): auth_time is REQUIRED and must be fresh, or
		// the upstream reused an old session despite prompt=login.
		at, has, err := idClaims.numericDate("auth_time")
		if err != nil || !has || at.Before(pend.Created.Add(-clockSkew)) {
			return providers.Identity{}, invalid("ID token: no fresh auth_time although a new authentication was asked")
		}
	}
	claims, err := p.collectClaims(ctx, md, idClaims, tr.AccessToken)
	if err != nil {
		return providers.Identity{}, err
	}
	return p.identity(claims, upstream{RefreshToken: tr.RefreshToken, IDToken: tr.IDToken, SID: idClaims.str("sid")})
}

// collectClaims merges the ID token with userinfo per claims_source. OIDC Core §5.3.2:
// the userinfo sub must equal the ID token's, or the response is refused.
func (p *Provider) collectClaims(ctx context.Context, md *metadata, idClaims claimSet, accessToken string) (claimSet, error) {
	source := p.cfg.claimsSource()
	out := claimSet{}
	if source == ClaimsIDToken || source == ClaimsBoth {
		for k, v := range idClaims {
			out[k] = v
		}
	}
	if source == ClaimsUserinfo || source == ClaimsBoth {
		ui, err := p.userinfo(ctx, md, accessToken)
		if err != nil {
			return nil, err
		}
		if ui.str("sub") != idClaims.str("sub") {
			return nil, invalid("userinfo: sub differs from the ID token's (OIDC Core §5.3.2)")
		}
		for k, v := range ui {
			if _, protocol := protocolClaims[k]; !protocol {
				out[k] = v
			}
		}
		// The authentication facts are the ID token's whatever the source.
		for _, k := range []string{"acr", "amr", "auth_time", "sid"} {
			if v, ok := idClaims[k]; ok {
				out[k] = v
			}
		}
	}
	return out, nil
}

// protocolClaims are JWT mechanics, not facts about the person: they are left out
// of Identity.Attributes.
var protocolClaims = map[string]struct{}{
	"iss": {}, "aud": {}, "exp": {}, "iat": {}, "nbf": {}, "jti": {}, "nonce": {},
	"azp": {}, "at_hash": {}, "c_hash": {}, "s_hash": {}, "client_id": {}, "scope": {}, "cnf": {},
}

// identity turns verified claims into the Identity the broker maps.
func (p *Provider) identity(c claimSet, up upstream) (providers.Identity, error) {
	sub := c.str("sub")
	if sub == "" {
		return providers.Identity{}, invalid("sub missing")
	}
	id := providers.Identity{
		// F6: sub is unique only within this issuer (OIDC Core §16.15); the broker
		// namespaces it by provider.
		Subject:    sub,
		Username:   c.str("preferred_username"),
		Attributes: map[string][]string{},
	}
	if id.Username == "" {
		id.Username = sub
	}
	for k, v := range c {
		if _, protocol := protocolClaims[k]; protocol {
			continue
		}
		if vals := flatten(v); len(vals) > 0 {
			id.Attributes[k] = vals
		}
	}
	id.Authn.Time = p.now()
	if at, has, err := c.numericDate("auth_time"); err != nil {
		return providers.Identity{}, err
	} else if has {
		id.Authn.Time = at
	}
	id.Authn.UpstreamACR = c.str("acr")
	if amr, ok := c["amr"].([]any); ok {
		for _, m := range amr {
			if s, ok := m.(string); ok {
				id.Authn.Methods = append(id.Authn.Methods, s)
			}
		}
	}
	raw, err := json.Marshal(up)
	if err != nil {
		return providers.Identity{}, fmt.Errorf("oidc: %w", err)
	}
	id.Upstream = raw
	return id, nil
}

// flatten renders a claim value as strings: arrays (nested too) give one value per
// element, objects their JSON, null nothing.
func flatten(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case bool:
		if x {
			return []string{"true"}
		}
		return []string{"false"}
	case json.Number:
		return []string{x.String()}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, flatten(e)...)
		}
		return out
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return nil
		}
		return []string{string(b)}
	}
}

// Refresh re-checks the user with the upstream refresh token (RFC 6749 §6), so that
// an account closed at the chamber stops getting broker tokens. invalid_grant means
// the upstream no longer vouches for the user: providers.ErrAccountDisabled. Without
// an upstream refresh token there is nothing to ask: previous is returned unchanged,
// and the broker's own session lifetime is the only limit.
func (p *Provider) Refresh(ctx context.Context, previous providers.Identity) (providers.Identity, error) {
	var up upstream
	if len(previous.Upstream) > 0 {
		if err := json.Unmarshal(previous.Upstream, &up); err != nil {
			return providers.Identity{}, invalid("refresh: unreadable upstream data")
		}
	}
	if up.RefreshToken == "" {
		return previous, nil
	}
	md, err := p.discover(ctx)
	if err != nil {
		return providers.Identity{}, fmt.Errorf("oidc: refresh: %w", err)
	}
	tr, err := p.token(ctx, md, "refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {up.RefreshToken}})
	if errors.Is(err, errInvalidGrant) {
		return providers.Identity{}, fmt.Errorf("oidc: refresh: upstream refused the refresh token: %w", providers.ErrAccountDisabled)
	}
	if err != nil {
		return providers.Identity{}, err
	}
	claims := claimSet{}
	replace := false // whether the new claims replace the previous attributes
	if tr.IDToken != "" {
		// OIDC Core §12.2: same iss and sub; no nonce is expected.
		idClaims, alg, err := p.verifyJWT(ctx, md, tr.IDToken, expectations{
			what: "refreshed ID token", requireExpIat: true, refuseTyp: []string{"at+jwt", "logout+jwt"},
		})
		if err != nil {
			return providers.Identity{}, err
		}
		if err := checkAtHash(idClaims, alg, tr.AccessToken); err != nil {
			return providers.Identity{}, err
		}
		if idClaims.str("sub") != previous.Subject {
			return providers.Identity{}, invalid("refresh: the ID token is about another sub (OIDC Core §12.2)")
		}
		if p.cfg.claimsSource() != ClaimsUserinfo {
			claims, replace = idClaims, true
		}
		up.IDToken = tr.IDToken
	}
	if p.cfg.claimsSource() != ClaimsIDToken {
		ui, err := p.userinfo(ctx, md, tr.AccessToken)
		if err != nil {
			return providers.Identity{}, err
		}
		if ui.str("sub") != previous.Subject {
			return providers.Identity{}, invalid("refresh: userinfo is about another sub (OIDC Core §5.3.2)")
		}
		for k, v := range ui {
			claims[k] = v
		}
	}
	if tr.RefreshToken != "" {
		up.RefreshToken = tr.RefreshToken // rotated (RFC 9700 §4.14.2)
	}
	next := previous
	if len(claims) > 0 {
		fresh, err := p.identity(claims, up)
		if err != nil {
			return providers.Identity{}, err
		}
		// Without a new ID token, userinfo updates the attributes it names and the
		// others (from the login's ID token) stay.
		attrs := fresh.Attributes
		if !replace {
			attrs = make(map[string][]string, len(previous.Attributes)+len(fresh.Attributes))
			for k, v := range previous.Attributes {
				attrs[k] = v
			}
			for k, v := range fresh.Attributes {
				attrs[k] = v
			}
		}
		next.Username, next.Attributes = fresh.Username, attrs
		if fresh.Username == previous.Subject && previous.Username != "" && attrs["preferred_username"] == nil {
			next.Username = previous.Username
		}
	}
	// A refresh is not an authentication: the original facts stay.
	next.Authn = previous.Authn
	raw, err := json.Marshal(up)
	if err != nil {
		return providers.Identity{}, fmt.Errorf("oidc: refresh: %w", err)
	}
	next.Upstream = raw
	return next, nil
}

// VerifyToken vouches for an upstream token presented in RFC 8693 token exchange:
// an ID token or a JWT access token (RFC 9068) issued by this upstream for the
// broker. The same rules as at login apply (signature from jwks_uri under the alg
// allow-list, iss exact, aud containing the broker's client_id, exp and iat
// required), minus the nonce, which only the login knows. Access tokens must carry
// typ at+jwt (RFC 9068 §4); ID tokens must not.
func (p *Provider) VerifyToken(ctx context.Context, token, tokenType string) (providers.Identity, error) {
	exp := expectations{requireExpIat: true}
	switch tokenType {
	case TokenTypeIDToken:
		exp.what, exp.refuseTyp = "ID token", []string{"at+jwt", "logout+jwt"}
	case TokenTypeAccessToken:
		exp.what, exp.typ = "access token", []string{"at+jwt"}
	case TokenTypeJWT:
		exp.what, exp.refuseTyp = "JWT", []string{"logout+jwt"}
	default:
		return providers.Identity{}, invalid("verify token: unsupported token type %q", truncate(tokenType, 80))
	}
	md, err := p.discover(ctx)
	if err != nil {
		return providers.Identity{}, fmt.Errorf("oidc: verify token: %w", err)
	}
	claims, _, err := p.verifyJWT(ctx, md, token, exp)
	if err != nil {
		return providers.Identity{}, err
	}
	return p.identity(claims, upstream{})
}

// Logout sends the browser to the upstream's end_session_endpoint (OpenID Connect
// RP-Initiated Logout §2) with the ID token as id_token_hint, returnTo as
// post_logout_redirect_uri (registered at the upstream) and client_id. Without an
// end_session_endpoint there is nothing to do in the browser: a zero Step.
func (p *Provider) Logout(ctx context.Context, id providers.Identity, returnTo string) (providers.Step, error) {
	md, err := p.discover(ctx)
	if err != nil {
		return providers.Step{}, fmt.Errorf("oidc: logout: %w", err)
	}
	if md.EndSessionEndpoint == "" {
		return providers.Step{}, nil
	}
	var up upstream
	if len(id.Upstream) > 0 {
		if err := json.Unmarshal(id.Upstream, &up); err != nil {
			return providers.Step{}, invalid("logout: unreadable upstream data")
		}
	}
	u, err := url.Parse(md.EndSessionEndpoint)
	if err != nil {
		return providers.Step{}, invalid("logout: end_session_endpoint: %v", err)
	}
	q := u.Query()
	if up.IDToken != "" {
		q.Set("id_token_hint", up.IDToken)
	}
	if returnTo != "" {
		q.Set("post_logout_redirect_uri", returnTo)
	}
	q.Set("client_id", p.cfg.ClientID)
	u.RawQuery = q.Encode()
	return providers.Step{RedirectURL: u.String()}, nil
}

// invalid wraps providers.ErrInvalidResponse with the operation's detail.
func invalid(format string, args ...any) error {
	return fmt.Errorf("oidc: "+format+": %w", append(args, providers.ErrInvalidResponse)...)
}

// unavailable wraps providers.ErrUnavailable with the operation's detail.
func unavailable(format string, args ...any) error {
	return fmt.Errorf("oidc: "+format+": %w", append(args, providers.ErrUnavailable)...)
}

// transport classifies a failed exchange: an oversized answer is invalid, anything
// else (refused connection, timeout, reset) means the upstream is unavailable.
func transport(op string, err error) error {
	if errors.Is(err, providers.ErrInvalidResponse) {
		return fmt.Errorf("oidc: %s: %w", op, err)
	}
	return unavailable("%s: %v", op, err)
}

// invalidWrap prefixes err, keeping its sentinel, or makes it an invalid response.
func invalidWrap(what string, err error) error {
	if errors.Is(err, providers.ErrInvalidResponse) || errors.Is(err, providers.ErrUnavailable) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return invalid("%s: %v", what, err)
}
