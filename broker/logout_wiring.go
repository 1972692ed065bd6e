package broker

import (
	"context"

	"github.com/justiceconnect/justiceconnect/broker/flow"
	"github.com/justiceconnect/justiceconnect/broker/oidc"
	"github.com/justiceconnect/justiceconnect/providers"
)

// upstreamLogout ends the person's session at the provider they logged in with,
// when it implements providers.Logouter (OIDC end_session, SAML SLO). returnTo is
// the broker's /session/end/return: register it at the upstream as a
// post_logout_redirect_uri.
func upstreamLogout(ups []Upstream) func(ctx context.Context, a *flow.Auth, returnTo string) (providers.Step, error) {
	byID := map[string]providers.Logouter{}
	for _, u := range ups {
		if l, ok := u.Impl.(providers.Logouter); ok {
			byID[u.Config.ID] = l
		}
	}
	return func(ctx context.Context, a *flow.Auth, returnTo string) (providers.Step, error) {
		l := byID[a.Provider]
		if l == nil {
			return providers.Step{}, nil
		}
		return l.Logout(ctx, providers.Identity{Provider: a.Provider, Subject: a.UpstreamSubject, Username: a.Username, Upstream: a.Upstream}, returnTo)
	}
}

// upstreamLogoutReceivers are the providers that send back-channel logout tokens
// (upstream OpenID providers), by provider ID.
func upstreamLogoutReceivers(ups []Upstream) map[string]oidc.UpstreamLogoutReceiver {
	out := map[string]oidc.UpstreamLogoutReceiver{}
	for _, u := range ups {
		if rc, ok := u.Impl.(oidc.UpstreamLogoutReceiver); ok {
			out[u.Config.ID] = rc
		}
	}
	return out
}
