package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/justiceconnect/justiceconnect/claims"
)

var (
	providerID = regexp.MustCompile(`^[a-z0-9_-]+$`)
	clientID   = regexp.MustCompile(`^[A-Za-z0-9._-]{3,64}$`)
	scopeName  = regexp.MustCompile(`^[a-z0-9_:.-]+$`)
	roleName   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

var (
	knownAlgs       = []string{"ES256", "RS256", "PS256"}
	knownGrants     = []string{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"}
	knownAuthMethod = []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
)

// Validate checks everything and returns a *Problems listing every problem, or nil.
func (c *Config) Validate() error {
	p := &Problems{}
	c.validateIssuer(p)
	if c.Mode != "production" && c.Mode != "development" {
		p.add("mode", "must be production or development, not %q", c.Mode)
	}
	if (c.Listen.TLSCertFile == "") != (c.Listen.TLSKeyFile == "") {
		p.add("listen", "give both tls_cert_file and tls_key_file, or neither")
	}
	switch c.Store.Driver {
	case "sqlite":
		if c.Store.SQLitePath == "" {
			p.add("store.sqlite_path", "required with driver sqlite")
		}
	case "postgres":
		checkSecret(p, "store.postgres_dsn", c.Store.PostgresDSN, true)
	default:
		p.add("store.driver", "must be sqlite or postgres, not %q", c.Store.Driver)
	}
	checkSecret(p, "keys.kek", c.Keys.KEK, true)
	for i, a := range c.Keys.Algorithms {
		if !slices.Contains(knownAlgs, a) {
			p.add(fmt.Sprintf("keys.algorithms[%d]", i), "%q is not one of %s", a, strings.Join(knownAlgs, ", "))
		}
	}
	if !slices.Contains(c.Keys.Algorithms, "ES256") || !slices.Contains(c.Keys.Algorithms, "RS256") {
		p.add("keys.algorithms", "must include ES256 (the default) and RS256 (OpenID Connect requires it)")
	}
	t := c.Tokens
	if d := time.Duration(t.CodeLifetime); d < time.Second || d > 60*time.Second {
		p.add("tokens.code_lifetime", "must be between 1s and 60s (FAPI 2.0), not %v", d)
	}
	if d := time.Duration(t.AccessTokenLifetime); d < time.Minute || d > time.Hour {
		p.add("tokens.access_token_lifetime", "must be between 1m and 1h, not %v", d)
	}
	if t.RefreshTokenLifetime < t.AccessTokenLifetime {
		p.add("tokens.refresh_token_lifetime", "must not be shorter than access_token_lifetime")
	}
	if c.Sessions.IdleTimeout > c.Sessions.AbsoluteTimeout {
		p.add("sessions.idle_timeout", "must not exceed absolute_timeout")
	}
	if c.CourtsFile != "" {
		if _, err := os.Stat(c.CourtsFile); err != nil {
			p.add("courts_file", "%v", err)
		}
	}
	for i, s := range c.APIScopes {
		if !scopeName.MatchString(s) {
			p.add(fmt.Sprintf("api_scopes[%d]", i), "%q: use lowercase letters, digits and _ : . -", s)
		}
	}
	providerIDs := c.validateProviders(p)
	c.validateClients(p, providerIDs)
	if len(p.List) > 0 {
		return p
	}
	return nil
}

func (c *Config) validateIssuer(p *Problems) {
	u, err := url.Parse(c.Issuer)
	switch {
	case c.Issuer == "":
		p.add("issuer", "required")
		return
	case err != nil || !u.IsAbs() || u.Host == "":
		p.add("issuer", "must be an absolute URL")
		return
	case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(c.Issuer, "/"):
		p.add("issuer", "must have no query, fragment or trailing slash (OpenID Connect Discovery §3)")
	}
	if u.Scheme == "http" {
		if !isLoopback(u.Hostname()) {
			p.add("issuer", "must use https (http is only for loopback tests)")
		} else if !c.InsecureAllowHTTPIssuer {
			p.add("issuer", "is plain http: set insecure_allow_http_issuer: true for a loopback test")
		}
	} else if u.Scheme != "https" {
		p.add("issuer", "must use https")
	}
}

func checkSecret(p *Problems, path string, s Secret, required bool) {
	switch {
	case s.File != "" && s.Env != "":
		p.add(path, "give either file or env, not both")
	case !s.IsSet() && required:
		p.add(path, "required: {file: PATH} or {env: NAME}")
	}
}

func (c *Config) validateProviders(p *Problems) []string {
	var ids []string
	for i, pr := range c.Providers {
		path := fmt.Sprintf("providers[%d]", i)
		if !providerID.MatchString(pr.ID) {
			p.add(path+".id", "%q: use lowercase letters, digits, _ and -", pr.ID)
		} else if slices.Contains(ids, pr.ID) {
			p.add(path+".id", "duplicate %q", pr.ID)
		}
		ids = append(ids, pr.ID)
		if pr.Type == "" {
			p.add(path+".type", "required (static, ldap, x509, saml or oidc)")
		}
		if strings.TrimSpace(pr.Label) == "" {
			p.add(path+".label", "required: the name people see on the chooser")
		}
		if _, ok := claims.ParseACR(pr.MaxACR); !ok {
			p.add(path+".max_acr", "must be eidas1, eidas2 or eidas3, not %q", pr.MaxACR)
		}
		validateMapping(p, path+".mapping", pr.Mapping, c.CourtsFile == "")
	}
	return ids
}

func validateMapping(p *Problems, path string, m Mapping, checkCourts bool) {
	pr := m.Profession
	if pr.Value != "" && pr.Attribute != "" {
		p.add(path+".profession", "give either value or attribute, not both")
	}
	if pr.Value != "" {
		if _, ok := claims.ParseProfession(pr.Value); !ok {
			p.add(path+".profession.value", "%q is not a known profession", pr.Value)
		}
	}
	for k, v := range pr.Values {
		if _, ok := claims.ParseProfession(v); !ok {
			p.add(path+".profession.values."+k, "%q is not a known profession", v)
		}
	}
	if checkCourts {
		for k, v := range m.Courts.Values {
			if !claims.DefaultCourts().Has(v) {
				p.add(path+".courts.values."+k, "%q is not a court code of the reference list", v)
			}
		}
	}
	for i, r := range m.Roles {
		rp := fmt.Sprintf("%s.roles[%d]", path, i)
		if r.Attribute == "" || r.Equals == "" {
			p.add(rp, "attribute and equals are required")
		}
		if !roleName.MatchString(r.Role) {
			p.add(rp+".role", "%q: use lowercase letters, digits and _", r.Role)
		}
		if r.Scope != "" && r.Scope != "court" && r.Scope != "national" {
			p.add(rp+".scope", "must be court or national, not %q", r.Scope)
		}
	}
	for k, v := range m.UpstreamACR {
		if _, ok := claims.ParseACR(v); !ok {
			p.add(path+".upstream_acr."+k, "%q is not eidas1, eidas2 or eidas3", v)
		}
	}
}

func (c *Config) validateClients(p *Problems, providerIDs []string) {
	var ids []string
	scopes := append(claims.SupportedScopes(), c.APIScopes...)
	pairwise := false
	for i, cl := range c.Clients {
		path := fmt.Sprintf("clients[%d]", i)
		for _, pr := range ValidateClient(cl, scopes, providerIDs) {
			p.add(path+pr.Path, "%s", pr.Message)
		}
		if slices.Contains(ids, cl.ClientID) {
			p.add(path+".client_id", "duplicate %q", cl.ClientID)
		}
		ids = append(ids, cl.ClientID)
		if cl.SubjectType == "pairwise" {
			pairwise = true
		}
	}
	_ = pairwise // the salt defaults to one derived from the KEK when not given
	checkSecret(p, "pairwise_salt", c.PairwiseSalt, false)
}

// ValidateClient checks one client declaration; the CLI reuses it. Paths in the
// result are relative to the client (".redirect_uris[0]").
func ValidateClient(cl ClientConfig, scopes, providerIDs []string) []Problem {
	p := &Problems{}
	if !clientID.MatchString(cl.ClientID) {
		p.add(".client_id", "%q: 3 to 64 letters, digits, . _ -", cl.ClientID)
	}
	if strings.TrimSpace(cl.Name) == "" {
		p.add(".name", "required: shown on the consent page")
	}
	if cl.Kind != "partner" && cl.Kind != "first_party" {
		p.add(".kind", "must be partner or first_party, not %q", cl.Kind)
	}
	if !slices.Contains(knownAuthMethod, cl.TokenEndpointAuthMethod) {
		p.add(".token_endpoint_auth_method", "must be one of %s", strings.Join(knownAuthMethod, ", "))
	}
	needsSecret := cl.TokenEndpointAuthMethod == "client_secret_basic" || cl.TokenEndpointAuthMethod == "client_secret_post"
	hasSecret := cl.Secret.IsSet() || cl.SecretHash != ""
	switch {
	case needsSecret && !hasSecret:
		p.add(".secret", "required for %s: {file: PATH}, {env: NAME} or secret_hash", cl.TokenEndpointAuthMethod)
	case cl.Secret.IsSet() && cl.SecretHash != "":
		p.add(".secret", "give either secret or secret_hash, not both")
	case !needsSecret && hasSecret:
		p.add(".secret", "not used with %s", cl.TokenEndpointAuthMethod)
	}
	checkSecret(p, ".secret", cl.Secret, false)
	if cl.SecretHash != "" && !(strings.HasPrefix(cl.SecretHash, "$2a$") || strings.HasPrefix(cl.SecretHash, "$2b$")) {
		p.add(".secret_hash", "must be a bcrypt hash ($2a$ or $2b$)")
	}
	if cl.TokenEndpointAuthMethod == "private_key_jwt" {
		if cl.JWKSFile == "" {
			p.add(".jwks_file", "required for private_key_jwt")
		}
		if cl.TokenEndpointAuthSigningAlg != "" && !slices.Contains(knownAlgs, cl.TokenEndpointAuthSigningAlg) {
			p.add(".token_endpoint_auth_signing_alg", "must be one of %s", strings.Join(knownAlgs, ", "))
		}
	}
	for j, g := range cl.GrantTypes {
		if !slices.Contains(knownGrants, g) {
			p.add(fmt.Sprintf(".grant_types[%d]", j), "%q is not supported (%s)", g, strings.Join(knownGrants, ", "))
		}
	}
	if slices.Contains(cl.GrantTypes, "authorization_code") && len(cl.RedirectURIs) == 0 {
		p.add(".redirect_uris", "required with the authorization_code grant")
	}
	for j, u := range cl.RedirectURIs {
		if msg := checkClientURI(u); msg != "" {
			p.add(fmt.Sprintf(".redirect_uris[%d]", j), "%s", msg)
		}
	}
	for j, u := range cl.PostLogoutRedirectURIs {
		if msg := checkClientURI(u); msg != "" {
			p.add(fmt.Sprintf(".post_logout_redirect_uris[%d]", j), "%s", msg)
		}
	}
	for _, f := range []struct{ path, v string }{{".backchannel_logout_uri", cl.BackchannelLogoutURI}, {".frontchannel_logout_uri", cl.FrontchannelLogoutURI}} {
		if f.v != "" {
			if msg := checkClientURI(f.v); msg != "" {
				p.add(f.path, "%s", msg)
			}
		}
	}
	for j, s := range cl.Scopes {
		if !slices.Contains(scopes, s) {
			p.add(fmt.Sprintf(".scopes[%d]", j), "%q is not a supported scope nor one of api_scopes", s)
		}
	}
	for j, a := range cl.Audience {
		if u, err := url.Parse(a); err != nil || !u.IsAbs() {
			p.add(fmt.Sprintf(".audience[%d]", j), "%q must be an absolute URL identifying an API", a)
		}
	}
	for _, f := range []struct{ path, v string }{{".id_token_signed_response_alg", cl.IDTokenSignedResponseAlg}, {".userinfo_signed_response_alg", cl.UserinfoSignedResponseAlg}} {
		if f.v != "" && !slices.Contains(knownAlgs, f.v) {
			p.add(f.path, "must be one of %s (never none)", strings.Join(knownAlgs, ", "))
		}
	}
	if cl.SubjectType != "public" && cl.SubjectType != "pairwise" {
		p.add(".subject_type", "must be public or pairwise, not %q", cl.SubjectType)
	}
	for j, id := range cl.AllowedProviders {
		if providerIDs != nil && !slices.Contains(providerIDs, id) {
			p.add(fmt.Sprintf(".allowed_providers[%d]", j), "%q is not a configured provider", id)
		}
	}
	for j, prof := range cl.AllowedProfessions {
		if _, ok := claims.ParseProfession(prof); !ok {
			p.add(fmt.Sprintf(".allowed_professions[%d]", j), "%q is not a known profession", prof)
		}
	}
	return p.List
}

// checkClientURI applies the redirect URI rules: absolute, no fragment, https, or
// http on a loopback IP literal only (RFC 8252 §7.3, RFC 9700 §4.1.3); no wildcard.
func checkClientURI(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return "must be an absolute URL"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "must not contain a fragment"
	case strings.Contains(raw, "*"):
		return "must not contain a wildcard: redirect URIs are matched exactly"
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http":
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
			return ""
		}
		return "must be an absolute https URL (http only on loopback 127.0.0.1 or [::1])"
	}
	return "must be an absolute https URL (http only on loopback 127.0.0.1 or [::1])"
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
