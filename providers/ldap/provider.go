package ldap

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/justiceconnect/justiceconnect/providers"
)

// maxUsernameLength bounds what is sent to the directory; longer names are refused
// as bad credentials without any traffic.
const maxUsernameLength = 256

// Options are the provider's dependencies.
type Options struct {
	// Logger receives operational messages (never passwords); slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock for Authn.Time and throttling; time.Now when nil.
	Now func() time.Time
	// TLSConfig, when set, is the base TLS configuration (tests). ca_file and
	// insecure_skip_verify still apply on top of it.
	TLSConfig *tls.Config
	// Dialer, when set, opens the TCP connections.
	Dialer *net.Dialer
}

// Provider authenticates against an LDAP directory. It is safe for concurrent use.
type Provider struct {
	cfg          Config
	bindPassword string
	logger       *slog.Logger
	now          func() time.Time
	dialer       *net.Dialer
	servers      []server

	search *pool
	binds  *pool
	thr    *throttle

	attributes []string
	population string
	// dummyDN is bound with the typed password when no entry matched, so that an
	// unknown user costs the same round trips as a wrong password (SECURITY.md D11).
	// Its random RDN cannot be created in advance by anyone.
	dummyDN string
}

var (
	_ providers.PasswordProvider = (*Provider)(nil)
	_ providers.Refresher        = (*Provider)(nil)
	_ providers.AttributeSource  = (*Provider)(nil)
)

// New builds the provider. It reads the service account's password and the CA file
// but does not contact the directory (Check does).
func New(cfg Config, opts Options) (*Provider, error) {
	if problems := cfg.Validate(); len(problems) > 0 {
		return nil, fmt.Errorf("ldap: invalid settings: %s", strings.Join(problems, "; "))
	}
	cfg = cfg.withDefaults()
	p := &Provider{cfg: cfg, logger: opts.Logger, now: opts.Now, dialer: opts.Dialer}
	if p.logger == nil {
		p.logger = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.dialer == nil {
		p.dialer = &net.Dialer{}
	}

	switch {
	case cfg.BindPasswordFile != "":
		b, err := os.ReadFile(cfg.BindPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("ldap: bind_password_file: %w", err)
		}
		p.bindPassword = strings.TrimRight(string(b), "\r\n")
	default:
		v, ok := os.LookupEnv(cfg.BindPasswordEnv)
		if !ok {
			return nil, fmt.Errorf("ldap: bind_password_env: %s is not set", cfg.BindPasswordEnv)
		}
		p.bindPassword = v
	}
	if p.bindPassword == "" {
		// RFC 4513 §5.1.2: a DN with an empty password is an unauthenticated bind,
		// which would silently run the searches anonymously.
		return nil, errors.New("ldap: the service account's password is empty")
	}

	base := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.TLSConfig != nil {
		base = opts.TLSConfig.Clone()
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ldap: ca_file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ldap: ca_file: no PEM certificate in %s", cfg.CAFile)
		}
		base.RootCAs = roots
	}
	if cfg.InsecureSkipVerify {
		base.InsecureSkipVerify = true
		p.logger.Warn("ldap: insecure_skip_verify is set: the directory's certificate is not verified")
	}
	if cfg.InsecurePlaintext {
		p.logger.Warn("ldap: insecure_plaintext is set: ldap:// URLs without StartTLS send passwords in clear")
	}
	for _, raw := range cfg.URLs {
		s, err := newServer(raw, cfg.StartTLS, base)
		if err != nil {
			return nil, fmt.Errorf("ldap: %s: %w", raw, err)
		}
		p.servers = append(p.servers, s)
	}

	seen := map[string]bool{}
	for _, a := range append(append([]string(nil), cfg.Attributes...), cfg.SubjectAttribute, cfg.UsernameAttribute) {
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			p.attributes = append(p.attributes, a)
		}
	}
	p.population = strings.ReplaceAll(cfg.UserFilter, UsernamePlaceholder, "*")
	rnd := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, rnd); err != nil {
		return nil, fmt.Errorf("ldap: random: %w", err)
	}
	p.dummyDN = "cn=justiceconnect-no-such-user-" + hex.EncodeToString(rnd) + "," + cfg.BaseDN
	p.search = newPool(p, true)
	p.binds = newPool(p, false)
	p.thr = newThrottle(cfg.Throttle)
	return p, nil
}

