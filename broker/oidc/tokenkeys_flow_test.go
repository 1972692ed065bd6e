package oidc_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/timekey"
	"github.com/justiceconnect/justiceconnect/testsuite/harness"
)

// Codes, access and refresh tokens are stored under keys that start with their
// issue time (package timekey); refresh tokens from before that change, stored
// under their bare HMAC, still refresh.
func TestTimeKeyedTokens(t *testing.T) {
	env := harness.Start(t, harness.Options{})
	ctx := context.Background()
	store := env.Broker.Store
	from := timekey.Prefix(time.Now().Add(-time.Minute))

	p := harness.NewPKCE()
	res := env.Walk(t, env.Browser(), env.AuthURL(harness.MinistryID, p, url.Values{"scope": {"openid profile offline_access"}}), harness.Judge, "allow")
	code := res.Code(t)
	if !strings.HasPrefix(code, "jc_ac_") {
		t.Fatalf("code %q: want jc_ac_<time>…", code)
	}
	tok := env.Redeem(t, harness.MinistryID, harness.MinistrySecret, code, p)
	if tok.Status != http.StatusOK || tok.RefreshToken == "" {
		t.Fatalf("redeem: %d %s", tok.Status, tok.Error)
	}
	to := timekey.Prefix(time.Now().Add(time.Minute))

	// The access token: the time prefix of its jti, then its JWS signature.
	parts := strings.Split(tok.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWS: %q", tok.AccessToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	atPrefix, ok := timekey.PrefixOfUUIDv7(claims.JTI)
	if !ok || atPrefix < from || atPrefix > to {
		t.Fatalf("jti %q: want a version 7 UUID of the last minute", claims.JTI)
	}
	if _, err := store.GetAccessTokenSession(ctx, timekey.JoinKey(atPrefix, parts[2]), session.New()); err != nil {
		t.Fatalf("access token under its time key: %v", err)
	}
	if _, err := store.GetAccessTokenSession(ctx, parts[2], session.New()); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("access token under its bare signature: err = %v, want not found", err)
	}

	// The refresh token: jc_rt_<time><key>.<hmac>, stored under <time>~<hmac>.
	rt := tok.RefreshToken
	if !strings.HasPrefix(rt, "jc_rt_") || len(rt) < 19 {
		t.Fatalf("refresh token %q: want jc_rt_<time>…", rt)
	}
	rtPrefix, inner := rt[6:18], rt[18:]
	hmacSig := inner[strings.LastIndexByte(inner, '.')+1:]
	if rtPrefix < from || rtPrefix > to {
		t.Fatalf("refresh token time %q not within [%s, %s]", rtPrefix, from, to)
	}
	req, err := store.GetRefreshTokenSession(ctx, timekey.JoinKey(rtPrefix, hmacSig), session.New())
	if err != nil {
		t.Fatalf("refresh token under its time key: %v", err)
	}
	if _, err := store.GetRefreshTokenSession(ctx, hmacSig, session.New()); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("refresh token under its bare HMAC: err = %v, want not found", err)
	}

	// Another time in front of a genuine key and HMAC finds nothing.
	tampered := "jc_rt_" + timekey.Prefix(time.Unix(0, 0)) + inner
	if r := env.Token(t, harness.MinistryID, harness.MinistrySecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tampered}}); r.Status != http.StatusBadRequest || r.Error != "invalid_grant" {
		t.Fatalf("refresh with an altered time: %d %s, want 400 invalid_grant", r.Status, r.Error)
	}

	// A refresh token issued before time keys: fosite's ory_rt_<key>.<hmac>,
	// stored under the bare HMAC.
	if err := store.CreateRefreshTokenSession(ctx, hmacSig, timekey.JoinKey(atPrefix, parts[2]), req); err != nil {
		t.Fatal(err)
	}
	legacy := env.Token(t, harness.MinistryID, harness.MinistrySecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"ory_rt_" + inner}})
	if legacy.Status != http.StatusOK {
		t.Fatalf("refresh with a token from before time keys: %d %s %s", legacy.Status, legacy.Error, legacy.Description)
	}
	if !strings.HasPrefix(legacy.RefreshToken, "jc_rt_") {
		t.Errorf("the rotation of an old refresh token is %q, want a time-keyed one", legacy.RefreshToken)
	}
}
