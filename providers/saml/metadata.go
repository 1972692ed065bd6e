package saml

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	csaml "github.com/crewjam/saml"
	xrv "github.com/mattermost/xml-roundtrip-validator"

	"github.com/justiceconnect/justiceconnect/providers"
)

// maxMetadataBytes bounds a metadata document (file or URL).
const maxMetadataBytes = 2 << 20

// idpMetadata is one parsed, checked copy of the IdP metadata.
type idpMetadata struct {
	entity *csaml.EntityDescriptor
	certs  []*x509.Certificate
	loaded time.Time
}

// loadMetadata reads and parses the IdP metadata from the configured source.
func (p *Provider) loadMetadata(ctx context.Context) (*idpMetadata, error) {
	var raw []byte
	var err error
	if p.cfg.IdPMetadataFile != "" {
		raw, err = readFileLimited(p.cfg.IdPMetadataFile)
	} else {
		raw, err = p.fetchMetadata(ctx)
	}
	if err != nil {
		return nil, err
	}
	md, err := parseIdPMetadata(raw, p.now())
	if err != nil {
		return nil, err
	}
	md.loaded = p.now()
	return md, nil
}

func readFileLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("saml: read IdP metadata: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetadataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("saml: read IdP metadata: %w", err)
	}
	if len(b) > maxMetadataBytes {
		return nil, fmt.Errorf("saml: IdP metadata larger than %d bytes", maxMetadataBytes)
	}
	return b, nil
}

func (p *Provider) fetchMetadata(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.cfg.IdPMetadataURL, nil)
	if err != nil {
		return nil, fmt.Errorf("saml: fetch IdP metadata: %w", err)
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml, text/xml")
	resp, err := p.httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("saml: fetch IdP metadata: %w: %w", providers.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("saml: fetch IdP metadata: %w: HTTP %d", providers.ErrUnavailable, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("saml: fetch IdP metadata: %w: %w", providers.ErrUnavailable, err)
	}
	if len(b) > maxMetadataBytes {
		return nil, fmt.Errorf("saml: IdP metadata larger than %d bytes", maxMetadataBytes)
	}
	return b, nil
}

// parseIdPMetadata accepts an EntityDescriptor, or an EntitiesDescriptor holding
// exactly one IdP, and checks what the SP needs from it (SAML Metadata §2.4.3): an
// HTTP-Redirect SingleSignOnService and at least one signing certificate.
func parseIdPMetadata(raw []byte, now time.Time) (*idpMetadata, error) {
	if err := xrv.Validate(bytes.NewReader(raw)); err != nil {
		return nil, fmt.Errorf("saml: IdP metadata: invalid XML: %w", err)
	}
	var entity *csaml.EntityDescriptor
	var one csaml.EntityDescriptor
	if err := xml.Unmarshal(raw, &one); err == nil {
		entity = &one
	} else {
		var many csaml.EntitiesDescriptor
		if err2 := xml.Unmarshal(raw, &many); err2 != nil {
			return nil, fmt.Errorf("saml: IdP metadata: neither EntityDescriptor nor EntitiesDescriptor: %w", err)
		}
		var idps []*csaml.EntityDescriptor
		collectIdPs(&many, &idps)
		if len(idps) != 1 {
			return nil, fmt.Errorf("saml: IdP metadata: %d identity providers in the document, want exactly one", len(idps))
		}
		entity = idps[0]
	}
	if entity.EntityID == "" {
		return nil, errors.New("saml: IdP metadata: no entityID")
	}
	if len(entity.IDPSSODescriptors) == 0 {
		return nil, errors.New("saml: IdP metadata: no IDPSSODescriptor")
	}
	if !entity.ValidUntil.IsZero() && now.After(entity.ValidUntil) {
		return nil, fmt.Errorf("saml: IdP metadata expired at %s", entity.ValidUntil.Format(time.RFC3339))
	}
	hasRedirect := false
	var certs []*x509.Certificate
	for _, d := range entity.IDPSSODescriptors {
		for _, s := range d.SingleSignOnServices {
			if s.Binding == csaml.HTTPRedirectBinding && s.Location != "" {
				hasRedirect = true
			}
		}
		for _, kd := range d.KeyDescriptors {
			if kd.Use != "" && kd.Use != "signing" {
				continue
			}
			for _, c := range kd.KeyInfo.X509Data.X509Certificates {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Data), ""))
				if err != nil {
					return nil, fmt.Errorf("saml: IdP metadata: signing certificate: %w", err)
				}
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, fmt.Errorf("saml: IdP metadata: signing certificate: %w", err)
				}
				certs = append(certs, cert)
			}
		}
	}
	if !hasRedirect {
		return nil, errors.New("saml: IdP metadata: no SingleSignOnService with the HTTP-Redirect binding")
	}
	if len(certs) == 0 {
		return nil, errors.New("saml: IdP metadata: no signing certificate")
	}
	return &idpMetadata{entity: entity, certs: certs}, nil
}

func collectIdPs(es *csaml.EntitiesDescriptor, out *[]*csaml.EntityDescriptor) {
	for i := range es.EntityDescriptors {
		if len(es.EntityDescriptors[i].IDPSSODescriptors) > 0 {
			*out = append(*out, &es.EntityDescriptors[i])
		}
	}
	for i := range es.EntitiesDescriptors {
		collectIdPs(&es.EntitiesDescriptors[i], out)
	}
}