// Close closes the idle connections (shutdown, tests). Connections in use at that
// moment are kept by the pool when returned; the provider stays usable.
func (p *Provider) Close() error {
	p.search.close()
	p.binds.close()
	return nil
}

// Check reads the base entry as the service account within the timeout: it proves
// the URL, TLS, the account and its access.
func (p *Provider) Check(ctx context.Context) error {
	// A base search on a pooled service-account connection: it proves the server
	// answers without a TLS handshake and bind per check (the chooser checks on
	// every login). A dead pooled connection is replaced once by a fresh one.
	err := p.use(ctx, p.search, func(c *goldap.Conn) error {
		_, err := c.Search(p.request(p.cfg.BaseDN, goldap.ScopeBaseObject, "(objectClass=*)", 1, []string{"1.1"}))
		return err
	})
	if err != nil {
		return fmt.Errorf("ldap: check: base_dn: %w: %v", providers.ErrUnavailable, err)
	}
	return nil
}

// Login verifies username and password against the directory:
//
//  1. empty credentials are refused before any traffic (RFC 4513 §5.1.2: a DN
//     with an empty password is an unauthenticated bind, which servers accept;
//     SECURITY.md H3, H4);
//  2. throttled accounts and addresses are refused before any traffic (D10);
//  3. the service account searches user_filter, the username escaped as an
//     assertion value (RFC 4515 §3, H1), for DNs only; exactly one entry must
//     match;
//  4. a simple bind (RFC 4513 §5.1.3) with the entry's DN — as returned by the
//     directory, never built from the input (RFC 4514, H2) — checks the password.
//     When no single entry matched, the same bind is made against a DN that does
//     not exist, so that unknown users and wrong passwords take the same round
//     trips and get the same error (D11);
//  5. only then are the attributes read, with a base search filtered by the
//     negation of disabled_filter: a disabled account is told apart only to
//     someone who knows its password.
//
// The client address for throttling comes from providers.ClientAddr(ctx).
func (p *Provider) Login(ctx context.Context, username, password string) (providers.Identity, error) {
	if username == "" || password == "" || len(username) > maxUsernameLength {
		return providers.Identity{}, fmt.Errorf("ldap: login: %w", providers.ErrBadCredentials)
	}
	addr := providers.ClientAddr(ctx)
	if wait := p.thr.wait(p.now(), username, addr); wait > 0 {
		p.logger.Info("ldap: login throttled", "username", username, "client", addr, "wait", wait.Round(time.Second))
		return providers.Identity{}, fmt.Errorf("ldap: login: %w", providers.ErrThrottled)
	}

	filter := strings.ReplaceAll(p.cfg.UserFilter, UsernamePlaceholder, goldap.EscapeFilter(username))
	userDN, found, err := p.findDN(ctx, filter)
	if errors.Is(err, errAmbiguous) {
		// Several entries: a directory or user_filter problem. Refused like an
		// unknown user, after the same dummy bind.
		p.logger.Warn("ldap: several entries match the username", "username", username)
		found, err = false, nil
	}
	if err != nil {
		return providers.Identity{}, p.unavailableErr("login: search", err)
	}
	dn := p.dummyDN
	if found {
		dn = userDN
	}
	err = p.use(ctx, p.binds, func(c *goldap.Conn) error { return c.Bind(dn, password) })
	if err != nil && isNetworkError(err) {
		return providers.Identity{}, p.unavailableErr("login: bind", err)
	}
	if !found || err != nil {
		if found && !goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials) {
			p.logger.Warn("ldap: user bind refused", "dn", dn, "error", err)
		}
		p.thr.fail(p.now(), username, addr)
		p.logger.Debug("ldap: bad credentials", "username", username, "client", addr)
		return providers.Identity{}, fmt.Errorf("ldap: login: %w", providers.ErrBadCredentials)
	}
	p.thr.succeed(username)

	id, err := p.read(ctx, "login", userDN)
	if errors.Is(err, providers.ErrUnknownUser) {
		// Deleted between the bind and the read.
		return providers.Identity{}, fmt.Errorf("ldap: login: %w", providers.ErrBadCredentials)
	}
	if err != nil {
		return providers.Identity{}, err
	}
	if id.Username == "" {
		id.Username = username
	}
	return id, nil
}

