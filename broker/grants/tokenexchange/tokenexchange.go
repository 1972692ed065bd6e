package tokenexchange

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/justiceconnect/justiceconnect/broker/release"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/claims"
)

// Token type identifiers (RFC 8693 §3).
const (
	GrantType       = "urn:ietf:params:oauth:grant-type:token-exchange"
	TypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TypeIDToken     = "urn:ietf:params:oauth:token-type:id_token"
)

// ErrInvalidTarget is RFC 8693 §2.2.2's error for an audience or resource the
// server will not issue a token for.
var ErrInvalidTarget = &fosite.RFC6749Error{ErrorField: "invalid_target",
	DescriptionField: "The requested audience or resource is not allowed for this client.", CodeField: 400}

// Delegations answers whether a delegation (mandate) in force lets actor act for
// subject toward audience at time at; it returns the delegation's ID.
type Delegations interface {
	Allowed(ctx context.Context, actor, subject, audience string, at time.Time) (string, error)
}

// ForeignTokens vouches for subject and actor tokens that are not the broker's own
// access tokens: its ID tokens and upstream providers' tokens, which the store knows
// nothing of. Resolve returns the session the token stands for, rebuilt for client
// (sub, claims of the client's scopes, acr), with the token's own expiry as the
// access token expiry; it fails when the client's policy refuses such a token
// (storage.Client.ExchangeSubjectTokens) or the token does not verify.
type ForeignTokens interface {
	Resolve(ctx context.Context, client *storage.Client, token, tokenType string) (*session.Session, error)
}

// Handler implements the grant.
type Handler struct {
	Strategy    oauth2.AccessTokenStrategy
	Storage     oauth2.AccessTokenStorage
	Delegations Delegations
	// Issuer is the broker's issuer: a token it names is looked up as the broker's own.
	Issuer string
	// Foreign, when set, accepts ID tokens and upstream tokens (see ForeignTokens).
	Foreign ForeignTokens
	// MaxLifetime caps the issued token's lifetime (also capped by the subject token's).
	MaxLifetime time.Duration
	Now         func() time.Time
	// Audit is told about every exchange (subject, actor, client, audience, delegation).
	Audit func(ctx context.Context, clientID, subject, actor, audience, delegation string)
}

var _ fosite.TokenEndpointHandler = (*Handler)(nil)

func (h *Handler) CanHandleTokenEndpointRequest(_ context.Context, r fosite.AccessRequester) bool {
	return r.GetGrantTypes().ExactOne(GrantType)
}

// CanSkipClientAuth is false: only authenticated, confidential clients exchange
// tokens (SECURITY.md J8).
func (h *Handler) CanSkipClientAuth(context.Context, fosite.AccessRequester) bool { return false }

// subjectGrant is what a subject or actor token stands for: who, for which client,
// toward which audiences, with which scopes.
type subjectGrant struct {
	sess     *session.Session
	clientID string
	audience []string
	scopes   []string
}

type exchangeState struct {
	audience   []string
	delegation string
	actor      string
}

