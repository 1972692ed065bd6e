package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	fositestorage "github.com/ory/fosite/storage"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/flow"
	"github.com/justiceconnect/justiceconnect/broker/release"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/web"
	"github.com/justiceconnect/justiceconnect/claims"
)

// ErrUnmetAuthenticationRequirements is OIDC Core 3.1.2.6's error for an acr that no
// provider available to the client can reach.
var ErrUnmetAuthenticationRequirements = &fosite.RFC6749Error{
	ErrorField:       "unmet_authentication_requirements",
	DescriptionField: "The requested authentication context cannot be met by any identity provider available to this client.",
	CodeField:        http.StatusBadRequest,
}

// requirements are what the request asks of the authentication (OIDC Core 3.1.2.1).
type requirements struct {
	none       bool
	forceLogin bool // prompt=login or max_age=0
	consent    bool // prompt=consent
	maxAge     time.Duration
	hasMaxAge  bool
	minACR     claims.ACR
}

func parseRequirements(form url.Values) (requirements, error) {
	var req requirements
	for _, p := range strings.Fields(form.Get("prompt")) {
		switch p {
		case "none":
			req.none = true
		case "login":
			req.forceLogin = true
		case "consent":
			req.consent = true
		}
	}
	if v := form.Get("max_age"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return req, fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer.")
		}
		req.hasMaxAge, req.maxAge = true, time.Duration(n)*time.Second
		// OIDC Core 3.1.2.1: "max_age=0 is equivalent to prompt=login"; fosite
		// ignores 0, so the broker handles it (SECURITY.md §4 item 6).
		if n == 0 {
			req.forceLogin = true
		}
	}
	acr, err := requestedACR(form)
	if err != nil {
		return req, err
	}
	req.minACR = acr
	return req, nil
}

// requestedACR returns the lowest acr that satisfies acr_values (a preference list,
// OIDC Core 3.1.2.1) or an essential acr claim request (5.5.1.1). Values the broker
// does not know are ignored; if nothing known remains there is no requirement.
func requestedACR(form url.Values) (claims.ACR, error) {
	var values []string
	essential := false
	if raw := form.Get("claims"); raw != "" {
		var cr struct {
			IDToken map[string]*struct {
				Essential bool     `json:"essential"`
				Value     string   `json:"value"`
				Values    []string `json:"values"`
			} `json:"id_token"`
		}
		if err := json.Unmarshal([]byte(raw), &cr); err != nil {
			return "", fosite.ErrInvalidRequest.WithHint("The claims parameter is not valid JSON.")
		}
		if a := cr.IDToken["acr"]; a != nil {
			essential = a.Essential
			if a.Value != "" {
				values = append(values, a.Value)
			}
			values = append(values, a.Values...)
		}
	}
	if !essential {
		values = append(values, strings.Fields(form.Get("acr_values"))...)
	}
	var min claims.ACR
	for _, v := range values {
		a, ok := claims.ParseACR(v)
		if !ok {
			continue
		}
		if min == "" || min.AtLeast(a) {
			min = a
		}
	}
	return min, nil
}

