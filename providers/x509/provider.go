package x509

import (
	"bytes"
	"context"
	stdx509 "crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/justiceconnect/justiceconnect/providers"
)

// maxChainLength bounds the certificates taken from a client (leaf included).
const maxChainLength = 10

// Options are the provider's dependencies.
type Options struct {
	// Logger receives operational messages (subject DN, serial, reason; never whole
	// certificates); slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock for path validation, revocation freshness and Authn.Time;
	// time.Now when nil.
	Now func() time.Time
	// HTTPClient fetches CRLs and queries OCSP responders; a client of its own when
	// nil. Per-request timeouts come from the configuration.
	HTTPClient *http.Client
}

// Provider authenticates agent smart cards from their TLS client certificate chain
// and finds the card holder in a directory. It is safe for concurrent use.
type Provider struct {
	cfg     Config
	dir     providers.AttributeSource
	logger  *slog.Logger
	now     func() time.Time
	client  *http.Client
	roots   *stdx509.CertPool
	inter   []*stdx509.Certificate
	ekus    map[string]bool
	methods []string
	// policies are required_policies parsed, with their dotted form.
	policies    []stdx509.OID
	policyNames map[string]bool

	mu   sync.Mutex
	crls map[string]*crlEntry
	ocsp map[string]*ocspEntry
}

var (
	_ providers.CertificateProvider = (*Provider)(nil)
	_ providers.Refresher           = (*Provider)(nil)
)

// New builds the provider: it reads the trust anchors and intermediates but
// fetches nothing (CRLs are fetched at the first login that needs them).
func New(cfg Config, dir providers.AttributeSource, opts Options) (*Provider, error) {
	if problems := cfg.Validate(); len(problems) > 0 {
		return nil, fmt.Errorf("x509: invalid settings: %v", problems)
	}
	if dir == nil {
		return nil, errors.New("x509: no directory (AttributeSource) for card holders")
	}
	cfg = cfg.withDefaults()
	p := &Provider{
		cfg:         cfg,
		dir:         dir,
		logger:      opts.Logger,
		now:         opts.Now,
		client:      opts.HTTPClient,
		roots:       stdx509.NewCertPool(),
		ekus:        map[string]bool{},
		policyNames: map[string]bool{},
		crls:        map[string]*crlEntry{},
		ocsp:        map[string]*ocspEntry{},
	}
	if p.logger == nil {
		p.logger = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.client == nil {
		p.client = &http.Client{}
	}
	for i, f := range cfg.TrustAnchors {
		certs, err := readPEMCertificates(f)
		if err != nil {
			return nil, fmt.Errorf("x509: trust_anchors[%d]: %w", i, err)
		}
		for _, c := range certs {
			if !c.BasicConstraintsValid || !c.IsCA {
				return nil, fmt.Errorf("x509: trust_anchors[%d]: %q is not a CA certificate", i, c.Subject)
			}
			p.roots.AddCert(c)
		}
	}
	if cfg.Intermediates != "" {
		certs, err := readPEMCertificates(cfg.Intermediates)
		if err != nil {
			return nil, fmt.Errorf("x509: intermediates: %w", err)
		}
		p.inter = certs
	}
	for _, e := range cfg.AllowedEKUs {
		p.ekus[e] = true
	}
	for _, s := range cfg.RequiredPolicies {
		oid, _ := stdx509.ParseOID(s) // checked by Validate
		p.policies = append(p.policies, oid)
		p.policyNames[oid.String()] = true
	}
	p.methods = []string{"sc", "hwk"}
	for _, m := range cfg.AMR {
		if !slices.Contains(p.methods, m) {
			p.methods = append(p.methods, m)
		}
	}
	if cfg.InsecureNoRevocation {
		p.logger.Warn("x509: insecure_no_revocation is set: certificates naming no CRL or OCSP source are accepted unchecked")
	}
	return p, nil
}

// readPEMCertificates reads every CERTIFICATE block of a PEM file; at least one.
func readPEMCertificates(path string) ([]*stdx509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*stdx509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := stdx509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		certs = append(certs, c)
	}
	if len(bytes.TrimSpace(data)) > 0 && len(certs) == 0 {
		return nil, fmt.Errorf("%s: not PEM", path)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no CERTIFICATE block", path)
	}
	return certs, nil
}

// Directory returns the id of the provider where card holders are looked up
// (settings.directory), for the broker's wiring.
func (p *Provider) Directory() string { return p.cfg.Directory }

