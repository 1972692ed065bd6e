package oidc

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/flow"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/web"
)

// consentScopes are the scopes the consent page describes, in this order; their
// texts are broker/web's "scope.<name>" (and "scope.<name>.detail" where an
// example helps), in the page's language, as /compte lists them afterwards.
var consentScopes = []string{"openid", "profile", "email", "uid", "idp_id", "idp_acr", "profession", "jurisdictions", "justice_roles", "offline_access"}

// askConsent keeps the authenticated request in a flow and sends the person to the
// consent page.
func (s *Server) askConsent(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, a *flow.Auth, sid string, requestedAt time.Time) {
	ctx := r.Context()
	binding := session.Binding(w, r)
	f := &flow.Flow{ClientID: ar.GetClient().GetID(), Query: cloneValues(ar.GetRequestForm()),
		RequestedAt: requestedAt, Binding: flow.HashBinding(binding)}
	if err := s.cfg.Flows.New(ctx, f); err != nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	if _, err := s.cfg.Flows.Authenticate(ctx, f, a, sid); err != nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	http.Redirect(w, r, "/consent?flow="+url.QueryEscape(f.ID), http.StatusSeeOther)
}

func (s *Server) consentPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, err := s.cfg.Flows.Get(ctx, r.URL.Query().Get("flow"), session.BindingValue(r))
	if err != nil || f.State != flow.Authenticated {
		s.errorPage(w, r, http.StatusBadRequest, "error.flow_expired", err)
		return
	}
	fc, err := s.cfg.Store.GetClient(ctx, f.ClientID)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "error.flow_expired", err)
		return
	}
	client := fc.(*storage.Client)
	lang := s.cfg.Pages.Lang(r, f.Query.Get("ui_locales"))
	var items []web.ConsentItem
	for _, sc := range strings.Fields(f.Query.Get("scope")) {
		if !slices.Contains(consentScopes, sc) {
			continue
		}
		label, _ := s.cfg.Pages.Lookup(lang, "scope."+sc)
		detail, _ := s.cfg.Pages.Lookup(lang, "scope."+sc+".detail")
		items = append(items, web.ConsentItem{Label: label, Detail: detail})
	}
	org := client.Organization
	if org == "" {
		org = client.Name
	}
	s.cfg.Pages.Render(w, r, http.StatusOK, web.ConsentPage{Lang: lang, CorrelationID: CorrelationID(r),
		ClientName: client.Name, Organization: org, Action: "/consent",
		Hidden: map[string]string{"flow": f.ID}, Items: items})
}

func (s *Server) consentDecision(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, err := s.cfg.Flows.Get(ctx, r.PostFormValue("flow"), session.BindingValue(r))
	if err != nil || f.State != flow.Authenticated {
		s.errorPage(w, r, http.StatusBadRequest, "error.flow_expired", err)
		return
	}
	f.State = flow.Done
	if err := s.cfg.Flows.Save(ctx, f); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "error.flow_expired", err)
		return
	}
	ar, err := s.requestFromFlow(ctx, r, f)
	if err != nil {
		s.authorizeError(w, r, ar, err)
		return
	}
	if r.PostFormValue("decision") != "allow" {
		s.cfg.Audit.Record(ctx, storage.AuditEvent{Type: audit.Consent, Outcome: audit.OutcomeDeny, Subject: f.Auth.PublicSubject, ClientID: f.ClientID})
		// OIDC Core 3.1.2.6: the user refused, the client gets access_denied.
		s.authorizeError(w, r, ar, fosite.ErrAccessDenied.WithHint("The user refused to share the requested data."))
		return
	}
	c := &storage.Consent{Subject: f.Auth.PublicSubject, ClientID: f.ClientID, Scopes: ar.GetRequestedScopes(), GrantedAt: s.cfg.Now().UTC()}
	if err := s.cfg.Store.SaveConsent(ctx, c); err != nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	s.cfg.Audit.Record(ctx, storage.AuditEvent{Type: audit.Consent, Outcome: audit.OutcomeOK, Subject: f.Auth.PublicSubject, ClientID: f.ClientID,
		Details: map[string]string{"scopes": r.PostFormValue("scope")}})
	s.complete(w, r, ar, f.Auth, f.SID, f.RequestedAt, true, false)
}
