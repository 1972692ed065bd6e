package saml

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/beevik/etree"
	csaml "github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/justiceconnect/justiceconnect/providers"
)

// Logout starts SP-initiated single logout (SAML Profiles §4.4.3.1) when the IdP
// metadata has an HTTP-Redirect SingleLogoutService: a LogoutRequest for the NameID
// and SessionIndex of the login, sent by the HTTP-Redirect binding and signed on the
// query string when the SP has a key (SAML Bindings §3.4.4.1; Profiles §4.4.4.1 asks
// for an authenticated request). returnTo travels as RelayState and must be an opaque
// key of the broker's, like the login state. Without an SLO endpoint, or without the
// NameID of the login, it returns a zero Step.
func (p *Provider) Logout(ctx context.Context, id providers.Identity, returnTo string) (providers.Step, error) {
	md := p.current()
	if md == nil {
		return providers.Step{}, nil
	}
	dest := md.sloLocation()
	if dest == "" || len(id.Upstream) == 0 {
		return providers.Step{}, nil
	}
	var up upstream
	if err := json.Unmarshal(id.Upstream, &up); err != nil || up.NameID == "" {
		return providers.Step{}, nil
	}
	if len(returnTo) > maxRelayState {
		return providers.Step{}, fmt.Errorf("saml: logout: RelayState longer than %d bytes (SAML Bindings §3.4.3)", maxRelayState)
	}
	rnd := make([]byte, 20)
	if _, err := rand.Read(rnd); err != nil {
		return providers.Step{}, fmt.Errorf("saml: logout: %w", err)
	}
	req := csaml.LogoutRequest{
		ID:           "id-" + hex.EncodeToString(rnd),
		Version:      "2.0",
		IssueInstant: p.now().UTC(),
		Destination:  dest,
		Issuer:       &csaml.Issuer{Format: entityFormat, Value: p.cfg.EntityID},
		NameID: &csaml.NameID{
			Format:          up.NameIDFormat,
			Value:           up.NameID,
			NameQualifier:   up.NameQualifier,
			SPNameQualifier: up.SPNameQualifier,
		},
	}
	if up.SessionIndex != "" {
		req.SessionIndex = &csaml.SessionIndex{Value: up.SessionIndex}
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.Element())
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return providers.Step{}, fmt.Errorf("saml: logout: %w", err)
	}
	if _, err := doc.WriteTo(fw); err != nil {
		return providers.Step{}, fmt.Errorf("saml: logout: %w", err)
	}
	if err := fw.Close(); err != nil {
		return providers.Step{}, fmt.Errorf("saml: logout: %w", err)
	}
	// SAML Bindings §3.4.4.1: the signature covers
	// "SAMLRequest=value&RelayState=value&SigAlg=value", each URL-encoded, in order.
	query := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if returnTo != "" {
		query += "&RelayState=" + url.QueryEscape(returnTo)
	}
	if p.key != nil {
		sp := p.serviceProvider(md, &url.URL{})
		sp.SignatureMethod = dsig.RSASHA256SignatureMethod
		query += "&SigAlg=" + url.QueryEscape(sp.SignatureMethod)
		signer, err := csaml.GetSigningContext(sp)
		if err != nil {
			return providers.Step{}, fmt.Errorf("saml: logout: %w", err)
		}
		sig, err := signer.SignString(query)
		if err != nil {
			return providers.Step{}, fmt.Errorf("saml: logout: %w", err)
		}
		query += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	u, err := url.Parse(dest)
	if err != nil {
		return providers.Step{}, fmt.Errorf("saml: logout: IdP SLO location: %w", err)
	}
	if u.RawQuery != "" {
		u.RawQuery += "&" + query
	} else {
		u.RawQuery = query
	}
	p.log.DebugContext(ctx, "saml: LogoutRequest", "request_id", req.ID, "idp", md.entity.EntityID)
	return providers.Step{RedirectURL: u.String()}, nil
}
