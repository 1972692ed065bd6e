package oidc

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/justiceconnect/justiceconnect/broker/keys"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/timekey"
	"github.com/justiceconnect/justiceconnect/claims"
)

// signingAlgs are the algorithms the broker signs and accepts for its own tokens.
// "none" and HS* are never among them (SECURITY.md C2, K6).
var signingAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.PS256}

// algHeader is the header entry through which a session asks for an algorithm (the
// client's id_token_signed_response_alg); the signer removes it before signing.
const algHeader = "jc_alg"

// tokenSigner implements fosite's jwt.Signer with the broker's key manager, so ID
// tokens get a kid and the client's algorithm (ES256 by default).
type tokenSigner struct {
	keys   *keys.Manager
	issuer string
	now    func() time.Time
}

var _ jwt.Signer = (*tokenSigner)(nil)

func (s *tokenSigner) Generate(ctx context.Context, mc jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	alg, typ := "ES256", "JWT"
	if header != nil {
		h := header.ToMap()
		if a, ok := h[algHeader].(string); ok && a != "" {
			alg = a
		}
		if t, ok := h["typ"].(string); ok && t != "" {
			typ = t
		}
	}
	payload, err := json.Marshal(map[string]any(mc))
	if err != nil {
		return "", "", fmt.Errorf("oidc: encode claims: %w", err)
	}
	token, err := s.sign(ctx, alg, typ, payload)
	if err != nil {
		return "", "", err
	}
	return token, token[strings.LastIndexByte(token, '.')+1:], nil
}

func (s *tokenSigner) sign(ctx context.Context, alg, typ string, payload []byte) (string, error) {
	k, err := s.keys.Signer(ctx, alg)
	if err != nil {
		return "", fmt.Errorf("oidc: signing key for %s: %w", alg, err)
	}
	return k.Sign(payload, typ)
}

// accessTokenTyp is the typ of JWT access tokens (RFC 9068 §2.1).
const accessTokenTyp = "at+jwt"

// verify checks a compact JWS made by the broker and returns its claims. Expiry is
// not checked here.
func (s *tokenSigner) verify(ctx context.Context, token string) (map[string]any, error) {
	m, _, err := s.verifyTyped(ctx, token)
	return m, err
}