// satisfiedBy reports whether an SSO session can answer the request without a new login.
func (req requirements) satisfiedBy(s *storage.SSOSession, now time.Time) bool {
	if req.forceLogin {
		return false
	}
	if req.hasMaxAge && now.Sub(s.AuthTime) > req.maxAge {
		return false
	}
	if req.minACR != "" && !claims.ACR(s.ACR).AtLeast(req.minACR) {
		return false
	}
	return true
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	client, ok := ar.GetClient().(*storage.Client)
	if !ok {
		s.authorizeError(w, r, ar, fosite.ErrServerError.WithDebug("unexpected client type"))
		return
	}
	req, err := parseRequirements(ar.GetRequestForm())
	if err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	if req.minACR != "" && !s.cfg.MaxACR(ctx, client).AtLeast(req.minACR) {
		s.authorizeError(w, r, ar, ErrUnmetAuthenticationRequirements)
		return
	}
	now := s.cfg.Now().UTC().Truncate(time.Second)
	sso, err := s.cfg.SSO.Current(r)
	if err != nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	// A session opened at a provider this client may not use does not answer for
	// it: the person logs in again at one it allows (allowed_providers).
	if sso != nil && req.satisfiedBy(sso, now) && client.AllowsProvider(sso.Provider) {
		a, err := session.Auth(sso)
		if err != nil {
			s.errorPage(w, r, http.StatusInternalServerError, "error.generic", err)
			return
		}
		// Activity is recorded at most once a minute: the idle timeout is counted in
		// hours, and a write per authorization would cost the SSO fast path dearly.
		if now.Sub(sso.LastSeenAt) > time.Minute {
			if err := s.cfg.SSO.Touch(ctx, sso); err != nil {
				s.logger().Warn("oidc: touch sso session", "err", err)
			}
		}
		s.complete(w, r, ar, a, sso.ID, now, false, slices.Contains(sso.Clients, client.ID))
		return
	}
	// OIDC Core 3.1.2.1: with prompt=none the OP "MUST NOT display any
	// authentication or consent user interface" and answers login_required.
	if req.none {
		s.authorizeError(w, r, ar, fosite.ErrLoginRequired.WithHint("No session satisfies the request and prompt=none forbids a login page."))
		return
	}
	binding := session.Binding(w, r)
	f := &flow.Flow{
		ClientID: client.ID, Query: cloneValues(ar.GetRequestForm()), RequestedAt: now,
		Binding: flow.HashBinding(binding), MinACR: req.minACR, ForceLogin: req.forceLogin,
	}
	if err := s.cfg.Flows.New(ctx, f); err != nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	http.Redirect(w, r, "/login?flow="+url.QueryEscape(f.ID), http.StatusSeeOther)
}

// resume is step 5: the login finished, the browser comes back with the single-use
// verifier, and fosite re-validates the whole stored request.
func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, err := s.cfg.Flows.Get(ctx, r.URL.Query().Get("flow"), session.BindingValue(r))
	if err != nil || !f.CheckVerifier(r.URL.Query().Get("verifier")) {
		s.errorPage(w, r, http.StatusBadRequest, "error.flow_expired", err)
		return
	}
	f.State = flow.Done
	if err := s.cfg.Flows.Save(ctx, f); err != nil {
		// Another request used the verifier first.
		s.errorPage(w, r, http.StatusBadRequest, "error.flow_expired", err)
		return
	}
	ar, err := s.requestFromFlow(ctx, r, f)
	if err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	s.complete(w, r, ar, f.Auth, f.SID, f.RequestedAt, false, false)
}

// requestFromFlow rebuilds the authorization request from the copy kept server-side,
// never from what the browser sends back.
func (s *Server) requestFromFlow(ctx context.Context, r *http.Request, f *flow.Flow) (fosite.AuthorizeRequester, error) {
	r2 := r.Clone(ctx)
	r2.Method = http.MethodGet
	r2.URL = &url.URL{Path: "/authorize", RawQuery: f.Query.Encode()}
	r2.Form, r2.PostForm, r2.Body = nil, nil, http.NoBody
	r2.Header.Del("Content-Type")
	return s.provider.NewAuthorizeRequest(ctx, r2)
}

