package x509

import (
	"bytes"
	"context"
	"crypto"
	stdx509 "crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
)

const (
	// maxCRLBytes bounds a downloaded CRL; national card CAs publish large ones.
	maxCRLBytes = 32 << 20
	// maxOCSPBytes bounds an OCSP response.
	maxOCSPBytes = 64 << 10
	// clockSkew tolerates a revocation source whose clock is slightly ahead.
	clockSkew = 5 * time.Minute
	// ocspDefaultValidity is how long a response without nextUpdate is used
	// ("newer information is always available", RFC 6960 §4.2.2.1).
	ocspDefaultValidity = 5 * time.Minute
	// retryDelay spaces fetches of a CRL after a failure while the cached one is
	// still current, so that a dead server does not slow every login.
	retryDelay = time.Minute
	// maxOCSPEntries bounds the OCSP cache (one entry per certificate).
	maxOCSPEntries = 10000
)

var (
	oidCRLNumber                = asn1.ObjectIdentifier{2, 5, 29, 20}
	oidAuthorityKeyID           = asn1.ObjectIdentifier{2, 5, 29, 35}
	oidIssuingDistributionPoint = asn1.ObjectIdentifier{2, 5, 29, 28}
	oidDeltaCRLIndicator        = asn1.ObjectIdentifier{2, 5, 29, 27}
)

// errNotApplicable means a CRL exists but was not issued for this certificate
// (another issuer, or a scope that excludes it).
var errNotApplicable = errors.New("CRL does not cover this certificate")

// crlEntry caches the CRL found at one URL for one issuer.
type crlEntry struct {
	mu     sync.Mutex
	url    string
	issuer *stdx509.Certificate
	// list is the last CRL whose signature verified; nil when none yet.
	list    *stdx509.RevocationList
	scope   crlScope
	fetched time.Time
	// failedAt is the last failed fetch: a current cached list is used without
	// trying again for retryDelay.
	failedAt time.Time
	// otherIssuer is set when the URL serves the CRL of another CA: not
	// applicable until the next refresh.
	otherIssuer bool
}

// crlScope is what an issuingDistributionPoint extension restricts a CRL to
// (RFC 5280 §5.2.5).
type crlScope struct {
	onlyUser, onlyCA bool
}

// ocspEntry caches the last verified OCSP response for one certificate.
type ocspEntry struct {
	mu   sync.Mutex
	resp *ocsp.Response
	// expires is nextUpdate, or thisUpdate plus a few minutes without one.
	expires time.Time
}

// checkRevocation checks every certificate of path but the trust anchor, each
// with its issuer (RFC 5280 §6.1.3 (a)(3)). crypto/x509 checks neither CRLs nor
// OCSP (golang/go#68573).
func (p *Provider) checkRevocation(ctx context.Context, path []*stdx509.Certificate, now time.Time) error {
	for i := 0; i < len(path)-1; i++ {
		if err := p.certStatus(ctx, path[i], path[i+1], i == 0, now); err != nil {
			return err
		}
	}
	return nil
}

// certStatus asks OCSP first when the certificate names a responder (fresher),
// then its CRLs. A definitive answer from either decides; when neither answers,
// the certificate is refused. A CA certificate naming no source is accepted (the
// trust anchor's operator vouches for it); a leaf naming none is refused unless
// insecure_no_revocation.
func (p *Provider) certStatus(ctx context.Context, cert, issuer *stdx509.Certificate, leaf bool, now time.Time) error {
	var failures []string
	sources := 0
	if !p.cfg.OCSP.Disabled && len(cert.OCSPServer) > 0 {
		sources++
		resp, err := p.ocspStatus(ctx, cert, issuer, now)
		switch {
		case err != nil:
			failures = append(failures, "ocsp: "+err.Error())
		case resp.Status == ocsp.Good:
			return nil
		case resp.Status == ocsp.Revoked:
			return reject(ReasonRevoked, fmt.Sprintf("OCSP: %s revoked at %s (reason %d)", describe(cert),
				resp.RevokedAt.UTC().Format(time.RFC3339), resp.RevocationReason))
		default:
			failures = append(failures, "ocsp: status unknown")
		}
	}
	urls := httpURLs(cert.CRLDistributionPoints)
	if leaf && len(p.cfg.CRL.URLs) > 0 {
		urls = p.cfg.CRL.URLs
	}
	for _, u := range urls {
		sources++
		list, scope, err := p.crl(ctx, u, issuer, now)
		if err == nil && ((scope.onlyCA && leaf) || (scope.onlyUser && !leaf)) {
			err = errNotApplicable
		}
		if err != nil {
			failures = append(failures, "crl "+u+": "+err.Error())
			continue
		}
		for _, rc := range list.RevokedCertificateEntries {
			if rc.SerialNumber != nil && rc.SerialNumber.Cmp(cert.SerialNumber) == 0 {
				// Every reason counts, certificateHold (6) included: a suspended
				// card is refused. removeFromCRL only appears in delta CRLs, which
				// are never used here.
				return reject(ReasonRevoked, fmt.Sprintf("CRL %s: %s revoked at %s (reason %d)", u, describe(cert),
					rc.RevocationTime.UTC().Format(time.RFC3339), rc.ReasonCode))
			}
		}
		return nil
	}
	if sources == 0 {
		if !leaf || p.cfg.InsecureNoRevocation {
			return nil
		}
		return reject(ReasonRevocationUnavailable, describe(cert)+" names no CRL distribution point or OCSP responder and crl.urls is empty")
	}
	return reject(ReasonRevocationUnavailable, describe(cert)+": "+strings.Join(failures, "; "))
}

