package x509

import (
	stdx509 "crypto/x509"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Object identifiers of the extended key usages a smart card certificate may carry
// (RFC 5280 §4.2.1.12).
const (
	// EKUClientAuth is id-kp-clientAuth, TLS WWW client authentication.
	EKUClientAuth = "1.3.6.1.5.5.7.3.2"
	// EKUSmartCardLogon is Microsoft's smart card logon (szOID_KP_SMARTCARD_LOGON),
	// which many agent cards carry instead of clientAuth.
	EKUSmartCardLogon = "1.3.6.1.4.1.311.20.2.2"
	// EKUAny is anyExtendedKeyUsage; a certificate asserting it is accepted only when
	// allowed_ekus lists it explicitly.
	EKUAny = "2.5.29.37.0"
)

// Mapping rules: which certificate field names the person in the directory. There
// is deliberately no rule on the common name (SECURITY.md I6).
const (
	// RuleUPN is the Microsoft user principal name, a subjectAltName otherName
	// 1.3.6.1.4.1.311.20.2.3 (UTF8String).
	RuleUPN = "upn"
	// RuleEmail is the subjectAltName rfc822Name (RFC 5280 §4.2.1.6); never the
	// deprecated emailAddress attribute of the subject.
	RuleEmail = "email"
	// RuleIssuerSerial is "<serial in decimal>@<issuer DN as RFC 4514 string>", the
	// pair that identifies a certificate uniquely (RFC 5280 §4.1.2.2).
	RuleIssuerSerial = "issuer_serial"
	// RuleSubjectSerialNumber is the subject's serialNumber attribute (2.5.4.5).
	RuleSubjectSerialNumber = "subject_serial_number"
)

// Failure policies of a revocation source.
const (
	// OnFailureReject refuses the login when no current revocation information can
	// be had.
	OnFailureReject = "reject"
	// OnFailureUseLast keeps using the last good answer after its nextUpdate, for
	// grace at most; with nothing cached it still refuses.
	OnFailureUseLast = "use_last"
)

// Defaults applied by New when a setting is left empty.
const (
	DefaultCRLRefresh  = time.Hour
	DefaultCRLTimeout  = 5 * time.Second
	DefaultOCSPTimeout = 3 * time.Second
	DefaultGrace       = 24 * time.Hour

	maxTimeout = time.Minute
	maxGrace   = 7 * 24 * time.Hour
)

// DefaultAllowedEKUs are used when allowed_ekus is empty.
var DefaultAllowedEKUs = []string{EKUClientAuth, EKUSmartCardLogon}

// Config is the provider's settings block (providers[].settings), decoded strictly
// by the broker.
type Config struct {
	// TrustAnchors are PEM files holding the root certificates of the card CAs. Only
	// chains ending at one of them are accepted, whatever the TLS layer allowed.
	TrustAnchors []string `yaml:"trust_anchors"`
	// Intermediates is an optional PEM file of intermediate CA certificates, for
	// clients that send only their leaf.
	Intermediates string `yaml:"intermediates"`
	// RequiredPolicies are certificate policy OIDs, dotted (RFC 5280 §4.2.1.4).
	// When set, the leaf must assert at least one of them and the chain must be
	// valid for it (RFC 5280 §6.1, user-initial-policy-set).
	RequiredPolicies []string `yaml:"required_policies"`
	// AllowedEKUs are extended key usage OIDs; the leaf must carry at least one
	// (default: clientAuth and smart card logon). A leaf without the extension is
	// refused.
	AllowedEKUs []string `yaml:"allowed_ekus"`
	// CRL configures certificate revocation lists (RFC 5280 §5).
	CRL CRLConfig `yaml:"crl"`
	// OCSP configures OCSP (RFC 6960), used when a certificate names a responder.
	OCSP OCSPConfig `yaml:"ocsp"`
	// InsecureNoRevocation accepts a certificate for which no revocation source is
	// known (no crl.urls, no CRL distribution point, no OCSP responder) instead of
	// refusing it. Tests only; logged at start.
	InsecureNoRevocation bool `yaml:"insecure_no_revocation"`
	// Mapping says how a certificate finds its directory entry.
	Mapping MappingConfig `yaml:"mapping"`
	// AMR are RFC 8176 values added to "sc" and "hwk" (for example "pin" when the
	// card always asks for its PIN).
	AMR []string `yaml:"amr"`
	// Directory is the id of the provider (an AttributeSource) where card holders
	// are looked up; the broker resolves it.
	Directory string `yaml:"directory"`
}

// CRLConfig configures CRL fetching.
type CRLConfig struct {
	// URLs, when set, are fetched instead of the card certificates' CRL
	// distribution points (http or https); CA certificates keep their own. A CRL
	// applies only to the certificates its issuer signed (the other URLs are
	// skipped for them).
	URLs []string `yaml:"urls"`
	// Refresh is how often a cached CRL is fetched again even before its nextUpdate
	// (default 1h).
	Refresh time.Duration `yaml:"refresh"`
	// Timeout bounds one fetch (default 5s).
	Timeout time.Duration `yaml:"timeout"`
	// OnFailure is reject (default) or use_last.
	OnFailure string `yaml:"on_failure"`
	// Grace is how long after its nextUpdate a cached CRL is still used with
	// on_failure: use_last (default 24h, at most 7 days).
	Grace time.Duration `yaml:"grace"`
}

// OCSPConfig configures OCSP queries.
type OCSPConfig struct {
	// Disabled ignores the certificates' OCSP responders (CRLs only).
	Disabled bool `yaml:"disabled"`
	// Timeout bounds one query (default 3s).
	Timeout time.Duration `yaml:"timeout"`
	// OnFailure is reject (default) or use_last. A failed query falls back to CRLs
	// first when the certificate has some.
	OnFailure string `yaml:"on_failure"`
	// Grace is how long after its nextUpdate a cached response is still used with
	// on_failure: use_last (default 24h, at most 7 days).
	Grace time.Duration `yaml:"grace"`
}

// MappingConfig is the one rule that maps a certificate to a directory entry.
type MappingConfig struct {
	// Rule is upn, email, issuer_serial or subject_serial_number.
	Rule string `yaml:"rule"`
	// LookupKey names a key of the directory's lookup_attributes; the rule's value
	// is looked up under it, matched exactly.
	LookupKey string `yaml:"lookup_key"`
}

var amrValues = map[string]bool{
	"pwd": true, "otp": true, "mfa": true, "sc": true, "hwk": true, "swk": true, "pin": true, "pop": true,
	"face": true, "fpt": true, "geo": true, "iris": true, "kba": true, "mca": true, "rba": true,
	"retina": true, "sms": true, "tel": true, "user": true, "vbm": true, "wia": true,
}

// withDefaults fills empty settings.
func (c Config) withDefaults() Config {
	if len(c.AllowedEKUs) == 0 {
		c.AllowedEKUs = append([]string(nil), DefaultAllowedEKUs...)
	}
	if c.CRL.Refresh == 0 {
		c.CRL.Refresh = DefaultCRLRefresh
	}
	if c.CRL.Timeout == 0 {
		c.CRL.Timeout = DefaultCRLTimeout
	}
	if c.CRL.OnFailure == "" {
		c.CRL.OnFailure = OnFailureReject
	}
	if c.CRL.Grace == 0 {
		c.CRL.Grace = DefaultGrace
	}
	if c.OCSP.Timeout == 0 {
		c.OCSP.Timeout = DefaultOCSPTimeout
	}
	if c.OCSP.OnFailure == "" {
		c.OCSP.OnFailure = OnFailureReject
	}
	if c.OCSP.Grace == 0 {
		c.OCSP.Grace = DefaultGrace
	}
	return c
}

// Validate lists every problem of the settings, with paths relative to settings.
// It reads no file: New reports unreadable or empty PEM files.
func (c Config) Validate() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if len(c.TrustAnchors) == 0 {
		add("trust_anchors: at least one PEM file of card CA roots is required")
	}
	for i, f := range c.TrustAnchors {
		if strings.TrimSpace(f) == "" {
			add("trust_anchors[%d]: empty path", i)
		}
	}
	for i, p := range c.RequiredPolicies {
		if _, err := stdx509.ParseOID(p); err != nil {
			add("required_policies[%d]: %q is not a dotted OID", i, p)
		}
	}
	for i, e := range c.AllowedEKUs {
		if _, err := stdx509.ParseOID(e); err != nil {
			add("allowed_ekus[%d]: %q is not a dotted OID", i, e)
		}
	}
	for i, raw := range c.CRL.URLs {
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("crl.urls[%d]: %q must be an absolute http or https URL", i, raw)
		}
	}
	checkDuration := func(path string, d, min, max, def time.Duration) {
		switch {
		case d < 0 || d > max:
			add("%s: between %v and %v (0 means %v)", path, min, max, def)
		case d != 0 && d < min:
			add("%s: at least %v", path, min)
		}
	}
	checkDuration("crl.refresh", c.CRL.Refresh, time.Minute, 7*24*time.Hour, DefaultCRLRefresh)
	checkDuration("crl.timeout", c.CRL.Timeout, 100*time.Millisecond, maxTimeout, DefaultCRLTimeout)
	checkDuration("crl.grace", c.CRL.Grace, time.Minute, maxGrace, DefaultGrace)
	checkDuration("ocsp.timeout", c.OCSP.Timeout, 100*time.Millisecond, maxTimeout, DefaultOCSPTimeout)
	checkDuration("ocsp.grace", c.OCSP.Grace, time.Minute, maxGrace, DefaultGrace)
	checkPolicy := func(path, v string) {
		if v != "" && v != OnFailureReject && v != OnFailureUseLast {
			add("%s: %q is neither %s nor %s", path, v, OnFailureReject, OnFailureUseLast)
		}
	}
	checkPolicy("crl.on_failure", c.CRL.OnFailure)
	checkPolicy("ocsp.on_failure", c.OCSP.OnFailure)
	switch c.Mapping.Rule {
	case RuleUPN, RuleEmail, RuleIssuerSerial, RuleSubjectSerialNumber:
	case "":
		add("mapping.rule: required: one of %s, %s, %s, %s", RuleUPN, RuleEmail, RuleIssuerSerial, RuleSubjectSerialNumber)
	default:
		add("mapping.rule: %q is not one of %s, %s, %s, %s (never the common name: SECURITY.md I6)",
			c.Mapping.Rule, RuleUPN, RuleEmail, RuleIssuerSerial, RuleSubjectSerialNumber)
	}
	if strings.TrimSpace(c.Mapping.LookupKey) == "" {
		add("mapping.lookup_key: required (a key of the directory's lookup_attributes)")
	}
	for i, a := range c.AMR {
		if !amrValues[a] {
			add("amr[%d]: %q is not an RFC 8176 value", i, a)
		}
	}
	if strings.TrimSpace(c.Directory) == "" {
		add("directory: required (the id of the provider where card holders are looked up)")
	}
	return problems
}
