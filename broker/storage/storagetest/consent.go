package storagetest

import (
	"errors"
	"time"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// consentTests check storage.ConsentWithdrawer: withdrawing a consent revokes the
// client's grants for that person, only those, in one transaction.
var consentTests = []subtest{
	{"WithdrawRevokesTheClientsGrants", func(e *env) {
		w, ok := e.s.(storage.ConsentWithdrawer)
		if !ok {
			e.t.Fatalf("%T does not implement storage.ConsentWithdrawer", e.s)
		}
		partner, other := e.client("partner"), e.client("other")
		// request(c, id, ...) gives the session subject "sub-"+id.
		e.wantErr("AT partner/alice", e.s.CreateAccessTokenSession(e.ctx, "at-1", e.request(partner, "alice", "sso-1")), nil)
		e.wantErr("RT partner/alice", e.s.CreateRefreshTokenSession(e.ctx, "rt-1", "at-1", e.request(partner, "alice", "sso-1", "openid", "offline_access")), nil)
		e.wantErr("code partner/alice", e.s.CreateAuthorizeCodeSession(e.ctx, "code-1", e.request(partner, "alice", "sso-1")), nil)
		e.wantErr("AT partner/bob", e.s.CreateAccessTokenSession(e.ctx, "at-2", e.request(partner, "bob", "sso-2")), nil)
		e.wantErr("RT partner/bob", e.s.CreateRefreshTokenSession(e.ctx, "rt-2", "at-2", e.request(partner, "bob", "sso-2")), nil)
		e.wantErr("RT other/alice", e.s.CreateRefreshTokenSession(e.ctx, "rt-3", "", e.request(other, "alice", "sso-1")), nil)
		for _, c := range []string{"partner", "other"} {
			e.wantErr("consent "+c, e.s.SaveConsent(e.ctx, &storage.Consent{Subject: "alice", ClientID: c, Scopes: []string{"openid", "profile"}, GrantedAt: T0}), nil)
		}

		n, err := w.WithdrawConsent(e.ctx, "alice", "partner", "sub-alice", T0.Add(time.Hour))
		e.wantErr("withdraw", err, nil)
		if n != 2 {
			e.t.Errorf("revoked %d tokens, want 2 (one access, one refresh)", n)
		}
		_, err = e.s.GetConsent(e.ctx, "alice", "partner")
		e.wantErr("consent withdrawn", err, storage.ErrNotFound)
		list, _ := e.s.ListConsents(e.ctx, "alice")
		for _, c := range list {
			if c.ClientID == "partner" && (c.RevokedAt == nil || !c.RevokedAt.Equal(T0.Add(time.Hour))) {
				e.t.Errorf("withdrawn consent: RevokedAt = %v", c.RevokedAt)
			}
		}
		_, err = e.s.GetAccessTokenSession(e.ctx, "at-1", new(Session))
		e.wantErr("access token of the client", err, fosite.ErrNotFound)
		_, err = e.s.GetRefreshTokenSession(e.ctx, "rt-1", new(Session))
		if !errors.Is(err, fosite.ErrInactiveToken) && !errors.Is(err, fosite.ErrNotFound) {
			e.t.Errorf("refresh token of the client: %v, want inactive", err)
		}
		_, err = e.s.GetAuthorizeCodeSession(e.ctx, "code-1", new(Session))
		e.wantErr("code of the client", err, fosite.ErrInvalidatedAuthorizeCode)

		// Someone else's grants at the same client, and the person's grants at
		// another client, are untouched.
		_, err = e.s.GetAccessTokenSession(e.ctx, "at-2", new(Session))
		e.wantErr("other person's access token", err, nil)
		_, err = e.s.GetRefreshTokenSession(e.ctx, "rt-2", new(Session))
		e.wantErr("other person's refresh token", err, nil)
		_, err = e.s.GetRefreshTokenSession(e.ctx, "rt-3", new(Session))
		e.wantErr("other client's refresh token", err, nil)
		_, err = e.s.GetConsent(e.ctx, "alice", "other")
		e.wantErr("other consent", err, nil)

		// Withdrawing again, or a consent that never was, changes nothing.
		n, err = w.WithdrawConsent(e.ctx, "alice", "partner", "sub-alice", T0.Add(2*time.Hour))
		e.wantErr("withdraw twice", err, storage.ErrNotFound)
		if n != 0 {
			e.t.Errorf("second withdrawal revoked %d", n)
		}
		list, _ = e.s.ListConsents(e.ctx, "alice")
		for _, c := range list {
			if c.ClientID == "partner" && (c.RevokedAt == nil || !c.RevokedAt.Equal(T0.Add(time.Hour))) {
				e.t.Errorf("second withdrawal moved RevokedAt to %v", c.RevokedAt)
			}
		}
		_, err = w.WithdrawConsent(e.ctx, "bob", "other", "sub-alice", T0)
		e.wantErr("withdraw unknown", err, storage.ErrNotFound)
		_, err = e.s.GetRefreshTokenSession(e.ctx, "rt-3", new(Session))
		e.wantErr("no consent, no revocation", err, nil)

		// A new consent after a withdrawal is in force again.
		e.wantErr("consent again", e.s.SaveConsent(e.ctx, &storage.Consent{Subject: "alice", ClientID: "partner", Scopes: []string{"openid"}, GrantedAt: T0.Add(3 * time.Hour)}), nil)
		_, err = e.s.GetConsent(e.ctx, "alice", "partner")
		e.wantErr("consent after withdrawal", err, nil)
	}},
}
