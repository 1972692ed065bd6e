package login

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/flow"
	"github.com/justiceconnect/justiceconnect/broker/mapping"
	"github.com/justiceconnect/justiceconnect/broker/oidc"
	"github.com/justiceconnect/justiceconnect/broker/ratelimit"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/web"
	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/providers"
)

// Provider is a configured upstream as the login pages see it. Exactly one of
// Password, Redirect, Certificate is set.
type Provider struct {
	ID           string
	Label        string
	Description  string
	EmailDomains []string
	// Ceiling is the highest acr this provider can produce (configuration).
	Ceiling     claims.ACR
	Password    providers.PasswordProvider
	Redirect    providers.RedirectProvider
	Certificate providers.CertificateProvider
	Mapper      *mapping.Mapper
}

// impl returns whichever implementation is set.
func (p *Provider) impl() providers.Provider {
	switch {
	case p.Password != nil:
		return p.Password
	case p.Redirect != nil:
		return p.Redirect
	case p.Certificate != nil:
		return p.Certificate
	}
	return nil
}

func (p *Provider) check(ctx context.Context) error {
	impl := p.impl()
	if impl == nil {
		return errors.New("login: provider has no implementation")
	}
	return impl.Check(ctx)
}

// Config wires the login pages.
type Config struct {
	Issuer    string
	Store     storage.Store
	Flows     *flow.Store
	SSO       *session.SSO
	Pages     *web.Pages
	Audit     *audit.Log
	Providers []*Provider
	// Card is the card origin, for CertificateProvider logins.
	Card CardOrigin
	// AddressLimiter limits password submissions per client address, and
	// AccountFailures failed passwords per user name; nil: no limit.
	AddressLimiter, AccountFailures *ratelimit.Limiter
	// CheckTimeout bounds a provider's health check when the chooser is built.
	CheckTimeout time.Duration
	// Cancelled answers a flow whose person cancelled at their provider (the
	// OIDC server's page with the way back to the application); nil: an error
	// page.
	Cancelled func(w http.ResponseWriter, r *http.Request, f *flow.Flow)
	Logger    *slog.Logger
	Now       func() time.Time
}

// Handler serves the login pages.
type Handler struct {
	cfg  Config
	byID map[string]*Provider
}

// New builds the handler.
func New(cfg Config) *Handler {
	h := &Handler{cfg: cfg, byID: map[string]*Provider{}}
	for _, p := range cfg.Providers {
		h.byID[p.ID] = p
	}
	if h.cfg.CheckTimeout == 0 {
		h.cfg.CheckTimeout = 2 * time.Second
	}
	return h
}

// Register adds the login routes.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /login", h.start)
	mux.HandleFunc("POST /login/choose", h.choose)
	mux.HandleFunc("GET /login/password", h.passwordForm)
	mux.HandleFunc("POST /login/password", h.passwordSubmit)
	mux.HandleFunc("GET /login/callback/{provider}", h.callback)
	mux.HandleFunc("POST /login/callback/{provider}", h.callback)
	mux.HandleFunc("GET "+cardDonePath, h.cardDone)
}

// MaxACR is the highest acr any provider allowed to the client can reach; /authorize
// uses it to answer unmet_authentication_requirements at once.
func (h *Handler) MaxACR(_ context.Context, c *storage.Client) claims.ACR {
	var best claims.ACR
	for _, p := range h.cfg.Providers {
		if allowed(c, p) && (best == "" || p.Ceiling.AtLeast(best)) {
			best = p.Ceiling
		}
	}
	return best
}

func allowed(c *storage.Client, p *Provider) bool { return c.AllowsProvider(p.ID) }

// eligible lists the providers this flow may use: allowed to the client, able to
// reach the requested acr, and answering their health check.
func (h *Handler) eligible(ctx context.Context, f *flow.Flow, client *storage.Client) (ok, down []*Provider) {
	for _, p := range h.cfg.Providers {
		if !allowed(client, p) || (f.MinACR != "" && !p.Ceiling.AtLeast(f.MinACR)) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, h.cfg.CheckTimeout)
		err := p.check(cctx)
		cancel()
		if err != nil {
			h.cfg.Logger.Warn("login: provider unavailable", "provider", p.ID, "err", err)
			down = append(down, p)
			continue
		}
		ok = append(ok, p)
	}
	return ok, down
}

