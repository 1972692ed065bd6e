package oidc

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/web"
)

// endSession is OpenID Connect RP-Initiated Logout 1.0. The broker redirects only
// to a post_logout_redirect_uri registered exactly for the client named by a valid
// id_token_hint (§3); without a valid hint it asks the person to confirm (§2, §6:
// a forged logout link must not log people out or bounce them elsewhere).
func (s *Server) endSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "error.bad_request", err)
		return
	}
	hint := r.Form.Get("id_token_hint")
	postLogout := r.Form.Get("post_logout_redirect_uri")
	state := r.Form.Get("state")
	clientID := r.Form.Get("client_id")

	var hintClaims map[string]any
	if hint != "" {
		c, err := s.signer.verify(ctx, hint)
		if err != nil {
			s.errorPage(w, r, http.StatusBadRequest, "error.bad_request", err)
			return
		}
		hintClaims = c
		aud := audiences(c["aud"])
		if clientID != "" && !slices.Contains(aud, clientID) {
			s.errorPage(w, r, http.StatusBadRequest, "error.bad_request", errors.New("client_id is not an audience of id_token_hint"))
			return
		}
		if clientID == "" && len(aud) > 0 {
			clientID = aud[0]
		}
	}
	var target *url.URL
	if postLogout != "" {
		if hintClaims == nil {
			// §3: without an ID token the OP cannot tell the URI belongs to the client.
			s.confirmLogout(w, r)
			return
		}
		fc, err := s.cfg.Store.GetClient(ctx, clientID)
		if err != nil {
			s.errorPage(w, r, http.StatusBadRequest, "error.invalid_redirect", err)
			return
		}
		client := fc.(*storage.Client)
		if !slices.Contains(client.PostLogoutRedirectURIs, postLogout) {
			s.errorPage(w, r, http.StatusBadRequest, "error.invalid_redirect", errors.New("post_logout_redirect_uri not registered"))
			return
		}
		u, err := url.Parse(postLogout)
		if err != nil {
			s.errorPage(w, r, http.StatusBadRequest, "error.invalid_redirect", err)
			return
		}
		target = u
	}
	sso, err := s.cfg.SSO.Current(r)
	if err != nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	if hintClaims == nil {
		if sso == nil {
			s.loggedOut(w, r) // nothing to end: logout is idempotent (§4)
			return
		}
		s.confirmLogout(w, r)
		return
	}
	if sso != nil {
		if sid, _ := hintClaims["sid"].(string); sid != "" && sid != sso.ID {
			// The hint is about another session of this browser: ask.
			s.confirmLogout(w, r)
			return
		}
	}
	out, err := s.logout(w, r, sso, clientID)
	if err != nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	if target != nil && state != "" {
		q := target.Query()
		q.Set("state", state)
		target.RawQuery = q.Encode()
	}
	s.finishLogout(w, r, out, target)
}

// endSessionConfirm ends the session after the person confirmed on our own page
// (CSRF: only same-origin POSTs reach it).
func (s *Server) endSessionConfirm(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("decision") != "logout" {
		// "Annuler": the session stays.
		lang := s.cfg.Pages.Lang(r, r.PostFormValue("ui_locales"))
		s.cfg.Pages.Render(w, r, http.StatusOK, web.MessagePage{Lang: lang, CorrelationID: CorrelationID(r),
			Title: s.cfg.Pages.T(lang, "logout.cancelled.title"), Message: s.cfg.Pages.T(lang, "logout.cancelled")})
		return
	}
	sso, err := s.cfg.SSO.Current(r)
	var out *logoutOutcome
	if err == nil {
		out, err = s.logout(w, r, sso, "")
	}
	if err != nil {
		s.errorPage(w, r, http.StatusServiceUnavailable, "error.unavailable", err)
		return
	}
	s.finishLogout(w, r, out, nil)
}

func (s *Server) confirmLogout(w http.ResponseWriter, r *http.Request) {
	lang := s.cfg.Pages.Lang(r, r.Form.Get("ui_locales"))
	// The pages after the confirmation (logged out, cancelled) keep the
	// language the client asked for (OIDC Core 3.1.2.1 ui_locales).
	hidden := map[string]string{}
	if ul := r.Form.Get("ui_locales"); ul != "" {
		hidden["ui_locales"] = ul
	}
	s.cfg.Pages.Render(w, r, http.StatusOK, web.LogoutConfirmPage{Lang: lang, CorrelationID: CorrelationID(r),
		Action: "/session/end/confirm", Hidden: hidden})
}

func (s *Server) loggedOut(w http.ResponseWriter, r *http.Request) {
	s.loggedOutWith(w, r, nil, "")
}

// loggedOutWith renders the "vous êtes déconnecté" page with the front-channel
// logout frames (Render opens frame-src to their origins on this page only).
func (s *Server) loggedOutWith(w http.ResponseWriter, r *http.Request, front []string, returnURL string) {
	lang := s.cfg.Pages.Lang(r, r.Form.Get("ui_locales"))
	s.cfg.Pages.Render(w, r, http.StatusOK, web.LoggedOutPage{Lang: lang, CorrelationID: CorrelationID(r),
		FrontchannelURLs: front, ReturnURL: returnURL})
}

func audiences(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		out := make([]string, 0, len(a))
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