// Check reports whether logins can be served: the trust anchors are loaded (New
// fails otherwise) and no cached CRL is past its nextUpdate (plus crl.grace with
// on_failure: use_last). Stale CRLs are fetched again first.
func (p *Provider) Check(ctx context.Context) error {
	p.mu.Lock()
	entries := make([]*crlEntry, 0, len(p.crls))
	for _, e := range p.crls {
		entries = append(entries, e)
	}
	p.mu.Unlock()
	now := p.now()
	var errs []error
	for _, e := range entries {
		e.mu.Lock()
		_, _, err := p.refreshCRL(ctx, e, now)
		e.mu.Unlock()
		if err != nil && !errors.Is(err, errNotApplicable) {
			errs = append(errs, fmt.Errorf("crl %s: %w", e.url, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("x509: check: %w", errors.Join(errs...))
	}
	return nil
}

// Authenticate verifies chain (leaf first; the rest are candidate intermediates)
// against the trust anchors, checks revocation, and returns the directory's
// Identity of the card holder with the authentication facts of the card.
func (p *Provider) Authenticate(ctx context.Context, chain []*stdx509.Certificate) (providers.Identity, error) {
	now := p.now()
	verified, err := p.verify(ctx, chain, now)
	if err != nil {
		var r *rejection
		if errors.As(err, &r) && len(chain) > 0 && chain[0] != nil {
			leaf := chain[0]
			p.logger.Warn("x509: certificate rejected", "subject", leaf.Subject.String(), "issuer", leaf.Issuer.String(),
				"serial", leaf.SerialNumber.String(), "reason", r.reason, "detail", r.detail)
		} else if errors.As(err, &r) {
			p.logger.Warn("x509: certificate rejected", "reason", r.reason, "detail", r.detail)
		}
		return providers.Identity{}, err
	}
	leaf := verified[0]
	value, err := mappingValue(p.cfg.Mapping.Rule, leaf)
	if err != nil {
		p.logger.Warn("x509: certificate has no usable mapping value", "subject", leaf.Subject.String(),
			"serial", leaf.SerialNumber.String(), "rule", p.cfg.Mapping.Rule, "error", err)
		return providers.Identity{}, fmt.Errorf("x509: authenticate: %s: %w: %v", p.cfg.Mapping.Rule, providers.ErrUnknownUser, err)
	}
	id, err := p.lookup(ctx, value)
	if err != nil {
		p.logger.Warn("x509: card holder not found", "subject", leaf.Subject.String(), "serial", leaf.SerialNumber.String(),
			"rule", p.cfg.Mapping.Rule, "error", err)
		return providers.Identity{}, fmt.Errorf("x509: authenticate: %w", err)
	}
	policies := make([]string, 0, len(leaf.Policies))
	for _, oid := range leaf.Policies {
		policies = append(policies, oid.String())
	}
	id.Authn = providers.Authn{
		Time:                now.UTC().Truncate(time.Second),
		Methods:             slices.Clone(p.methods),
		CertificatePolicies: policies,
	}
	id.Upstream, _ = json.Marshal(upstream{Key: p.cfg.Mapping.LookupKey, Value: value})
	p.logger.Info("x509: card login", "subject", leaf.Subject.String(), "serial", leaf.SerialNumber.String(), "user", id.Subject)
	return id, nil
}

// upstream is kept in Identity.Upstream for Refresh: how the person was found.
type upstream struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// lookup asks the directory, mapping its errors onto the contract's sentinels.
func (p *Provider) lookup(ctx context.Context, value string) (providers.Identity, error) {
	id, err := p.dir.Lookup(ctx, p.cfg.Mapping.LookupKey, value)
	switch {
	case err == nil:
		if id.Subject == "" {
			return providers.Identity{}, fmt.Errorf("directory: entry without subject: %w", providers.ErrUnknownUser)
		}
		return id, nil
	case errors.Is(err, providers.ErrUnknownUser), errors.Is(err, providers.ErrAccountDisabled),
		errors.Is(err, providers.ErrUnavailable):
		return providers.Identity{}, fmt.Errorf("directory: %w", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return providers.Identity{}, fmt.Errorf("directory: %w: %w", providers.ErrUnavailable, err)
	default:
		// Anything else (misconfigured lookup key...) fails closed.
		return providers.Identity{}, fmt.Errorf("directory: %w: %v", providers.ErrUnavailable, err)
	}
}

// Refresh looks the card holder up again in the directory by the value the
// certificate gave at login, so that a disabled or deleted entry stops getting
// tokens. The certificate is not presented again: its revocation is not checked.
func (p *Provider) Refresh(ctx context.Context, previous providers.Identity) (providers.Identity, error) {
	var up upstream
	if err := json.Unmarshal(previous.Upstream, &up); err != nil || up.Key != p.cfg.Mapping.LookupKey || up.Value == "" {
		return providers.Identity{}, fmt.Errorf("x509: refresh: no card mapping recorded: %w", providers.ErrUnknownUser)
	}
	id, err := p.lookup(ctx, up.Value)
	if err != nil {
		return providers.Identity{}, fmt.Errorf("x509: refresh: %w", err)
	}
	if id.Subject != previous.Subject {
		p.logger.Warn("x509: refresh: subject changed", "previous", previous.Subject, "now", id.Subject)
		return providers.Identity{}, fmt.Errorf("x509: refresh: %w", providers.ErrUnknownUser)
	}
	id.Provider = previous.Provider
	id.Authn = previous.Authn
	id.Upstream = previous.Upstream
	return id, nil
}