func (h *Handler) loadFlow(w http.ResponseWriter, r *http.Request, id string) (*flow.Flow, *storage.Client, bool) {
	f, err := h.cfg.Flows.Get(r.Context(), id, session.BindingValue(r))
	if err == nil && f.State != flow.AwaitingLogin {
		err = flow.ErrInvalid
	}
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "error.flow_expired", err)
		return nil, nil, false
	}
	fc, err := h.cfg.Store.GetClient(r.Context(), f.ClientID)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "error.flow_expired", err)
		return nil, nil, false
	}
	return f, fc.(*storage.Client), true
}

// start is step 3: pick the provider (idp_hint, login_hint's e-mail domain, or the
// only one) or show the chooser.
func (h *Handler) start(w http.ResponseWriter, r *http.Request) {
	f, client, ok := h.loadFlow(w, r, r.URL.Query().Get("flow"))
	if !ok {
		return
	}
	usable, down := h.eligible(r.Context(), f, client)
	if len(usable) == 0 {
		h.fail(w, r, http.StatusServiceUnavailable, "login.unavailable", errors.New("no provider available for this request"))
		return
	}
	if p := pickDirect(f.Query, usable, len(down)); p != nil {
		h.begin(w, r, f, client, p)
		return
	}
	lang := h.cfg.Pages.Lang(r, f.Query.Get("ui_locales"))
	page := web.ChooserPage{Lang: lang, CorrelationID: oidc.CorrelationID(r), ClientName: client.Name}
	last := lastProvider(r)
	for _, p := range usable {
		c := web.Choice{ID: p.ID, Label: p.Label, Description: p.Description, LastUsed: p.ID == last,
			Action: "/login/choose", Hidden: map[string]string{"flow": f.ID, "provider": p.ID}}
		if c.LastUsed { // first in the list, and so first in the focus order
			page.Choices = append([]web.Choice{c}, page.Choices...)
			continue
		}
		page.Choices = append(page.Choices, c)
	}
	for _, p := range down {
		page.Choices = append(page.Choices, web.Choice{ID: p.ID, Label: p.Label, Description: p.Description, Unavailable: true})
	}
	h.cfg.Pages.Render(w, r, http.StatusOK, page)
}

// pickDirect applies idp_hint (ProConnect's parameter), then the e-mail domain of
// login_hint; with a single eligible provider there is nothing to choose. When the
// only usable one is left because others are down, the chooser still shows, with
// the others marked unavailable: otherwise an agent whose directory hangs would be
// sent, without a word, to the bar's IdP.
func pickDirect(q url.Values, usable []*Provider, down int) *Provider {
	if hint := q.Get("idp_hint"); hint != "" {
		for _, p := range usable {
			if p.ID == hint {
				return p
			}
		}
	}
	if hint := q.Get("login_hint"); strings.Contains(hint, "@") {
		domain := strings.ToLower(hint[strings.LastIndexByte(hint, '@')+1:])
		for _, p := range usable {
			if slices.Contains(p.EmailDomains, domain) {
				return p
			}
		}
	}
	if len(usable) == 1 && down == 0 {
		return usable[0]
	}
	return nil
}

func (h *Handler) choose(w http.ResponseWriter, r *http.Request) {
	f, client, ok := h.loadFlow(w, r, r.PostFormValue("flow"))
	if !ok {
		return
	}
	p := h.byID[r.PostFormValue("provider")]
	if p == nil || !allowed(client, p) || (f.MinACR != "" && !p.Ceiling.AtLeast(f.MinACR)) {
		h.fail(w, r, http.StatusBadRequest, "error.bad_request", errors.New("provider not eligible"))
		return
	}
	h.begin(w, r, f, client, p)
}

