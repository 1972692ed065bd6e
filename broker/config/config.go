package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Modes of the broker. Development allows static development users.
const (
	ModeProduction  = "production"
	ModeDevelopment = "development"
)

// Config is the whole file.
type Config struct {
	// Issuer is the OpenID Connect issuer identifier: https, no query, fragment or
	// trailing slash (OpenID Connect Discovery §3, RFC 8414 §2).
	Issuer string `yaml:"issuer"`
	// Mode is production (default) or development.
	Mode        string      `yaml:"mode"`
	Listen      Listen      `yaml:"listen"`
	CardListen  CardListen  `yaml:"card_listen"`
	AdminListen AdminListen `yaml:"admin_listen"`
	Store       Store       `yaml:"store"`
	Keys        Keys        `yaml:"keys"`
	Tokens      Tokens      `yaml:"tokens"`
	Sessions    Sessions    `yaml:"sessions"`
	RateLimits  RateLimits  `yaml:"rate_limits"`
	Audit       Audit       `yaml:"audit"`
	// PairwiseSalt keys pairwise subjects (OpenID Connect Core §8.1). Required in
	// production when a client uses pairwise subjects: a salt derived from the KEK
	// would change every partner's subjects when the KEK is replaced.
	PairwiseSalt Secret `yaml:"pairwise_salt"`
	// CourtsFile replaces the embedded court list (same TSV format).
	CourtsFile string `yaml:"courts_file"`
	// InsecureAllowHTTPIssuer allows a plain http issuer on a loopback host, for
	// local tests and the demo only.
	InsecureAllowHTTPIssuer bool `yaml:"insecure_allow_http_issuer"`
	// APIScopes are extra scope names that APIs use ("detenus:read").
	APIScopes []string         `yaml:"api_scopes"`
	Providers []ProviderConfig `yaml:"providers"`
	Clients   []ClientConfig   `yaml:"clients"`
}

// Listen is the main listener. Without TLS files it serves plain HTTP, for a TLS
// proxy in front.
type Listen struct {
	Address     string `yaml:"address"`
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// DrainDelay is how long a node keeps serving after SIGTERM while its /readyz
	// answers 503, so that the load balancer takes it out of rotation before it
	// stops accepting connections (a connection still waiting to be accepted then
	// would be reset). Set it above the balancer's health-check interval times its
	// failure threshold; 0 (the default) stops accepting at once, for a node alone.
	// In-flight requests then get up to 15s to finish. A second SIGTERM ends the
	// delay early.
	DrainDelay Duration `yaml:"drain_delay"`
}

