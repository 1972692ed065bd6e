package config

import (
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
	providerIDRE   = regexp.MustCompile(`^[a-z0-9_-]+$`)
	providerTypeRE = regexp.MustCompile(`^[a-z0-9_]+$`)
	scopeNameRE    = regexp.MustCompile(`^[a-z0-9_:.-]+$`)
	domainRE       = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// MinAuditRetention is the shortest audit.retention accepted: a shorter one is
// more likely a unit mistake (400h for 400d) than a policy, and would leave too
// little to investigate an incident with.
const MinAuditRetention = 30 * 24 * time.Hour

// Algorithms lists the JWS algorithms the broker can sign with (never "none").
var Algorithms = []string{"ES256", "RS256", "PS256"}

// Validate checks the whole configuration (with its defaults applied) and returns
// a *Problems listing every problem, or nil. It reads the court list named by
// courts_file, but no secret: CheckFiles does that.
func (c *Config) Validate() error {
	p := &Problems{}
	c.validateIssuer(p)
	if c.Mode != ModeProduction && c.Mode != ModeDevelopment {
		p.add("mode", "must be production or development, not %q", c.Mode)
	}
	checkAddress(p, "listen.address", c.Listen.Address, true)
	if d := time.Duration(c.Listen.DrainDelay); d < 0 || d > 5*time.Minute {
		p.add("listen.drain_delay", "must be between 0 and 5m, not %v", short(d))
	}
	checkTLSPair(p, "listen", c.Listen.TLSCertFile, c.Listen.TLSKeyFile)
	checkAddress(p, "card_listen.address", c.CardListen.Address, false)
	checkTLSPair(p, "card_listen", c.CardListen.TLSCertFile, c.CardListen.TLSKeyFile)
	c.validateCardListen(p)
	for _, r := range []struct {
		path string
		rate Rate
	}{{"rate_limits.token_per_client", c.RateLimits.TokenPerClient}, {"rate_limits.login_per_address", c.RateLimits.LoginPerAddress},
		{"rate_limits.login_failures_per_account", c.RateLimits.LoginFailuresPerAccount}} {
		if r.rate.Disabled {
			continue
		}
		if r.rate.Requests < 1 {
			p.add(r.path+".requests", "must be at least 1 (or set disabled: true)")
		}
		if r.rate.Per < Duration(time.Second) {
			p.add(r.path+".per", "must be at least 1s")
		}
		if r.rate.Burst < 1 {
			p.add(r.path+".burst", "must be at least 1")
		}
	}
	checkAddress(p, "admin_listen.address", c.AdminListen.Address, false)
	if r := time.Duration(c.Audit.Retention); r != 0 && r < MinAuditRetention {
		p.add("audit.retention", "must be 0 (keep every event) or at least %dd, not %v", MinAuditRetention/(24*time.Hour), short(r))
	}
	c.validateStore(p)
	c.validateKeys(p)
	c.validateLifetimes(p)

	courts := claims.DefaultCourts()
	if c.CourtsFile != "" {
		if courts = loadCourts(p, c.CourtsFile); courts == nil {
			// Already reported; court codes are checked against the embedded list
			// meanwhile, which is better than not at all.
			courts = claims.DefaultCourts()
		}
	}
	for i, s := range c.APIScopes {
		switch {
		case !scopeNameRE.MatchString(s):
			p.add(index("api_scopes", i), "%q: use lowercase letters, digits and _ : . -", s)
		case slices.Contains(claims.SupportedScopes(), s):
			p.add(index("api_scopes", i), "%q is already a standard scope", s)
		case slices.Contains(c.APIScopes[:i], s):
			p.add(index("api_scopes", i), "duplicate %q", s)
		}
	}
	c.validateProviders(p, courts)
	c.validateClients(p)
	return p.errOrNil()
}

func (c *Config) validateIssuer(p *Problems) {
	if c.Issuer == "" {
		p.add("issuer", "required: the https URL of the broker")
		return
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		p.add("issuer", "must be an absolute https URL")
		return
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(c.Issuer, "#") || strings.HasSuffix(c.Issuer, "/") || u.User != nil {
		p.add("issuer", "must have no query, fragment, user or trailing slash (OpenID Connect Discovery §3)")
	}
	switch u.Scheme {
	case "https":
	case "http":
		switch {
		case !isLoopbackHost(u.Hostname()):
			p.add("issuer", "must use https (plain http only on a loopback host, for tests)")
		case !c.InsecureAllowHTTPIssuer:
			p.add("issuer", "is plain http: set insecure_allow_http_issuer: true for a loopback test")
		}
	default:
		p.add("issuer", "must use https, not %q", u.Scheme)
	}
}

func checkAddress(p *Problems, path, addr string, required bool) {
	if addr == "" {
		if required {
			p.add(path, "required (host:port)")
		}
		return
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		p.add(path, "%q is not host:port", addr)
	}
}

// validateCardListen checks the card origin: where it listens, how browsers reach
// it, and how the certificate arrives (its own TLS, or a trusted proxy's header).
func (c *Config) validateCardListen(p *Problems) {
	cl := c.CardListen
	if cl.Address == "" {
		if cl.PublicURL != "" || cl.TLSCertFile != "" || len(cl.ClientCAFiles) > 0 || len(cl.TrustedProxies) > 0 {
			p.add("card_listen.address", "required when card_listen has other settings")
		}
		return
	}
	if cl.PublicURL == "" {
		p.add("card_listen.public_url", "required: the card origin's URL as browsers reach it")
	} else if u, err := url.Parse(cl.PublicURL); err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		p.add("card_listen.public_url", "%q must be an origin such as https://carte.example.fr (no path, query or fragment)", cl.PublicURL)
	} else if u.Scheme != "https" {
		p.add("card_listen.public_url", "%q must use https: a client certificate travels only in TLS", cl.PublicURL)
	} else if iss, err := url.Parse(c.Issuer); err == nil && iss.Host == u.Host {
		p.add("card_listen.public_url", "must be another origin than the issuer (%s): the card origin asks every visitor for a certificate", u.Host)
	}
	if cl.TLSCertFile == "" && len(cl.TrustedProxies) == 0 {
		p.add("card_listen", "give tls_cert_file and tls_key_file (the broker ends TLS) or trusted_proxies (a proxy ends TLS and sends Client-Cert)")
	}
	if cl.TLSCertFile != "" && len(cl.ClientCAFiles) == 0 {
		p.add("card_listen.client_ca_files", "required with tls_cert_file: the card CAs the browser is asked for")
	}
	for i, tp := range cl.TrustedProxies {
		if _, _, err := net.ParseCIDR(tp); err != nil && net.ParseIP(tp) == nil {
			p.add(index("card_listen.trusted_proxies", i), "%q is neither an IP address nor a CIDR range", tp)
		}
	}
}

func checkTLSPair(p *Problems, path, cert, key string) {
	if (cert == "") != (key == "") {
		p.add(path, "give both tls_cert_file and tls_key_file, or neither")
	}
}

func (c *Config) validateStore(p *Problems) {
	switch c.Store.Driver {
	case "sqlite":
		if c.Store.SQLitePath == "" {
			p.add("store.sqlite_path", "required with driver sqlite")
		}
		if c.Store.PostgresDSN.IsSet() {
			p.add("store.postgres_dsn", "only used with driver postgres")
		}
	case "postgres":
		checkSecret(p, "store.postgres_dsn", c.Store.PostgresDSN, true)
		if c.Store.SQLitePath != "" {
			p.add("store.sqlite_path", "only used with driver sqlite")
		}
	default:
		p.add("store.driver", "must be sqlite or postgres, not %q", c.Store.Driver)
	}
}

func (c *Config) validateKeys(p *Problems) {
	checkSecret(p, "keys.kek", c.Keys.KEK, true)
	for i, a := range c.Keys.Algorithms {
		switch {
		case !slices.Contains(Algorithms, a):
			p.add(index("keys.algorithms", i), "%q is not one of %s", a, strings.Join(Algorithms, ", "))
		case slices.Contains(c.Keys.Algorithms[:i], a):
			p.add(index("keys.algorithms", i), "duplicate %q", a)
		}
	}
	if !slices.Contains(c.Keys.Algorithms, "ES256") || !slices.Contains(c.Keys.Algorithms, "RS256") {
		p.add("keys.algorithms", "must include ES256 (the default) and RS256 (OpenID Connect Core §15.1 requires it)")
	}
}

func (c *Config) validateLifetimes(p *Problems) {
	between := func(path string, d Duration, lo, hi time.Duration, why string) {
		if v := time.Duration(d); v < lo || v > hi {
			p.add(path, "must be between %v and %v%s, not %v", short(lo), short(hi), why, short(v))
		}
	}
	t := c.Tokens
	between("tokens.code_lifetime", t.CodeLifetime, time.Second, time.Minute, " (FAPI 2.0 §5.3.2.1)")
	between("tokens.access_token_lifetime", t.AccessTokenLifetime, time.Minute, time.Hour, "")
	between("tokens.id_token_lifetime", t.IDTokenLifetime, time.Minute, 24*time.Hour, "")
	if t.RefreshTokenLifetime < t.AccessTokenLifetime {
		p.add("tokens.refresh_token_lifetime", "must not be shorter than access_token_lifetime")
	}
	s := c.Sessions
	positive := func(path string, d Duration) {
		if d <= 0 {
			p.add(path, "must be positive, not %v", short(time.Duration(d)))
		}
	}
	positive("sessions.idle_timeout", s.IdleTimeout)
	positive("sessions.absolute_timeout", s.AbsoluteTimeout)
	between("sessions.flow_lifetime", s.FlowLifetime, time.Minute, time.Hour, "")
	if s.IdleTimeout > s.AbsoluteTimeout {
		p.add("sessions.idle_timeout", "must not exceed absolute_timeout")
	}
	// A retired key stays published while tokens it signed may still be checked.
	longest := max(t.AccessTokenLifetime, t.IDTokenLifetime)
	for _, cl := range c.Clients {
		longest = max(longest, cl.AccessTokenLifetime)
	}
	if c.Keys.MaxTokenLifetime < longest {
		p.add("keys.max_token_lifetime", "must be at least the longest access or ID token lifetime (%v)", short(time.Duration(longest)))
	}
}

// short prints 10m rather than 10m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func loadCourts(p *Problems, path string) *claims.Courts {
	f, err := os.Open(path)
	if err != nil {
		p.add("courts_file", "%v", err)
		return nil
	}
	defer f.Close()
	courts, err := claims.LoadCourts(f)
	if err != nil {
		p.add("courts_file", "%v", err)
		return nil
	}
	return courts
}

