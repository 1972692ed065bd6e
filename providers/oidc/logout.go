package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// backchannelEvent is the member of a logout token's events claim (OIDC
// Back-Channel Logout 1.0 §2.4).
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// maxLogoutTokenAge refuses logout tokens issued long ago even when their exp is
// far away (the conformance suite's ValidateLogoutTokenClaims uses a day; the
// broker is stricter).
const maxLogoutTokenAge = 10 * time.Minute

// VerifyLogoutToken validates a back-channel logout token from the upstream (OIDC
// Back-Channel Logout 1.0 §2.6): signature by a key of the upstream's jwks_uri
// under the configured algorithm allow-list (never "none"), typ logout+jwt when
// present, iss, aud, exp and iat (both required), sub or sid, an events claim
// whose backchannel-logout member is a JSON object, no nonce (§2.4: it MUST NOT
// be there, so that an ID token cannot pass for a logout token) and a jti. It
// returns the upstream subject and session it names, its jti and expiry, so that
// the broker records the jti against replay (§2.6 step 7).
func (p *Provider) VerifyLogoutToken(ctx context.Context, token string) (sub, sid, jti string, exp time.Time, err error) {
	md, err := p.discover(ctx)
	if err != nil {
		return "", "", "", time.Time{}, fmt.Errorf("oidc: logout token: %w", err)
	}
	c, _, err := p.verifyJWT(ctx, md, token, expectations{what: "logout token", requireExpIat: true, subOptional: true,
		typ: []string{"logout+jwt", "jwt", ""}, refuseTyp: []string{"at+jwt"}})
	if err != nil {
		return "", "", "", time.Time{}, err
	}
	if _, has := c["nonce"]; has {
		return "", "", "", time.Time{}, invalid("logout token: nonce present")
	}
	events, ok := c["events"].(map[string]any)
	if !ok {
		return "", "", "", time.Time{}, invalid("logout token: events missing or not an object")
	}
	if ev, ok := events[backchannelEvent].(map[string]any); !ok || ev == nil {
		return "", "", "", time.Time{}, invalid("logout token: events has no back-channel logout object")
	}
	sub, sid, jti = c.str("sub"), c.str("sid"), c.str("jti")
	if sub == "" && sid == "" {
		return "", "", "", time.Time{}, invalid("logout token: neither sub nor sid")
	}
	if jti == "" {
		return "", "", "", time.Time{}, invalid("logout token: jti missing")
	}
	issued, _, _ := c.numericDate("iat")
	if p.now().Sub(issued) > maxLogoutTokenAge {
		return "", "", "", time.Time{}, invalid("logout token: issued too long ago")
	}
	exp, _, _ = c.numericDate("exp")
	return sub, sid, jti, exp, nil
}

// UpstreamSessionID returns the upstream's sid recorded at login (from the ID
// token) in Identity.Upstream, or "".
func (p *Provider) UpstreamSessionID(upstreamData []byte) string {
	var up upstream
	if len(upstreamData) == 0 || json.Unmarshal(upstreamData, &up) != nil {
		return ""
	}
	return up.SID
}