func describe(c *stdx509.Certificate) string {
	return fmt.Sprintf("%q serial %s", c.Subject.String(), c.SerialNumber.String())
}

// httpURLs keeps the http and https URLs (RFC 5280 §4.2.1.13 also allows ldap).
func httpURLs(list []string) []string {
	var out []string
	for _, s := range list {
		if u, err := url.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			out = append(out, s)
		}
	}
	return out
}

// crlEntryFor returns the cache entry of url for issuer, creating it.
func (p *Provider) crlEntryFor(u string, issuer *stdx509.Certificate) *crlEntry {
	key := u + "\x00" + string(issuer.Raw)
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.crls[key]
	if !ok {
		e = &crlEntry{url: u, issuer: issuer}
		p.crls[key] = e
	}
	return e
}

// crl returns the CRL at u that covers certificates of issuer, from the cache
// when it is fresh.
func (p *Provider) crl(ctx context.Context, u string, issuer *stdx509.Certificate, now time.Time) (*stdx509.RevocationList, crlScope, error) {
	e := p.crlEntryFor(u, issuer)
	e.mu.Lock()
	defer e.mu.Unlock()
	return p.refreshCRL(ctx, e, now)
}

// refreshCRL fetches e's CRL when it is due (refresh interval or nextUpdate
// reached), and otherwise, or when the fetch fails, returns the cached one while
// the failure policy allows. The caller holds e.mu, so one fetch per URL runs at
// a time.
func (p *Provider) refreshCRL(ctx context.Context, e *crlEntry, now time.Time) (*stdx509.RevocationList, crlScope, error) {
	due := e.fetched.IsZero() || now.After(e.fetched.Add(p.cfg.CRL.Refresh))
	if e.otherIssuer && !due {
		return nil, crlScope{}, errNotApplicable
	}
	current := e.list != nil && !now.After(e.list.NextUpdate)
	if current && (!due || now.Before(e.failedAt.Add(retryDelay))) {
		return e.list, e.scope, nil
	}
	list, scope, err := p.fetchCRL(ctx, e.url, e.issuer)
	if errors.Is(err, errNotApplicable) {
		e.otherIssuer, e.fetched = true, now
		return nil, crlScope{}, err
	}
	if err == nil {
		switch {
		case now.Before(list.ThisUpdate.Add(-clockSkew)):
			err = fmt.Errorf("CRL thisUpdate %s is in the future", list.ThisUpdate.UTC().Format(time.RFC3339))
		case e.list != nil && list.Number != nil && e.list.Number != nil && list.Number.Cmp(e.list.Number) < 0:
			// RFC 5280 §5.2.3: numbers increase; an older list is a replay or a
			// stale mirror.
			err = fmt.Errorf("CRL number %s is lower than the cached %s", list.Number, e.list.Number)
		default:
			e.list, e.scope, e.fetched, e.otherIssuer = list, scope, now, false
			if now.After(list.NextUpdate) {
				err = fmt.Errorf("the CRL served is past its nextUpdate %s", list.NextUpdate.UTC().Format(time.RFC3339))
			}
		}
	}
	if err != nil {
		e.failedAt = now
	}
	if e.list != nil {
		if !now.After(e.list.NextUpdate) {
			if err != nil {
				p.logger.Warn("x509: CRL fetch failed; the cached CRL is still current", "url", e.url, "error", err)
			}
			return e.list, e.scope, nil
		}
		if p.cfg.CRL.OnFailure == OnFailureUseLast && !now.After(e.list.NextUpdate.Add(p.cfg.CRL.Grace)) {
			p.logger.Warn("x509: using a CRL past its nextUpdate (on_failure: use_last)", "url", e.url,
				"next_update", e.list.NextUpdate, "error", err)
			return e.list, e.scope, nil
		}
		if err == nil {
			err = fmt.Errorf("cached CRL past its nextUpdate %s", e.list.NextUpdate.UTC().Format(time.RFC3339))
		}
	}
	p.logger.Warn("x509: no usable CRL", "url", e.url, "issuer", e.issuer.Subject.String(), "error", err)
	return nil, crlScope{}, err
}