// complete grants what the client may receive for this person and sends the
// authorization response, or sends the person to the consent page first.
//
// recorded says the client is already in the SSO session's client list.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, a *flow.Auth, sid string, requestedAt time.Time, consented, recorded bool) {
	ctx := r.Context()
	client := ar.GetClient().(*storage.Client)
	req, err := parseRequirements(ar.GetRequestForm())
	if err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	if req.minACR != "" && !a.ACR.AtLeast(req.minACR) {
		s.authorizeError(w, r, ar, ErrUnmetAuthenticationRequirements)
		return
	}
	if len(client.AllowedProfessions) > 0 {
		prof, _ := a.Claims[claims.ClaimProfession].(string)
		if !slices.Contains(client.AllowedProfessions, prof) {
			s.cfg.Audit.Record(ctx, storage.AuditEvent{Type: audit.Authorize, Outcome: audit.OutcomeDeny,
				Subject: a.PublicSubject, ClientID: client.ID, Session: sid, Details: map[string]string{"reason": "population"}})
			s.refusePopulation(w, r, ar, client)
			return
		}
	}
	scopes := []string(ar.GetRequestedScopes())
	if client.IsPartner() && !consented {
		consent, err := s.cfg.Store.GetConsent(ctx, a.PublicSubject, client.ID)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", err)
			return
		}
		covered := consent != nil && containsAll(consent.Scopes, scopes)
		if req.consent || !covered {
			if req.none {
				s.authorizeError(w, r, ar, fosite.ErrConsentRequired.WithHint("The user has not consented and prompt=none forbids the consent page."))
				return
			}
			s.askConsent(w, r, ar, a, sid, requestedAt)
			return
		}
	}
	for _, sc := range scopes {
		ar.GrantScope(sc)
	}
	for _, aud := range ar.GetRequestedAudience() {
		ar.GrantAudience(aud)
	}
	sess := s.newSession(client, ar.GetGrantedScopes(), a, sid, requestedAt)
	// The code, its PKCE and OpenID records, the session's client list and the
	// audit event are written in one transaction: one commit instead of five, and
	// never a code without its audit event. Every write below must use txCtx (the
	// SQLite store has a single writer connection).
	txCtx, err := fositestorage.MaybeBeginTx(ctx, s.cfg.Store)
	if err != nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	nameGrant(ar)
	resp, err := s.provider.NewAuthorizeResponse(txCtx, ar, sess)
	if err == nil && sid != "" && !recorded {
		err = s.cfg.Store.AddSSOSessionClient(txCtx, sid, client.ID)
	}
	if err == nil {
		err = s.cfg.Store.AppendAudit(txCtx, &storage.AuditEvent{Time: s.cfg.Now().UTC(), Type: audit.Authorize, Outcome: audit.OutcomeOK,
			Subject: a.PublicSubject, ClientID: client.ID, Provider: a.Provider, Session: sid, Request: ar.GetID(),
			Details: map[string]string{"scopes": strings.Join(ar.GetGrantedScopes(), " "), "acr": string(a.ACR)}})
	}
	if err == nil {
		err = fositestorage.MaybeCommitTx(txCtx, s.cfg.Store)
	} else {
		_ = fositestorage.MaybeRollbackTx(txCtx, s.cfg.Store)
	}
	if err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	s.provider.WriteAuthorizeResponse(ctx, issWriter{ResponseWriter: w, issuer: s.cfg.Issuer}, ar, resp)
}

// newSession builds the fosite session of a grant: the client's sub, the claims the
// granted scopes release, and the ID token claims.
func (s *Server) newSession(client *storage.Client, granted []string, a *flow.Auth, sid string, requestedAt time.Time) *session.Session {
	sess := session.New()
	sess.Subject = release.Subject(client, a.PublicSubject, s.cfg.PairwiseSalt)
	sess.PublicSubject = a.PublicSubject
	sess.Username = a.Username
	sess.SID = sid
	sess.Provider = a.Provider
	sess.UpstreamSubject = a.UpstreamSubject
	sess.Claims = release.Claims(granted, a.Claims)
	ic := sess.IDTokenClaims()
	ic.Subject = sess.Subject
	ic.Issuer = s.cfg.Issuer
	ic.AuthTime = a.AuthTime.UTC().Truncate(time.Second)
	ic.RequestedAt = requestedAt
	ic.AuthenticationContextClassReference = string(a.ACR)
	ic.AuthenticationMethodsReferences = a.AMR
	ic.Extra = map[string]any{}
	if sid != "" {
		ic.Extra["sid"] = sid
	}
	alg := client.IDTokenSignedResponseAlg
	if alg == "" {
		alg = "ES256"
	}
	sess.IDTokenHeaders().Extra[algHeader] = alg
	return sess
}