// verifyTyped is verify that also returns the typ header, which tells an ID token
// from an access token (at+jwt) or a logout token (logout+jwt).
func (s *tokenSigner) verifyTyped(ctx context.Context, token string) (map[string]any, string, error) {
	jws, err := jose.ParseSigned(token, signingAlgs)
	if err != nil {
		return nil, "", fmt.Errorf("oidc: parse token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, "", errors.New("oidc: token must have exactly one signature")
	}
	h := jws.Signatures[0].Protected
	if h.KeyID == "" {
		return nil, "", errors.New("oidc: token has no kid")
	}
	pub, alg, err := s.keys.PublicKey(ctx, h.KeyID)
	if err != nil {
		return nil, "", fmt.Errorf("oidc: unknown key %q: %w", h.KeyID, err)
	}
	if alg != h.Algorithm {
		return nil, "", fmt.Errorf("oidc: key %q is for %s, token says %s", h.KeyID, alg, h.Algorithm)
	}
	payload, err := jws.Verify(pub)
	if err != nil {
		return nil, "", fmt.Errorf("oidc: bad signature: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, "", fmt.Errorf("oidc: token payload: %w", err)
	}
	if iss, _ := m["iss"].(string); iss != s.issuer {
		return nil, "", fmt.Errorf("oidc: token issuer %q is not ours", iss)
	}
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	return m, typ, nil
}

// Decode is used by fosite for id_token_hint: a token we signed, possibly expired
// (OIDC Core 3.1.2.1 allows expired hints). Expiry comes back as a ValidationError
// with the Expired bit, which fosite tolerates.
func (s *tokenSigner) Decode(ctx context.Context, token string) (*jwt.Token, error) {
	m, err := s.verify(ctx, token)
	if err != nil {
		return nil, &jwt.ValidationError{Errors: jwt.ValidationErrorSignatureInvalid, Inner: err}
	}
	t := &jwt.Token{Header: map[string]any{}, Claims: jwt.MapClaims(m)}
	if exp, ok := m["exp"].(float64); !ok {
		return t, &jwt.ValidationError{Errors: jwt.ValidationErrorClaimsInvalid, Inner: errors.New("no exp")}
	} else if time.Unix(int64(exp), 0).Before(s.now()) {
		return t, &jwt.ValidationError{Errors: jwt.ValidationErrorExpired, Inner: errors.New("expired")}
	}
	return t, nil
}

func (s *tokenSigner) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

func (s *tokenSigner) GetSignature(_ context.Context, token string) (string, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("oidc: not a compact JWS")
	}
	return parts[2], nil
}

// Hash is used for at_hash and c_hash. Every algorithm we sign with (ES256, RS256,
// PS256) hashes with SHA-256, so the left half of SHA-256 is right for all of them
// (OIDC Core 3.1.3.6).
func (s *tokenSigner) Hash(_ context.Context, in []byte) ([]byte, error) {
	h := sha256.Sum256(in)
	return h[:], nil
}

func (s *tokenSigner) GetSigningMethodLength(context.Context) int { return sha256.Size }

// accessTokenStrategy issues RFC 9068 JWT access tokens (typ at+jwt) and keeps
// fosite's HMAC strategy for authorization codes and refresh tokens, which stay
// opaque. The token is stored under its signature part preceded by the time
// prefix of its jti (accessTokenKey).
type accessTokenStrategy struct {
	oauth2.CoreStrategy // HMAC: codes and refresh tokens
	signer              *tokenSigner
	issuer              string
}

// accessTokenClaims lists the claims copied from the session into access tokens:
// the justice claims the client was released, not the personal ones (names, e-mail),
// which stay at userinfo.
var accessTokenClaims = []string{
	claims.ClaimProfession, claims.ClaimProfessionalID, claims.ClaimOrganization,
	claims.ClaimBarreau, claims.ClaimJurisdictions, claims.ClaimJusticeRoles,
	claims.ClaimIdpID, claims.ClaimAct, claims.ClaimUID,
}

// AccessTokenSignature returns the token's storage key (accessTokenKey).
func (a *accessTokenStrategy) AccessTokenSignature(_ context.Context, token string) string {
	return accessTokenKey(token)
}

func (a *accessTokenStrategy) GenerateAccessToken(ctx context.Context, req fosite.Requester) (string, string, error) {
	sess, ok := req.GetSession().(*session.Session)
	if !ok {
		return "", "", fmt.Errorf("oidc: unexpected session type %T", req.GetSession())
	}
	now := a.signer.now().UTC()
	exp := sess.GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		exp = now.Add(10 * time.Minute)
	}
	aud := []string(req.GetGrantedAudience())
	if len(aud) == 0 {
		aud = []string{req.GetClient().GetID()}
	}
	sub := sess.Subject
	if sub == "" {
		sub = req.GetClient().GetID()
	}
	// RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti are REQUIRED;
	// auth_time, acr, amr when the token is about an end-user authentication.
	mc := map[string]any{
		"iss": a.issuer, "sub": sub, "aud": aud, "exp": exp.Unix(), "iat": now.Unix(),
		"jti": timekey.NewUUIDv7(now), "client_id": req.GetClient().GetID(),
		"scope": strings.Join(req.GetGrantedScopes(), " "),
	}
	if ic := sess.IDClaims; ic != nil && !ic.AuthTime.IsZero() {
		mc["auth_time"] = ic.AuthTime.Unix()
		if ic.AuthenticationContextClassReference != "" {
			mc["acr"] = ic.AuthenticationContextClassReference
		}
		if len(ic.AuthenticationMethodsReferences) > 0 {
			mc["amr"] = ic.AuthenticationMethodsReferences
		}
	}
	if sess.SID != "" {
		mc["sid"] = sess.SID
	}
	for _, name := range accessTokenClaims {
		if v, ok := sess.Claims[name]; ok {
			mc[name] = v
		}
	}
	payload, err := json.Marshal(mc)
	if err != nil {
		return "", "", fmt.Errorf("oidc: encode access token: %w", err)
	}
	token, err := a.signer.sign(ctx, "ES256", accessTokenTyp, payload)
	if err != nil {
		return "", "", err
	}
	return token, a.AccessTokenSignature(ctx, token), nil
}

// ValidateAccessToken checks signature and expiry; fosite then looks the token up
// in the store by signature, so a revoked token fails even while its JWT is valid.
func (a *accessTokenStrategy) ValidateAccessToken(ctx context.Context, _ fosite.Requester, token string) error {
	m, err := a.signer.verify(ctx, token)
	if err != nil {
		if storeDown(err) {
			return err // the key could not be read: not the token's fault
		}
		return fosite.ErrTokenSignatureMismatch.WithWrap(err).WithDebug(err.Error())
	}
	exp, ok := m["exp"].(float64)
	if !ok || !time.Unix(int64(exp), 0).After(a.signer.now()) {
		return fosite.ErrTokenExpired.WithHint("The access token expired.")
	}
	return nil
}