// CardListen is the smart-card origin (optional): a listener of its own, because a
// server can only ask for a client certificate at the handshake (DESIGN.md).
type CardListen struct {
	Address string `yaml:"address"`
	// PublicURL is the card origin as browsers reach it (https://carte.example.fr);
	// the chooser sends agents there.
	PublicURL   string `yaml:"public_url"`
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// ClientCAFiles are the card CAs named to the browser in the TLS handshake so it
	// offers the right certificate. The card provider still verifies the chain.
	ClientCAFiles []string `yaml:"client_ca_files"`
	// TrustedProxies are the addresses or CIDR ranges of the TLS proxies allowed to
	// pass the card in the RFC 9440 Client-Cert header, when TLS ends before the
	// broker. The header is refused from anyone else (SECURITY.md I5).
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// AdminListen serves metrics and health on a separate address (optional).
type AdminListen struct {
	Address string `yaml:"address"`
}

// Store selects the database.
type Store struct {
	// Driver is sqlite (default) or postgres.
	Driver      string `yaml:"driver"`
	SQLitePath  string `yaml:"sqlite_path"`
	PostgresDSN Secret `yaml:"postgres_dsn"`
}

// Keys configures signing keys.
type Keys struct {
	// KEK is the key-encryption key that seals the signing keys in the store.
	KEK Secret `yaml:"kek"`
	// Algorithms are the signing algorithms with a key (default ES256 and RS256).
	Algorithms []string `yaml:"algorithms"`
	// MaxTokenLifetime is how long a retired key stays published: at least the
	// longest lifetime of a token it signed.
	MaxTokenLifetime Duration `yaml:"max_token_lifetime"`
}

// Tokens are the lifetimes of what the broker issues.
type Tokens struct {
	CodeLifetime         Duration `yaml:"code_lifetime"`
	AccessTokenLifetime  Duration `yaml:"access_token_lifetime"`
	IDTokenLifetime      Duration `yaml:"id_token_lifetime"`
	RefreshTokenLifetime Duration `yaml:"refresh_token_lifetime"`
}

// Sessions are the SSO session and login flow timeouts.
type Sessions struct {
	IdleTimeout     Duration `yaml:"idle_timeout"`
	AbsoluteTimeout Duration `yaml:"absolute_timeout"`
	FlowLifetime    Duration `yaml:"flow_lifetime"`
}

// RateLimits bound request rates, per node: with several nodes the effective limit
// is up to the number of nodes times these.
type RateLimits struct {
	// TokenPerClient limits token endpoint requests of each authenticated client.
	TokenPerClient Rate `yaml:"token_per_client"`
	// LoginPerAddress limits password submissions from each client address (a
	// court behind one NAT shares it: keep it generous).
	LoginPerAddress Rate `yaml:"login_per_address"`
	// LoginFailuresPerAccount limits failed passwords per user name, with a refill
	// rather than a lockout an attacker could use to block someone for good.
	LoginFailuresPerAccount Rate `yaml:"login_failures_per_account"`
}

// Audit is the audit trail's upkeep.
type Audit struct {
	// Retention is how long audit events are kept ("400d"); older ones are deleted
	// by the broker's background cleanup and by "justiceconnect audit prune", which
	// keep a checkpoint so the rest of the chain still verifies. Zero (the default)
	// keeps every event; otherwise at least 30 days.
	Retention Duration `yaml:"retention"`
}

// Rate is requests per period with a burst; Disabled turns the limit off.
type Rate struct {
	Requests int      `yaml:"requests"`
	Per      Duration `yaml:"per"`
	Burst    int      `yaml:"burst"`
	Disabled bool     `yaml:"disabled"`
}

// ProviderConfig declares an upstream identity source.
type ProviderConfig struct {
	// ID names the provider in URLs, idp_hint and the idp_id claim.
	ID string `yaml:"id"`
	// Type is static, ldap, x509, saml or oidc; the command knows which exist.
	Type string `yaml:"type"`
	// Label is shown on the chooser.
	Label       string `yaml:"label"`
	Description string `yaml:"description"`
	// MaxACR is the ceiling of the assurance this upstream may give (default eidas1).
	MaxACR string `yaml:"max_acr"`
	// EmailDomains route a login_hint to this provider.
	EmailDomains []string `yaml:"email_domains"`
	// SubjectNamespace lets providers that name people alike (the directory and the
	// smart card enriched from it) give the same sub. Defaults to ID.
	SubjectNamespace string `yaml:"subject_namespace"`
	// Settings are type-specific; the provider's factory decodes them with
	// DecodeSettings.
	Settings yaml.Node `yaml:"settings"`
	Mapping  Mapping   `yaml:"mapping"`
}

// Mapping are the rules that turn upstream attributes into claims (broker/mapping).
type Mapping struct {
	// Subject is the attribute holding the stable upstream subject (default: the
	// provider's own subject).
	Subject        string         `yaml:"subject"`
	Username       string         `yaml:"username"`
	GivenName      string         `yaml:"given_name"`
	FamilyName     string         `yaml:"family_name"`
	Email          string         `yaml:"email"`
	ProfessionalID string         `yaml:"professional_id"`
	Organization   ValueRule      `yaml:"organization"`
	Barreau        ValueRule      `yaml:"barreau"`
	Profession     ProfessionRule `yaml:"profession"`
	Courts         CourtRule      `yaml:"courts"`
	Roles          []RoleRule     `yaml:"roles"`
	// UpstreamACR translates the upstream's acr values; unknown ones give eidas1.
	UpstreamACR map[string]string `yaml:"upstream_acr"`
}

// ValueRule is a fixed value or an attribute's value (one of them).
type ValueRule struct {
	Attribute string `yaml:"attribute"`
	Value     string `yaml:"value"`
}

// ProfessionRule gives a fixed profession or translates an attribute's values.
type ProfessionRule struct {
	Value     string            `yaml:"value"`
	Attribute string            `yaml:"attribute"`
	Values    map[string]string `yaml:"values"`
}

// CourtRule translates an attribute's values into court codes: through Values,
// through the court list's Judilibre identifiers when ByJudilibreID, or verbatim.
type CourtRule struct {
	Attribute     string            `yaml:"attribute"`
	Values        map[string]string `yaml:"values"`
	ByJudilibreID bool              `yaml:"by_judilibre_id"`
}

// RoleRule issues Role when Attribute has the value Equals; Scope is "court" (one
// role@COURT per court of the user, the default) or "national".
type RoleRule struct {
	Attribute string `yaml:"attribute"`
	Equals    string `yaml:"equals"`
	Role      string `yaml:"role"`
	Scope     string `yaml:"scope"`
}

// Load reads and parses a configuration file. Problems come back as *Problems.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b)
}