// HandleTokenEndpointRequest validates the request (RFC 8693 §2.1, §2.2.2) and
// prepares the new grant.
func (h *Handler) HandleTokenEndpointRequest(ctx context.Context, r fosite.AccessRequester) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	client, ok := r.GetClient().(*storage.Client)
	if !ok {
		return fosite.ErrServerError.WithDebug("tokenexchange: unexpected client type")
	}
	if client.IsPublic() {
		return fosite.ErrUnauthorizedClient.WithHint("Token exchange is for confidential clients only.")
	}
	if !client.GetGrantTypes().Has(GrantType) {
		return fosite.ErrUnauthorizedClient.WithHint("The client is not allowed to use token exchange.")
	}
	form := r.GetRequestForm()
	subjectToken, subjectType := form.Get("subject_token"), form.Get("subject_token_type")
	if subjectToken == "" || subjectType == "" {
		return fosite.ErrInvalidRequest.WithHint("subject_token and subject_token_type are required (RFC 8693 §2.1).")
	}
	actorToken, actorType := form.Get("actor_token"), form.Get("actor_token_type")
	if (actorToken == "") != (actorType == "") {
		return fosite.ErrInvalidRequest.WithHint("actor_token and actor_token_type go together (RFC 8693 §2.1).")
	}
	if rt := form.Get("requested_token_type"); rt != "" && rt != TypeAccessToken && rt != TypeJWT {
		return fosite.ErrInvalidRequest.WithHint("Only access tokens (access_token or jwt) can be requested.")
	}
	subject, err := h.resolve(ctx, client, subjectToken, subjectType)
	if err != nil {
		return fosite.ErrInvalidRequest.WithHint("The subject_token is invalid, expired, revoked or not accepted from this client.").WithWrap(err)
	}
	subjectSess := subject.sess
	// J3: the subject token must have been issued to, or be aimed at, this client.
	if subject.clientID != client.GetID() && !slices.Contains(subject.audience, client.GetID()) {
		return fosite.ErrInvalidRequest.WithHint("The subject_token was not issued to this client.")
	}
	// J4: every requested target must be one this client may ask for.
	targets := append(append([]string{}, form["audience"]...), form["resource"]...)
	if len(targets) == 0 {
		return fosite.ErrInvalidRequest.WithHint("audience or resource is required.")
	}
	for _, t := range targets {
		if !slices.Contains(client.GetAudience(), t) {
			return ErrInvalidTarget.WithHintf("The client may not request tokens for %q.", t)
		}
	}
	// J5: scopes never widen: requested ⊆ subject's granted ∩ client's.
	allowed := []string{}
	for _, s := range subject.scopes {
		if slices.Contains(client.GetScopes(), s) {
			allowed = append(allowed, s)
		}
	}
	requested := r.GetRequestedScopes()
	if len(requested) == 0 {
		requested = allowed
	}
	for _, s := range requested {
		if !slices.Contains(allowed, s) {
			return fosite.ErrInvalidScope.WithHintf("Scope %q is not granted to the subject token or not allowed to the client.", s)
		}
	}
	sess := subjectSess.Clone().(*session.Session)
	// The claims follow the scopes: a narrowed token carries only what its scopes
	// release (OIDC Core §5.4), the act chain added below excepted.
	prevAct, hadAct := sess.Claims[claims.ClaimAct]
	sess.Claims = release.Claims(requested, sess.Claims)
	if hadAct {
		sess.Claims[claims.ClaimAct] = prevAct
	}
	state := exchangeState{audience: targets}
	if actorToken != "" {
		actor, err := h.resolve(ctx, client, actorToken, actorType)
		if err != nil {
			return fosite.ErrInvalidRequest.WithHint("The actor_token is invalid, expired, revoked or not accepted from this client.").WithWrap(err)
		}
		actorSess := actor.sess
		if h.Delegations == nil {
			return fosite.ErrInvalidRequest.WithHint("No delegation allows this actor to act for this subject.")
		}
		for _, aud := range targets {
			id, err := h.Delegations.Allowed(ctx, actorSess.PublicSubject, subjectSess.PublicSubject, aud, h.Now())
			if err != nil {
				// J6: RFC 8693 §2.2.2 says invalid_request for a policy refusal.
				return fosite.ErrInvalidRequest.WithHint("No delegation in force allows this actor to act for this subject toward this audience.").WithWrap(err)
			}
			state.delegation = id
		}
		act := map[string]any{"sub": actorSess.Subject}
		if p, ok := actorSess.Claims[claims.ClaimProfession]; ok {
			act["profession"] = p
		}
		// RFC 8693 §4.1: a chain nests the previous actor inside the new one.
		if hadAct {
			act["act"] = prevAct
		}
		sess.Claims[claims.ClaimAct] = act
		state.actor = actorSess.Subject
	}
	// The new token lives no longer than the subject token.
	exp := subjectSess.GetExpiresAt(fosite.AccessToken)
	if max := h.Now().Add(h.MaxLifetime); exp.IsZero() || exp.After(max) {
		exp = max
	}
	sess.SetExpiresAt(fosite.AccessToken, exp)
	r.SetSession(sess)
	for _, s := range requested {
		r.GrantScope(s)
	}
	for _, t := range targets {
		r.GrantAudience(t)
	}
	if h.Audit != nil {
		h.Audit(ctx, client.GetID(), subjectSess.PublicSubject, state.actor, strings.Join(targets, " "), state.delegation)
	}
	return nil
}

