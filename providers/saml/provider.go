package saml

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	csaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/justiceconnect/justiceconnect/providers"
)

// ReplayCache remembers values that may be used once. UseOnce returns an error when
// key was already used in namespace (the broker's store returns
// storage.ErrAlreadyUsed) and keeps it until expiresAt.
type ReplayCache interface {
	UseOnce(ctx context.Context, namespace, key string, expiresAt time.Time) error
}

// Replay cache namespaces.
const (
	namespaceRequest   = "saml-request"
	namespaceAssertion = "saml-assertion"
)

// maxRelayState is SAML Bindings §3.4.3 and §3.5.3: "MUST NOT exceed 80 bytes".
const maxRelayState = 80

// requestLifetime bounds how long an AuthnRequest may wait for its answer.
const requestLifetime = time.Hour

// Options are the provider's dependencies.
type Options struct {
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now. It drives this package's own checks (metadata
	// refresh, certificate validity, replay expiry); crewjam's checks use its own
	// clock (saml.TimeNow).
	Now func() time.Time
	// HTTPClient fetches idp_metadata_url; defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
	// ReplayCache makes request IDs and assertion IDs single-use. Required.
	ReplayCache ReplayCache
	// Dial opens the TCP connection that probes the IdP's sign-on endpoint
	// (reach.go); defaults to net.Dialer's.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Provider is a SAML 2.0 service provider for one IdP.
type Provider struct {
	cfg        Config
	log        *slog.Logger
	now        func() time.Time
	httpClient *http.Client
	replay     ReplayCache
	refresh    time.Duration
	maxBytes   int64
	key        *rsa.PrivateKey
	cert       *x509.Certificate

	dial  func(ctx context.Context, network, addr string) (net.Conn, error)
	reach reachability

	mu          sync.RWMutex
	md          *idpMetadata
	refreshErr  error
	lastAttempt time.Time
	// loading is closed when the running metadata load ends; nil when none runs
	// (one load at a time).
	loading chan struct{}
}

var (
	_ providers.RedirectProvider = (*Provider)(nil)
	_ providers.Logouter         = (*Provider)(nil)
)

// New builds the provider and loads the IdP metadata. A metadata file that cannot be
// read is an error; a metadata URL that does not answer is not: the provider starts
// without metadata, Check reports it, and the next Begin or Check retries.
func New(cfg Config, opts Options) (*Provider, error) {
	if problems := cfg.Validate(); len(problems) > 0 {
		return nil, fmt.Errorf("saml: invalid settings: %s", strings.Join(problems, "; "))
	}
	if opts.ReplayCache == nil {
		return nil, errors.New("saml: Options.ReplayCache is required (SAML Profiles §4.1.4.5)")
	}
	p := &Provider{
		cfg:        cfg,
		log:        opts.Logger,
		now:        opts.Now,
		httpClient: opts.HTTPClient,
		dial:       opts.Dial,
		replay:     opts.ReplayCache,
		refresh:    cfg.MetadataRefresh,
		maxBytes:   cfg.MaxResponseBytes,
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.httpClient == nil {
		p.httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	if p.refresh == 0 {
		p.refresh = DefaultMetadataRefresh
	}
	if p.maxBytes == 0 {
		p.maxBytes = DefaultMaxResponseBytes
	}
	if cfg.SPKeyFile != "" {
		key, cert, err := loadKeyPair(cfg.SPKeyFile, cfg.SPCertFile)
		if err != nil {
			return nil, err
		}
		p.key, p.cert = key, cert
	}
	if err := p.Refresh(context.Background()); err != nil && cfg.IdPMetadataFile != "" {
		return nil, err
	}
	if md := p.current(); md != nil && md.wantsSignedRequests() && p.key == nil {
		return nil, errors.New("saml: the IdP wants signed AuthnRequests: set sp_cert_file and sp_key_file")
	}
	return p, nil
}

func loadKeyPair(keyFile, certFile string) (*rsa.PrivateKey, *x509.Certificate, error) {
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("saml: sp_key_file: %w", err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, nil, errors.New("saml: sp_key_file: no PEM block")
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, nil, fmt.Errorf("saml: sp_key_file: %T, want an RSA key (assertion decryption uses RSA-OAEP)", k)
		}
		key = rk
	} else if rk, err2 := x509.ParsePKCS1PrivateKey(block.Bytes); err2 == nil {
		key = rk
	} else {
		return nil, nil, fmt.Errorf("saml: sp_key_file: %w", err)
	}
	if key.N.BitLen() < 2048 {
		return nil, nil, errors.New("saml: sp_key_file: RSA key shorter than 2048 bits")
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("saml: sp_cert_file: %w", err)
	}
	block, _ = pem.Decode(certPEM)
	if block == nil {
		return nil, nil, errors.New("saml: sp_cert_file: no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("saml: sp_cert_file: %w", err)
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, errors.New("saml: sp_cert_file does not match sp_key_file")
	}
	return key, cert, nil
}

// serviceProvider builds crewjam's SP for one exchange, from the current metadata.
// A fresh value per call keeps metadata refreshes and per-request ACS URLs free of
// shared mutable state.
func (p *Provider) serviceProvider(md *idpMetadata, acs *url.URL) *csaml.ServiceProvider {
	sp := &csaml.ServiceProvider{
		EntityID:          p.cfg.EntityID,
		HTTPClient:        p.httpClient,
		AcsURL:            *acs,
		IDPMetadata:       md.entity,
		AuthnNameIDFormat: csaml.NameIDFormat(p.cfg.nameIDFormat()),
		// SAML Profiles §4.1.5: unsolicited responses are refused (SECURITY.md G12).
		AllowIDPInitiated:           false,
		SignatureVerifier:           strictVerifier{},
		ValidateAudienceRestriction: p.validateAudience,
	}
	if p.key != nil {
		// Requests are signed whenever there is a key, as the SP metadata announces
		// (AuthnRequestsSigned), whether or not the IdP asks for it.
		sp.Key, sp.Certificate = p.key, p.cert
		sp.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	return sp
}

func (p *Provider) acsURL(callback string) (*url.URL, error) {
	s := p.cfg.ACSURL
	if s == "" {
		s = callback
	}
	if s == "" {
		return nil, errors.New("saml: no ACS URL: set acs_url or pass LoginRequest.CallbackURL")
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("saml: ACS URL %q is not absolute", s)
	}
	return u, nil
}

// pending is what the broker keeps server-side between Begin and Complete.
type pending struct {
	RequestID string    `json:"request_id"`
	IssuedAt  time.Time `json:"issued_at"`
	ACS       string    `json:"acs"`
	// StateHash is SHA-256 of the RelayState, checked at Complete.
	StateHash []byte `json:"state_hash"`
}

// Begin builds an AuthnRequest for the HTTP-Redirect binding (SAML Bindings §3.4),
// signed on the query string (§3.4.4.1) when the IdP metadata asks for it. The
// RelayState is req.State, the broker's opaque flow key.
func (p *Provider) Begin(ctx context.Context, req providers.LoginRequest) (providers.Step, error) {
	p.refreshIfDue(ctx, true)
	md := p.current()
	if md == nil {
		return providers.Step{}, fmt.Errorf("saml: begin: %w: no IdP metadata", providers.ErrUnavailable)
	}
	// Never send the browser to an IdP that does not answer: the person would
	// see their browser's connection error instead of the broker's page.
	if err := p.probe(ctx, md); err != nil {
		return providers.Step{}, fmt.Errorf("saml: begin: %w", err)
	}
	if req.State == "" || len(req.State) > maxRelayState {
		return providers.Step{}, fmt.Errorf("saml: begin: state must be 1 to %d bytes (SAML Bindings §3.4.3)", maxRelayState)
	}
	acs, err := p.acsURL(req.CallbackURL)
	if err != nil {
		return providers.Step{}, fmt.Errorf("saml: begin: %w", err)
	}
	sp := p.serviceProvider(md, acs)
	if md.wantsSignedRequests() && p.key == nil {
		return providers.Step{}, fmt.Errorf("saml: begin: %w: the IdP wants signed AuthnRequests and no SP key is configured", providers.ErrUnavailable)
	}
	if req.ForceAuthn {
		force := true
		sp.ForceAuthn = &force
	}
	dest := sp.GetSSOBindingLocation(csaml.HTTPRedirectBinding)
	authn, err := sp.MakeAuthenticationRequest(dest, csaml.HTTPRedirectBinding, csaml.HTTPPostBinding)
	if err != nil {
		return providers.Step{}, fmt.Errorf("saml: begin: %w", err)
	}
	// crewjam appends RelayState to the query unescaped: escape it here, so that the
	// signed query string is the one the browser sends.
	u, err := authn.Redirect(url.QueryEscape(req.State), sp)
	if err != nil {
		return providers.Step{}, fmt.Errorf("saml: begin: %w", err)
	}
	sum := sha256.Sum256([]byte(req.State))
	pend, err := json.Marshal(pending{RequestID: authn.ID, IssuedAt: p.now().UTC(), ACS: acs.String(), StateHash: sum[:]})
	if err != nil {
		return providers.Step{}, fmt.Errorf("saml: begin: %w", err)
	}
	p.log.DebugContext(ctx, "saml: AuthnRequest", "request_id", authn.ID, "idp", md.entity.EntityID)
	return providers.Step{RedirectURL: u.String(), Pending: pend}, nil
}

// invalid wraps providers.ErrInvalidResponse with the operation; detail is for
// the log only.
func invalid(format string, args ...any) error {
	return fmt.Errorf("saml: complete: %w: %s", providers.ErrInvalidResponse, fmt.Sprintf(format, args...))
}

// Complete validates the IdP's Response received by the HTTP-POST binding (SAML
// Bindings §3.5.4) against the pending request.
func (p *Provider) Complete(ctx context.Context, r *http.Request, pendingBytes []byte) (providers.Identity, error) {
	var pend pending
	if err := json.Unmarshal(pendingBytes, &pend); err != nil || pend.RequestID == "" || pend.ACS == "" {
		return providers.Identity{}, invalid("unusable pending request")
	}
	now := p.now()
	if now.Sub(pend.IssuedAt) > requestLifetime {
		return providers.Identity{}, invalid("AuthnRequest older than %v", requestLifetime)
	}
	form, err := p.readForm(r)
	if err != nil {
		return providers.Identity{}, err
	}
	samlResponses := form["SAMLResponse"]
	if len(samlResponses) != 1 || samlResponses[0] == "" {
		return providers.Identity{}, invalid("want exactly one SAMLResponse, got %d", len(samlResponses))
	}
	if _, ok := form["SAMLart"]; ok {
		return providers.Identity{}, invalid("artifact binding not supported")
	}
	if int64(len(samlResponses[0])) > p.maxBytes {
		return providers.Identity{}, invalid("SAMLResponse larger than %d bytes", p.maxBytes)
	}
	// The RelayState must be the one sent at Begin: it is only the broker's opaque
	// flow key, never a redirect target (SECURITY.md G21, SAML Bindings §3.5.3).
	relay := form.Get("RelayState")
	sum := sha256.Sum256([]byte(relay))
	if subtle.ConstantTimeCompare(sum[:], pend.StateHash) != 1 {
		return providers.Identity{}, invalid("RelayState does not match the request")
	}
	md := p.current()
	if md == nil {
		return providers.Identity{}, fmt.Errorf("saml: complete: %w: no IdP metadata", providers.ErrUnavailable)
	}
	acs, err := url.Parse(pend.ACS)
	if err != nil {
		return providers.Identity{}, invalid("pending ACS URL: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(samlResponses[0])
	if err != nil {
		return providers.Identity{}, invalid("SAMLResponse is not base64")
	}
	sp := p.serviceProvider(md, acs)
	// crewjam reads only SAMLResponse from PostForm here; the request is rebuilt with
	// the ACS URL so that Destination is compared with it and nothing else.
	only := url.Values{"SAMLResponse": samlResponses}
	parseReq := (&http.Request{Method: http.MethodPost, URL: acs, Header: http.Header{}, Form: only, PostForm: only}).WithContext(ctx)
	assertion, err := parseResponse(sp, parseReq, pend.RequestID)
	if err != nil {
		return providers.Identity{}, p.parseError(ctx, err, raw)
	}
	if err := p.postCheck(raw, assertion, &pend, md, now); err != nil {
		p.log.DebugContext(ctx, "saml: response refused after crewjam accepted it", "request_id", pend.RequestID, "reason", err.Error())
		return providers.Identity{}, err
	}
	// SAML Profiles §4.1.4.5: bearer assertions are not replayed. The request ID is
	// spent too, so one AuthnRequest yields at most one login (SECURITY.md G11).
	if err := p.replay.UseOnce(ctx, namespaceRequest, pend.RequestID, pend.IssuedAt.Add(requestLifetime)); err != nil {
		return providers.Identity{}, invalid("request %s already answered: %v", pend.RequestID, err)
	}
	if err := p.replay.UseOnce(ctx, namespaceAssertion, md.entity.EntityID+" "+assertion.ID, replayExpiry(assertion)); err != nil {
		return providers.Identity{}, invalid("assertion replayed: %v", err)
	}
	id, err := p.identity(assertion)
	if err != nil {
		return providers.Identity{}, err
	}
	p.log.InfoContext(ctx, "saml: login", "request_id", pend.RequestID, "assertion_id", assertion.ID, "idp", md.entity.EntityID)
	return id, nil
}

// readForm returns the POST form, reading the body within max_response_bytes when
// the broker has not parsed it yet. The HTTP-POST binding carries the message in the
// body only (SAML Bindings §3.5.4).
func (p *Provider) readForm(r *http.Request) (url.Values, error) {
	if r == nil || r.Method != http.MethodPost {
		return nil, invalid("the response must come by the HTTP-POST binding")
	}
	// The form encoding adds a third at most to the base64 message and RelayState.
	limit := p.maxBytes + p.maxBytes/2 + 4096
	if r.ContentLength > limit {
		return nil, invalid("body of %d bytes over the limit", r.ContentLength)
	}
	if r.PostForm == nil {
		if r.Body == nil {
			return nil, invalid("no body")
		}
		r.Body = http.MaxBytesReader(nil, r.Body, limit)
		if err := r.ParseForm(); err != nil {
			return nil, invalid("form: %v", err)
		}
	}
	return r.PostForm, nil
}

// parseResponse runs crewjam with a recover: v0.5.1 dereferences Conditions and
// Subject without checking them once a signature has been verified.
func parseResponse(sp *csaml.ServiceProvider, r *http.Request, requestID string) (a *csaml.Assertion, err error) {
	defer func() {
		if v := recover(); v != nil {
			a, err = nil, &csaml.InvalidResponseError{PrivateErr: fmt.Errorf("crewjam panicked: %v", v)}
		}
	}()
	return sp.ParseResponse(r, []string{requestID})
}

// Second-level status codes that mean the user did not or could not log in (SAML
// Core §3.2.2.2).
var cancelStatuses = map[string]bool{
	"urn:oasis:names:tc:SAML:2.0:status:AuthnFailed":   true,
	"urn:oasis:names:tc:SAML:2.0:status:RequestDenied": true,
	"urn:oasis:names:tc:SAML:2.0:status:NoPassive":     true,
}

// parseError turns crewjam's error into ours: the private detail goes to the debug
// log (never the document), the caller sees a sentinel.
func (p *Provider) parseError(ctx context.Context, err error, raw []byte) error {
	var ire *csaml.InvalidResponseError
	detail := err
	if errors.As(err, &ire) && ire.PrivateErr != nil {
		detail = ire.PrivateErr
	}
	var bad csaml.ErrBadStatus
	if errors.As(detail, &bad) {
		// crewjam has checked Destination, InResponseTo, IssueInstant and Issuer before
		// the status; it reports only the top-level code.
		if sub := secondLevelStatus(raw); cancelStatuses[sub] {
			p.log.InfoContext(ctx, "saml: IdP refused the login", "status", bad.Status, "sub_status", sub)
			return fmt.Errorf("saml: complete: %w: status %s", providers.ErrCancelled, sub)
		}
		p.log.InfoContext(ctx, "saml: IdP answered an error", "status", bad.Status)
		return invalid("status %s", bad.Status)
	}
	p.log.DebugContext(ctx, "saml: response refused", "reason", detail.Error())
	return invalid("%v", detail)
}

// secondLevelStatus returns Response/Status/StatusCode/StatusCode/@Value, or "".
func secondLevelStatus(raw []byte) string {
	var resp struct {
		Status struct {
			StatusCode struct {
				StatusCode struct {
					Value string `xml:"Value,attr"`
				} `xml:"urn:oasis:names:tc:SAML:2.0:protocol StatusCode"`
			} `xml:"urn:oasis:names:tc:SAML:2.0:protocol StatusCode"`
		} `xml:"urn:oasis:names:tc:SAML:2.0:protocol Status"`
	}
	d := xml.NewDecoder(io.LimitReader(bytes.NewReader(raw), int64(len(raw))))
	if err := d.Decode(&resp); err != nil {
		return ""
	}
	return resp.Status.StatusCode.StatusCode.Value
}

// upstream is Identity.Upstream: what Logout needs.
type upstream struct {
	NameID          string `json:"name_id"`
	NameIDFormat    string `json:"name_id_format,omitempty"`
	NameQualifier   string `json:"name_qualifier,omitempty"`
	SPNameQualifier string `json:"sp_name_qualifier,omitempty"`
	SessionIndex    string `json:"session_index,omitempty"`
}

// Metadata returns the SP metadata (SAML Metadata §2.4.4) the broker serves for the
// IdP: entity ID, the ACS with the HTTP-POST binding only, the NameID format, and the
// SP certificate for signing and encryption when configured. It needs acs_url.
func (p *Provider) Metadata() ([]byte, error) {
	if p.cfg.ACSURL == "" {
		return nil, errors.New("saml: metadata: set acs_url to publish SP metadata")
	}
	acs, err := url.Parse(p.cfg.ACSURL)
	if err != nil {
		return nil, fmt.Errorf("saml: metadata: %w", err)
	}
	sp := &csaml.ServiceProvider{
		EntityID:          p.cfg.EntityID,
		AcsURL:            *acs,
		AuthnNameIDFormat: csaml.NameIDFormat(p.cfg.nameIDFormat()),
	}
	if p.cfg.SLOURL != "" {
		slo, err := url.Parse(p.cfg.SLOURL)
		if err != nil {
			return nil, fmt.Errorf("saml: metadata: slo_url: %w", err)
		}
		sp.SloURL = *slo
		// The IdP's LogoutResponse comes back by redirect: the broker's return page
		// is a GET, and a cross-site POST would meet its CSRF protection.
		sp.LogoutBindings = []string{csaml.HTTPRedirectBinding}
	}
	if p.key != nil {
		sp.Key, sp.Certificate = p.key, p.cert
		// AuthnRequestsSigned="true": Begin signs every request when there is a key.
		sp.SignatureMethod = dsig.RSASHA256SignatureMethod
	}
	ed := sp.Metadata()
	// Only the HTTP-POST binding is accepted at the ACS (no artifact resolution).
	for i := range ed.SPSSODescriptors {
		var acsList []csaml.IndexedEndpoint
		for _, e := range ed.SPSSODescriptors[i].AssertionConsumerServices {
			if e.Binding == csaml.HTTPPostBinding {
				acsList = append(acsList, e)
			}
		}
		ed.SPSSODescriptors[i].AssertionConsumerServices = acsList
	}
	out, err := xml.MarshalIndent(ed, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("saml: metadata: %w", err)
	}
	return out, nil
}
