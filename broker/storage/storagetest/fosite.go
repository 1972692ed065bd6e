package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	fositestorage "github.com/ory/fosite/storage"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

func (e *env) tx() fositestorage.Transactional {
	e.t.Helper()
	tx, ok := e.s.(fositestorage.Transactional)
	if !ok {
		e.t.Fatalf("%T does not implement fosite storage.Transactional: fosite would redeem codes without a transaction", e.s)
	}
	return tx
}

// requestKinds are the four request stores that share create/get/delete semantics.
type requestKind struct {
	name   string
	create func(e *env, key string, r fosite.Requester) error
	get    func(e *env, key string, s fosite.Session) (fosite.Requester, error)
	delete func(e *env, key string) error // nil: no delete in the interface
}

var requestKinds = []requestKind{
	{"AuthorizeCode",
		func(e *env, k string, r fosite.Requester) error { return e.s.CreateAuthorizeCodeSession(e.ctx, k, r) },
		func(e *env, k string, s fosite.Session) (fosite.Requester, error) {
			return e.s.GetAuthorizeCodeSession(e.ctx, k, s)
		},
		nil},
	{"AccessToken",
		func(e *env, k string, r fosite.Requester) error { return e.s.CreateAccessTokenSession(e.ctx, k, r) },
		func(e *env, k string, s fosite.Session) (fosite.Requester, error) {
			return e.s.GetAccessTokenSession(e.ctx, k, s)
		},
		func(e *env, k string) error { return e.s.DeleteAccessTokenSession(e.ctx, k) }},
	{"RefreshToken",
		func(e *env, k string, r fosite.Requester) error {
			return e.s.CreateRefreshTokenSession(e.ctx, k, "at-"+k, r)
		},
		func(e *env, k string, s fosite.Session) (fosite.Requester, error) {
			return e.s.GetRefreshTokenSession(e.ctx, k, s)
		},
		func(e *env, k string) error { return e.s.DeleteRefreshTokenSession(e.ctx, k) }},
	{"PKCE",
		func(e *env, k string, r fosite.Requester) error { return e.s.CreatePKCERequestSession(e.ctx, k, r) },
		func(e *env, k string, s fosite.Session) (fosite.Requester, error) {
			return e.s.GetPKCERequestSession(e.ctx, k, s)
		},
		func(e *env, k string) error { return e.s.DeletePKCERequestSession(e.ctx, k) }},
	{"OpenIDConnect",
		func(e *env, k string, r fosite.Requester) error { return e.s.CreateOpenIDConnectSession(e.ctx, k, r) },
		func(e *env, k string, s fosite.Session) (fosite.Requester, error) {
			// fosite passes the token request, whose session is the prototype.
			return e.s.GetOpenIDConnectSession(e.ctx, k, &fosite.Request{Session: s})
		},
		func(e *env, k string) error { return e.s.DeleteOpenIDConnectSession(e.ctx, k) }},
}

