package oidc

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// userinfo is OIDC Core 5.3: the claims released to the client, as JSON or, when
// the client registered userinfo_signed_response_alg, as a signed JWT.
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	w.Header().Set("Cache-Control", "no-store")
	token := fosite.AccessTokenFromRequest(r)
	if token == "" {
		// RFC 6750 §3.1: no error code when the request carried no token at all.
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+s.cfg.Issuer+`"`)
		http.Error(w, `{"error":"invalid_request","error_description":"no access token"}`, http.StatusUnauthorized)
		return
	}
	_, ar, err := s.provider.IntrospectToken(ctx, token, fosite.AccessToken, session.New())
	if storeDown(err) {
		// Not the token's fault (RFC 6750 §3.1 has no code for this): the
		// application must retry, not send the person to log in again.
		s.logger().Warn("oidc: userinfo: store unavailable", "err", fosite.ErrorToRFC6749Error(err).DebugField)
		w.Header().Set("Retry-After", retryAfter)
		s.provider.WriteAccessError(ctx, w, nil, unavailable(err))
		return
	}
	if err != nil {
		s.logger().Info("oidc: userinfo: token refused", "error", fosite.ErrorToRFC6749Error(err).ErrorField, "debug", fosite.ErrorToRFC6749Error(err).DebugField)
		bearerError(w, s.cfg.Issuer, http.StatusUnauthorized, "invalid_token", "The access token is invalid, expired or revoked.")
		return
	}
	if !ar.GetGrantedScopes().Has("openid") {
		bearerError(w, s.cfg.Issuer, http.StatusForbidden, "insufficient_scope", "The access token was not granted the openid scope.")
		return
	}
	sess, ok := ar.GetSession().(*session.Session)
	if !ok || sess.Subject == "" || sess.PublicSubject == "" {
		// A client_credentials token is about no user.
		bearerError(w, s.cfg.Issuer, http.StatusUnauthorized, "invalid_token", "The access token is not about a user.")
		return
	}
	out := map[string]any{}
	for k, v := range sess.Claims {
		out[k] = v
	}
	out["sub"] = sess.Subject // OIDC Core 5.3.2: MUST equal the ID token's sub
	client, _ := ar.GetClient().(*storage.Client)
	if client != nil && client.UserinfoSignedResponseAlg != "" {
		out["iss"] = s.cfg.Issuer
		out["aud"] = client.ID
		payload, err := json.Marshal(out)
		if err == nil {
			var jwt string
			jwt, err = s.signer.sign(ctx, client.UserinfoSignedResponseAlg, "JWT", payload)
			if err == nil {
				w.Header().Set("Content-Type", "application/jwt")
				_, _ = w.Write([]byte(jwt))
				return
			}
		}
		s.logger().Error("oidc: sign userinfo", "err", err)
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// bearerError answers per RFC 6750 §3 with the WWW-Authenticate challenge.
func bearerError(w http.ResponseWriter, realm string, status int, code, description string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`", error="`+code+`", error_description="`+strings.ReplaceAll(description, `"`, `'`)+`"`)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}
