package oidc

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/logout"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// UpstreamLogoutReceiver is an upstream OpenID provider that can tell the broker
// its user logged out (OIDC Back-Channel Logout 1.0, the broker being the RP).
type UpstreamLogoutReceiver interface {
	// VerifyLogoutToken validates the logout token (§2.6) and returns the upstream
	// sub and/or sid it names, its jti and its expiry.
	VerifyLogoutToken(ctx context.Context, token string) (sub, sid, jti string, exp time.Time, err error)
	// UpstreamSessionID returns the upstream sid recorded at login in the
	// identity's provider-private data, or "".
	UpstreamSessionID(upstream []byte) string
}

// RegisterUpstreamLogout adds POST /login/backchannel/{provider}, the
// backchannel_logout_uri to register at each upstream OP in receivers (by
// provider ID).
func (s *Server) RegisterUpstreamLogout(mux *http.ServeMux, receivers map[string]UpstreamLogoutReceiver) {
	mux.HandleFunc("POST /login/backchannel/{provider}", func(w http.ResponseWriter, r *http.Request) {
		s.upstreamBackchannel(w, r, receivers)
	})
}

// upstreamBackchannel receives an upstream's logout token and ends the broker
// sessions opened through that upstream session, with the same cascade as the
// person's own logout (§2.7: an RP that is also an OP logs its own RPs out). Any
// problem is 400 {"error":"invalid_request"} (§2.8, SECURITY.md E11).
func (s *Server) upstreamBackchannel(w http.ResponseWriter, r *http.Request, receivers map[string]UpstreamLogoutReceiver) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	provider := r.PathValue("provider")
	bad := func(err error) {
		s.logger().WarnContext(ctx, "upstream back-channel logout refused", "provider", provider, "err", err)
		s.cfg.Audit.Record(ctx, storage.AuditEvent{Type: logout.AuditUpstream, Outcome: audit.OutcomeDeny, Provider: provider,
			Request: r.Header.Get("X-Request-Id"), Details: map[string]string{"error": err.Error()}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_request"}` + "\n"))
	}
	rc := receivers[provider]
	if rc == nil {
		bad(errors.New("no such OpenID provider"))
		return
	}
	if err := r.ParseForm(); err != nil {
		bad(err)
		return
	}
	token := r.PostForm.Get("logout_token")
	if token == "" || len(r.PostForm["logout_token"]) != 1 {
		bad(errors.New("logout_token missing or repeated"))
		return
	}
	sub, sid, jti, exp, err := rc.VerifyLogoutToken(ctx, token)
	if err != nil {
		bad(err)
		return
	}
	// §2.6 step 7 (optional, done): a jti seen before is a replay.
	if err := s.cfg.Store.UseOnce(ctx, "upstream-logout-jti:"+provider, jti, exp.Add(2*time.Minute)); err != nil {
		if errors.Is(err, storage.ErrAlreadyUsed) {
			bad(errors.New("logout token replayed (jti)"))
			return
		}
		s.logger().ErrorContext(ctx, "upstream back-channel logout: record jti", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	list, err := s.cfg.Store.ListSSOSessionsByUpstream(ctx, provider, sub, sid)
	if err != nil {
		s.logger().ErrorContext(ctx, "upstream back-channel logout: list sessions", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	ended := 0
	for _, ss := range list {
		a, err := session.Auth(ss)
		if err != nil {
			continue
		}
		// §2.7: with a sid, the sessions of that upstream session; with sub only,
		// every session of that upstream user. The store found the keyed sessions
		// by index; this check is what decides for the sessions stored without
		// keys, which it returns too.
		if sid != "" && rc.UpstreamSessionID(a.Upstream) != sid {
			continue
		}
		if sub != "" && a.UpstreamSubject != sub {
			continue
		}
		// The list has no clients; the session's own read has them, for the
		// notices to our applications.
		full, err := s.cfg.Store.GetSSOSession(ctx, ss.ID)
		if errors.Is(err, storage.ErrNotFound) {
			continue // deleted since the list was read: nothing left to end
		}
		if err == nil {
			_, err = s.endAndNotify(ctx, full, true)
		}
		if err != nil {
			s.logger().ErrorContext(ctx, "upstream back-channel logout: end session", "session", ss.ID, "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		ended++
		s.cfg.Audit.Record(ctx, storage.AuditEvent{Type: logout.AuditUpstream, Outcome: audit.OutcomeOK, Subject: ss.Subject,
			Provider: provider, Session: ss.ID, Request: r.Header.Get("X-Request-Id")})
	}
	s.logger().InfoContext(ctx, "upstream back-channel logout", "provider", provider, "sessions_ended", ended)
	w.WriteHeader(http.StatusOK)
}

// endAndNotify ends the session, revokes its tokens (keeping offline_access ones
// when keepOffline, OIDC BCL §2.7) and queues its back-channel notices in one
// transaction (logout.End), then tries the notices within
// notifyDeadline (SECURITY.md E1). Only the attempt has that deadline: the
// notices are queued whatever the store's pace, and even if the person's browser
// goes away meanwhile.
func (s *Server) endAndNotify(ctx context.Context, ss *storage.SSOSession, keepOffline bool) (logout.Ended, error) {
	ended, err := logout.End(context.WithoutCancel(ctx), s.cfg.Store, ss, keepOffline, s.cfg.Logouts != nil, s.cfg.Now())
	if err != nil {
		return logout.Ended{}, err
	}
	if s.cfg.Logouts != nil && len(ended.Notices) > 0 {
		nctx, cancel := context.WithTimeout(ctx, notifyDeadline)
		defer cancel()
		if err := s.cfg.Logouts.Try(nctx, ended.Notices); err != nil {
			// Queued: the worker sends them.
			s.logger().WarnContext(ctx, "logout: back-channel notices", "session", ss.ID, "err", err)
		}
	}
	return ended, nil
}
