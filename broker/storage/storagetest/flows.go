package storagetest

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// The flow tests drive fosite's own handlers (code, refresh, revocation,
// introspection) against the store, so that the contracts above are checked where
// they matter: in fosite's code paths (SECURITY.md §2.3).

type oauth struct {
	e *env
	p fosite.OAuth2Provider
}

func (e *env) fosite() *oauth {
	cfg := &fosite.Config{
		AccessTokenLifespan:        time.Hour,
		AuthorizeCodeLifespan:      time.Minute,
		RefreshTokenLifespan:       24 * time.Hour,
		GlobalSecret:               []byte("storagetest-global-secret-32byte"),
		ScopeStrategy:              fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:   fosite.ExactAudienceMatchingStrategy,
		SendDebugMessagesToClients: true,
	}
	p := compose.Compose(cfg, e.s, compose.NewOAuth2HMACStrategy(cfg),
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2TokenIntrospectionFactory,
	)
	c := &storage.Client{ID: "fosite-client", Public: true, TokenEndpointAuthMethod: "none",
		RedirectURIs: []string{"https://rp.example/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"},
		Scopes: []string{"openid", "offline_access"}}
	if err := e.s.CreateClient(e.ctx, c); err != nil {
		e.t.Fatalf("CreateClient: %v", err)
	}
	return &oauth{e: e, p: p}
}

// code runs the authorization endpoint for a logged-in user and returns the code.
func (o *oauth) code(sid string) string {
	o.e.t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {"fosite-client"}, "redirect_uri": {"https://rp.example/cb"},
		"scope": {"openid offline_access"}, "state": {"state-123456"}}
	ar, err := o.p.NewAuthorizeRequest(o.e.ctx, httptest.NewRequest(http.MethodGet, "https://jc.example/authorize?"+q.Encode(), nil))
	if err != nil {
		o.e.t.Fatalf("NewAuthorizeRequest: %v", fosite.ErrorToRFC6749Error(err).WithExposeDebug(true).GetDescription())
	}
	ar.GrantScope("openid")
	ar.GrantScope("offline_access")
	o.e.ssoSession(sid)
	sess := &Session{SID: sid}
	sess.Subject = "alice"
	resp, err := o.p.NewAuthorizeResponse(o.e.ctx, ar, sess)
	if err != nil {
		o.e.t.Fatalf("NewAuthorizeResponse: %v", err)
	}
	return resp.GetParameters().Get("code")
}

// token runs the token endpoint; it returns the access and refresh tokens or the
// OAuth error.
func (o *oauth) token(ctx context.Context, form url.Values) (at, rt string, err error) {
	form.Set("client_id", "fosite-client")
	r := httptest.NewRequest(http.MethodPost, "https://jc.example/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	areq, err := o.p.NewAccessRequest(ctx, r, new(Session))
	if err != nil {
		return "", "", err
	}
	resp, err := o.p.NewAccessResponse(ctx, areq)
	if err != nil {
		return "", "", err
	}
	rt, _ = resp.GetExtra("refresh_token").(string)
	return resp.GetAccessToken(), rt, nil
}

func (o *oauth) redeem(ctx context.Context, code string) (string, string, error) {
	return o.token(ctx, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {"https://rp.example/cb"}})
}