// Refresh finds the user again by subject_attribute within the population of
// user_filter under base_dn: ErrUnknownUser when the entry was deleted or moved
// out, ErrAccountDisabled when disabled_filter matches, else fresh attributes with
// the previous authentication facts.
func (p *Provider) Refresh(ctx context.Context, previous providers.Identity) (providers.Identity, error) {
	id, err := p.lookup(ctx, "refresh", p.cfg.SubjectAttribute, previous.Subject)
	if err != nil {
		return providers.Identity{}, err
	}
	if id.Subject != previous.Subject {
		// Equality matching rules may fold case; the subject must not change.
		p.logger.Warn("ldap: refresh: subject changed", "previous", previous.Subject, "now", id.Subject)
		return providers.Identity{}, fmt.Errorf("ldap: refresh: %w", providers.ErrUnknownUser)
	}
	id.Provider = previous.Provider
	id.Authn = previous.Authn
	id.Upstream = previous.Upstream
	return id, nil
}

// Lookup finds exactly one user whose attribute configured for key (see
// lookup_attributes) equals value, without a credential.
func (p *Provider) Lookup(ctx context.Context, key, value string) (providers.Identity, error) {
	attr, ok := p.cfg.LookupAttributes[key]
	if !ok {
		return providers.Identity{}, fmt.Errorf("ldap: lookup: no lookup_attributes entry for key %q", key)
	}
	return p.lookup(ctx, "lookup", attr, value)
}

func (p *Provider) lookup(ctx context.Context, op, attr, value string) (providers.Identity, error) {
	if value == "" {
		return providers.Identity{}, fmt.Errorf("ldap: %s: %w", op, providers.ErrUnknownUser)
	}
	filter := "(&" + p.population + "(" + attr + "=" + goldap.EscapeFilter(value) + "))"
	dn, found, err := p.findDN(ctx, filter)
	switch {
	case errors.Is(err, errAmbiguous):
		p.logger.Warn("ldap: several entries match", "op", op, "attribute", attr)
		return providers.Identity{}, fmt.Errorf("ldap: %s: %s matches several entries: %w", op, attr, providers.ErrUnknownUser)
	case err != nil:
		return providers.Identity{}, p.unavailableErr(op, err)
	case !found:
		return providers.Identity{}, fmt.Errorf("ldap: %s: %w", op, providers.ErrUnknownUser)
	}
	return p.read(ctx, op, dn)
}

// read fetches the attributes of the entry at dn with a base search whose filter
// is the negation of disabled_filter (or (objectClass=*) without one): a disabled
// entry is not returned. The negation fails closed: if the directory cannot
// evaluate disabled_filter (an attribute it does not know), the filter is
// Undefined, so is its negation, and the entry counts as disabled (RFC 4511
// §4.5.1.7). noSuchObject means the entry is gone.
func (p *Provider) read(ctx context.Context, op, dn string) (providers.Identity, error) {
	filter := "(objectClass=*)"
	if p.cfg.DisabledFilter != "" {
		filter = "(!" + p.cfg.DisabledFilter + ")"
	}
	var res *goldap.SearchResult
	err := p.use(ctx, p.search, func(c *goldap.Conn) error {
		var err error
		res, err = c.Search(p.request(dn, goldap.ScopeBaseObject, filter, 1, p.attributes))
		return err
	})
	switch {
	case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
		return providers.Identity{}, fmt.Errorf("ldap: %s: %w", op, providers.ErrUnknownUser)
	case err != nil:
		return providers.Identity{}, p.unavailableErr(op+": read entry", err)
	case len(res.Entries) == 0:
		p.logger.Info("ldap: disabled account refused", "op", op, "dn", dn)
		return providers.Identity{}, fmt.Errorf("ldap: %s: %w", op, providers.ErrAccountDisabled)
	}
	id, err := p.identity(res.Entries[0])
	if err != nil {
		return providers.Identity{}, fmt.Errorf("ldap: %s: %w", op, err)
	}
	return id, nil
}

