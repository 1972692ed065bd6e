package oidc

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/ory/fosite"
	fositestorage "github.com/ory/fosite/storage"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/ratelimit"
	"github.com/justiceconnect/justiceconnect/broker/release"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/providers"
)

// errTooManyRequests answers a client over its token rate (RFC 6585 §4, with
// RFC 6749's temporarily_unavailable code, which clients already handle).
var errTooManyRequests = &fosite.RFC6749Error{ErrorField: "temporarily_unavailable", CodeField: http.StatusTooManyRequests,
	DescriptionField: "Too many token requests for this client; retry after the delay in Retry-After."}

// token is step 6: fosite authenticates the client and runs the grant handlers.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess := session.New()
	// The tokens and their audit event are written in one transaction (fosite's own
	// transactions join it): one commit per token response, and never a token
	// without its event. It begins before NewAccessRequest so that the PKCE
	// session fosite deletes there goes in it too. The SQLite store takes its
	// writer at the first write (signing runs before); every write until the
	// commit must use txCtx.
	txCtx, err := fositestorage.MaybeBeginTx(ctx, s.cfg.Store)
	if err != nil {
		s.tokenError(w, r, nil, fosite.ErrTemporarilyUnavailable.WithWrap(err))
		return
	}
	// keep ends the transaction when no token is issued: what NewAccessRequest
	// wrote is kept, as when it wrote outside a transaction (the spent PKCE
	// session, and the grant's tokens fosite revokes when a code or refresh token
	// is replayed, RFC 9700 §4.14.2).
	keep := func() { _ = fositestorage.MaybeCommitTx(txCtx, s.cfg.Store) }
	ar, err := s.provider.NewAccessRequest(txCtx, r, sess)
	if err != nil {
		keep()
		s.tokenError(w, r, ar, err)
		return
	}
	// Limited per authenticated client, so that nobody can spend another client's
	// allowance by naming it; nothing has been consumed yet (codes and refresh
	// tokens are spent by NewAccessResponse).
	if ok, wait := s.cfg.TokenLimiter.Allow(ar.GetClient().GetID()); !ok {
		keep()
		w.Header().Set("Retry-After", strconv.Itoa(ratelimit.RetryAfter(wait)))
		s.tokenError(w, r, ar, errTooManyRequests)
		return
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// RFC 6749 §4.4: the client acts for itself; it gets the scopes and
		// audiences it asked for, which fosite checked against its registration.
		for _, sc := range ar.GetRequestedScopes() {
			ar.GrantScope(sc)
		}
		for _, aud := range ar.GetRequestedAudience() {
			ar.GrantAudience(aud)
		}
		if cs, ok := ar.GetSession().(*session.Session); ok {
			cs.Subject = ar.GetClient().GetID()
		}
	}
	if ar.GetGrantTypes().ExactOne("refresh_token") {
		// In txCtx: a revocation must not wait for the writer this transaction
		// may hold (client assertion jti recorded by NewAccessRequest).
		if err := s.recheck(r.WithContext(txCtx), ar); err != nil {
			keep()
			s.tokenError(w, r, ar, err)
			return
		}
	}
	nameGrant(ar)
	resp, err := s.provider.NewAccessResponse(txCtx, ar)
	if err != nil {
		_ = fositestorage.MaybeRollbackTx(txCtx, s.cfg.Store)
		s.tokenError(w, r, ar, err)
		return
	}
	ev := storage.AuditEvent{Time: s.cfg.Now().UTC(), Type: audit.TokenIssued, Outcome: audit.OutcomeOK, ClientID: ar.GetClient().GetID(), Request: ar.GetID(),
		Details: map[string]string{"grant_type": strings.Join(ar.GetGrantTypes(), " "), "scopes": strings.Join(ar.GetGrantedScopes(), " "),
			"audience": strings.Join(ar.GetGrantedAudience(), " ")}}
	if cs, ok := ar.GetSession().(*session.Session); ok {
		ev.Subject, ev.Session, ev.Provider = cs.PublicSubject, cs.SID, cs.Provider
	}
	if ar.GetGrantTypes().ExactOne("refresh_token") {
		ev.Type = audit.Refresh
	}
	err = s.cfg.Store.AppendAudit(txCtx, &ev)
	if err == nil {
		err = fositestorage.MaybeCommitTx(txCtx, s.cfg.Store)
	} else {
		_ = fositestorage.MaybeRollbackTx(txCtx, s.cfg.Store)
	}
	if err != nil {
		s.tokenError(w, r, ar, fosite.ErrServerError.WithWrap(err).WithDebug(err.Error()))
		return
	}
	s.provider.WriteAccessResponse(ctx, w, ar, resp)
}