var fositeTests = []subtest{
	{"RequestRoundTrip", func(e *env) {
		c := e.client("rt-client")
		for _, k := range requestKinds {
			e.t.Run(k.name, func(t *testing.T) {
				e := e.sub(t)
				req := e.request(c, "req-"+k.name, "sid-1")
				e.wantErr("create", k.create(e, "sig-"+k.name, req), nil)
				proto := new(Session)
				got, err := k.get(e, "sig-"+k.name, proto)
				e.wantErr("get", err, nil)
				e.checkRequest(req, got)
				// fosite hands the token request's session and expects it filled in
				// (Hydra and fosite's stores decode into it).
				if got.GetSession() != fosite.Session(proto) {
					t.Errorf("session is not the prototype fosite passed")
				}
				if proto.Subject != "sub-req-"+k.name || proto.SID != "sid-1" {
					t.Errorf("prototype not filled: %+v", proto)
				}
				// A nil prototype (fosite's revocation handler passes nil) decodes
				// into Options.NewSession's type.
				got, err = k.get(e, "sig-"+k.name, nil)
				e.wantErr("get with nil session", err, nil)
				if s, ok := got.GetSession().(*Session); !ok || s.Subject != "sub-req-"+k.name {
					t.Errorf("nil prototype: session %T %+v, want *storagetest.Session from NewSession", got.GetSession(), got.GetSession())
				}
				// Creating the same key twice is a conflict, not an overwrite.
				if err := k.create(e, "sig-"+k.name, e.request(c, "other", "")); err == nil {
					t.Errorf("second create with one key succeeded")
				}
				_, err = k.get(e, "unknown-"+k.name, new(Session))
				e.wantErr("get unknown", err, fosite.ErrNotFound)
				if k.delete != nil {
					e.wantErr("delete", k.delete(e, "sig-"+k.name), nil)
					_, err = k.get(e, "sig-"+k.name, new(Session))
					e.wantErr("get deleted", err, fosite.ErrNotFound)
					// fosite deletes PKCE/OIDC sessions after use and the replayed
					// refresh token in handleRefreshTokenReuse: absent is fine.
					e.wantErr("delete again", k.delete(e, "sig-"+k.name), nil)
				}
			})
		}
	}},
	{"DefaultSessionPrototype", func(e *env) {
		// The broker may pass fosite's own DefaultSession; it must round-trip too.
		c := e.client("ds-client")
		req := e.request(c, "ds-req", "")
		ds := &openid.DefaultSession{Subject: "s", Username: "u"}
		ds.SetExpiresAt(fosite.AccessToken, T0.Add(time.Hour))
		req.Session = ds
		e.wantErr("create", e.s.CreateAccessTokenSession(e.ctx, "ds-sig", req), nil)
		proto := new(openid.DefaultSession)
		got, err := e.s.GetAccessTokenSession(e.ctx, "ds-sig", proto)
		e.wantErr("get", err, nil)
		e.checkRequest(req, got)
		if !proto.GetExpiresAt(fosite.AccessToken).Equal(T0.Add(time.Hour)) {
			e.t.Errorf("expiry lost: %v", proto.ExpiresAt)
		}
	}},
	{"AuthorizeCodeInvalidation", func(e *env) {
		// SECURITY B1: fosite needs the requester of a used code to revoke the tokens
		// it produced (handler/oauth2/flow_authorize_code_token.go).
		c := e.client("code-client")
		req := e.request(c, "code-req", "")
		e.wantErr("create", e.s.CreateAuthorizeCodeSession(e.ctx, "code-sig", req), nil)
		e.wantErr("invalidate unknown", e.s.InvalidateAuthorizeCodeSession(e.ctx, "nope"), fosite.ErrNotFound)
		e.wantErr("invalidate", e.s.InvalidateAuthorizeCodeSession(e.ctx, "code-sig"), nil)
		got, err := e.s.GetAuthorizeCodeSession(e.ctx, "code-sig", new(Session))
		e.wantErr("get invalidated", err, fosite.ErrInvalidatedAuthorizeCode)
		e.checkRequest(req, got)
		e.wantErr("invalidate twice", e.s.InvalidateAuthorizeCodeSession(e.ctx, "code-sig"), fosite.ErrInvalidatedAuthorizeCode)
	}},
	{"ConcurrentCodeRedemption", func(e *env) {
		// SECURITY B2: fosite redeems in a transaction: Invalidate, then create the
		// access token. Of concurrent redemptions exactly one may commit.
		c := e.client("race-client")
		req := e.request(c, "race-req", "")
		e.wantErr("create", e.s.CreateAuthorizeCodeSession(e.ctx, "race-code", req), nil)
		tx := e.tx()
		const n = 8
		errs := parallel(n, func(i int) (err error) {
			ctx, err := tx.BeginTX(e.ctx)
			if err != nil {
				return err
			}
			defer func() {
				if err != nil {
					_ = tx.Rollback(ctx)
				}
			}()
			if _, err := e.s.GetAuthorizeCodeSession(ctx, "race-code", new(Session)); err != nil {
				return err
			}
			if err := e.s.InvalidateAuthorizeCodeSession(ctx, "race-code"); err != nil {
				return err
			}
			if err := e.s.CreateAccessTokenSession(ctx, fmt.Sprintf("race-at-%d", i), req); err != nil {
				return err
			}
			return tx.Commit(ctx)
		})
		if got := countNil(errs); got != 1 {
			e.t.Fatalf("%d of %d concurrent redemptions succeeded, want exactly 1: %v", got, n, errs)
		}
		found := 0
		for i := 0; i < n; i++ {
			if _, err := e.s.GetAccessTokenSession(e.ctx, fmt.Sprintf("race-at-%d", i), new(Session)); err == nil {
				found++
			}
			if errs[i] != nil && !errors.Is(errs[i], fosite.ErrInvalidatedAuthorizeCode) && !errors.Is(errs[i], storage.ErrUnavailable) {
				e.t.Logf("loser %d failed with %v", i, errs[i])
			}
		}
		if found != 1 {
			e.t.Fatalf("%d access tokens stored, want 1 (the losers' writes must be rolled back)", found)
		}
	}},
	{"AccessTokenRevocation", func(e *env) {
		c := e.client("at-client")
		r1, r2 := e.request(c, "at-req-1", ""), e.request(c, "at-req-2", "")
		for _, x := range []struct {
			sig string
			r   fosite.Requester
		}{{"at-1a", r1}, {"at-1b", r1}, {"at-2", r2}} {
			e.wantErr("create "+x.sig, e.s.CreateAccessTokenSession(e.ctx, x.sig, x.r), nil)
		}
		e.wantErr("revoke", e.s.RevokeAccessToken(e.ctx, "at-req-1"), nil)
		for sig, want := range map[string]error{"at-1a": fosite.ErrNotFound, "at-1b": fosite.ErrNotFound, "at-2": nil} {
			_, err := e.s.GetAccessTokenSession(e.ctx, sig, new(Session))
			e.wantErr("get "+sig, err, want)
		}
		if err := e.s.RevokeAccessToken(e.ctx, "unknown-req"); err != nil && !errors.Is(err, fosite.ErrNotFound) {
			e.t.Fatalf("revoke unknown request: %v", err)
		}
	}},
	{"RefreshTokenRotation", func(e *env) {
		// SECURITY B16: the rotated token stays, inactive, so its replay is seen as
		// reuse and fosite revokes the grant (handler/oauth2/flow_refresh.go).
		c := e.client("rt-rot-client")
		req := e.request(c, "rot-req", "", "openid", "offline_access")
		e.wantErr("create AT", e.s.CreateAccessTokenSession(e.ctx, "rot-at-1", req), nil)
		e.wantErr("create RT", e.s.CreateRefreshTokenSession(e.ctx, "rot-rt-1", "rot-at-1", req), nil)
		e.wantErr("rotate unknown", e.s.RotateRefreshToken(e.ctx, "rot-req", "nope"), fosite.ErrNotFound)

		tx := e.tx()
		ctx, err := tx.BeginTX(e.ctx)
		e.wantErr("begin", err, nil)
		e.wantErr("rotate", e.s.RotateRefreshToken(ctx, "rot-req", "rot-rt-1"), nil)
		e.wantErr("create AT 2", e.s.CreateAccessTokenSession(ctx, "rot-at-2", req), nil)
		e.wantErr("create RT 2", e.s.CreateRefreshTokenSession(ctx, "rot-rt-2", "rot-at-2", req), nil)
		e.wantErr("commit", tx.Commit(ctx), nil)

		got, err := e.s.GetRefreshTokenSession(e.ctx, "rot-rt-1", new(Session))
		e.wantErr("get rotated", err, fosite.ErrInactiveToken)
		e.checkRequest(req, got)
		_, err = e.s.GetRefreshTokenSession(e.ctx, "rot-rt-2", new(Session))
		e.wantErr("get new", err, nil)
		// Rotation revokes the access token issued with the old refresh token, as
		// fosite's MemoryStore.RotateRefreshToken does; the new one lives.
		_, err = e.s.GetAccessTokenSession(e.ctx, "rot-at-1", new(Session))
		e.wantErr("old AT", err, fosite.ErrNotFound)
		_, err = e.s.GetAccessTokenSession(e.ctx, "rot-at-2", new(Session))
		e.wantErr("new AT", err, nil)
		e.wantErr("rotate rotated", e.s.RotateRefreshToken(e.ctx, "rot-req", "rot-rt-1"), fosite.ErrInactiveToken)

		// RevokeRefreshToken (RFC 7009) deactivates every refresh token of the
		// request; the rows stay for reuse detection.
		e.wantErr("revoke", e.s.RevokeRefreshToken(e.ctx, "rot-req"), nil)
		got, err = e.s.GetRefreshTokenSession(e.ctx, "rot-rt-2", nil)
		e.wantErr("get revoked", err, fosite.ErrInactiveToken)
		if got == nil || got.GetID() != "rot-req" {
			e.t.Fatalf("revoked refresh token came back without its requester: %v", got)
		}
		// fosite's reuse handler then deletes the replayed token.
		e.wantErr("delete", e.s.DeleteRefreshTokenSession(e.ctx, "rot-rt-1"), nil)
		_, err = e.s.GetRefreshTokenSession(e.ctx, "rot-rt-1", new(Session))
		e.wantErr("get deleted", err, fosite.ErrNotFound)
	}},
	{"ConcurrentRefresh", func(e *env) {
		// Two refreshes with one token: only one may rotate it and store a new pair.
		c := e.client("rt-race-client")
		req := e.request(c, "rr-req", "", "openid", "offline_access")
		e.wantErr("create RT", e.s.CreateRefreshTokenSession(e.ctx, "rr-rt", "", req), nil)
		tx := e.tx()
		const n = 6
		errs := parallel(n, func(i int) (err error) {
			ctx, err := tx.BeginTX(e.ctx)
			if err != nil {
				return err
			}
			defer func() {
				if err != nil {
					_ = tx.Rollback(ctx)
				}
			}()
			if err := e.s.RotateRefreshToken(ctx, "rr-req", "rr-rt"); err != nil {
				return err
			}
			if err := e.s.CreateRefreshTokenSession(ctx, fmt.Sprintf("rr-rt-%d", i), "", req); err != nil {
				return err
			}
			return tx.Commit(ctx)
		})
		if got := countNil(errs); got != 1 {
			e.t.Fatalf("%d of %d concurrent rotations succeeded, want 1: %v", got, n, errs)
		}
	}},
	{"RevokeTokensOfSession", func(e *env) {
		// SECURITY B19 / OIDC BCL §2.7: logout revokes the session's tokens, and
		// with keepOffline only those without offline_access.
		c := e.client("sid-client")
		e.ssoSession("sid-A")
		e.ssoSession("sid-B")
		online := e.request(c, "sid-online", "sid-A", "openid")
		offline := e.request(c, "sid-offline", "sid-A", "openid", "offline_access")
		other := e.request(c, "sid-other", "sid-B", "openid")
		code := e.request(c, "sid-code", "sid-A", "openid")
		for _, x := range []struct {
			sig string
			r   fosite.Requester
		}{{"on", online}, {"off", offline}, {"oth", other}} {
			e.wantErr("create AT", e.s.CreateAccessTokenSession(e.ctx, "at-"+x.sig, x.r), nil)
			e.wantErr("create RT", e.s.CreateRefreshTokenSession(e.ctx, "rt-"+x.sig, "at-"+x.sig, x.r), nil)
		}
		e.wantErr("create code", e.s.CreateAuthorizeCodeSession(e.ctx, "code-sid", code), nil)

		n, err := e.s.RevokeTokensOfSession(e.ctx, "sid-A", true)
		e.wantErr("revoke keepOffline", err, nil)
		if n != 2 {
			e.t.Errorf("revoked %d tokens, want 2 (online AT and RT)", n)
		}
		check := func(step string, want map[string]error) {
			e.t.Helper()
			for sig, w := range want {
				var err error
				if sig[:2] == "at" {
					_, err = e.s.GetAccessTokenSession(e.ctx, sig, new(Session))
				} else {
					_, err = e.s.GetRefreshTokenSession(e.ctx, sig, new(Session))
				}
				e.wantErr(step+" "+sig, err, w)
			}
		}
		check("after keepOffline", map[string]error{
			"at-on": fosite.ErrNotFound, "rt-on": fosite.ErrInactiveToken,
			"at-off": nil, "rt-off": nil, "at-oth": nil, "rt-oth": nil,
		})
		// A code issued in the ended session can no longer be redeemed.
		_, err = e.s.GetAuthorizeCodeSession(e.ctx, "code-sid", new(Session))
		e.wantErr("code of ended session", err, fosite.ErrInvalidatedAuthorizeCode)

		n, err = e.s.RevokeTokensOfSession(e.ctx, "sid-A", false)
		e.wantErr("revoke all", err, nil)
		if n != 2 {
			e.t.Errorf("revoked %d tokens, want 2 (offline AT and RT)", n)
		}
		check("after all", map[string]error{
			"at-off": fosite.ErrNotFound, "rt-off": fosite.ErrInactiveToken, "at-oth": nil, "rt-oth": nil,
		})
		n, err = e.s.RevokeTokensOfSession(e.ctx, "sid-unknown", false)
		if err != nil || n != 0 {
			e.t.Errorf("unknown session: n=%d err=%v, want 0, nil", n, err)
		}
	}},
	{"RevokeTokensOfEndedSession", func(e *env) {
		// Logout ends the session, then revokes its tokens: a cleanup run in
		// between must leave them reachable (storage.SessionRetention).
		c := e.client("end-client")
		e.ssoSession("sid-end")
		r := e.request(c, "end-grant", "sid-end", "openid")
		e.wantErr("create AT", e.s.CreateAccessTokenSession(e.ctx, "at-end", r), nil)
		e.wantErr("end", e.s.EndSSOSession(e.ctx, "sid-end", e.clock.Now()), nil)
		_, err := e.s.DeleteExpired(e.ctx, e.clock.Now().Add(time.Minute))
		e.wantErr("cleanup", err, nil)
		n, err := e.s.RevokeTokensOfSession(e.ctx, "sid-end", false)
		if err != nil || n != 1 {
			e.t.Errorf("RevokeTokensOfSession after a cleanup = %d, %v; want 1", n, err)
		}
		_, err = e.s.GetAccessTokenSession(e.ctx, "at-end", new(Session))
		e.wantErr("AT after logout", err, fosite.ErrNotFound)
	}},
	{"ClientAssertionJTI", func(e *env) {
		// RFC 7523 §3 item 7; fosite answers jti_known (client_authentication.go).
		e.wantErr("valid unknown", e.s.ClientAssertionJWTValid(e.ctx, "jti-1"), nil)
		e.wantErr("set", e.s.SetClientAssertionJWT(e.ctx, "jti-1", T0.Add(time.Minute)), nil)
		e.wantErr("valid known", e.s.ClientAssertionJWTValid(e.ctx, "jti-1"), fosite.ErrJTIKnown)
		e.wantErr("set known", e.s.SetClientAssertionJWT(e.ctx, "jti-1", T0.Add(time.Minute)), fosite.ErrJTIKnown)
		e.wantErr("other jti", e.s.ClientAssertionJWTValid(e.ctx, "jti-2"), nil)
		e.clock.Advance(2 * time.Minute)
		e.wantErr("valid after expiry", e.s.ClientAssertionJWTValid(e.ctx, "jti-1"), nil)
		// Setting a new jti cleans expired ones (fosite.ClientManager contract).
		e.wantErr("set other", e.s.SetClientAssertionJWT(e.ctx, "jti-2", e.clock.Now().Add(time.Minute)), nil)
		if n, err := e.s.DeleteExpired(e.ctx, e.clock.Now()); err != nil || n != 0 {
			e.t.Errorf("DeleteExpired after SetClientAssertionJWT = %d, %v; want 0 (expired jti already cleaned)", n, err)
		}
		e.wantErr("reuse after expiry", e.s.SetClientAssertionJWT(e.ctx, "jti-1", e.clock.Now().Add(time.Minute)), nil)
		errs := parallel(6, func(int) error { return e.s.SetClientAssertionJWT(e.ctx, "jti-race", e.clock.Now().Add(time.Minute)) })
		if got := countNil(errs); got != 1 {
			e.t.Errorf("%d of 6 concurrent SetClientAssertionJWT succeeded, want 1: %v", got, errs)
		}
	}},
	{"DeletedClientTakesTokens", func(e *env) {
		c := e.client("gone-client")
		req := e.request(c, "gone-req", "")
		e.wantErr("create", e.s.CreateAccessTokenSession(e.ctx, "gone-at", req), nil)
		e.wantErr("delete client", e.s.DeleteClient(e.ctx, "gone-client"), nil)
		_, err := e.s.GetAccessTokenSession(e.ctx, "gone-at", new(Session))
		e.wantErr("token of deleted client", err, fosite.ErrNotFound)
	}},
}

// sub returns the env for a nested subtest (same store).
func (e *env) sub(t *testing.T) *env { return &env{t: t, s: e.s, clock: e.clock, ctx: e.ctx} }