// begin starts the chosen login style.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request, f *flow.Flow, client *storage.Client, p *Provider) {
	ctx := r.Context()
	switch {
	case p.Password != nil:
		http.Redirect(w, r, "/login/password?"+url.Values{"flow": {f.ID}, "provider": {p.ID}}.Encode(), http.StatusSeeOther)
	case p.Redirect != nil:
		f.Provider = p.ID
		f.UpstreamState = flow.RandomToken(24)
		step, err := p.Redirect.Begin(ctx, providers.LoginRequest{
			CallbackURL: h.cfg.Issuer + "/login/callback/" + p.ID,
			State:       f.ID + "." + f.UpstreamState,
			LoginHint:   f.Query.Get("login_hint"),
			ACRValues:   strings.Fields(f.Query.Get("acr_values")),
			ForceAuthn:  f.ForceLogin,
		})
		if err != nil {
			h.fail(w, r, http.StatusServiceUnavailable, "login.unavailable", err)
			return
		}
		f.Pending = step.Pending
		if err := h.cfg.Flows.Save(ctx, f); err != nil {
			h.fail(w, r, http.StatusConflict, "error.flow_expired", err)
			return
		}
		if step.PostURL != "" {
			lang := h.cfg.Pages.Lang(r, f.Query.Get("ui_locales"))
			h.cfg.Pages.Render(w, r, http.StatusOK, web.AutoPostPage{Lang: lang, CorrelationID: oidc.CorrelationID(r), Action: step.PostURL, Fields: step.Form})
			return
		}
		http.Redirect(w, r, step.RedirectURL, http.StatusSeeOther)
	case p.Certificate != nil:
		h.beginCard(w, r, f, p)
	default:
		h.fail(w, r, http.StatusBadRequest, "error.bad_request", errors.New("provider style not served here"))
	}
}

func (h *Handler) passwordForm(w http.ResponseWriter, r *http.Request) {
	f, client, ok := h.loadFlow(w, r, r.URL.Query().Get("flow"))
	if !ok {
		return
	}
	p := h.byID[r.URL.Query().Get("provider")]
	if p == nil || p.Password == nil || !allowed(client, p) {
		h.fail(w, r, http.StatusBadRequest, "error.bad_request", errors.New("not a password provider"))
		return
	}
	h.renderPassword(w, r, http.StatusOK, f, client, p, loginHintUsername(f.Query.Get("login_hint")), "")
}

func (h *Handler) renderPassword(w http.ResponseWriter, r *http.Request, status int, f *flow.Flow, client *storage.Client, p *Provider, username, errKey string) {
	lang := h.cfg.Pages.Lang(r, f.Query.Get("ui_locales"))
	page := web.LoginPage{Lang: lang, CorrelationID: oidc.CorrelationID(r), ClientName: client.Name, ProviderLabel: p.Label,
		Action: "/login/password", Hidden: map[string]string{"flow": f.ID, "provider": p.ID}, Username: username}
	if errKey != "" {
		page.Error = h.cfg.Pages.T(lang, errKey)
	}
	if len(h.cfg.Providers) > 1 {
		page.BackURL = "/login?flow=" + url.QueryEscape(f.ID)
	}
	h.cfg.Pages.Render(w, r, status, page)
}

