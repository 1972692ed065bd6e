package claims

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

type ctxKey struct{}

// NewContext returns a copy of ctx carrying c, as Middleware does.
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the claims Middleware verified for this request.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Claims)
	return c, ok && c != nil
}

// Middleware returns HTTP middleware that admits a request only with a valid
// access token meeting reqs, and puts the claims in the request context
// (FromContext). Answers follow RFC 6750 §3:
//
//   - no token: 401 with a bare "WWW-Authenticate: Bearer realm=..." (§3.1:
//     no error code when the request has no authentication information);
//   - a token in the query (§2.3), several Authorization headers, or a
//     malformed header: 400 invalid_request; only the Authorization header is
//     accepted (§2.1): URLs end up in logs, and the body is not read;
//   - an invalid token: 401 invalid_token;
//   - the issuer unreachable: 503, no challenge (the token may be fine);
//   - unmet requirements: 403 insufficient_scope, naming them in
//     error_description and listing missing scopes in the scope attribute.
func (v *Verifier) Middleware(reqs ...Requirement) func(http.Handler) http.Handler {
	reqs = append([]Requirement(nil), reqs...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, status, desc := bearerToken(r)
			switch {
			case status == http.StatusUnauthorized:
				v.challenge(w, status, "", "", "")
				return
			case status != 0:
				v.challenge(w, status, "invalid_request", desc, "")
				return
			}
			c, err := v.Verify(r.Context(), token)
			if err != nil {
				if !errors.Is(err, ErrInvalidToken) {
					w.Header().Set("Cache-Control", "no-store")
					writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "The token cannot be checked now")
					return
				}
				v.challenge(w, http.StatusUnauthorized, "invalid_token", describe(err), "")
				return
			}
			if err := Check(c, reqs...); err != nil {
				var ue *UnmetError
				errors.As(err, &ue)
				v.challenge(w, http.StatusForbidden, "insufficient_scope",
					"Missing: "+strings.Join(ue.Unmet, "; "), strings.Join(ue.Scopes, " "))
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), c)))
		})
	}
}

// bearerToken extracts the RFC 6750 §2.1 token. status is 401 when there is no
// bearer credential at all, 400 for a request to refuse as invalid_request.
func bearerToken(r *http.Request) (token string, status int, desc string) {
	if r.URL.Query().Has("access_token") {
		return "", http.StatusBadRequest, "Send the access token in the Authorization header only"
	}
	hs := r.Header.Values("Authorization")
	if len(hs) == 0 {
		return "", http.StatusUnauthorized, ""
	}
	if len(hs) > 1 {
		return "", http.StatusBadRequest, "Several Authorization headers"
	}
	scheme, rest, _ := strings.Cut(hs[0], " ")
	// RFC 7235 §2.1: the auth-scheme is case-insensitive. Another scheme is no
	// bearer credential.
	if !strings.EqualFold(scheme, "Bearer") {
		return "", http.StatusUnauthorized, ""
	}
	token = strings.TrimLeft(rest, " ")
	if !isB64Token(token) {
		return "", http.StatusBadRequest, "Malformed Authorization header"
	}
	return token, 0, ""
}

// isB64Token checks the RFC 6750 §2.1 b64token syntax:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isB64Token(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// describe gives an error_description for a refused token. It names the class
// of problem only: details (the expected audience, key ids) stay in the
// server's logs.
func describe(err error) string {
	switch {
	case errors.Is(err, ErrExpired):
		return "The access token expired"
	case errors.Is(err, ErrNotYetValid):
		return "The access token is not valid yet"
	case errors.Is(err, ErrWrongAudience):
		return "The access token is not meant for this resource"
	case errors.Is(err, ErrWrongIssuer):
		return "The access token comes from another issuer"
	case errors.Is(err, ErrWrongType):
		return "Not an access token (typ must be at+jwt)"
	case errors.Is(err, ErrInactive):
		return "The access token is not active"
	}
	return "The access token is invalid"
}

// challenge writes an RFC 6750 §3 answer. Attribute values are quoted-strings
// limited to the characters §3 allows (%x20-21 / %x23-5B / %x5D-7E).
func (v *Verifier) challenge(w http.ResponseWriter, status int, code, desc, scope string) {
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(quoteSafe(v.realm))
	b.WriteByte('"')
	if code != "" {
		b.WriteString(`, error="`)
		b.WriteString(code)
		b.WriteByte('"')
	}
	if desc != "" {
		b.WriteString(`, error_description="`)
		b.WriteString(quoteSafe(desc))
		b.WriteByte('"')
	}
	if scope != "" {
		b.WriteString(`, scope="`)
		b.WriteString(quoteSafe(scope))
		b.WriteByte('"')
	}
	w.Header().Set("WWW-Authenticate", b.String())
	w.Header().Set("Cache-Control", "no-store")
	if code == "" {
		w.WriteHeader(status)
		return
	}
	writeJSONError(w, status, code, desc)
}

func quoteSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '_'
		}
		return r
	}, s)
}

func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{code, desc})
}
