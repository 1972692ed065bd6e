package login

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/clientcert"
	"github.com/justiceconnect/justiceconnect/broker/flow"
	"github.com/justiceconnect/justiceconnect/broker/oidc"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/web"
	"github.com/justiceconnect/justiceconnect/providers"
)

// The agent card login crosses two origins (DESIGN.md, "Smart card"):
//
//  1. On the broker's origin, begin stores a one-time secret in the flow and sends
//     the browser to the card origin with state = flow ID + secret.
//  2. The card origin (its own listener, asking for a client certificate at the
//     handshake) checks the secret, has the provider verify the chain, keeps the
//     identity in the flow under a new secret and sends the browser back.
//  3. Back on the broker's origin, cardDone requires that new secret AND the
//     flow's binding cookie, then finishes the login like any other style.
//
// Step 3 needs both halves: whoever presented the card holds the secret, whoever
// started the flow holds the cookie, so a card login link sent to a victim cannot
// log the sender in as the victim.

// Card origin paths.
const (
	cardLoginPath = "/card/login"
	cardDonePath  = "/login/card/done"
)

// CardOrigin configures the card origin.
type CardOrigin struct {
	// PublicURL is the card origin as browsers reach it.
	PublicURL string
	// TrustedProxies may send the certificate in the Client-Cert header.
	TrustedProxies []netip.Prefix
}

// ParseTrustedProxies turns addresses and CIDR ranges into prefixes.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("login: trusted proxy %q is neither an address nor a CIDR range", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// CardHandler serves the card origin. Every response closes the connection, so
// that each login is a fresh handshake proving possession of the card's key (the
// listener also disables TLS session resumption).
func (h *Handler) CardHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+cardLoginPath, h.cardLogin)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		mux.ServeHTTP(w, r)
	})
}

// beginCard is step 1.
func (h *Handler) beginCard(w http.ResponseWriter, r *http.Request, f *flow.Flow, p *Provider) {
	if h.cfg.Card.PublicURL == "" {
		h.fail(w, r, http.StatusServiceUnavailable, web.KeyLoginUnavail, errors.New("login: a card provider without card_listen"))
		return
	}
	f.Provider = p.ID
	f.UpstreamState = flow.RandomToken(24)
	f.Pending = nil
	if err := h.cfg.Flows.Save(r.Context(), f); err != nil {
		h.fail(w, r, http.StatusConflict, web.KeyFlowExpired, err)
		return
	}
	target := strings.TrimSuffix(h.cfg.Card.PublicURL, "/") + cardLoginPath + "?" + url.Values{"state": {f.ID + "." + f.UpstreamState}}.Encode()
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// cardLogin is step 2, on the card origin.
func (h *Handler) cardLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	flowID, secret, _ := strings.Cut(r.URL.Query().Get("state"), ".")
	f, err := h.cfg.Flows.GetUnbound(ctx, flowID)
	if err != nil || f.State != flow.AwaitingLogin || f.UpstreamState == "" || len(f.Pending) > 0 || !flow.Equal(f.UpstreamState, secret) {
		h.fail(w, r, http.StatusBadRequest, web.KeyFlowExpired, errors.Join(flow.ErrInvalid, err))
		return
	}
	p := h.byID[f.Provider]
	if p == nil || p.Certificate == nil {
		h.fail(w, r, http.StatusBadRequest, web.KeyFlowExpired, errors.New("login: flow is not at a card provider"))
		return
	}
	back := h.cfg.Issuer + "/login?" + url.Values{"flow": {f.ID}}.Encode()
	refuse := func(status int, key, reason string, cause error) {
		h.cfg.Audit.Record(ctx, storage.AuditEvent{Type: audit.Login, Outcome: audit.OutcomeFail, Provider: p.ID, ClientID: f.ClientID,
			Details: map[string]string{"reason": reason}})
		h.cfg.Logger.Warn("login: card refused", "provider", p.ID, "reason", reason, "err", cause, "request_id", oidc.CorrelationID(r))
		lang := h.cfg.Pages.Lang(r, f.Query.Get("ui_locales"))
		h.cfg.Pages.Render(w, r, status, web.ErrorPage{Lang: lang, CorrelationID: oidc.CorrelationID(r), Status: status,
			Title: "card.title", Message: key, RetryURL: back})
	}
	chain, err := h.cardChain(r)
	if err != nil {
		reason := "missing"
		if errors.Is(err, errUntrustedHeader) {
			reason = "untrusted_header"
		}
		refuse(http.StatusBadRequest, "card."+reason, reason, err)
		return
	}
	id, err := p.Certificate.Authenticate(providers.WithClientAddr(ctx, clientAddr(r)), chain)
	if err != nil {
		reason := providers.Reason(err)
		switch {
		case reason != "":
		case errors.Is(err, providers.ErrUnknownUser):
			reason = "unknown_user"
		case errors.Is(err, providers.ErrAccountDisabled):
			reason = "disabled"
		case errors.Is(err, providers.ErrUnavailable):
			reason = "unavailable"
		default:
			reason = "refused"
		}
		status := http.StatusForbidden
		if errors.Is(err, providers.ErrUnavailable) {
			status = http.StatusServiceUnavailable
		}
		refuse(status, cardMessageKey(reason), reason, err)
		return
	}
	pending, err := json.Marshal(id)
	if err != nil {
		h.fail(w, r, http.StatusInternalServerError, web.KeyGeneric, err)
		return
	}
	f.Pending = pending
	f.UpstreamState = flow.RandomToken(24)
	// Save is optimistic: of two concurrent uses of the same link, one fails here.
	if err := h.cfg.Flows.Save(ctx, f); err != nil {
		h.fail(w, r, http.StatusConflict, web.KeyFlowExpired, err)
		return
	}
	http.Redirect(w, r, h.cfg.Issuer+cardDonePath+"?"+url.Values{"state": {f.ID + "." + f.UpstreamState}}.Encode(), http.StatusSeeOther)
}