func (h *Handler) passwordSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, client, ok := h.loadFlow(w, r, r.PostFormValue("flow"))
	if !ok {
		return
	}
	p := h.byID[r.PostFormValue("provider")]
	if p == nil || p.Password == nil || !allowed(client, p) || (f.MinACR != "" && !p.Ceiling.AtLeast(f.MinACR)) {
		h.fail(w, r, http.StatusBadRequest, "error.bad_request", errors.New("not an eligible password provider"))
		return
	}
	username := strings.TrimSpace(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	if username == "" || password == "" {
		h.renderPassword(w, r, http.StatusBadRequest, f, client, p, username, "login.empty")
		return
	}
	account := p.ID + "\x00" + strings.ToLower(username)
	ok, wait := h.cfg.AddressLimiter.Allow(clientAddr(r))
	if ok {
		var blocked bool
		blocked, wait = h.cfg.AccountFailures.Blocked(account)
		ok = !blocked
	}
	if !ok {
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
		h.cfg.Audit.Record(ctx, storage.AuditEvent{Type: audit.Login, Outcome: audit.OutcomeFail, Provider: p.ID, ClientID: f.ClientID,
			Details: map[string]string{"reason": "login.throttled"}})
		h.renderPassword(w, r, http.StatusTooManyRequests, f, client, p, username, "login.throttled")
		return
	}
	id, err := p.Password.Login(providers.WithClientAddr(ctx, clientAddr(r)), username, password)
	if errors.Is(err, providers.ErrBadCredentials) {
		h.cfg.AccountFailures.Fail(account)
	}
	if err != nil {
		status, key := http.StatusUnauthorized, "login.bad_credentials"
		switch {
		case errors.Is(err, providers.ErrThrottled):
			status, key = http.StatusTooManyRequests, "login.throttled"
		case errors.Is(err, providers.ErrUnavailable):
			status, key = http.StatusServiceUnavailable, "login.unavailable"
		case errors.Is(err, providers.ErrAccountDisabled):
			status, key = http.StatusForbidden, "login.disabled"
		case !errors.Is(err, providers.ErrBadCredentials):
			status, key = http.StatusInternalServerError, "error.generic"
		}
		h.cfg.Audit.Record(ctx, storage.AuditEvent{Type: audit.Login, Outcome: audit.OutcomeFail, Provider: p.ID, ClientID: f.ClientID,
			Details: map[string]string{"reason": key}})
		h.cfg.Logger.Info("login: password refused", "provider", p.ID, "reason", key, "err", err)
		h.renderPassword(w, r, status, f, client, p, username, key)
		return
	}
	h.finish(w, r, f, p, id)
}

// callback receives the browser back from a redirect provider. The flow is found by
// the state we sent (flow ID + secret), since the binding cookie may not come along
// on the IdP's cross-site POST.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := h.byID[r.PathValue("provider")]
	if p == nil || p.Redirect == nil {
		h.fail(w, r, http.StatusNotFound, "error.not_found", errors.New("unknown provider callback"))
		return
	}
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "error.bad_request", err)
		return
	}
	state := r.Form.Get("state")
	if state == "" {
		state = r.Form.Get("RelayState")
	}
	flowID, secret, _ := strings.Cut(state, ".")
	f, err := h.cfg.Flows.GetUnbound(ctx, flowID)
	if err != nil || f.State != flow.AwaitingLogin || f.Provider != p.ID || f.UpstreamState == "" || !flow.Equal(f.UpstreamState, secret) {
		h.fail(w, r, http.StatusBadRequest, "error.flow_expired", errors.Join(flow.ErrInvalid, err))
		return
	}
	id, err := p.Redirect.Complete(ctx, r, f.Pending)
	if err != nil {
		key := "error.generic"
		switch {
		case errors.Is(err, providers.ErrCancelled):
			key = "error.access_denied"
		case errors.Is(err, providers.ErrUnavailable):
			key = "login.unavailable"
		}
		h.cfg.Audit.Record(ctx, storage.AuditEvent{Type: audit.Login, Outcome: audit.OutcomeFail, Provider: p.ID, ClientID: f.ClientID,
			Details: map[string]string{"reason": key}})
		if errors.Is(err, providers.ErrCancelled) && h.cfg.Cancelled != nil {
			// The flow ends here: its callback cannot be replayed.
			f.State = flow.Done
			if err := h.cfg.Flows.Save(ctx, f); err != nil {
				h.fail(w, r, http.StatusServiceUnavailable, "error.unavailable", err)
				return
			}
			h.cfg.Cancelled(w, r, f)
			return
		}
		h.fail(w, r, http.StatusBadGateway, key, err)
		return
	}
	h.finish(w, r, f, p, id)
}