// wantsSignedRequests reports WantAuthnRequestsSigned (SAML Metadata §2.4.3).
func (m *idpMetadata) wantsSignedRequests() bool {
	for _, d := range m.entity.IDPSSODescriptors {
		if d.WantAuthnRequestsSigned != nil && *d.WantAuthnRequestsSigned {
			return true
		}
	}
	return false
}

// sloLocation returns the IdP's HTTP-Redirect SingleLogoutService, or "".
func (m *idpMetadata) sloLocation() string {
	for _, d := range m.entity.IDPSSODescriptors {
		for _, s := range d.SingleLogoutServices {
			if s.Binding == csaml.HTTPRedirectBinding && s.Location != "" {
				return s.Location
			}
		}
	}
	return ""
}

// current returns the last good metadata, or nil.
func (p *Provider) current() *idpMetadata {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.md
}

// Refresh reloads the IdP metadata now, after a load already running. On failure
// the last good copy stays in use and the error is kept for Check.
func (p *Provider) Refresh(ctx context.Context) error {
	for {
		p.mu.Lock()
		running := p.loading
		if running == nil {
			done := p.claimLoadLocked()
			p.mu.Unlock()
			defer p.endLoad(done)
			return p.refreshLocked(ctx)
		}
		p.mu.Unlock()
		<-running
	}
}

// claimLoadLocked makes the caller the one running load (p.mu held); it ends
// with endLoad.
func (p *Provider) claimLoadLocked() chan struct{} {
	p.loading = make(chan struct{})
	return p.loading
}

// endLoad marks the load that owns done as finished.
func (p *Provider) endLoad(done chan struct{}) {
	p.mu.Lock()
	p.loading = nil
	p.mu.Unlock()
	close(done)
}

// refreshLocked loads the metadata; the caller owns p.loading.
func (p *Provider) refreshLocked(ctx context.Context) error {
	md, err := p.loadMetadata(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastAttempt = p.now()
	if err != nil {
		p.refreshErr = err
		p.log.WarnContext(ctx, "saml: IdP metadata refresh failed; keeping the last good copy", "error", err)
		return err
	}
	if p.md != nil && !sameCerts(p.md.certs, md.certs) {
		p.log.InfoContext(ctx, "saml: IdP signing certificates changed", "idp", md.entity.EntityID, "count", len(md.certs))
	}
	p.md, p.refreshErr = md, nil
	return nil
}

// refreshIfDue reloads the metadata when metadata_refresh has passed since the last
// attempt. With a copy in hand, a refresh already running is not waited for, and a
// metadata URL is fetched in the background, bounded by fetchMetadata's own
// timeout: a slow IdP must neither hold up the request that found the refresh due
// (the chooser checks every provider in turn, so an agent would wait for the bar's
// IdP) nor have its fetch cut short at that request's deadline, which would mark
// the provider unavailable until the next refresh (testsuite/faults). Without a
// copy, a login (wait set) waits for a load already running and uses its result:
// it cannot go on without one, and giving up at once refused it for want of the
// metadata that load was about to bring; Check still does not wait. A first load
// from the URL also runs apart from the request that started it, which waits for
// it: a page given up must not fail the load the others wait for. Whether a load
// is due and the claim to run it are decided under one lock, so a load that ended
// meanwhile is not run again.
func (p *Provider) refreshIfDue(ctx context.Context, wait bool) {
	p.mu.Lock()
	have := p.md != nil
	due := !have || p.now().Sub(p.lastAttempt) >= p.refresh
	running := p.loading
	if !due || (running != nil && (have || !wait)) {
		p.mu.Unlock()
		return
	}
	started := running == nil
	if started {
		done := p.claimLoadLocked()
		running = done
		p.mu.Unlock()
		if p.cfg.IdPMetadataURL == "" {
			// A file: read at once.
			defer p.endLoad(done)
			_ = p.refreshLocked(ctx)
			return
		}
		// A fetch runs apart from the request that found it due, bounded by
		// fetchMetadata's own timeout: a page given up must not fail the load
		// that others wait for.
		go func() {
			defer p.endLoad(done)
			_ = p.refreshLocked(context.WithoutCancel(ctx))
		}()
	} else {
		p.mu.Unlock()
	}
	// With a copy, nobody waits. Without one, the request that started the
	// load waits for it (as before it ran the load itself), and so does a login.
	if have || !(started || wait) {
		return
	}
	select {
	case <-running:
	case <-ctx.Done():
	}
}

func sameCerts(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// Check reports whether logins can work now: metadata loaded, the last refresh
// succeeded, and at least one IdP signing certificate is within its validity period
// (goxmldsig refuses a signature whose certificate is not valid at this time).
func (p *Provider) Check(ctx context.Context) error {
	p.refreshIfDue(ctx, false)
	p.mu.RLock()
	md, refreshErr := p.md, p.refreshErr
	p.mu.RUnlock()
	if md == nil {
		return fmt.Errorf("saml: check: %w: no IdP metadata loaded: %w", providers.ErrUnavailable, refreshErr)
	}
	if refreshErr != nil {
		return fmt.Errorf("saml: check: %w: last IdP metadata refresh failed (using the copy of %s): %w",
			providers.ErrUnavailable, md.loaded.UTC().Format(time.RFC3339), refreshErr)
	}
	now := p.now()
	for _, c := range md.certs {
		if !now.Before(c.NotBefore) && !now.After(c.NotAfter) {
			if err := p.reachable(ctx, md); err != nil {
				return fmt.Errorf("saml: check: %w", err)
			}
			return nil
		}
	}
	return fmt.Errorf("saml: check: %w: no IdP signing certificate is valid now", providers.ErrUnavailable)
}
