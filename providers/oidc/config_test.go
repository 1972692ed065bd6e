package oidc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestConfigDecodeStrict(t *testing.T) {
	src := `
issuer: https://idp.commissaires-justice.example
client_id: justiceconnect
client_secret_file: /run/secrets/bailiffs
auth_method: client_secret_post
scopes: [openid, profile, profession]
claims_source: userinfo
allowed_algs: [ES256, RS256]
timeout: 3s
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://idp.commissaires-justice.example" || c.AuthMethod != AuthClientSecretPost || c.Timeout != 3*time.Second ||
		len(c.Scopes) != 3 || c.ClaimsSource != ClaimsUserinfo || len(c.AllowedAlgs) != 2 {
		t.Errorf("decoded %+v", c)
	}
	if problems := c.Validate(); len(problems) != 0 {
		t.Errorf("Validate: %q", problems)
	}
	dec = yaml.NewDecoder(strings.NewReader(src + "client_secret: inline\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&Config{}); err == nil {
		t.Error("an inline client_secret must be an unknown field")
	}
}

func TestConfigValidate(t *testing.T) {
	valid := Config{Issuer: "https://idp.example", ClientID: "jc", ClientSecretEnv: "JC_SECRET"}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string // substring of the only problem; "" for none
	}{
		{name: "valid", mutate: func(*Config) {}},
		{name: "no issuer", mutate: func(c *Config) { c.Issuer = "" }, want: "issuer: required"},
		{name: "http issuer", mutate: func(c *Config) { c.Issuer = "http://idp.example" }, want: "issuer: must use https"},
		{name: "http loopback without insecure", mutate: func(c *Config) { c.Issuer = "http://127.0.0.1:4000" }, want: "issuer: must use https"},
		{name: "http loopback with insecure", mutate: func(c *Config) { c.Issuer, c.InsecureAllowHTTP = "http://127.0.0.1:4000", true }},
		{name: "insecure on a real host", mutate: func(c *Config) { c.InsecureAllowHTTP = true }, want: "insecure_allow_http: only for an issuer on a loopback"},
		{name: "issuer with query", mutate: func(c *Config) { c.Issuer = "https://idp.example/?x=1" }, want: "issuer: must not have a query"},
		{name: "no client_id", mutate: func(c *Config) { c.ClientID = "" }, want: "client_id: required"},
		{name: "no secret", mutate: func(c *Config) { c.ClientSecretEnv = "" }, want: "client_secret_file: one of"},
		{name: "two secrets", mutate: func(c *Config) { c.ClientSecretFile = "/s" }, want: "client_secret_env: set client_secret_file or"},
		{name: "private_key_jwt without key", mutate: func(c *Config) { c.AuthMethod, c.ClientSecretEnv = AuthPrivateKeyJWT, "" }, want: "private_key_file: required"},
		{name: "private_key_jwt with a secret", mutate: func(c *Config) { c.AuthMethod, c.PrivateKeyFile = AuthPrivateKeyJWT, "/k" }, want: "client_secret_file: no client secret"},
		{name: "key with a secret method", mutate: func(c *Config) { c.PrivateKeyFile = "/k" }, want: "private_key_file: only with"},
		{name: "unknown auth method", mutate: func(c *Config) { c.AuthMethod = "client_secret_jwt" }, want: "auth_method:"},
		{name: "scopes without openid", mutate: func(c *Config) { c.Scopes = []string{"profile"} }, want: "scopes: must include openid"},
		{name: "bad scope token", mutate: func(c *Config) { c.Scopes = []string{"openid", "a b"} }, want: "scopes[1]"},
		{name: "bad claims source", mutate: func(c *Config) { c.ClaimsSource = "ldap" }, want: "claims_source:"},
		{name: "alg none", mutate: func(c *Config) { c.AllowedAlgs = []string{"RS256", "none"} }, want: "allowed_algs[1]: \"none\" is never accepted"},
		{name: "alg HS256", mutate: func(c *Config) { c.AllowedAlgs = []string{"HS256"} }, want: "allowed_algs[0]: \"HS256\" is never accepted"},
		{name: "alg unknown", mutate: func(c *Config) { c.AllowedAlgs = []string{"RS1"} }, want: "allowed_algs[0]: \"RS1\" is not one of"},
		{name: "negative timeout", mutate: func(c *Config) { c.Timeout = -time.Second }, want: "timeout:"},
		{name: "huge timeout", mutate: func(c *Config) { c.Timeout = time.Hour }, want: "timeout:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.mutate(&c)
			problems := c.Validate()
			if tt.want == "" {
				if len(problems) != 0 {
					t.Fatalf("problems %q", problems)
				}
				return
			}
			if len(problems) != 1 || !strings.Contains(problems[0], tt.want) {
				t.Fatalf("problems %q; want one containing %q", problems, tt.want)
			}
		})
	}
	// Every problem at once.
	if got := (Config{AuthMethod: "x", AllowedAlgs: []string{"none"}, Timeout: -1}).Validate(); len(got) != 5 {
		t.Errorf("want 5 problems at once, got %q", got)
	}
}

func TestNewSecrets(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := Config{Issuer: "https://idp.example", ClientID: "jc"}
	for name, c := range map[string]Config{
		"missing file":     {ClientSecretFile: filepath.Join(dir, "nope")},
		"empty file":       {ClientSecretFile: empty},
		"unset env":        {ClientSecretEnv: "JC_TEST_UNSET_SECRET_VARIABLE"},
		"missing key":      {AuthMethod: AuthPrivateKeyJWT, PrivateKeyFile: filepath.Join(dir, "nope")},
		"key not PEM":      {AuthMethod: AuthPrivateKeyJWT, PrivateKeyFile: empty},
		"invalid settings": {ClientSecretEnv: "X", AllowedAlgs: []string{"HS256"}},
	} {
		c.Issuer, c.ClientID = base.Issuer, base.ClientID
		if _, err := New(c, Options{}); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	t.Setenv("JC_TEST_SECRET", "s3cret")
	p, err := New(Config{Issuer: "https://idp.example", ClientID: "jc", ClientSecretEnv: "JC_TEST_SECRET"}, Options{})
	if err != nil || p.secret != "s3cret" {
		t.Fatalf("New with env secret: %v", err)
	}
}
