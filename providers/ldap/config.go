package ldap

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// Defaults applied by New when a setting is left empty.
const (
	DefaultUserFilter        = "(&(objectClass=inetOrgPerson)(uid={username}))"
	DefaultSubjectAttribute  = "entryUUID"
	DefaultUsernameAttribute = "uid"
	DefaultTimeout           = 5 * time.Second
	DefaultPoolSize          = 4
	DefaultAccountFailures   = 5
	DefaultAddressFailures   = 50
	DefaultMaxDelay          = 15 * time.Minute

	// UsernamePlaceholder is replaced in user_filter by the escaped username.
	UsernamePlaceholder = "{username}"

	maxTimeout  = time.Minute
	maxPoolSize = 64
)

// DefaultAttributes are fetched when attributes is empty. memberOf holds group DNs
// (computed by slapo-dynlist or the memberof overlay on OpenLDAP, native on AD);
// entryUUID (RFC 4530) is operational and must be asked for by name.
var DefaultAttributes = []string{
	"uid", "cn", "sn", "givenName", "mail", "employeeNumber", "employeeType",
	"departmentNumber", "memberOf", "entryUUID",
}

// Config is the provider's settings block (providers[].settings), decoded strictly
// by the broker. Secrets are referenced by file or environment variable, never
// inline.
type Config struct {
	// URLs are tried in order for every new connection (failover): ldaps://host:636,
	// or ldap://host:389 with start_tls. A plain ldap:// URL without start_tls is
	// refused unless insecure_plaintext is set.
	URLs []string `yaml:"urls"`
	// StartTLS upgrades ldap:// connections with the StartTLS extended operation
	// (RFC 4513 §3) before anything else is sent.
	StartTLS bool `yaml:"start_tls"`
	// CAFile holds the PEM certificates that may sign the directory's certificate;
	// the system roots when empty.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify accepts any server certificate (tests only; logged at start).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// InsecurePlaintext allows ldap:// without StartTLS: passwords then cross the
	// network in clear (RFC 4513 §5.1.2, §6.3.1). Tests only; logged at start.
	InsecurePlaintext bool `yaml:"insecure_plaintext"`
	// BindDN is the read-only service account used to find users.
	BindDN string `yaml:"bind_dn"`
	// BindPasswordFile or BindPasswordEnv (exactly one) hold its password. A
	// trailing newline in the file is ignored.
	BindPasswordFile string `yaml:"bind_password_file"`
	BindPasswordEnv  string `yaml:"bind_password_env"`
	// BaseDN is where users are searched (whole subtree).
	BaseDN string `yaml:"base_dn"`
	// UserFilter finds the entry of a username (RFC 4515); every {username} is
	// replaced by the username escaped with ldap.EscapeFilter. With {username}
	// replaced by "*", it also defines the population that Refresh and Lookup search.
	UserFilter string `yaml:"user_filter"`
	// DisabledFilter, when set, is matched against the user's entry after the
	// password was verified: a match means ErrAccountDisabled. It fails closed: a
	// filter the directory cannot evaluate disables everyone.
	// Example: (nsAccountLock=TRUE) or (pwdAccountLockedTime=*).
	DisabledFilter string `yaml:"disabled_filter"`
	// Attributes are fetched and reported under these names in the Identity.
	Attributes []string `yaml:"attributes"`
	// SubjectAttribute holds the stable subject (default entryUUID); it must be
	// single-valued, textual and never an e-mail address.
	SubjectAttribute string `yaml:"subject_attribute"`
	// UsernameAttribute is reported as Identity.Username (default uid).
	UsernameAttribute string `yaml:"username_attribute"`
	// Timeout bounds each directory operation: connecting (TCP, TLS, service bind),
	// a search, a bind, waiting for a pooled connection (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// PoolSize is the number of service-account connections, and separately of
	// connections used for user binds (default 4).
	PoolSize int `yaml:"pool_size"`
	// LookupAttributes maps AttributeSource keys to LDAP attributes, for example
	// certificate_serial: employeeNumber.
	LookupAttributes map[string]string `yaml:"lookup_attributes"`
	// Throttle tunes the in-memory failure throttling.
	Throttle ThrottleConfig `yaml:"throttle"`
}

// ThrottleConfig tunes failure throttling (SECURITY.md D10). After the allowed
// number of consecutive failures, each further failure doubles a delay during which
// logins are refused with ErrThrottled, starting at 1s and capped at MaxDelay: there
// is never a permanent lockout. The count of an account resets on its next
// successful login; any count is forgotten after 24 hours without failure.
type ThrottleConfig struct {
	// AccountFailures are the failures allowed per username before delays start
	// (default 5).
	AccountFailures int `yaml:"account_failures"`
	// AddressFailures are the failures allowed per client address (default 50: a
	// court's agents often share one address behind a proxy).
	AddressFailures int `yaml:"address_failures"`
	// MaxDelay caps the delay (default 15m).
	MaxDelay time.Duration `yaml:"max_delay"`
}

var attributeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)(;[A-Za-z0-9-]+)*$`)

// withDefaults fills empty settings.
func (c Config) withDefaults() Config {
	if c.UserFilter == "" {
		c.UserFilter = DefaultUserFilter
	}
	if c.SubjectAttribute == "" {
		c.SubjectAttribute = DefaultSubjectAttribute
	}
	if c.UsernameAttribute == "" {
		c.UsernameAttribute = DefaultUsernameAttribute
	}
	if len(c.Attributes) == 0 {
		c.Attributes = append([]string(nil), DefaultAttributes...)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PoolSize == 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.Throttle.AccountFailures == 0 {
		c.Throttle.AccountFailures = DefaultAccountFailures
	}
	if c.Throttle.AddressFailures == 0 {
		c.Throttle.AddressFailures = DefaultAddressFailures
	}
	if c.Throttle.MaxDelay == 0 {
		c.Throttle.MaxDelay = DefaultMaxDelay
	}
	return c
}

// Validate lists every problem of the settings, with paths relative to settings.
// It reads no file: New reports unreadable secrets.
func (c Config) Validate() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if len(c.URLs) == 0 {
		add("urls: at least one ldaps:// or ldap:// URL is required")
	}
	for i, raw := range c.URLs {
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			add("urls[%d]: %v", i, err)
			continue
		case u.Scheme != "ldap" && u.Scheme != "ldaps":
			add("urls[%d]: scheme must be ldaps or ldap, not %q", i, u.Scheme)
			continue
		case u.Hostname() == "":
			add("urls[%d]: host required", i)
			continue
		case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil || u.Fragment != "":
			add("urls[%d]: only scheme://host[:port] (base_dn and filters are separate settings)", i)
		}
		if p := u.Port(); p != "" {
			if _, err := net.LookupPort("tcp", p); err != nil {
				add("urls[%d]: bad port %q", i, p)
			}
		}
		if u.Scheme == "ldaps" && c.StartTLS {
			add("urls[%d]: ldaps:// is already TLS; start_tls applies to ldap:// URLs only", i)
		}
		if u.Scheme == "ldap" && !c.StartTLS && !c.InsecurePlaintext {
			add("urls[%d]: ldap:// sends passwords in clear: use ldaps://, or start_tls: true (insecure_plaintext: true only for tests)", i)
		}
	}
	if strings.TrimSpace(c.BindDN) == "" {
		add("bind_dn: required (a read-only service account)")
	} else if _, err := goldap.ParseDN(c.BindDN); err != nil {
		add("bind_dn: not a DN (RFC 4514): %v", err)
	}
	switch {
	case c.BindPasswordFile == "" && c.BindPasswordEnv == "":
		add("bind_password_file: one of bind_password_file or bind_password_env is required")
	case c.BindPasswordFile != "" && c.BindPasswordEnv != "":
		add("bind_password_env: set bind_password_file or bind_password_env, not both")
	}
	if strings.TrimSpace(c.BaseDN) == "" {
		add("base_dn: required")
	} else if _, err := goldap.ParseDN(c.BaseDN); err != nil {
		add("base_dn: not a DN (RFC 4514): %v", err)
	}
	if c.UserFilter != "" {
		if !strings.Contains(c.UserFilter, UsernamePlaceholder) {
			add("user_filter: must contain %s", UsernamePlaceholder)
		} else if _, err := goldap.CompileFilter(strings.ReplaceAll(c.UserFilter, UsernamePlaceholder, "x")); err != nil {
			add("user_filter: not an LDAP filter (RFC 4515): %v", err)
		} else if _, err := goldap.CompileFilter(strings.ReplaceAll(c.UserFilter, UsernamePlaceholder, "*")); err != nil {
			add("user_filter: %s must stand for a whole assertion value: %v", UsernamePlaceholder, err)
		}
	}
	if c.DisabledFilter != "" {
		if _, err := goldap.CompileFilter(c.DisabledFilter); err != nil {
			add("disabled_filter: not an LDAP filter (RFC 4515): %v", err)
		}
	}
	for i, a := range c.Attributes {
		if !attributeRE.MatchString(a) {
			add("attributes[%d]: %q is not an attribute description (RFC 4512 §2.5)", i, a)
		}
	}
	if c.SubjectAttribute != "" && !attributeRE.MatchString(c.SubjectAttribute) {
		add("subject_attribute: %q is not an attribute description", c.SubjectAttribute)
	}
	if s := strings.ToLower(c.SubjectAttribute); s == "mail" || s == "email" || s == "userprincipalname" {
		add("subject_attribute: %s can change and be reassigned; use entryUUID (RFC 4530) or another stable identifier", c.SubjectAttribute)
	}
	if c.UsernameAttribute != "" && !attributeRE.MatchString(c.UsernameAttribute) {
		add("username_attribute: %q is not an attribute description", c.UsernameAttribute)
	}
	if c.Timeout < 0 || c.Timeout > maxTimeout {
		add("timeout: between 100ms and %v (0 means %v)", maxTimeout, DefaultTimeout)
	} else if c.Timeout != 0 && c.Timeout < 100*time.Millisecond {
		add("timeout: at least 100ms")
	}
	if c.PoolSize < 0 || c.PoolSize > maxPoolSize {
		add("pool_size: between 1 and %d (0 means %d)", maxPoolSize, DefaultPoolSize)
	}
	keys := make([]string, 0, len(c.LookupAttributes))
	for k := range c.LookupAttributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.TrimSpace(k) == "" {
			add("lookup_attributes: empty key")
		}
		if a := c.LookupAttributes[k]; !attributeRE.MatchString(a) {
			add("lookup_attributes.%s: %q is not an attribute description", k, a)
		}
	}
	if c.Throttle.AccountFailures < 0 || c.Throttle.AccountFailures > 100 {
		add("throttle.account_failures: between 1 and 100 (0 means %d)", DefaultAccountFailures)
	}
	if c.Throttle.AddressFailures < 0 || c.Throttle.AddressFailures > 10000 {
		add("throttle.address_failures: between 1 and 10000 (0 means %d)", DefaultAddressFailures)
	}
	if c.Throttle.MaxDelay < 0 || c.Throttle.MaxDelay > 24*time.Hour {
		add("throttle.max_delay: between 1s and 24h (0 means %v)", DefaultMaxDelay)
	} else if c.Throttle.MaxDelay != 0 && c.Throttle.MaxDelay < time.Second {
		add("throttle.max_delay: at least 1s")
	}
	return problems
}
