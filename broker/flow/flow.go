package flow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/claims"
)

// States of a flow.
const (
	AwaitingLogin = "awaiting_login"
	Authenticated = "authenticated"
	Done          = "done"
)

// ErrInvalid is returned for an unknown, expired, finished or foreign flow; the
// browser sees "votre demande de connexion a expiré".
var ErrInvalid = errors.New("flow: unknown, expired or not yours")

// Auth is the outcome of a login, as the SSO session and the tokens need it. It is
// produced by broker/mapping and stored in the flow and in the SSO session record.
type Auth struct {
	PublicSubject   string         `json:"public_subject"`
	Provider        string         `json:"provider"`
	UpstreamSubject string         `json:"upstream_subject"`
	Username        string         `json:"username,omitempty"`
	ACR             claims.ACR     `json:"acr"`
	AMR             []string       `json:"amr,omitempty"`
	AuthTime        time.Time      `json:"auth_time"`
	Claims          map[string]any `json:"claims,omitempty"`
	// Upstream is the provider's private data (refresh token, SAML session index).
	Upstream []byte `json:"upstream,omitempty"`
}

// Flow is one login in progress.
type Flow struct {
	ID       string     `json:"-"`
	State    string     `json:"-"`
	ClientID string     `json:"-"`
	Query    url.Values `json:"query"`
	// RequestedAt is when /authorize first saw the request (OIDC prompt/max_age checks
	// compare auth_time with it).
	RequestedAt time.Time `json:"requested_at"`
	Binding     string    `json:"binding"`
	// MinACR is the lowest acr that satisfies the request (acr_values or essential
	// acr claim); empty when the request said nothing.
	MinACR     claims.ACR `json:"min_acr,omitempty"`
	ForceLogin bool       `json:"force_login,omitempty"`

	Provider      string `json:"provider,omitempty"`
	UpstreamState string `json:"upstream_state,omitempty"`
	Pending       []byte `json:"pending,omitempty"`

	Auth     *Auth  `json:"auth,omitempty"`
	SID      string `json:"sid,omitempty"`
	Verifier string `json:"verifier,omitempty"` // SHA-256 of the single-use verifier

	CreatedAt time.Time `json:"-"`
	ExpiresAt time.Time `json:"-"`
	version   int64
}

// Store keeps flows in the broker's store.
type Store struct {
	Store    storage.FlowStore
	Lifetime time.Duration
	Now      func() time.Time
}

// New creates and stores a flow awaiting login.
func (s *Store) New(ctx context.Context, f *Flow) error {
	now := s.Now()
	f.ID = RandomToken(24)
	f.State = AwaitingLogin
	f.CreatedAt = now
	f.ExpiresAt = now.Add(s.Lifetime)
	rec, err := f.record()
	if err != nil {
		return err
	}
	if err := s.Store.CreateFlow(ctx, rec); err != nil {
		return fmt.Errorf("flow: create: %w", err)
	}
	f.version = rec.Version
	return nil
}

// Get loads a flow and checks that it is live and bound to this browser.
func (s *Store) Get(ctx context.Context, id, binding string) (*Flow, error) {
	f, err := s.GetUnbound(ctx, id)
	if err != nil {
		return nil, err
	}
	if binding == "" || !Equal(f.Binding, HashBinding(binding)) {
		return nil, ErrInvalid
	}
	return f, nil
}

// GetUnbound loads a live flow without the browser binding check, for upstream
// callbacks (a SAML IdP's cross-site POST does not carry our SameSite=Lax cookie);
// the caller must check the upstream state secret instead.
func (s *Store) GetUnbound(ctx context.Context, id string) (*Flow, error) {
	if id == "" {
		return nil, ErrInvalid
	}
	rec, err := s.Store.GetFlow(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("flow: get: %w", err)
	}
	f := &Flow{}
	if err := json.Unmarshal(rec.Data, f); err != nil {
		return nil, fmt.Errorf("flow: decode: %w", err)
	}
	f.ID, f.State, f.ClientID, f.CreatedAt, f.ExpiresAt, f.version = rec.ID, rec.State, rec.ClientID, rec.CreatedAt, rec.ExpiresAt, rec.Version
	if !s.Now().Before(f.ExpiresAt) || f.State == Done {
		return nil, ErrInvalid
	}
	return f, nil
}

// Save writes the flow back; it fails with storage.ErrConflict when another request
// changed it first.
func (s *Store) Save(ctx context.Context, f *Flow) error {
	rec, err := f.record()
	if err != nil {
		return err
	}
	if err := s.Store.UpdateFlow(ctx, rec); err != nil {
		return fmt.Errorf("flow: save: %w", err)
	}
	f.version = rec.Version
	return nil
}

// Authenticate records the login outcome and returns the single-use verifier the
// browser carries back to /authorize/resume.
func (s *Store) Authenticate(ctx context.Context, f *Flow, a *Auth, sid string) (string, error) {
	verifier := RandomToken(32)
	f.Auth, f.SID, f.State = a, sid, Authenticated
	f.Verifier = hashString(verifier)
	f.Pending = nil
	return verifier, s.Save(ctx, f)
}

// CheckVerifier reports whether v is the flow's verifier.
func (f *Flow) CheckVerifier(v string) bool {
	return f.State == Authenticated && f.Verifier != "" &&
		Equal(f.Verifier, hashString(v))
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (f *Flow) record() (*storage.Flow, error) {
	data, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("flow: encode: %w", err)
	}
	return &storage.Flow{ID: f.ID, State: f.State, ClientID: f.ClientID, Data: data,
		CreatedAt: f.CreatedAt, ExpiresAt: f.ExpiresAt, Version: f.version}, nil
}

// HashBinding turns the browser binding cookie value into what the flow stores, so a
// leaked flow record does not reveal the cookie.
func HashBinding(cookie string) string { return hashString("binding:" + cookie) }

func hashString(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// RandomToken returns n random bytes, base64url-encoded.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("flow: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