var errAmbiguous = errors.New("several entries match")

// findDN searches base_dn with the service account and returns the DN of the one
// matching entry, asking for no attribute ("1.1", RFC 4511 §4.5.1.8) so that a hit
// and a miss cost the directory about the same (SECURITY.md D11: no memberOf
// expansion before the password is checked). found is false when no entry
// matched; err is errAmbiguous when several did.
func (p *Provider) findDN(ctx context.Context, filter string) (string, bool, error) {
	var res *goldap.SearchResult
	err := p.use(ctx, p.search, func(c *goldap.Conn) error {
		var err error
		res, err = c.Search(p.request(p.cfg.BaseDN, goldap.ScopeWholeSubtree, filter, 2, []string{"1.1"}))
		return err
	})
	switch {
	case goldap.IsErrorWithCode(err, goldap.LDAPResultSizeLimitExceeded):
		return "", false, errAmbiguous
	case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
		p.logger.Warn("ldap: base_dn does not exist", "base_dn", p.cfg.BaseDN)
		return "", false, unavailable(err)
	case err != nil:
		return "", false, err
	}
	switch len(res.Entries) {
	case 0:
		return "", false, nil
	case 1:
		return res.Entries[0].DN, true, nil
	default:
		return "", false, errAmbiguous
	}
}

func (p *Provider) request(base string, scope int, filter string, sizeLimit int, attrs []string) *goldap.SearchRequest {
	return goldap.NewSearchRequest(base, scope, goldap.NeverDerefAliases, sizeLimit,
		int((p.cfg.Timeout+time.Second-1)/time.Second), false, filter, attrs, nil)
}

// identity builds the Identity from an entry: attributes under their configured
// names (the directory may answer another case), the subject from
// subject_attribute.
func (p *Provider) identity(e *goldap.Entry) (providers.Identity, error) {
	attrs := make(map[string][]string, len(p.attributes))
	for _, a := range p.attributes {
		if v := e.GetEqualFoldAttributeValues(a); len(v) > 0 {
			attrs[a] = append([]string(nil), v...)
		}
	}
	subject := e.GetEqualFoldAttributeValues(p.cfg.SubjectAttribute)
	if len(subject) != 1 || subject[0] == "" {
		p.logger.Error("ldap: entry without a single subject value", "dn", e.DN, "subject_attribute", p.cfg.SubjectAttribute, "values", len(subject))
		return providers.Identity{}, fmt.Errorf("entry has %d values of %s: %w", len(subject), p.cfg.SubjectAttribute, providers.ErrInvalidResponse)
	}
	if !contains(p.cfg.Attributes, p.cfg.SubjectAttribute) {
		delete(attrs, p.cfg.SubjectAttribute)
	}
	username := ""
	if v := e.GetEqualFoldAttributeValues(p.cfg.UsernameAttribute); len(v) > 0 {
		username = v[0]
	}
	if !contains(p.cfg.Attributes, p.cfg.UsernameAttribute) {
		delete(attrs, p.cfg.UsernameAttribute)
	}
	return providers.Identity{
		Subject:    subject[0],
		Username:   username,
		Attributes: attrs,
		Authn:      providers.Authn{Time: p.now().UTC().Truncate(time.Second), Methods: []string{"pwd"}},
	}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// unavailableErr logs the cause and returns ErrUnavailable.
func (p *Provider) unavailableErr(op string, err error) error {
	p.logger.Warn("ldap: directory unavailable", "op", op, "error", err)
	return fmt.Errorf("ldap: %s: %w: %v", op, providers.ErrUnavailable, err)
}
