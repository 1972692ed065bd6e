package session

import (
	"encoding/json"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// Session is the fosite session of one grant. It is stored as JSON with every code
// and token, so all fields are exported and plain.
type Session struct {
	// Subject is the sub released to this client (public or pairwise).
	Subject string `json:"subject"`
	// PublicSubject is the broker's own subject for the person, the same for every
	// client; consents and SSO sessions are keyed on it.
	PublicSubject string `json:"public_subject"`
	Username      string `json:"username,omitempty"`
	// SID is the SSO session the grant was issued in (OIDC Front/Back-Channel Logout
	// §2 and 3: the sid claim); empty for client_credentials.
	SID      string `json:"sid,omitempty"`
	Provider string `json:"provider,omitempty"`
	// UpstreamSubject lets a Refresher find the person again at the provider.
	UpstreamSubject string `json:"upstream_subject,omitempty"`

	// IDClaims is kept as a pointer because fosite's OpenID handlers set at_hash on the
	// value returned by IDTokenClaims() and read it back when signing.
	IDClaims *jwt.IDTokenClaims `json:"id_claims,omitempty"`
	Headers  *jwt.Headers       `json:"headers,omitempty"`

	// Claims are the claims released to this client beyond the core ID token ones,
	// by claim name; they go to userinfo and the access token.
	Claims map[string]any `json:"claims,omitempty"`

	ExpiresAt map[fosite.TokenType]time.Time `json:"expires_at,omitempty"`
}

var (
	_ fosite.Session      = (*Session)(nil)
	_ openid.Session      = (*Session)(nil)
	_ storage.SessionIDer = (*Session)(nil)
)

// New returns an empty session, the prototype fosite fills from the store.
func New() *Session {
	return &Session{IDClaims: &jwt.IDTokenClaims{}, Headers: jwt.NewHeaders()}
}

// NewFosite is New typed for fosite and the store options.
func NewFosite() fosite.Session { return New() }

func (s *Session) SetExpiresAt(key fosite.TokenType, exp time.Time) {
	if s.ExpiresAt == nil {
		s.ExpiresAt = map[fosite.TokenType]time.Time{}
	}
	s.ExpiresAt[key] = exp
}

func (s *Session) GetExpiresAt(key fosite.TokenType) time.Time {
	return s.ExpiresAt[key]
}

func (s *Session) GetUsername() string { return s.Username }
func (s *Session) GetSubject() string  { return s.Subject }

// SSOSessionID implements storage.SessionIDer so logout can revoke the grants of one
// SSO session.
func (s *Session) SSOSessionID() string { return s.SID }

// Clone deep-copies the session through JSON, which is how it is stored anyway.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		panic("session: clone: " + err.Error()) // only plain JSON types live here
	}
	c := New()
	if err := json.Unmarshal(b, c); err != nil {
		panic("session: clone: " + err.Error())
	}
	return c
}

func (s *Session) IDTokenClaims() *jwt.IDTokenClaims {
	if s.IDClaims == nil {
		s.IDClaims = &jwt.IDTokenClaims{}
	}
	return s.IDClaims
}

func (s *Session) IDTokenHeaders() *jwt.Headers {
	if s.Headers == nil {
		s.Headers = jwt.NewHeaders()
	}
	return s.Headers
}
