package oidc

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/justiceconnect/justiceconnect/broker/grants/tokenexchange"
	"github.com/justiceconnect/justiceconnect/claims"
)

// discovery is OpenID Connect Discovery 1.0 §3, listing exactly what is supported.
func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	iss := s.cfg.Issuer
	scopes := append(claims.SupportedScopes(), s.cfg.ExtraScopes...)
	grants := []string{"authorization_code", "refresh_token", "client_credentials", tokenexchange.GrantType}
	algs := []string{"ES256", "RS256"}
	doc := map[string]any{
		"issuer":                                           iss,
		"authorization_endpoint":                           iss + "/authorize",
		"token_endpoint":                                   iss + "/token",
		"userinfo_endpoint":                                iss + "/userinfo",
		"jwks_uri":                                         iss + "/jwks",
		"end_session_endpoint":                             iss + "/session/end",
		"introspection_endpoint":                           iss + "/token/introspection",
		"revocation_endpoint":                              iss + "/token/revocation",
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query"},
		"grant_types_supported":                            grants,
		"subject_types_supported":                          []string{"public", "pairwise"},
		"id_token_signing_alg_values_supported":            algs,
		"userinfo_signing_alg_values_supported":            algs,
		"token_endpoint_auth_methods_supported":            []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"token_endpoint_auth_signing_alg_values_supported": []string{"ES256", "RS256", "PS256"},
		"introspection_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"revocation_endpoint_auth_methods_supported":       []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"scopes_supported":                                 scopes,
		"claims_supported":                                 append([]string{"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "amr", "sid", "nonce"}, claims.SupportedClaims()...),
		"claims_parameter_supported":                       true,
		"request_parameter_supported":                      false,
		"request_uri_parameter_supported":                  false,
		"code_challenge_methods_supported":                 []string{"S256"},
		"acr_values_supported":                             []string{string(claims.EIDAS1), string(claims.EIDAS2), string(claims.EIDAS3)},
		"prompt_values_supported":                          []string{"none", "login", "consent", "select_account"},
		"authorization_response_iss_parameter_supported":   true,
		"ui_locales_supported":                             []string{"fr", "en"},
		"claim_types_supported":                            []string{"normal"},
		"require_request_uri_registration":                 true,
		"frontchannel_logout_supported":                    true,
		"frontchannel_logout_session_supported":            true,
		"backchannel_logout_supported":                     true,
		"backchannel_logout_session_supported":             true,
	}
	slices.Sort(scopes)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_ = json.NewEncoder(w).Encode(doc)
}

// jwks serves the public keys: next, current and still-published retired ones
// (OIDC Core 10.1.1: the next key appears before it signs).
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	b, err := s.cfg.Keys.JWKSJSON(r.Context())
	if err != nil {
		s.logger().Error("oidc: jwks", "err", err)
		http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(b)
}