// Parse decodes strictly (unknown keys are problems), applies defaults and
// validates. Every decoding and validation problem found comes back in one
// *Problems; a YAML syntax error stops at the first.
func Parse(data []byte) (*Config, error) {
	c, problems := Check(data)
	if len(problems) > 0 {
		return nil, &Problems{List: problems}
	}
	return c, nil
}

// Check is Parse for checkers: it returns the configuration as decoded (defaults
// applied) even when it has problems, so check-config can go on reading secrets
// and provider settings. The configuration is nil only after a YAML syntax error.
func Check(data []byte) (*Config, []Problem) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&c)
	var te *yaml.TypeError
	switch {
	case err == nil, errors.Is(err, io.EOF):
	case errors.As(err, &te):
	default:
		return nil, []Problem{{Message: err.Error()}}
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc) // already parsed once: only its positions are used
	problems := resolveTypeErrors(&doc, "", te)
	var extra yaml.Node
	if err == nil && dec.Decode(&extra) != io.EOF {
		problems = append(problems, Problem{Message: "only one YAML document is allowed"})
	}
	c.applyDefaults()
	if verr := c.Validate(); verr != nil {
		var vp *Problems
		if errors.As(verr, &vp) {
			problems = append(problems, dropShadowed(vp.List, problems)...)
		}
	}
	return &c, problems
}

func (c *Config) applyDefaults() {
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	if c.Mode == "" {
		c.Mode = ModeProduction
	}
	if c.Listen.Address == "" {
		c.Listen.Address = "127.0.0.1:8080"
	}
	if c.Store.Driver == "" {
		c.Store.Driver = "sqlite"
	}
	if len(c.Keys.Algorithms) == 0 {
		c.Keys.Algorithms = []string{"ES256", "RS256"}
	}
	def(&c.Keys.MaxTokenLifetime, 24*time.Hour)
	def(&c.Tokens.CodeLifetime, 60*time.Second)
	def(&c.Tokens.AccessTokenLifetime, 10*time.Minute)
	def(&c.Tokens.IDTokenLifetime, time.Hour)
	def(&c.Tokens.RefreshTokenLifetime, 30*24*time.Hour)
	def(&c.Sessions.IdleTimeout, 2*time.Hour)
	def(&c.Sessions.AbsoluteTimeout, 12*time.Hour)
	def(&c.Sessions.FlowLifetime, 15*time.Minute)
	rate := func(r *Rate, requests int, per time.Duration, burst int) {
		if r.Requests == 0 && r.Per == 0 && r.Burst == 0 {
			*r = Rate{Requests: requests, Per: Duration(per), Burst: burst, Disabled: r.Disabled}
		}
	}
	rate(&c.RateLimits.TokenPerClient, 500, time.Second, 1000)
	rate(&c.RateLimits.LoginPerAddress, 600, time.Minute, 200)
	rate(&c.RateLimits.LoginFailuresPerAccount, 10, 10*time.Minute, 10)
	for i := range c.Providers {
		p := &c.Providers[i]
		if p.MaxACR == "" {
			p.MaxACR = "eidas1"
		}
		if p.SubjectNamespace == "" {
			p.SubjectNamespace = p.ID
		}
	}
	for i := range c.Clients {
		ApplyClientDefaults(&c.Clients[i])
	}
}

// Warnings lists the settings in use that weaken security or suit development
// only; the broker logs each at start and check-config prints them.
func (c *Config) Warnings() []string {
	var w []string
	if c.Mode == ModeDevelopment {
		w = append(w, "mode: development: static development users are allowed; never run this in production")
	}
	if c.InsecureAllowHTTPIssuer {
		if isPlainHTTP(c.Issuer) {
			w = append(w, "insecure_allow_http_issuer: the issuer is plain http (loopback tests only)")
		} else {
			w = append(w, "insecure_allow_http_issuer: set but unused (the issuer is https): remove it")
		}
	}
	if c.Mode == ModeDevelopment && !c.PairwiseSalt.IsSet() && c.usesPairwise() {
		w = append(w, "pairwise_salt: not set: pairwise subjects are derived from the KEK and change with it")
	}
	return w
}

func (c *Config) usesPairwise() bool {
	for _, cl := range c.Clients {
		if cl.SubjectType == SubjectPairwise {
			return true
		}
	}
	return false
}