func checkSecret(p *Problems, path string, s Secret, required bool) {
	switch {
	case s.File != "" && s.Env != "":
		p.add(path, "give either file or env, not both")
	case !s.IsSet() && required:
		p.add(path, "required: {file: PATH} or {env: NAME}")
	}
}

func (c *Config) validateProviders(p *Problems, courts *claims.Courts) {
	domains := map[string]string{}
	for i, pr := range c.Providers {
		path := index("providers", i)
		switch {
		case !providerIDRE.MatchString(pr.ID):
			p.add(path+".id", "%q: use lowercase letters, digits, _ and -", pr.ID)
		case slices.ContainsFunc(c.Providers[:i], func(o ProviderConfig) bool { return o.ID == pr.ID }):
			p.add(path+".id", "duplicate %q", pr.ID)
		}
		if !providerTypeRE.MatchString(pr.Type) {
			p.add(path+".type", "required: static, ldap, x509, saml or oidc")
		}
		if strings.TrimSpace(pr.Label) == "" {
			p.add(path+".label", "required: the name people see on the chooser")
		}
		if _, ok := claims.ParseACR(pr.MaxACR); !ok {
			p.add(path+".max_acr", "must be eidas1, eidas2 or eidas3, not %q", pr.MaxACR)
		}
		if pr.SubjectNamespace != pr.ID && pr.SubjectNamespace != "" && !providerIDRE.MatchString(pr.SubjectNamespace) {
			p.add(path+".subject_namespace", "%q: use lowercase letters, digits, _ and -", pr.SubjectNamespace)
		}
		for j, d := range pr.EmailDomains {
			dp := index(path+".email_domains", j)
			if !domainRE.MatchString(d) {
				p.add(dp, "%q is not a lowercase domain name", d)
			} else if other, dup := domains[d]; dup {
				p.add(dp, "%q is already routed to provider %q", d, other)
			} else {
				domains[d] = pr.ID
			}
		}
		validateMapping(p, path+".mapping", pr.Mapping, courts)
	}
}

