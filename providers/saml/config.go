package saml

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Name ID formats (SAML Core §8.3).
const (
	NameIDPersistent  = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	NameIDTransient   = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
	NameIDUnspecified = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
	NameIDEmail       = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
)

// Defaults applied by New.
const (
	DefaultMaxResponseBytes = 256 << 10
	DefaultMetadataRefresh  = time.Hour
	maxMaxResponseBytes     = 10 << 20
)

// Config is the provider's settings block (providers[].settings), decoded strictly.
// There is deliberately no setting to accept SHA-1 signatures.
type Config struct {
	// EntityID is the SP's (the broker's) entity ID, an absolute URI.
	EntityID string `yaml:"entity_id"`
	// ACSURL is the assertion consumer service URL. It defaults to the CallbackURL
	// the broker passes to Begin; set it so that Metadata can be served before the
	// first login.
	ACSURL string `yaml:"acs_url"`
	// SLOURL is where the IdP sends its LogoutResponse after SP-initiated single
	// logout, published in the SP metadata as a SingleLogoutService (SAML Metadata
	// §2.4.2). The broker sets it to its logout return page.
	SLOURL string `yaml:"slo_url"`
	// IdPMetadataFile and IdPMetadataURL locate the IdP's metadata; exactly one.
	IdPMetadataFile string `yaml:"idp_metadata_file"`
	IdPMetadataURL  string `yaml:"idp_metadata_url"`
	// MetadataRefresh is how often the IdP metadata is reloaded (default 1h).
	MetadataRefresh time.Duration `yaml:"metadata_refresh"`
	// SPCertFile and SPKeyFile are the SP's certificate and RSA key (PEM), used to
	// sign AuthnRequests when the IdP wants them signed and to decrypt assertions.
	// Both or neither.
	SPCertFile string `yaml:"sp_cert_file"`
	SPKeyFile  string `yaml:"sp_key_file"`
	// NameIDFormat is requested in the AuthnRequest and required in the assertion:
	// "persistent" (default), "transient", "unspecified", "emailAddress" or a URN.
	// Anything but persistent needs SubjectAttribute: a subject must be stable and
	// never an e-mail address.
	NameIDFormat string `yaml:"name_id_format"`
	// SubjectAttribute, when set, names the attribute (Name or FriendlyName) whose
	// single value is the stable subject instead of the NameID.
	SubjectAttribute string `yaml:"subject_attribute"`
	// MaxResponseBytes bounds the callback body and the SAMLResponse (default 256 KiB).
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
}

var nameIDShort = map[string]string{
	"persistent":   NameIDPersistent,
	"transient":    NameIDTransient,
	"unspecified":  NameIDUnspecified,
	"emailAddress": NameIDEmail,
}

// nameIDFormat returns the full URN of the configured format.
func (c Config) nameIDFormat() string {
	if c.NameIDFormat == "" {
		return NameIDPersistent
	}
	if full, ok := nameIDShort[c.NameIDFormat]; ok {
		return full
	}
	return c.NameIDFormat
}

// Validate lists every problem of the settings, with paths relative to settings.
func (c Config) Validate() []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if strings.TrimSpace(c.EntityID) == "" {
		add("entity_id: required (the broker's SAML entity ID, an absolute URI)")
	} else if u, err := url.Parse(c.EntityID); err != nil || u.Scheme == "" {
		add("entity_id: must be an absolute URI")
	}
	if c.SLOURL != "" {
		if msg := checkURL(c.SLOURL); msg != "" {
			add("slo_url: %s", msg)
		}
	}
	if c.ACSURL != "" {
		if msg := checkURL(c.ACSURL); msg != "" {
			add("acs_url: %s", msg)
		}
	}
	switch {
	case c.IdPMetadataFile == "" && c.IdPMetadataURL == "":
		add("idp_metadata_file: one of idp_metadata_file or idp_metadata_url is required")
	case c.IdPMetadataFile != "" && c.IdPMetadataURL != "":
		add("idp_metadata_url: set idp_metadata_file or idp_metadata_url, not both")
	case c.IdPMetadataURL != "":
		if msg := checkURL(c.IdPMetadataURL); msg != "" {
			add("idp_metadata_url: %s", msg)
		}
	}
	if c.MetadataRefresh < 0 {
		add("metadata_refresh: must not be negative")
	} else if c.MetadataRefresh != 0 && c.MetadataRefresh < time.Second {
		add("metadata_refresh: at least 1s")
	}
	if (c.SPCertFile == "") != (c.SPKeyFile == "") {
		add("sp_key_file: sp_cert_file and sp_key_file go together")
	}
	format := c.nameIDFormat()
	if !strings.HasPrefix(format, "urn:") {
		add("name_id_format: %q is neither a known short name nor a URN", c.NameIDFormat)
	} else if format != NameIDPersistent && c.SubjectAttribute == "" {
		add("subject_attribute: required when name_id_format is not persistent (the subject must be stable and never an e-mail)")
	}
	if c.MaxResponseBytes < 0 || c.MaxResponseBytes > maxMaxResponseBytes {
		add("max_response_bytes: between 1 and %d (0 means %d)", maxMaxResponseBytes, DefaultMaxResponseBytes)
	}
	return problems
}

// checkURL accepts https URLs, and http ones on a loopback host (tests).
func checkURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "must be an absolute URL"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return ""
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			return ""
		}
		return "must use https (http only on a loopback address)"
	default:
		return "must use https"
	}
}