// fetchCRL downloads the CRL at u and verifies it was signed by issuer (RFC 5280
// §6.3.3 (f)-(g)) and is a complete CRL for it.
func (p *Provider) fetchCRL(ctx context.Context, u string, issuer *stdx509.Certificate) (*stdx509.RevocationList, crlScope, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.CRL.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, crlScope{}, err
	}
	body, err := p.do(req, maxCRLBytes)
	if err != nil {
		return nil, crlScope{}, err
	}
	if block, _ := pem.Decode(body); block != nil && block.Type == "X509 CRL" {
		body = block.Bytes
	}
	list, err := stdx509.ParseRevocationList(body)
	if err != nil {
		return nil, crlScope{}, fmt.Errorf("parse: %w", err)
	}
	if !bytes.Equal(list.RawIssuer, issuer.RawSubject) {
		return nil, crlScope{}, errNotApplicable
	}
	if err := list.CheckSignatureFrom(issuer); err != nil {
		return nil, crlScope{}, fmt.Errorf("signature: %w", err)
	}
	if list.NextUpdate.IsZero() {
		// RFC 5280 §5.1.2.5: conforming CAs MUST include nextUpdate.
		return nil, crlScope{}, errors.New("CRL without nextUpdate")
	}
	var scope crlScope
	for _, ext := range list.Extensions {
		switch {
		case ext.Id.Equal(oidDeltaCRLIndicator):
			return nil, crlScope{}, errors.New("delta CRL: a complete CRL is required")
		case ext.Id.Equal(oidIssuingDistributionPoint):
			if scope, err = parseIDP(ext.Value); err != nil {
				return nil, crlScope{}, err
			}
		case ext.Critical && !ext.Id.Equal(oidCRLNumber) && !ext.Id.Equal(oidAuthorityKeyID):
			return nil, crlScope{}, fmt.Errorf("unsupported critical CRL extension %v", ext.Id)
		}
	}
	return list, scope, nil
}

// parseIDP reads an issuingDistributionPoint (RFC 5280 §5.2.5). Partial scopes by
// reason and indirect CRLs are refused: such a CRL alone cannot say a
// certificate is not revoked.
func parseIDP(der []byte) (crlScope, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return crlScope{}, errors.New("malformed issuingDistributionPoint")
	}
	var scope crlScope
	var present, attr, indirect bool
	var dp, reasons cryptobyte.String
	ok := seq.ReadOptionalASN1(&dp, &present, cbasn1.Tag(0).ContextSpecific().Constructed()) &&
		readImplicitBool(&seq, 1, &scope.onlyUser) &&
		readImplicitBool(&seq, 2, &scope.onlyCA) &&
		seq.ReadOptionalASN1(&reasons, &present, cbasn1.Tag(3).ContextSpecific())
	if ok && present {
		return crlScope{}, errors.New("CRL partitioned by reasons (onlySomeReasons) is not supported")
	}
	ok = ok && readImplicitBool(&seq, 4, &indirect) && readImplicitBool(&seq, 5, &attr) && seq.Empty()
	switch {
	case !ok:
		return crlScope{}, errors.New("malformed issuingDistributionPoint")
	case indirect:
		return crlScope{}, errors.New("indirect CRL is not supported")
	case attr:
		return crlScope{}, errors.New("CRL of attribute certificates")
	}
	return scope, nil
}

// readImplicitBool reads an optional [tag] IMPLICIT BOOLEAN DEFAULT FALSE.
func readImplicitBool(s *cryptobyte.String, tag uint8, out *bool) bool {
	var v cryptobyte.String
	var present bool
	if !s.ReadOptionalASN1(&v, &present, cbasn1.Tag(tag).ContextSpecific()) {
		return false
	}
	if !present {
		*out = false
		return true
	}
	if len(v) != 1 || (v[0] != 0 && v[0] != 0xff) {
		return false
	}
	*out = v[0] == 0xff
	return true
}

// do sends req and reads at most limit bytes of a 200 answer.
func (p *Provider) do(req *http.Request, limit int64) ([]byte, error) {
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("answer larger than %d bytes", limit)
	}
	return body, nil
}