func validateMapping(p *Problems, path string, m Mapping, courts *claims.Courts) {
	for _, r := range []struct {
		name string
		rule ValueRule
	}{{"organization", m.Organization}, {"barreau", m.Barreau}} {
		if r.rule.Attribute != "" && r.rule.Value != "" {
			p.add(path+"."+r.name, "give either attribute or value, not both")
		}
	}

	pr := m.Profession
	switch {
	case pr.Value != "" && (pr.Attribute != "" || len(pr.Values) > 0):
		p.add(path+".profession", "give either value, or attribute with values, not both")
	case len(pr.Values) > 0 && pr.Attribute == "":
		p.add(path+".profession.attribute", "required with values")
	}
	if pr.Value != "" {
		if _, ok := claims.ParseProfession(pr.Value); !ok {
			p.add(path+".profession.value", "%q is not a known profession (%s)", pr.Value, professionList())
		}
	}
	for _, k := range sortedKeys(pr.Values) {
		if _, ok := claims.ParseProfession(pr.Values[k]); !ok {
			p.add(join(path+".profession.values", k), "%q is not a known profession (%s)", pr.Values[k], professionList())
		}
	}

	cr := m.Courts
	if cr.Attribute == "" && (len(cr.Values) > 0 || cr.ByJudilibreID) {
		p.add(path+".courts.attribute", "required with values or by_judilibre_id")
	}
	if cr.ByJudilibreID && len(cr.Values) > 0 {
		p.add(path+".courts", "give either values or by_judilibre_id, not both")
	}
	for _, k := range sortedKeys(cr.Values) {
		if !courts.Has(cr.Values[k]) {
			p.add(join(path+".courts.values", k), "%q is not a court code of the court list", cr.Values[k])
		}
	}

	for i, r := range m.Roles {
		rp := index(path+".roles", i)
		if r.Attribute == "" {
			p.add(rp+".attribute", "required")
		}
		if r.Equals == "" {
			p.add(rp+".equals", "required")
		}
		if !claims.ValidRoleName(r.Role) {
			p.add(rp+".role", "%q: use lowercase letters, digits and _, starting with a letter", r.Role)
		}
		switch r.Scope {
		case "", "court":
			if cr.Attribute == "" {
				p.add(rp+".scope", "a court role needs mapping.courts (or scope: national)")
			}
		case "national":
		default:
			p.add(rp+".scope", "must be court or national, not %q", r.Scope)
		}
	}
	for _, k := range sortedKeys(m.UpstreamACR) {
		if _, ok := claims.ParseACR(m.UpstreamACR[k]); !ok {
			p.add(join(path+".upstream_acr", k), "%q is not eidas1, eidas2 or eidas3", m.UpstreamACR[k])
		}
	}
}

func professionList() string {
	var names []string
	for _, p := range claims.Professions() {
		names = append(names, string(p))
	}
	return strings.Join(names, ", ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (c *Config) validateClients(p *Problems) {
	for i, cl := range c.Clients {
		path := index("clients", i)
		p.List = append(p.List, c.ValidateClient(cl, path)...)
		if slices.ContainsFunc(c.Clients[:i], func(o ClientConfig) bool { return o.ClientID == cl.ClientID }) {
			p.add(path+".client_id", "duplicate %q", cl.ClientID)
		}
	}
	checkSecret(p, "pairwise_salt", c.PairwiseSalt, false)
	if c.Mode == ModeProduction && !c.PairwiseSalt.IsSet() && c.usesPairwise() {
		p.add("pairwise_salt", "required: a client uses pairwise subjects (partners do by default)")
	}
}

// isLoopbackHost is the issuer's loopback rule: 127.0.0.1, [::1] or localhost.
func isLoopbackHost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

func isPlainHTTP(issuer string) bool { return strings.HasPrefix(issuer, "http://") }
