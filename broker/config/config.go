package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole file.
type Config struct {
	Issuer                  string           `yaml:"issuer"`
	Mode                    string           `yaml:"mode"`
	Listen                  Listen           `yaml:"listen"`
	CardListen              CardListen       `yaml:"card_listen"`
	AdminListen             AdminListen      `yaml:"admin_listen"`
	Store                   Store            `yaml:"store"`
	Keys                    Keys             `yaml:"keys"`
	Tokens                  Tokens           `yaml:"tokens"`
	Sessions                Sessions         `yaml:"sessions"`
	PairwiseSalt            Secret           `yaml:"pairwise_salt"`
	CourtsFile              string           `yaml:"courts_file"`
	InsecureAllowHTTPIssuer bool             `yaml:"insecure_allow_http_issuer"`
	APIScopes               []string         `yaml:"api_scopes"`
	Providers               []ProviderConfig `yaml:"providers"`
	Clients                 []ClientConfig   `yaml:"clients"`
}

// Listen is the main HTTPS listener.
type Listen struct {
	Address     string `yaml:"address"`
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
}

// CardListen is the smart-card origin (a listener that asks for a client certificate).
type CardListen struct {
	Address       string   `yaml:"address"`
	TLSCertFile   string   `yaml:"tls_cert_file"`
	TLSKeyFile    string   `yaml:"tls_key_file"`
	ClientCAFiles []string `yaml:"client_ca_files"`
}

// AdminListen serves metrics and health on a separate address.
type AdminListen struct {
	Address string `yaml:"address"`
}

// Store selects the database.
type Store struct {
	Driver      string `yaml:"driver"`
	SQLitePath  string `yaml:"sqlite_path"`
	PostgresDSN Secret `yaml:"postgres_dsn"`
}

