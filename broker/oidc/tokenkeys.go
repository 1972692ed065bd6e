package oidc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/justiceconnect/justiceconnect/broker/timekey"
)

// timeKeyedHMAC issues authorization codes and refresh tokens as
// jc_xx_<time><key>.<hmac>: <time> is timekey.Prefix of the issue time and the
// storage key is <time>~<hmac> (see package timekey for why). The HMAC covers the
// random key only, as in fosite; a token whose <time> was altered has a storage
// key nothing is stored under, so it is rejected like any unknown token. Codes and
// refresh tokens issued before time keys carry fosite's ory_ac_ / ory_rt_ and
// keep working: the embedded strategy reads them, and they are stored under
// their bare HMAC signature, as before.
type timeKeyedHMAC struct {
	*oauth2.HMACSHAStrategy // the HMAC, and tokens issued before time keys
	now                     func() time.Time
}

func (h *timeKeyedHMAC) plain() *oauth2.HMACSHAStrategyUnPrefixed {
	return h.HMACSHAStrategyUnPrefixed
}

// generate prefixes a fosite-generated key.hmac with kind and the time.
func (h *timeKeyedHMAC) generate(token, sig string, err error, kind string) (string, string, error) {
	if err != nil {
		return "", "", err
	}
	p := timekey.Prefix(h.now())
	return kind + p + token, timekey.JoinKey(p, sig), nil
}

// splitTimeKeyed returns the time prefix and fosite's key.hmac of a time-keyed
// token of that kind; ok is false for other tokens.
func splitTimeKeyed(token, kind string) (prefix, inner string, ok bool) {
	rest, found := strings.CutPrefix(token, kind)
	if !found || len(rest) <= timekey.PrefixLen || !timekey.IsPrefix(rest[:timekey.PrefixLen]) {
		return "", "", false
	}
	return rest[:timekey.PrefixLen], rest[timekey.PrefixLen:], true
}

func (h *timeKeyedHMAC) signature(token, kind string, legacy func(string) string) string {
	p, inner, ok := splitTimeKeyed(token, kind)
	if !ok {
		return legacy(token)
	}
	return timekey.JoinKey(p, h.plain().Enigma.Signature(inner))
}

func (h *timeKeyedHMAC) GenerateAuthorizeCode(ctx context.Context, r fosite.Requester) (string, string, error) {
	token, sig, err := h.plain().GenerateAuthorizeCode(ctx, r)
	return h.generate(token, sig, err, timekey.CodeTag)
}

func (h *timeKeyedHMAC) AuthorizeCodeSignature(ctx context.Context, token string) string {
	return h.signature(token, timekey.CodeTag, func(t string) string { return h.HMACSHAStrategy.AuthorizeCodeSignature(ctx, t) })
}

func (h *timeKeyedHMAC) ValidateAuthorizeCode(ctx context.Context, r fosite.Requester, token string) error {
	if _, inner, ok := splitTimeKeyed(token, timekey.CodeTag); ok {
		return h.plain().ValidateAuthorizeCode(ctx, r, inner)
	}
	return h.HMACSHAStrategy.ValidateAuthorizeCode(ctx, r, token)
}

func (h *timeKeyedHMAC) GenerateRefreshToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	token, sig, err := h.plain().GenerateRefreshToken(ctx, r)
	return h.generate(token, sig, err, timekey.RefreshTag)
}

func (h *timeKeyedHMAC) RefreshTokenSignature(ctx context.Context, token string) string {
	return h.signature(token, timekey.RefreshTag, func(t string) string { return h.HMACSHAStrategy.RefreshTokenSignature(ctx, t) })
}

func (h *timeKeyedHMAC) ValidateRefreshToken(ctx context.Context, r fosite.Requester, token string) error {
	if _, inner, ok := splitTimeKeyed(token, timekey.RefreshTag); ok {
		return h.plain().ValidateRefreshToken(ctx, r, inner)
	}
	return h.HMACSHAStrategy.ValidateRefreshToken(ctx, r, token)
}

// accessTokenKey is the storage key of a JWT access token: the time prefix of
// its jti, a version 7 UUID, then ~ and its JWS signature. Tokens issued before
// time keys have a random jti and are stored under the bare signature. The
// payload is read unverified: the key only finds the stored row, and
// ValidateAccessToken checks the signature over that same payload.
func accessTokenKey(token string) string {
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first < 0 || first == last || strings.Count(token, ".") != 2 {
		return ""
	}
	sig := token[last+1:]
	payload, err := base64.RawURLEncoding.DecodeString(token[first+1 : last])
	if err != nil {
		return sig
	}
	var c struct {
		JTI string `json:"jti"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return sig
	}
	if p, ok := timekey.PrefixOfUUIDv7(c.JTI); ok {
		return timekey.JoinKey(p, sig)
	}
	return sig
}
