package ldap

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func validConfig() Config {
	return Config{
		URLs:             []string{"ldaps://annuaire.justice.gouv.fr", "ldaps://annuaire2.justice.gouv.fr:1636"},
		BindDN:           "cn=justiceconnect,ou=services,dc=justice,dc=gouv,dc=fr",
		BindPasswordFile: "/run/secrets/ldap",
		BaseDN:           "dc=justice,dc=gouv,dc=fr",
	}
}

func TestConfigValidate(t *testing.T) {
	if p := validConfig().Validate(); len(p) != 0 {
		t.Fatalf("valid config: %v", p)
	}
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no URL", func(c *Config) { c.URLs = nil }, "urls: at least one"},
		{"bad scheme", func(c *Config) { c.URLs = []string{"http://x"} }, "urls[0]: scheme"},
		{"no host", func(c *Config) { c.URLs = []string{"ldaps://"} }, "urls[0]: host required"},
		{"path", func(c *Config) { c.URLs = []string{"ldaps://x/dc=fr"} }, "urls[0]: only scheme"},
		{"bad port", func(c *Config) { c.URLs = []string{"ldaps://x:port"} }, "urls[0]"},
		{"plaintext", func(c *Config) { c.URLs = []string{"ldap://x"} }, "urls[0]: ldap:// sends passwords in clear"},
		{"ldaps with start_tls", func(c *Config) { c.URLs, c.StartTLS = []string{"ldaps://x"}, true }, "urls[0]: ldaps:// is already TLS"},
		{"no bind_dn", func(c *Config) { c.BindDN = "" }, "bind_dn: required"},
		{"bad bind_dn", func(c *Config) { c.BindDN = "justiceconnect" }, "bind_dn: not a DN"},
		{"no password", func(c *Config) { c.BindPasswordFile = "" }, "bind_password_file: one of"},
		{"two passwords", func(c *Config) { c.BindPasswordEnv = "X" }, "bind_password_env: set"},
		{"no base", func(c *Config) { c.BaseDN = "" }, "base_dn: required"},
		{"bad base", func(c *Config) { c.BaseDN = "dc=fr,,x" }, "base_dn: not a DN"},
		{"filter without placeholder", func(c *Config) { c.UserFilter = "(uid=admin)" }, "user_filter: must contain {username}"},
		{"bad filter", func(c *Config) { c.UserFilter = "(uid={username}" }, "user_filter: not an LDAP filter"},
		{"bad disabled filter", func(c *Config) { c.DisabledFilter = "nsAccountLock=TRUE)" }, "disabled_filter: not an LDAP filter"},
		{"bad attribute", func(c *Config) { c.Attributes = []string{"uid", "mail)"} }, "attributes[1]"},
		{"mail subject", func(c *Config) { c.SubjectAttribute = "mail" }, "subject_attribute: mail can change"},
		{"bad subject", func(c *Config) { c.SubjectAttribute = "a b" }, "subject_attribute"},
		{"bad username attribute", func(c *Config) { c.UsernameAttribute = "(" }, "username_attribute"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "timeout: between"},
		{"tiny timeout", func(c *Config) { c.Timeout = time.Millisecond }, "timeout: at least 100ms"},
		{"huge timeout", func(c *Config) { c.Timeout = time.Hour }, "timeout: between"},
		{"pool", func(c *Config) { c.PoolSize = 1000 }, "pool_size"},
		{"lookup attribute", func(c *Config) { c.LookupAttributes = map[string]string{"serial": "employee Number"} }, "lookup_attributes.serial"},
		{"throttle", func(c *Config) { c.Throttle.AccountFailures = -1 }, "throttle.account_failures"},
		{"throttle address", func(c *Config) { c.Throttle.AddressFailures = 1e6 }, "throttle.address_failures"},
		{"throttle delay", func(c *Config) { c.Throttle.MaxDelay = time.Millisecond }, "throttle.max_delay"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := validConfig()
			c.edit(&cfg)
			problems := cfg.Validate()
			if len(problems) != 1 || !strings.HasPrefix(problems[0], c.want) {
				t.Errorf("problems = %q, want one starting with %q", problems, c.want)
			}
			if _, err := New(cfg, Options{}); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}

	t.Run("every problem at once", func(t *testing.T) {
		problems := Config{URLs: []string{"ldap://x"}, UserFilter: "(uid=x)", Timeout: -1}.Validate()
		if len(problems) != 6 {
			t.Errorf("problems = %q", problems)
		}
	})

	t.Run("accepted variants", func(t *testing.T) {
		for _, edit := range []func(*Config){
			func(c *Config) { c.URLs, c.StartTLS = []string{"ldap://x:389"}, true },
			func(c *Config) { c.URLs, c.InsecurePlaintext = []string{"ldap://127.0.0.1"}, true },
			func(c *Config) { c.UserFilter = "(|(uid={username})(mail={username}))" },
			func(c *Config) { c.Attributes = []string{"cn;lang-fr", "2.5.4.3", "memberOf"} },
			func(c *Config) { c.BindPasswordFile, c.BindPasswordEnv = "", "LDAP_PASSWORD" },
		} {
			cfg := validConfig()
			edit(&cfg)
			if p := cfg.Validate(); len(p) != 0 {
				t.Errorf("%+v: %q", cfg, p)
			}
		}
	})
}

func TestConfigYAML(t *testing.T) {
	var cfg Config
	src := `
urls: [ldaps://a, ldaps://b]
ca_file: /etc/jc/ca.pem
bind_dn: cn=jc,dc=fr
bind_password_file: /run/secrets/ldap
base_dn: dc=fr
disabled_filter: (nsAccountLock=TRUE)
timeout: 3s
pool_size: 8
lookup_attributes:
  certificate_serial: employeeNumber
throttle:
  account_failures: 10
  max_delay: 10m
`
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if cfg.Timeout != 3*time.Second || cfg.PoolSize != 8 || cfg.Throttle.MaxDelay != 10*time.Minute ||
		cfg.LookupAttributes["certificate_serial"] != "employeeNumber" || len(cfg.URLs) != 2 {
		t.Errorf("decoded %+v", cfg)
	}
	if p := cfg.Validate(); len(p) != 0 {
		t.Errorf("problems: %q", p)
	}
	d := cfg.withDefaults()
	if d.UserFilter != DefaultUserFilter || d.SubjectAttribute != "entryUUID" || d.Throttle.AddressFailures != DefaultAddressFailures || len(d.Attributes) != len(DefaultAttributes) {
		t.Errorf("defaults %+v", d)
	}
}

func TestNewSecrets(t *testing.T) {
	cfg := validConfig()
	cfg.BindPasswordFile = t.TempDir() + "/missing"
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "bind_password_file") {
		t.Errorf("missing file: %v", err)
	}
	cfg.BindPasswordFile, cfg.BindPasswordEnv = "", "JC_TEST_UNSET_VARIABLE_LDAP"
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "not set") {
		t.Errorf("unset env: %v", err)
	}
	t.Setenv("JC_TEST_EMPTY_LDAP", "")
	cfg.BindPasswordEnv = "JC_TEST_EMPTY_LDAP"
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty password: %v", err)
	}
	t.Setenv("JC_TEST_LDAP", "secret")
	cfg.BindPasswordEnv, cfg.CAFile = "JC_TEST_LDAP", t.TempDir()+"/none.pem"
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Errorf("missing CA: %v", err)
	}
}
