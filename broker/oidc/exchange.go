package oidc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/flow"
	"github.com/justiceconnect/justiceconnect/broker/grants/tokenexchange"
	"github.com/justiceconnect/justiceconnect/broker/release"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/claims"
)

// UpstreamTokenFunc verifies a token issued by the upstream provider providerID
// (providers.TokenVerifier) and maps the person it names like a login would; it
// returns the login outcome and the token's expiry.
type UpstreamTokenFunc func(ctx context.Context, providerID, token, tokenType string) (*flow.Auth, time.Time, error)

// errNotAccepted is a policy refusal: the client may not trade this kind of token.
var errNotAccepted = errors.New("oidc: token exchange: this kind of subject token is not accepted from this client")

// foreignTokens implements tokenexchange.ForeignTokens: the broker's ID tokens (for
// first-party clients whose policy says so) and upstream tokens (RFC 8693 §2.1
// leaves the accepted types to the server's policy).
type foreignTokens struct{ s *Server }

var _ tokenexchange.ForeignTokens = foreignTokens{}

func (f foreignTokens) Resolve(ctx context.Context, client *storage.Client, token, tokenType string) (*session.Session, error) {
	if tokenType == tokenexchange.TypeIDToken && issuerOf(token) == f.s.cfg.Issuer {
		return f.ownIDToken(ctx, client, token)
	}
	return f.upstream(ctx, client, token, tokenType)
}

// issuerOf is tokenexchange's routing on the unverified iss, repeated here so the
// two paths agree; the chosen path verifies everything.
func issuerOf(token string) string { return tokenexchange.UnverifiedIssuer(token) }

// ownIDToken accepts an ID token the broker issued to this very client, while the
// SSO session it names (sid) is alive: a logout ends what the ID token can obtain.
func (f foreignTokens) ownIDToken(ctx context.Context, client *storage.Client, token string) (*session.Session, error) {
	if !slices.Contains(client.ExchangeSubjectTokens, storage.ExchangeIDToken) {
		return nil, errNotAccepted
	}
	m, typ, err := f.s.signer.verifyTyped(ctx, token)
	if err != nil {
		return nil, err
	}
	// An access token or a logout token is not an ID token (RFC 9068 §4, BCL §2.4).
	if strings.EqualFold(typ, accessTokenTyp) || strings.EqualFold(typ, "logout+jwt") {
		return nil, fmt.Errorf("oidc: token exchange: typ %q is not an ID token", typ)
	}
	if !slices.Contains(audiences(m["aud"]), client.ID) {
		return nil, errors.New("oidc: token exchange: the ID token was not issued to this client")
	}
	now := f.s.cfg.Now()
	exp, ok := m["exp"].(float64)
	if !ok || !now.Before(time.Unix(int64(exp), 0)) {
		return nil, errors.New("oidc: token exchange: the ID token has expired")
	}
	sid, _ := m["sid"].(string)
	if sid == "" {
		return nil, errors.New("oidc: token exchange: the ID token names no session")
	}
	sso, err := f.s.cfg.SSO.Live(ctx, sid)
	if err != nil {
		return nil, err
	}
	if sso == nil {
		return nil, errors.New("oidc: token exchange: the ID token's session has ended")
	}
	if sub, _ := m["sub"].(string); sub != release.Subject(client, sso.Subject, f.s.cfg.PairwiseSalt) {
		return nil, errors.New("oidc: token exchange: the ID token's sub does not match its session")
	}
	a, err := session.Auth(sso)
	if err != nil {
		return nil, err
	}
	sess := f.s.newSession(client, client.Scopes, a, sso.ID, now)
	sess.SetExpiresAt(fosite.AccessToken, time.Unix(int64(exp), 0))
	return sess, nil
}

// upstream tries the upstream providers the client's policy names, in order.
func (f foreignTokens) upstream(ctx context.Context, client *storage.Client, token, tokenType string) (*session.Session, error) {
	if f.s.cfg.UpstreamToken == nil {
		return nil, errNotAccepted
	}
	var errs []error
	for _, v := range client.ExchangeSubjectTokens {
		id, ok := strings.CutPrefix(v, storage.ExchangeUpstreamPrefix)
		if !ok {
			continue
		}
		a, exp, err := f.s.cfg.UpstreamToken(ctx, id, token, tokenType)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
			continue
		}
		if err := admits(client, a); err != nil {
			return nil, err
		}
		sess := f.s.newSession(client, client.Scopes, a, "", f.s.cfg.Now())
		sess.SetExpiresAt(fosite.AccessToken, exp)
		return sess, nil
	}
	if len(errs) == 0 {
		return nil, errNotAccepted
	}
	return nil, errors.Join(errs...)
}

// admits applies the client's population and provider policy to a person who did
// not come through /authorize, where those are checked otherwise.
func admits(client *storage.Client, a *flow.Auth) error {
	if !client.AllowsProvider(a.Provider) {
		return fmt.Errorf("oidc: token exchange: provider %q is not allowed to this client", a.Provider)
	}
	if len(client.AllowedProfessions) > 0 {
		prof, _ := a.Claims[claims.ClaimProfession].(string)
		if !slices.Contains(client.AllowedProfessions, prof) {
			return errors.New("oidc: token exchange: this client does not admit this profession")
		}
	}
	return nil
}
