// Package providers is the contract between the broker and the upstream identity
// sources (the ministry's LDAP directory, the agent smart card, the bar's SAML IdP,
// the bailiffs' OIDC provider, development users). It holds interfaces, the Identity a
// provider reports and the sentinel errors; no implementation lives here.
//
// Providers report facts. They never decide claims or the acr: broker/mapping turns an
// Identity into claims and an assurance level, so the rules of who gets what live in
// one place. Implementations live in sub-packages and never import broker/.
package providers

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"time"
)

// Sentinel errors shared by every provider. Wrap them with %w and the operation name.
var (
	// ErrBadCredentials is returned for an unknown user and a wrong password alike, so
	// that the answer does not tell which accounts exist.
	ErrBadCredentials = errors.New("providers: bad credentials")
	// ErrAccountDisabled means the upstream knows the user but refuses them (disabled,
	// locked, struck off).
	ErrAccountDisabled = errors.New("providers: account disabled")
	// ErrUnknownUser is returned by lookups without a credential (AttributeSource,
	// Refresher) when the entry no longer exists. Login never returns it.
	ErrUnknownUser = errors.New("providers: unknown user")
	// ErrUnavailable means the upstream could not be reached or did not answer in time.
	ErrUnavailable = errors.New("providers: upstream unavailable")
	// ErrInvalidResponse means the upstream answered something the broker must refuse
	// (bad signature, replay, wrong audience, mix-up...). The detail goes to the log.
	ErrInvalidResponse = errors.New("providers: invalid upstream response")
	// ErrCancelled means the user cancelled at the upstream (OIDC access_denied, SAML
	// AuthnFailed with a cancel status).
	ErrCancelled = errors.New("providers: login cancelled by the user")
	// ErrThrottled means too many recent failures for this account or address.
	ErrThrottled = errors.New("providers: too many attempts")
)

// Reason returns the short machine reason a provider attached to err, such as
// "expired" or "revoked" for a refused card, so that the broker can tell the person
// in plain words; "" when there is none. Providers attach one by returning an error
// with a Reason() string method anywhere in the chain.
func Reason(err error) string {
	var r interface{ Reason() string }
	if errors.As(err, &r) {
		return r.Reason()
	}
	return ""
}

// Provider is what every upstream identity source implements.
type Provider interface {
	// Check reports whether the upstream can serve logins now. It backs /readyz, and
	// the chooser hides providers that fail it.
	Check(ctx context.Context) error
}

// PasswordProvider is a source whose credentials are typed into the broker's own form
// (LDAP directory, static development users).
type PasswordProvider interface {
	Provider
	// Login returns ErrBadCredentials for an unknown user and a wrong password alike.
	Login(ctx context.Context, username, password string) (Identity, error)
}

// RedirectProvider is a SAML IdP or an OIDC OP: the browser leaves the broker and
// comes back to a callback.
type RedirectProvider interface {
	Provider
	// Begin prepares the upstream request. Step.Pending is kept server-side by the
	// broker (in the login flow) and handed back to Complete.
	Begin(ctx context.Context, req LoginRequest) (Step, error)
	// Complete validates the upstream's answer carried by r (query or POST form) with
	// the pending bytes saved at Begin.
	Complete(ctx context.Context, r *http.Request, pending []byte) (Identity, error)
}

// CertificateProvider authenticates the agent smart card from a TLS client
// certificate chain (leaf first). It verifies the chain against its own trust
// anchors: the TLS layer only proves possession of the key.
type CertificateProvider interface {
	Provider
	Authenticate(ctx context.Context, chain []*x509.Certificate) (Identity, error)
}

// Refresher re-checks a user when a refresh token is used, so that a disabled account
// stops getting tokens and changed attributes reach the new tokens. It returns
// ErrUnknownUser or ErrAccountDisabled when the user must be refused.
type Refresher interface {
	Refresh(ctx context.Context, previous Identity) (Identity, error)
}