func (o *oauth) refresh(rt string) (string, string, error) {
	return o.token(o.e.ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// active reports whether fosite's introspection accepts the token.
func (o *oauth) active(tok string, tt fosite.TokenType) bool {
	_, _, err := o.p.IntrospectToken(o.e.ctx, tok, tt, new(Session))
	return err == nil
}

func wantOAuthError(t *testing.T, what string, err error, want *fosite.RFC6749Error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error = %v, want %s", what, err, want.ErrorField)
	}
}

var flowTests = []subtest{
	{"CodeReuseRevokesTokens", func(e *env) {
		// SECURITY B1 / oidcc-codereuse: the second redemption is invalid_grant and
		// the first redemption's tokens are revoked (RFC 9700 §4.2.4).
		o := e.fosite()
		code := o.code("sid-1")
		at, rt, err := o.redeem(e.ctx, code)
		if err != nil || at == "" || rt == "" {
			e.t.Fatalf("first redemption: %v (at %q rt %q)", err, at, rt)
		}
		if !o.active(at, fosite.AccessToken) || !o.active(rt, fosite.RefreshToken) {
			e.t.Fatalf("fresh tokens are not active")
		}
		_, _, err = o.redeem(e.ctx, code)
		wantOAuthError(e.t, "second redemption", err, fosite.ErrInvalidGrant)
		if o.active(at, fosite.AccessToken) {
			e.t.Errorf("access token still active after code reuse")
		}
		if _, _, err := o.refresh(rt); err == nil {
			e.t.Errorf("refresh token still usable after code reuse")
		}
	}},
	{"ConcurrentRedemption", func(e *env) {
		// SECURITY B2: concurrent redemptions of one code give exactly one success.
		o := e.fosite()
		code := o.code("sid-2")
		errs := parallel(6, func(int) error { _, _, err := o.redeem(e.ctx, code); return err })
		if n := countNil(errs); n != 1 {
			e.t.Fatalf("%d of 6 concurrent redemptions succeeded, want 1: %v", n, errs)
		}
	}},
	{"RefreshRotationAndReuse", func(e *env) {
		// SECURITY B16: a rotated refresh token replayed is invalid_grant and
		// revokes the family, so the legitimate client's next refresh fails too.
		o := e.fosite()
		at1, rt1, err := o.redeem(e.ctx, o.code("sid-3"))
		if err != nil {
			e.t.Fatalf("redeem: %v", err)
		}
		at2, rt2, err := o.refresh(rt1)
		if err != nil || rt2 == "" || rt2 == rt1 {
			e.t.Fatalf("refresh: %v (rt2 %q)", err, rt2)
		}
		if o.active(at1, fosite.AccessToken) {
			e.t.Errorf("access token of the rotated refresh token is still active")
		}
		if !o.active(at2, fosite.AccessToken) {
			e.t.Fatalf("new access token inactive")
		}
		_, _, err = o.refresh(rt1)
		wantOAuthError(e.t, "replay of rotated token", err, fosite.ErrInvalidGrant)
		if o.active(at2, fosite.AccessToken) {
			e.t.Errorf("access token survived refresh-token reuse")
		}
		if _, _, err := o.refresh(rt2); err == nil {
			e.t.Errorf("refresh token survived refresh-token reuse")
		}
	}},
	{"RevocationEndpoint", func(e *env) {
		// RFC 7009 through fosite's revocation handler, which passes nil sessions.
		o := e.fosite()
		at, rt, err := o.redeem(e.ctx, o.code("sid-4"))
		if err != nil {
			e.t.Fatalf("redeem: %v", err)
		}
		form := url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}, "client_id": {"fosite-client"}}
		r := httptest.NewRequest(http.MethodPost, "https://jc.example/revoke", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := o.p.NewRevocationRequest(e.ctx, r); err != nil {
			e.t.Fatalf("revocation: %v", err)
		}
		if o.active(at, fosite.AccessToken) || o.active(rt, fosite.RefreshToken) {
			e.t.Errorf("tokens active after revoking the refresh token")
		}
	}},
	{"LogoutRevokesSessionTokens", func(e *env) {
		// SECURITY B19: refresh after logout (no keepOffline) is invalid_grant.
		o := e.fosite()
		at, rt, err := o.redeem(e.ctx, o.code("sid-5"))
		if err != nil {
			e.t.Fatalf("redeem: %v", err)
		}
		if _, err := e.s.RevokeTokensOfSession(e.ctx, "sid-5", false); err != nil {
			e.t.Fatalf("RevokeTokensOfSession: %v", err)
		}
		if o.active(at, fosite.AccessToken) {
			e.t.Errorf("access token active after logout")
		}
		_, _, err = o.refresh(rt)
		wantOAuthError(e.t, "refresh after logout", err, fosite.ErrInvalidGrant)
	}},
}