// ocspStatus returns a verified OCSP response for cert, from the cache while it
// is current.
func (p *Provider) ocspStatus(ctx context.Context, cert, issuer *stdx509.Certificate, now time.Time) (*ocsp.Response, error) {
	key := string(issuer.Raw) + "\x00" + cert.SerialNumber.String()
	p.mu.Lock()
	e, ok := p.ocsp[key]
	if !ok {
		if len(p.ocsp) >= maxOCSPEntries {
			p.pruneOCSP(now)
		}
		e = &ocspEntry{}
		p.ocsp[key] = e
	}
	p.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.resp != nil && !now.After(e.expires) {
		return e.resp, nil
	}
	var errs []error
	for _, u := range httpURLs(cert.OCSPServer) {
		resp, err := p.queryOCSP(ctx, u, cert, issuer, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
			continue
		}
		e.resp, e.expires = resp, resp.NextUpdate
		if resp.NextUpdate.IsZero() {
			e.expires = now.Add(ocspDefaultValidity)
		}
		return resp, nil
	}
	err := errors.Join(errs...)
	if err == nil {
		err = errors.New("no http OCSP responder")
	}
	if e.resp != nil && p.cfg.OCSP.OnFailure == OnFailureUseLast && !now.After(e.expires.Add(p.cfg.OCSP.Grace)) {
		p.logger.Warn("x509: using an OCSP response past its nextUpdate (on_failure: use_last)",
			"serial", cert.SerialNumber.String(), "error", err)
		return e.resp, nil
	}
	p.logger.Warn("x509: OCSP failed", "subject", cert.Subject.String(), "serial", cert.SerialNumber.String(), "error", err)
	return nil, err
}

// pruneOCSP forgets responses past any use (nextUpdate plus grace), then, if the
// cache is still full, half of the rest: one entry per card seen must not grow
// without bound. Entries in use are skipped. The caller holds p.mu.
func (p *Provider) pruneOCSP(now time.Time) {
	for k, e := range p.ocsp {
		if !e.mu.TryLock() {
			continue
		}
		if e.resp == nil || now.After(e.expires.Add(p.cfg.OCSP.Grace)) {
			delete(p.ocsp, k)
		}
		e.mu.Unlock()
	}
	for k, e := range p.ocsp {
		if len(p.ocsp) < maxOCSPEntries/2 {
			break
		}
		if e.mu.TryLock() {
			delete(p.ocsp, k)
			e.mu.Unlock()
		}
	}
}

// queryOCSP POSTs a request (RFC 6960 Appendix A.1) and verifies the answer: it
// is about this serial, signed by the issuer or by a responder the issuer
// certified for OCSP signing (RFC 6960 §4.2.2.2), and current.
func (p *Provider) queryOCSP(ctx context.Context, u string, cert, issuer *stdx509.Certificate, now time.Time) (*ocsp.Response, error) {
	der, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.OCSP.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(der))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	req.Header.Set("Accept", "application/ocsp-response")
	body, err := p.do(req, maxOCSPBytes)
	if err != nil {
		return nil, err
	}
	// Parsed without issuer: the library only checks that an embedded responder
	// certificate signed the response. Who may sign is decided below.
	resp, err := ocsp.ParseResponseForCert(body, cert, nil)
	if err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	switch {
	case resp.Certificate == nil || bytes.Equal(resp.Certificate.Raw, issuer.Raw):
		if err := resp.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("signature: %w", err)
		}
	default:
		r := resp.Certificate
		if err := r.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("responder certificate not issued by the CA: %w", err)
		}
		if !hasEKU(r, stdx509.ExtKeyUsageOCSPSigning) {
			return nil, errors.New("responder certificate lacks id-kp-OCSPSigning")
		}
		if now.Before(r.NotBefore) || now.After(r.NotAfter) {
			return nil, errors.New("responder certificate outside its validity period")
		}
	}
	if now.Before(resp.ThisUpdate.Add(-clockSkew)) {
		return nil, fmt.Errorf("thisUpdate %s is in the future", resp.ThisUpdate.UTC().Format(time.RFC3339))
	}
	if !resp.NextUpdate.IsZero() && now.After(resp.NextUpdate) {
		return nil, fmt.Errorf("response past its nextUpdate %s", resp.NextUpdate.UTC().Format(time.RFC3339))
	}
	return resp, nil
}

func hasEKU(c *stdx509.Certificate, want stdx509.ExtKeyUsage) bool {
	for _, u := range c.ExtKeyUsage {
		if u == want {
			return true
		}
	}
	return false
}