// Keys configures signing keys.
type Keys struct {
	KEK              Secret   `yaml:"kek"`
	Algorithms       []string `yaml:"algorithms"`
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

// ProviderConfig declares an upstream identity source.
type ProviderConfig struct {
	ID           string   `yaml:"id"`
	Type         string   `yaml:"type"`
	Label        string   `yaml:"label"`
	Description  string   `yaml:"description"`
	MaxACR       string   `yaml:"max_acr"`
	EmailDomains []string `yaml:"email_domains"`
	// SubjectNamespace lets providers that name people alike (the directory and the
	// smart card enriched from it) give the same sub. Defaults to ID.
	SubjectNamespace string    `yaml:"subject_namespace"`
	Settings         yaml.Node `yaml:"settings"`
	Mapping          Mapping   `yaml:"mapping"`
}

// Mapping are the rules that turn upstream attributes into claims (broker/mapping).
type Mapping struct {
	Subject        string            `yaml:"subject"`
	Username       string            `yaml:"username"`
	GivenName      string            `yaml:"given_name"`
	FamilyName     string            `yaml:"family_name"`
	Email          string            `yaml:"email"`
	ProfessionalID string            `yaml:"professional_id"`
	Organization   ValueRule         `yaml:"organization"`
	Barreau        ValueRule         `yaml:"barreau"`
	Profession     ProfessionRule    `yaml:"profession"`
	Courts         CourtRule         `yaml:"courts"`
	Roles          []RoleRule        `yaml:"roles"`
	UpstreamACR    map[string]string `yaml:"upstream_acr"`
}

// ValueRule is a fixed value or an attribute's value.
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

// CourtRule translates an attribute's values into court codes.
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

// ClientConfig declares an OAuth client.
type ClientConfig struct {
	ClientID                    string   `yaml:"client_id"`
	Name                        string   `yaml:"name"`
	Organization                string   `yaml:"organization"`
	Kind                        string   `yaml:"kind"`
	Secret                      Secret   `yaml:"secret"`
	SecretHash                  string   `yaml:"secret_hash"`
	TokenEndpointAuthMethod     string   `yaml:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg string   `yaml:"token_endpoint_auth_signing_alg"`
	JWKSFile                    string   `yaml:"jwks_file"`
	RedirectURIs                []string `yaml:"redirect_uris"`
	PostLogoutRedirectURIs      []string `yaml:"post_logout_redirect_uris"`
	GrantTypes                  []string `yaml:"grant_types"`
	Scopes                      []string `yaml:"scopes"`
	Audience                    []string `yaml:"audience"`
	IDTokenSignedResponseAlg    string   `yaml:"id_token_signed_response_alg"`
	UserinfoSignedResponseAlg   string   `yaml:"userinfo_signed_response_alg"`
	SubjectType                 string   `yaml:"subject_type"`
	SectorIdentifier            string   `yaml:"sector_identifier"`
	BackchannelLogoutURI        string   `yaml:"backchannel_logout_uri"`
	FrontchannelLogoutURI       string   `yaml:"frontchannel_logout_uri"`
	AccessTokenLifetime         Duration `yaml:"access_token_lifetime"`
	RefreshTokenLifetime        Duration `yaml:"refresh_token_lifetime"`
	AllowedProviders            []string `yaml:"allowed_providers"`
	AllowedProfessions          []string `yaml:"allowed_professions"`
}

// Duration is a time.Duration written as "10m", "12h".
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: a duration such as 10m or 12h is expected", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (such as 10m or 12h)", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// Secret names where a secret lives: a file or an environment variable.
type Secret struct {
	File string `yaml:"file"`
	Env  string `yaml:"env"`
}

// IsSet reports whether a file or an environment variable is named.
func (s Secret) IsSet() bool { return s.File != "" || s.Env != "" }

// Read returns the secret, without its trailing newline.
func (s Secret) Read() ([]byte, error) {
	switch {
	case s.File != "" && s.Env != "":
		return nil, errors.New("give either file or env, not both")
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return nil, fmt.Errorf("cannot read secret file: %w", err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, fmt.Errorf("secret file %s is empty", s.File)
		}
		return b, nil
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return nil, fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return []byte(strings.TrimRight(v, "\r\n")), nil
	}
	return nil, errors.New("no secret given: set file or env")
}

// Problem is one thing wrong with the configuration.
type Problem struct {
	Path    string
	Message string
}

// Problems is every problem found; its Error prints one per line.
type Problems struct{ List []Problem }

func (p *Problems) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d configuration problem(s):", len(p.List))
	for _, x := range p.List {
		if x.Path != "" {
			fmt.Fprintf(&b, "\n  %s: %s", x.Path, x.Message)
		} else {
			fmt.Fprintf(&b, "\n  %s", x.Message)
		}
	}
	return b.String()
}

func (p *Problems) add(path, format string, args ...any) {
	p.List = append(p.List, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Load reads and parses a configuration file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b)
}

// Parse decodes strictly, applies defaults and validates, returning every problem.
func Parse(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			p := &Problems{}
			for _, e := range te.Errors {
				p.add("", "%s", e)
			}
			return nil, p
		}
		return nil, &Problems{List: []Problem{{Message: err.Error()}}}
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// DecodeSettings decodes a provider's settings block strictly into into.
func DecodeSettings(n yaml.Node, into any) error {
	if n.Kind == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	if err := enc.Encode(&n); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	dec := yaml.NewDecoder(&buf)
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	return nil
}

func (c *Config) applyDefaults() {
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	if c.Mode == "" {
		c.Mode = "production"
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
		cl := &c.Clients[i]
		if cl.Kind == "" {
			cl.Kind = "partner"
		}
		if cl.TokenEndpointAuthMethod == "" {
			cl.TokenEndpointAuthMethod = "client_secret_basic"
		}
		if len(cl.GrantTypes) == 0 {
			cl.GrantTypes = []string{"authorization_code", "refresh_token"}
		}
		if cl.IDTokenSignedResponseAlg == "" {
			cl.IDTokenSignedResponseAlg = "ES256"
		}
		if cl.SubjectType == "" {
			cl.SubjectType = "pairwise"
			if cl.Kind == "first_party" {
				cl.SubjectType = "public"
			}
		}
	}
}

// Warnings lists the settings in use that weaken security or suit development only.
func (c *Config) Warnings() []string {
	var w []string
	if c.Mode == "development" {
		w = append(w, "mode: development — development users are enabled; never run this in production")
	}
	if c.InsecureAllowHTTPIssuer && strings.HasPrefix(c.Issuer, "http://") {
		w = append(w, "insecure_allow_http_issuer: the issuer is plain HTTP (loopback only)")
	}
	return w
}