// cardDone is step 3, back on the broker's origin with the binding cookie.
func (h *Handler) cardDone(w http.ResponseWriter, r *http.Request) {
	flowID, secret, _ := strings.Cut(r.URL.Query().Get("state"), ".")
	f, _, ok := h.loadFlow(w, r, flowID)
	if !ok {
		return
	}
	p := h.byID[f.Provider]
	if p == nil || p.Certificate == nil || len(f.Pending) == 0 || f.UpstreamState == "" || !flow.Equal(f.UpstreamState, secret) {
		h.fail(w, r, http.StatusBadRequest, web.KeyFlowExpired, flow.ErrInvalid)
		return
	}
	var id providers.Identity
	if err := json.Unmarshal(f.Pending, &id); err != nil {
		h.fail(w, r, http.StatusBadRequest, web.KeyFlowExpired, err)
		return
	}
	f.Pending, f.UpstreamState = nil, ""
	h.finish(w, r, f, p, id)
}

// cardMessageKey is the page text for a refusal reason.
func cardMessageKey(reason string) string {
	switch reason {
	case "expired", "not_yet_valid", "untrusted", "revoked", "wrong_usage", "policy", "revocation_unavailable", "unknown_user", "disabled", "unavailable":
		return "card." + reason
	}
	return "card.refused"
}

var (
	errNoCertificate   = errors.New("login: no client certificate")
	errUntrustedHeader = errors.New("login: Client-Cert header from an address that is not a trusted proxy")
)

// cardChain returns the certificate chain, leaf first: from the TLS handshake, or
// from the RFC 9440 headers when a trusted proxy ended TLS. A header from anyone
// else is refused outright rather than ignored, so that the attempt is seen
// (SECURITY.md I5, RFC 9440 §3: the header must be sanitised at the proxy).
func (h *Handler) cardChain(r *http.Request) ([]*x509.Certificate, error) {
	_, hasHeader := r.Header[clientcert.HeaderClientCert]
	_, hasChain := r.Header[clientcert.HeaderClientCertChain]
	if hasHeader || hasChain {
		if !h.trustedProxy(r.RemoteAddr) {
			return nil, errUntrustedHeader
		}
		return clientcert.ChainFromHeaders(r.Header)
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		return r.TLS.PeerCertificates, nil
	}
	return nil, errNoCertificate
}

func (h *Handler) trustedProxy(remoteAddr string) bool {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return false
	}
	a := ap.Addr().Unmap()
	for _, p := range h.cfg.Card.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
