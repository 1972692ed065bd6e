package account

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/release"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/web"
	"github.com/justiceconnect/justiceconnect/claims"
)

// Paths of the account page and of its withdraw form.
const (
	Path         = "/compte"
	WithdrawPath = "/compte/retirer"
)

// Config are the handler's dependencies.
type Config struct {
	// Store must implement storage.ConsentWithdrawer for withdrawals (both SQL
	// stores do).
	Store storage.Store
	SSO   *session.SSO
	Pages *web.Pages
	Audit *audit.Log
	// PairwiseSalt is the broker's salt for pairwise subjects: the tokens of a
	// pairwise client carry that subject, not the public one.
	PairwiseSalt []byte
	Logger       *slog.Logger
	Now          func() time.Time
}

// Handler serves the account page.
type Handler struct{ cfg Config }

// New returns the handler; a nil Logger discards and a nil Now is time.Now.
func New(cfg Config) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{cfg: cfg}
}

// Register mounts GET /compte and POST /compte/retirer. The POST is a browser form
// post: the broker's net/http.CrossOriginProtection middleware refuses it from
// another origin (SECURITY.md D3), so no token is needed in the form.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+Path, h.page)
	mux.HandleFunc("POST "+WithdrawPath, h.withdraw)
}

// Query values /compte shows a message for, after a withdrawal (303 from the POST).
const (
	resultParam   = "retrait"
	resultDone    = "ok"
	resultUnknown = "inconnu"
)

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lang := h.cfg.Pages.Lang(r, r.URL.Query().Get("ui_locales"))
	corr := r.Header.Get("X-Request-Id")
	sso, err := h.cfg.SSO.Current(r)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	if sso == nil {
		// No session: there is no application to start a login for, so the page
		// says how to get here rather than redirecting.
		h.cfg.Pages.Render(w, r, http.StatusOK, web.AccountPage{Lang: lang, CorrelationID: corr, LoggedOut: true})
		return
	}
	consents, err := h.cfg.Store.ListConsents(ctx, sso.Subject)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	page := web.AccountPage{Lang: lang, CorrelationID: corr, Action: WithdrawPath, Name: name(sso)}
	switch r.URL.Query().Get(resultParam) {
	case resultDone:
		page.Notice = "account.withdrawn"
	case resultUnknown:
		page.Error = "account.unknown"
	}
	for _, c := range consents {
		if c.RevokedAt != nil {
			continue
		}
		item := web.AccountConsent{ClientID: c.ClientID, ClientName: c.ClientID,
			GrantedAt: web.Date(lang, c.GrantedAt.UTC()), GrantedISO: c.GrantedAt.UTC().Format(time.DateOnly)}
		if fc, err := h.cfg.Store.GetClient(ctx, c.ClientID); err == nil {
			if sc, ok := fc.(*storage.Client); ok {
				if sc.Name != "" {
					item.ClientName = sc.Name
				}
				item.Organization = sc.Organization
			}
		} else if !errors.Is(err, storage.ErrNotFound) {
			h.fail(w, r, lang, err)
			return
		}
		for _, sc := range c.Scopes {
			if label, ok := h.cfg.Pages.Lookup(lang, "scope."+sc); ok {
				item.Scopes = append(item.Scopes, label)
			} else {
				item.Scopes = append(item.Scopes, sc) // an API scope: its name says most
			}
		}
		page.Consents = append(page.Consents, item)
	}
	h.cfg.Pages.Render(w, r, http.StatusOK, page)
}

func (h *Handler) withdraw(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	lang := h.cfg.Pages.Lang(r, "")
	sso, err := h.cfg.SSO.Current(r)
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	if sso == nil {
		http.Redirect(w, r, Path, http.StatusSeeOther)
		return
	}
	clientID := r.PostFormValue("client_id")
	wd, ok := h.cfg.Store.(storage.ConsentWithdrawer)
	if !ok {
		h.fail(w, r, lang, fmt.Errorf("account: store %T cannot withdraw consents", h.cfg.Store))
		return
	}
	// The tokens carry the subject the client was given; a client deleted since
	// has no tokens left (they cascade), so the public subject does.
	tokenSubject := sso.Subject
	if fc, err := h.cfg.Store.GetClient(ctx, clientID); err == nil {
		if sc, ok := fc.(*storage.Client); ok {
			tokenSubject = release.Subject(sc, sso.Subject, h.cfg.PairwiseSalt)
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		h.fail(w, r, lang, err)
		return
	}
	n, err := wd.WithdrawConsent(ctx, sso.Subject, clientID, tokenSubject, h.cfg.Now().UTC())
	if errors.Is(err, storage.ErrNotFound) {
		http.Redirect(w, r, Path+"?"+resultParam+"="+resultUnknown, http.StatusSeeOther)
		return
	}
	if err != nil {
		h.fail(w, r, lang, err)
		return
	}
	h.cfg.Audit.Record(ctx, storage.AuditEvent{Type: audit.Consent, Outcome: audit.OutcomeOK, Subject: sso.Subject,
		ClientID: clientID, Provider: sso.Provider, Session: sso.ID, Request: r.Header.Get("X-Request-Id"),
		Details: map[string]string{"action": "withdraw", "tokens_revoked": strconv.FormatInt(n, 10)}})
	http.Redirect(w, r, Path+"?"+resultParam+"="+resultDone, http.StatusSeeOther)
}

// fail logs err and shows the plain 503 page with the correlation ID.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, lang string, err error) {
	corr := r.Header.Get("X-Request-Id")
	h.cfg.Logger.Error("account", "correlation_id", corr, "err", err)
	h.cfg.Pages.Render(w, r, http.StatusServiceUnavailable, web.ErrorPage{Lang: lang, CorrelationID: corr,
		Status: http.StatusServiceUnavailable, Message: web.KeyUnavailable})
}

// name is the person's name from their login, when the provider gave one.
func name(s *storage.SSOSession) string {
	a, err := session.Auth(s)
	if err != nil {
		return ""
	}
	given, _ := a.Claims[claims.ClaimGivenName].(string)
	family, _ := a.Claims[claims.ClaimFamilyName].(string)
	return strings.TrimSpace(given + " " + family)
}