func (s *Server) tokenError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	if err = unavailable(err); storeDown(err) {
		w.Header().Set("Retry-After", retryAfter)
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	clientID := ""
	if ar != nil && ar.GetClient() != nil {
		clientID = ar.GetClient().GetID()
	}
	s.logger().Info("oidc: token error", "error", rfc.ErrorField, "hint", rfc.HintField, "debug", rfc.DebugField, "client_id", clientID)
	if rfc.ErrorField == fosite.ErrInvalidClient.ErrorField || rfc.ErrorField == fosite.ErrInvalidGrant.ErrorField {
		s.cfg.Audit.Record(r.Context(), storage.AuditEvent{Type: audit.TokenIssued, Outcome: audit.OutcomeFail, ClientID: clientID,
			Details: map[string]string{"error": rfc.ErrorField, "grant_type": r.PostFormValue("grant_type")}})
	}
	s.provider.WriteAccessError(r.Context(), w, ar, err)
}

// introspect is RFC 7662; fosite authenticates the calling client, so only
// registered clients learn anything about a token.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ir, err := s.provider.NewIntrospectionRequest(ctx, r, session.New())
	if storeDown(err) {
		// fosite would answer active:false (RFC 7662 §2.2), telling the resource
		// server a valid token is dead; it must retry instead.
		w.Header().Set("Retry-After", retryAfter)
		s.provider.WriteAccessError(ctx, w, nil, unavailable(err))
		return
	}
	if err != nil {
		s.provider.WriteIntrospectionError(ctx, w, err)
		return
	}
	s.provider.WriteIntrospectionResponse(ctx, w, ir)
}

// revoke is RFC 7009.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	err := s.provider.NewRevocationRequest(ctx, r)
	if err == nil {
		s.cfg.Audit.Record(ctx, storage.AuditEvent{Type: audit.Revocation, Outcome: audit.OutcomeOK,
			Details: map[string]string{"token_type_hint": r.PostFormValue("token_type_hint")}})
	}
	s.provider.WriteRevocationResponse(ctx, w, err)
}

// recheck asks the person's provider about them again before a refresh, and
// refreshes the released claims with what it says. A disabled, deleted or moved
// account gets invalid_grant and loses the grant's tokens.
func (s *Server) recheck(r *http.Request, ar fosite.AccessRequester) error {
	sess, ok := ar.GetSession().(*session.Session)
	if !ok || s.cfg.Refresh == nil || sess.Provider == "" {
		return nil
	}
	ctx := r.Context()
	a, err := s.cfg.Refresh(ctx, sess)
	switch {
	case errors.Is(err, providers.ErrAccountDisabled) || errors.Is(err, providers.ErrUnknownUser):
		_ = s.cfg.Store.RevokeRefreshToken(ctx, ar.GetID())
		_ = s.cfg.Store.RevokeAccessToken(ctx, ar.GetID())
		s.cfg.Audit.Record(ctx, storage.AuditEvent{Type: audit.Refresh, Outcome: audit.OutcomeDeny, ClientID: ar.GetClient().GetID(),
			Subject: sess.PublicSubject, Provider: sess.Provider, Session: sess.SID, Details: map[string]string{"reason": "account no longer active"}})
		return fosite.ErrInvalidGrant.WithHint("The account is no longer active at its identity provider.").WithWrap(err)
	case err != nil:
		// Fail closed: without the provider's word, no new tokens.
		return fosite.ErrTemporarilyUnavailable.WithHint("The identity provider cannot be reached.").WithWrap(err)
	case a == nil:
		return nil
	}
	sess.Claims = release.Claims(ar.GetGrantedScopes(), a.Claims)
	return nil
}