// authorizeError sends an error to the client when its redirect URI is known good,
// and otherwise shows a page: never redirect to an unverified URI (RFC 6749 §4.1.2.1,
// SECURITY.md A4, A22).
func (s *Server) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	err = unavailable(err)
	rfc := fosite.ErrorToRFC6749Error(err)
	if storeDown(err) && (ar == nil || !ar.IsRedirectURIValid()) {
		s.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	if ar == nil || !ar.IsRedirectURIValid() || rfc.ErrorField == fosite.ErrUnsupportedResponseMode.ErrorField {
		key := "error.bad_request"
		if ar == nil || !ar.IsRedirectURIValid() {
			key = "error.invalid_redirect"
		}
		s.errorPage(w, r, http.StatusBadRequest, key, rfc.WithWrap(err))
		return
	}
	s.logger().Info("oidc: authorization error sent to client", "error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField)
	s.provider.WriteAuthorizeError(r.Context(), issWriter{ResponseWriter: w, issuer: s.cfg.Issuer}, ar, err)
}

// issWriter adds the iss parameter to every redirect fosite writes from /authorize
// (RFC 9207 §2: success and error responses alike). fosite sets Location, then
// calls WriteHeader.
type issWriter struct {
	http.ResponseWriter
	issuer string
}

func (w issWriter) WriteHeader(status int) {
	if loc := w.Header().Get("Location"); loc != "" && status >= 300 && status < 400 {
		if u, err := url.Parse(loc); err == nil && u.Fragment == "" {
			q := u.Query()
			q.Set("iss", w.issuer)
			u.RawQuery = q.Encode()
			w.Header().Set("Location", u.String())
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

// errorPage shows the plain French error page with a correlation ID; the cause goes
// to the log under the same ID.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, key string, cause error) {
	ShowError(s.cfg.Pages, s.logger(), w, r, status, key, cause)
}

// ShowError renders the error page for people and logs the cause with the page's
// correlation ID. The login package uses it too.
func ShowError(pages *web.Pages, logger interface {
	Warn(msg string, args ...any)
}, w http.ResponseWriter, r *http.Request, status int, key string, cause error) {
	status, key = unavailablePage(status, key, cause)
	id := CorrelationID(r)
	logger.Warn("page error", "correlation_id", id, "status", status, "key", key, "path", r.URL.Path, "err", cause)
	lang := pages.Lang(r, r.URL.Query().Get("ui_locales"))
	// No title: the page takes the one of its status ("Service momentanément
	// indisponible" for 503), or the generic one.
	pages.Render(w, r, status, web.ErrorPage{Lang: lang, CorrelationID: id, Message: pages.T(lang, key), Status: status})
}

// CorrelationID returns the request's ID set by the broker's middleware (header
// X-Request-Id on the request), or a fresh one.
func CorrelationID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" {
		return id
	}
	return randomID()
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// refusePopulation tells the person, in plain words, that the application does not
// admit their profession, and offers the way back to the application, which then
// receives access_denied (RFC 6749 §4.1.2.1). Redirecting at once would leave the
// person on the application's error screen without knowing why.
func (s *Server) refusePopulation(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, client *storage.Client) {
	s.refuseWithPage(w, r, ar, client, "This application does not admit this profession.", "", web.KeyPopulation, false)
}

// CancelledAtProvider ends a flow whose person cancelled at their identity provider:
// our page says so and offers the way back to the application, which receives
// access_denied (OIDC Core 3.1.2.6), instead of a dead end.
func (s *Server) CancelledAtProvider(w http.ResponseWriter, r *http.Request, f *flow.Flow) {
	ar, err := s.requestFromFlow(r.Context(), r, f)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "error.flow_expired", err)
		return
	}
	client, ok := ar.GetClient().(*storage.Client)
	if !ok {
		s.errorPage(w, r, http.StatusInternalServerError, "error.generic", errors.New("oidc: unexpected client type"))
		return
	}
	s.refuseWithPage(w, r, ar, client, "The user cancelled the login at the identity provider.", web.KeyCancelledTitle, web.KeyCancelled, true)
}

// refuseWithPage renders a 403 page whose "Retourner à" button carries the
// access_denied answer to the client's redirect URI.
func (s *Server) refuseWithPage(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, client *storage.Client, hint, title, message string, chosen bool) {
	rec := httptest.NewRecorder()
	s.authorizeError(rec, r, ar, fosite.ErrAccessDenied.WithHint(hint))
	lang := s.cfg.Pages.Lang(r, ar.GetRequestForm().Get("ui_locales"))
	s.cfg.Pages.Render(w, r, http.StatusForbidden, web.ErrorPage{Lang: lang, CorrelationID: CorrelationID(r), Status: http.StatusForbidden,
		Title: title, Message: message, ReturnURL: rec.Header().Get("Location"), ReturnTo: client.Name, Chosen: chosen})
}