// resolve finds what a subject or actor token stands for. The broker's own access
// tokens are checked against the store (a revoked grant cannot be traded); any
// other token (the broker's ID tokens, an upstream's tokens) goes to Foreign,
// which applies the client's policy. The unverified iss only routes the token:
// each path verifies the signature itself.
func (h *Handler) resolve(ctx context.Context, client *storage.Client, token, tokenType string) (subjectGrant, error) {
	switch tokenType {
	case TypeAccessToken, TypeJWT:
		if iss := UnverifiedIssuer(token); iss == h.Issuer || h.Foreign == nil {
			req, err := h.lookup(ctx, token)
			if err != nil {
				return subjectGrant{}, err
			}
			return subjectGrant{sess: req.GetSession().(*session.Session), clientID: req.GetClient().GetID(),
				audience: req.GetGrantedAudience(), scopes: req.GetGrantedScopes()}, nil
		}
	case TypeIDToken:
		if h.Foreign == nil {
			return subjectGrant{}, errors.New("tokenexchange: ID tokens are not accepted")
		}
	default:
		return subjectGrant{}, fmt.Errorf("tokenexchange: unsupported token type %q", tokenType)
	}
	sess, err := h.Foreign.Resolve(ctx, client, token, tokenType)
	if err != nil {
		return subjectGrant{}, err
	}
	if !sess.GetExpiresAt(fosite.AccessToken).After(h.Now()) {
		return subjectGrant{}, errors.New("tokenexchange: token expired")
	}
	// Resolve rebuilt the session for this client with the client's scopes.
	return subjectGrant{sess: sess, clientID: client.GetID(), scopes: client.GetScopes()}, nil
}

// UnverifiedIssuer reads iss from a JWT without checking it, to route the token to
// the verifier that will; "" when the token is not a JWT.
func UnverifiedIssuer(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	return c.Iss
}

// lookup accepts the broker's own access tokens: the signature is checked and the
// grant must still be active in the store.
func (h *Handler) lookup(ctx context.Context, token string) (fosite.Requester, error) {
	if err := h.Strategy.ValidateAccessToken(ctx, nil, token); err != nil {
		return nil, err
	}
	req, err := h.Storage.GetAccessTokenSession(ctx, h.Strategy.AccessTokenSignature(ctx, token), session.New())
	if err != nil {
		return nil, err
	}
	if _, ok := req.GetSession().(*session.Session); !ok {
		return nil, errors.New("tokenexchange: unexpected session type")
	}
	if req.GetSession().GetExpiresAt(fosite.AccessToken).Before(h.Now()) {
		return nil, errors.New("tokenexchange: token expired")
	}
	return req, nil
}

// PopulateTokenEndpointResponse issues the token (RFC 8693 §2.2.1): no refresh token.
func (h *Handler) PopulateTokenEndpointResponse(ctx context.Context, r fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, r) {
		return fosite.ErrUnknownRequest
	}
	token, sig, err := h.Strategy.GenerateAccessToken(ctx, r)
	if err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	if err := h.Storage.CreateAccessTokenSession(ctx, sig, r.Sanitize(nil)); err != nil {
		return fosite.ErrServerError.WithWrap(err)
	}
	issued := TypeAccessToken
	if r.GetRequestForm().Get("requested_token_type") == TypeJWT {
		issued = TypeJWT
	}
	resp.SetAccessToken(token)
	resp.SetTokenType("bearer")
	resp.SetExpiresIn(r.GetSession().GetExpiresAt(fosite.AccessToken).Sub(h.Now()).Round(time.Second))
	resp.SetScopes(r.GetGrantedScopes())
	resp.SetExtra("issued_token_type", issued)
	return nil
}