// AttributeSource looks a user up without a credential, for example to enrich a smart
// card login from the directory. The key names the attribute to match (as configured
// for the source) and value is matched exactly.
type AttributeSource interface {
	Lookup(ctx context.Context, key, value string) (Identity, error)
}

// TokenVerifier vouches for a token issued by the upstream, for RFC 8693 token
// exchange. It returns the identity the token is about.
type TokenVerifier interface {
	VerifyToken(ctx context.Context, token, tokenType string) (Identity, error)
}

// Logouter ends the user's session at the upstream. It returns a Step when the browser
// must visit the upstream (SAML SLO, OIDC end_session), or a zero Step when nothing is
// to be done in the browser.
type Logouter interface {
	Logout(ctx context.Context, id Identity, returnTo string) (Step, error)
}

// LoginRequest is what the broker tells a RedirectProvider about the login it starts.
type LoginRequest struct {
	// CallbackURL is where the upstream must send the browser back.
	CallbackURL string
	// State is an opaque, unguessable value the broker uses to find its flow when the
	// browser comes back (OIDC state, SAML RelayState).
	State string
	// LoginHint is the user's identifier as the client passed it, if any.
	LoginHint string
	// ACRValues are the assurance levels the client asked for, as hints to the upstream.
	ACRValues []string
	// ForceAuthn asks the upstream for a fresh authentication (prompt=login, max_age=0).
	ForceAuthn bool
}

// Step tells the broker how to send the browser to the upstream: either a redirect to
// RedirectURL, or an auto-submitted POST of Form to PostURL (SAML POST binding).
type Step struct {
	RedirectURL string
	PostURL     string
	Form        map[string]string
	// Pending is opaque state the provider needs at Complete (request ID, nonce, PKCE
	// verifier). The broker stores it server-side; it never reaches the browser.
	Pending []byte
}

// Identity is what a provider knows about the person after a login.
type Identity struct {
	// Provider is the configured identifier of the source (set by the broker).
	Provider string `json:"provider"`
	// Subject is stable for the person at this upstream and never an e-mail address
	// (LDAP entryUUID, SAML persistent NameID, OIDC sub).
	Subject string `json:"subject"`
	// Username is the login name the person typed or the upstream reported (uid).
	Username string `json:"username,omitempty"`
	// Attributes are the upstream's attributes under their own names (memberOf,
	// employeeType, urn:oid:..., OIDC claim names). Multi-valued throughout.
	Attributes map[string][]string `json:"attributes,omitempty"`
	// Authn are the facts of the authentication itself.
	Authn Authn `json:"authn"`
	// Upstream is provider-private data needed later (Refresher, Logouter): an upstream
	// refresh token, a SAML SessionIndex and NameID. Never released in claims.
	Upstream []byte `json:"upstream,omitempty"`
}

// Authn are the facts of one authentication, reported by the provider. The broker's
// mapping turns them into an acr; a provider never states the broker's acr itself.
type Authn struct {
	// Time is when the user authenticated (at the upstream, if it says so).
	Time time.Time `json:"time"`
	// Methods are RFC 8176 amr values: pwd, otp, mfa, sc, hwk, swk, pin, pop.
	Methods []string `json:"methods,omitempty"`
	// UpstreamACR is the upstream's own assurance statement, verbatim (SAML
	// AuthnContextClassRef, OIDC acr). Empty when it said nothing.
	UpstreamACR string `json:"upstream_acr,omitempty"`
	// CertificatePolicies are the policy OIDs of a client certificate, dotted.
	CertificatePolicies []string `json:"certificate_policies,omitempty"`
}

// Attribute returns the first value of the named attribute, or "".
func (id Identity) Attribute(name string) string {
	if v := id.Attributes[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

type clientAddrKey struct{}

// WithClientAddr records the address of the person's browser in ctx, so that a
// PasswordProvider can throttle failures per address as well as per account.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// ClientAddr returns the address recorded by WithClientAddr, or "".
func ClientAddr(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	return s
}
