package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/flow"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/web"
	"github.com/justiceconnect/justiceconnect/providers"
)

// notifyDeadline bounds how long end_session waits for the clients' back-channel
// endpoints before it redirects (SECURITY.md E1); what is not delivered by then
// stays queued for the worker.
const notifyDeadline = 2 * time.Second

// logoutCookie names the pending logout while the browser visits the upstream's
// logout page; logoutFlowState marks those records in the flow table.
const (
	logoutCookie    = "__Host-jc-logout"
	logoutFlowState = "logout"
	logoutLifetime  = 10 * time.Minute
)

// logoutOutcome is what the end of the session leaves to do in the browser.
type logoutOutcome struct {
	// Front are the clients' front-channel logout URLs with iss and sid (OIDC
	// Front-Channel Logout 1.0 §2, §3).
	Front []string `json:"front,omitempty"`
	// Upstream is the step that ends the session at the provider, if any.
	Upstream providers.Step `json:"-"`
}

// pendingLogout is kept server-side while the browser is at the upstream.
type pendingLogout struct {
	Front  []string `json:"front,omitempty"`
	Target string   `json:"target,omitempty"`
}

// logout ends the SSO session and what hangs on it: the session's tokens except
// offline_access ones (OIDC Back-Channel Logout §2.7, SECURITY.md E12), the
// back-channel notices to its clients, tried at once within notifyDeadline (E1);
// it returns the front-channel frames and the upstream's logout step.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, sso *storage.SSOSession, clientID string) (*logoutOutcome, error) {
	ctx := r.Context()
	out := &logoutOutcome{}
	if sso == nil {
		return out, s.cfg.SSO.End(ctx, w, "")
	}
	// The session, its tokens and its notices go together (logout.End); on a
	// failure nothing has changed and the cookie stays, so the person can try again.
	ended, err := s.endAndNotify(ctx, sso, true)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.SSO.End(ctx, w, ""); err != nil { // the cookie
		return nil, err
	}
	details := map[string]string{"revoked_grants": itoa(ended.TokensRevoked)}
	if s.cfg.Logouts != nil {
		details["backchannel_notices"] = itoa(int64(len(ended.Notices)))
	}
	s.cfg.Audit.Record(ctx, storage.AuditEvent{Type: audit.Logout, Outcome: audit.OutcomeOK, Subject: sso.Subject,
		ClientID: clientID, Provider: sso.Provider, Session: sso.ID, Details: details})
	out.Front = s.frontchannelURLs(ctx, sso)
	if s.cfg.UpstreamLogout != nil {
		if a, err := session.Auth(sso); err == nil {
			step, err := s.cfg.UpstreamLogout(ctx, a, s.cfg.Issuer+"/session/end/return")
			if err != nil {
				// The broker session is over; the upstream one may outlive it. Logged,
				// not shown: the person cannot do anything about it.
				s.logger().WarnContext(ctx, "logout: upstream", "provider", sso.Provider, "err", err)
			} else {
				out.Upstream = step
			}
		}
	}
	return out, nil
}

// frontchannelURLs are the session's clients' frontchannel_logout_uri with iss and
// sid added (Front-Channel Logout §2: the OP renders them in iframes).
func (s *Server) frontchannelURLs(ctx context.Context, sso *storage.SSOSession) []string {
	var out []string
	for _, id := range sso.Clients {
		fc, err := s.cfg.Store.GetClient(ctx, id)
		if err != nil {
			continue
		}
		c := fc.(*storage.Client)
		if c.FrontchannelLogoutURI == "" {
			continue
		}
		u, err := url.Parse(c.FrontchannelLogoutURI)
		if err != nil {
			continue
		}
		q := u.Query()
		q.Set("iss", s.cfg.Issuer)
		q.Set("sid", sso.ID)
		u.RawQuery = q.Encode()
		out = append(out, u.String())
	}
	return out
}

// finishLogout sends the browser where the logout ends: first to the upstream's
// logout page when there is one (it comes back to /session/end/return), then to
// target (a registered post_logout_redirect_uri, state included) or the "logged
// out" page. Front-channel frames need a page of ours, so with them the page is
// shown with a link to target instead of a redirect.
func (s *Server) finishLogout(w http.ResponseWriter, r *http.Request, out *logoutOutcome, target *url.URL) {
	if out == nil {
		out = &logoutOutcome{}
	}
	t := ""
	if target != nil {
		t = target.String()
	}
	if step := out.Upstream; step.RedirectURL != "" || step.PostURL != "" {
		if err := s.rememberLogout(w, r, pendingLogout{Front: out.Front, Target: t}); err != nil {
			s.logger().WarnContext(r.Context(), "logout: remember pending logout", "err", err)
		} else {
			if step.RedirectURL != "" {
				http.Redirect(w, r, step.RedirectURL, http.StatusSeeOther)
				return
			}
			lang := s.cfg.Pages.Lang(r, "")
			s.cfg.Pages.Render(w, r, http.StatusOK, web.AutoPostPage{Lang: lang, CorrelationID: CorrelationID(r), Action: step.PostURL, Fields: step.Form})
			return
		}
	}
	s.completeLogout(w, r, pendingLogout{Front: out.Front, Target: t})
}

func (s *Server) completeLogout(w http.ResponseWriter, r *http.Request, p pendingLogout) {
	if p.Target != "" && len(p.Front) == 0 {
		http.Redirect(w, r, p.Target, http.StatusSeeOther)
		return
	}
	s.loggedOutWith(w, r, p.Front, p.Target)
}

func (s *Server) rememberLogout(w http.ResponseWriter, r *http.Request, p pendingLogout) error {
	data, err := json.Marshal(p)
	if err != nil {
		return err
	}
	now := s.cfg.Now()
	f := &storage.Flow{ID: flow.RandomToken(24), State: logoutFlowState, Data: data, CreatedAt: now, ExpiresAt: now.Add(logoutLifetime)}
	if err := s.cfg.Store.CreateFlow(r.Context(), f); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: logoutCookie, Value: f.ID, Path: "/", MaxAge: int(logoutLifetime.Seconds()),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return nil
}

// endSessionReturn is where the upstream's logout sends the browser back: it
// finishes the logout begun at /session/end. Without a pending logout it just says
// the person is logged out (the broker session ended before the upstream visit).
func (s *Server) endSessionReturn(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	c, err := r.Cookie(logoutCookie)
	if err != nil || c.Value == "" {
		s.loggedOut(w, r)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: logoutCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	f, err := s.cfg.Store.GetFlow(r.Context(), c.Value)
	if err != nil || f.State != logoutFlowState || !s.cfg.Now().Before(f.ExpiresAt) {
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.logger().WarnContext(r.Context(), "logout: pending logout", "err", err)
		}
		s.loggedOut(w, r)
		return
	}
	_ = s.cfg.Store.DeleteFlow(r.Context(), f.ID)
	var p pendingLogout
	if err := json.Unmarshal(f.Data, &p); err != nil {
		s.loggedOut(w, r)
		return
	}
	s.completeLogout(w, r, p)
}