// finish is where every login style ends (step 4).
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, f *flow.Flow, p *Provider, id providers.Identity) {
	ctx := r.Context()
	id.Provider = p.ID
	if id.Authn.Time.IsZero() {
		id.Authn.Time = h.cfg.Now()
	}
	a := p.Mapper.Map(id)
	a.AuthTime = a.AuthTime.UTC().Truncate(time.Second)
	sso, err := h.cfg.SSO.Start(ctx, w, r, a)
	if err != nil {
		h.fail(w, r, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	verifier, err := h.cfg.Flows.Authenticate(ctx, f, a, sso.ID)
	if err != nil {
		h.fail(w, r, http.StatusConflict, "error.flow_expired", err)
		return
	}
	rememberProvider(w, p.ID)
	h.cfg.Audit.Record(ctx, storage.AuditEvent{Type: audit.Login, Outcome: audit.OutcomeOK, Subject: a.PublicSubject, Provider: p.ID,
		ClientID: f.ClientID, Session: sso.ID, Details: map[string]string{"acr": string(a.ACR), "amr": strings.Join(a.AMR, " ")}})
	http.Redirect(w, r, "/authorize/resume?"+url.Values{"flow": {f.ID}, "verifier": {verifier}}.Encode(), http.StatusSeeOther)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, key string, cause error) {
	oidc.ShowError(h.cfg.Pages, h.cfg.Logger, w, r, status, key, cause)
}

// loginHintUsername prefills the form with login_hint when it looks like a user name.
func loginHintUsername(hint string) string {
	if len(hint) > 128 {
		return ""
	}
	return hint
}

func clientAddr(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}

// Refresh re-checks the person behind a grant at their provider, for the
// refresh_token grant. It returns nil, nil when the provider cannot re-check
// (it implements no providers.Refresher).
func (h *Handler) Refresh(ctx context.Context, sess *session.Session) (*flow.Auth, error) {
	p := h.byID[sess.Provider]
	if p == nil {
		return nil, providers.ErrUnknownUser // the provider left the configuration
	}
	rf, ok := p.impl().(providers.Refresher)
	if !ok {
		return nil, nil
	}
	id, err := rf.Refresh(ctx, providers.Identity{Provider: p.ID, Subject: sess.UpstreamSubject, Username: sess.Username})
	if err != nil {
		return nil, err
	}
	id.Provider = p.ID
	return p.Mapper.Map(id), nil
}

// UpstreamToken verifies a token that the upstream providerID issued (for RFC 8693
// token exchange) and maps the person it names exactly as a login through that
// provider would, ceiling included. It also returns the token's expiry, read from
// the payload once the provider has verified it.
func (h *Handler) UpstreamToken(ctx context.Context, providerID, token, tokenType string) (*flow.Auth, time.Time, error) {
	p := h.byID[providerID]
	if p == nil {
		return nil, time.Time{}, fmt.Errorf("login: no provider %q", providerID)
	}
	tv, ok := p.impl().(providers.TokenVerifier)
	if !ok {
		return nil, time.Time{}, fmt.Errorf("login: provider %q does not verify tokens", providerID)
	}
	id, err := tv.VerifyToken(ctx, token, tokenType)
	if err != nil {
		return nil, time.Time{}, err
	}
	exp, err := jwtExpiry(token)
	if err != nil {
		return nil, time.Time{}, err
	}
	id.Provider = p.ID
	if id.Authn.Time.IsZero() {
		id.Authn.Time = h.cfg.Now()
	}
	return p.Mapper.Map(id), exp, nil
}

// jwtExpiry reads exp from a JWT whose signature was verified by the caller.
func jwtExpiry(token string) (time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, errors.New("login: not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, fmt.Errorf("login: JWT payload: %w", err)
	}
	var c struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Exp == nil {
		return time.Time{}, errors.New("login: JWT without a readable exp")
	}
	sec, err := c.Exp.Float64()
	if err != nil {
		return time.Time{}, errors.New("login: JWT exp is not a number")
	}
	return time.Unix(int64(sec), 0), nil
}

// lastProviderCookie remembers on the browser which way the person logged in last,
// so that the chooser offers it first. It holds a provider ID, nothing personal.
const lastProviderCookie = "__Host-jc-last-provider"

func rememberProvider(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: lastProviderCookie, Value: id, Path: "/", MaxAge: 400 * 24 * 3600,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func lastProvider(r *http.Request) string {
	c, err := r.Cookie(lastProviderCookie)
	if err != nil {
		return ""
	}
	return c.Value
}
