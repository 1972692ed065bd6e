package storage

import (
	"context"
	"errors"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
)

// Sentinel errors of the store. fosite's own sentinels (fosite.ErrNotFound,
// fosite.ErrInvalidatedAuthorizeCode, fosite.ErrInactiveToken) are returned where
// fosite expects them; ErrNotFound here wraps fosite.ErrNotFound so both match.
var (
	ErrNotFound = fosite.ErrNotFound
	// ErrConflict is returned when a record changed since it was read (optimistic
	// concurrency on flows) or a unique key already exists.
	ErrConflict = errors.New("storage: conflict")
	// ErrAlreadyUsed is returned by UseOnce for a key seen before.
	ErrAlreadyUsed = errors.New("storage: already used")
	// ErrUnavailable wraps a failure to reach the database, so callers can answer 503
	// / temporarily_unavailable instead of a generic error.
	ErrUnavailable = errors.New("storage: database unavailable")
)

// Store is everything the broker keeps. Every method takes ctx first; writes that
// belong together happen in one transaction inside the implementation.
type Store interface {
	FositeStore

	ClientStore
	FlowStore
	SSOSessionStore
	ConsentStore
	KeyStore
	AuditStore
	DelegationStore
	LogoutStore
	Locker

	// UseOnce records key in namespace until expiresAt and returns ErrAlreadyUsed if it
	// was recorded before and has not expired: SAML assertion IDs, logout token jti,
	// single-use verifiers.
	UseOnce(ctx context.Context, namespace, key string, expiresAt time.Time) error

	// DeleteExpired removes rows whose lifetime is over (codes, tokens, flows, sessions,
	// one-time markers, retired keys past their end) and returns how many.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)

	// Ping reports whether the database answers (backs /readyz).
	Ping(ctx context.Context) error
	Close() error
}

// FositeStore is the part of the Store fosite's handlers use directly.
type FositeStore interface {
	fosite.ClientManager // GetClient, ClientAssertionJWTValid, SetClientAssertionJWT
	oauth2.AuthorizeCodeStorage
	oauth2.AccessTokenStorage
	oauth2.RefreshTokenStorage
	oauth2.TokenRevocationStorage
	openid.OpenIDConnectRequestStorage
	pkce.PKCERequestStorage

	// RevokeByRequestIDs-style helpers the broker needs beyond fosite:

	// RevokeTokensOfSession revokes (marks inactive) every access and refresh token
	// issued in the SSO session sid, except those whose granted scopes include
	// offline_access when keepOffline is true. Used by logout (OIDC BCL 2.7).
	// It finds them only while the session is stored (SessionRetention).
	RevokeTokensOfSession(ctx context.Context, sid string, keepOffline bool) (int64, error)
}

// ClientStore manages OAuth clients. GetClient (fosite) returns *Client.
type ClientStore interface {
	// CreateClient fails with ErrConflict if the ID exists.
	CreateClient(ctx context.Context, c *Client) error
	// UpsertClient creates or replaces a client (used to sync clients declared in
	// configuration at start).
	UpsertClient(ctx context.Context, c *Client) error
	UpdateClient(ctx context.Context, c *Client) error
	DeleteClient(ctx context.Context, id string) error
	ListClients(ctx context.Context) ([]*Client, error)
}

// Flow is one browser login in progress (see broker/flow for its states). The store
// keeps it as an opaque record with optimistic concurrency: UpdateFlow succeeds only
// if Version still matches and then increments it.
type Flow struct {
	ID        string
	State     string
	ClientID  string
	Data      []byte // JSON owned by broker/flow
	CreatedAt time.Time
	ExpiresAt time.Time
	Version   int64
}

// FlowStore keeps login flows.
type FlowStore interface {
	CreateFlow(ctx context.Context, f *Flow) error
	GetFlow(ctx context.Context, id string) (*Flow, error)
	// UpdateFlow writes f if f.Version matches the stored version (ErrConflict
	// otherwise) and sets f.Version to the new version.
	UpdateFlow(ctx context.Context, f *Flow) error
	DeleteFlow(ctx context.Context, id string) error
}

// SSOSession is a browser's single sign-on session, kept server-side so that logout
// really ends it: the cookie only carries its ID.
type SSOSession struct {
	ID                string
	Subject           string // the broker's internal (public) subject
	Provider          string
	ACR               string
	AMR               []string
	AuthTime          time.Time
	CreatedAt         time.Time
	LastSeenAt        time.Time
	IdleExpiresAt     time.Time
	AbsoluteExpiresAt time.Time
	// Identity is the JSON of the providers.Identity and mapped claims, owned by
	// broker/session.
	Identity []byte
	// Clients are the client IDs that received tokens in this session, in order of
	// first issue, without duplicates.
	Clients []string
	// EndedAt is set when the session was ended (logout, admin revocation).
	EndedAt *time.Time
	// UpstreamSubject and UpstreamSessionID are the person's subject and the
	// session ID (sid) at the upstream provider, kept only for providers whose
	// back-channel logout the broker receives, so that a logout token finds its
	// sessions by index (LogoutStore.ListSSOSessionsByUpstream); "" otherwise.
	UpstreamSubject   string
	UpstreamSessionID string
}

// SSOSessionStore keeps SSO sessions.
type SSOSessionStore interface {
	CreateSSOSession(ctx context.Context, s *SSOSession) error
	// GetSSOSession returns ended and expired sessions too; callers check.
	GetSSOSession(ctx context.Context, id string) (*SSOSession, error)
	// TouchSSOSession records activity and the new idle expiry.
	TouchSSOSession(ctx context.Context, id string, lastSeen, idleExpiresAt time.Time) error
	// AddSSOSessionClient appends clientID to the session's clients if absent.
	AddSSOSessionClient(ctx context.Context, id, clientID string) error
	// EndSSOSession marks the session ended at t; ending an ended session is not an error.
	EndSSOSession(ctx context.Context, id string, t time.Time) error
	// ListSSOSessionsBySubject returns the live (not ended) sessions of a subject.
	ListSSOSessionsBySubject(ctx context.Context, subject string) ([]*SSOSession, error)
}

// Consent is a user's agreement that a client receives some scopes.
type Consent struct {
	Subject   string
	ClientID  string
	Scopes    []string
	GrantedAt time.Time
	RevokedAt *time.Time
}

// ConsentStore keeps consents, one per (subject, client).
type ConsentStore interface {
	// SaveConsent creates or replaces the consent of (Subject, ClientID).
	SaveConsent(ctx context.Context, c *Consent) error
	// GetConsent returns ErrNotFound when none exists or it was revoked.
	GetConsent(ctx context.Context, subject, clientID string) (*Consent, error)
	RevokeConsent(ctx context.Context, subject, clientID string, t time.Time) error
	ListConsents(ctx context.Context, subject string) ([]*Consent, error)
}

// Delegation is a mandate: Actor may act for Subject toward the listed audiences
// between NotBefore and NotAfter (RFC 8693 token exchange with an actor_token).
// Actor and Subject are the broker's public subjects. A zero NotBefore or NotAfter
// leaves that side open.
type Delegation struct {
	ID        string
	Actor     string
	Subject   string
	Audiences []string
	NotBefore time.Time
	NotAfter  time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
	Reason    string
}

// DelegationStore keeps delegations.
type DelegationStore interface {
	// CreateDelegation fails with ErrConflict if the ID exists; a zero CreatedAt is
	// set to the store's now.
	CreateDelegation(ctx context.Context, d *Delegation) error
	// ListDelegations returns the delegations whose Subject is subject ("" = all),
	// revoked and expired ones included, oldest first.
	ListDelegations(ctx context.Context, subject string) ([]*Delegation, error)
	// RevokeDelegation marks the delegation revoked at t; an unknown ID is
	// ErrNotFound, revoking a revoked one keeps the first time.
	RevokeDelegation(ctx context.Context, id string, at time.Time) error
	// ActiveDelegation returns a delegation in force at at (not revoked,
	// NotBefore <= at < NotAfter) letting actor act for subject toward audience, or
	// ErrNotFound when there is none.
	ActiveDelegation(ctx context.Context, actor, subject, audience string, at time.Time) (*Delegation, error)
}

// Key states, in the order a key lives through them.
const (
	KeyNext    = "next"    // published in JWKS, not yet signing
	KeyCurrent = "current" // signs new tokens (one per algorithm)
	KeyRetired = "retired" // published until RetireUntil, then deleted
)

// Key is a signing (or cookie) key. The private part is encrypted by broker/keys with
// the key-encryption key; the store never sees it in clear.
type Key struct {
	ID            string // kid
	Use           string // "sig" (token signing) or "cookie"
	Alg           string // ES256, RS256, or "" for cookie keys
	State         string
	PrivateSealed []byte
	PublicJWK     []byte // JSON of the public JWK (empty for cookie keys)
	CreatedAt     time.Time
	ActivatedAt   *time.Time
	RetiredAt     *time.Time
	// RetireUntil is when a retired key leaves JWKS (after every token it signed expired).
	RetireUntil *time.Time
}

// KeyStore keeps keys.
type KeyStore interface {
	CreateKey(ctx context.Context, k *Key) error
	ListKeys(ctx context.Context) ([]*Key, error)
	// UpdateKeys writes the given keys' State/ActivatedAt/RetiredAt/RetireUntil in
	// one transaction (a rotation changes several keys at once).
	UpdateKeys(ctx context.Context, keys []*Key) error
	DeleteKey(ctx context.Context, id string) error
}

// AuditEvent is one security event. The store assigns Seq, PrevHash and Hash in the
// same transaction as the insert: Hash = SHA-256(PrevHash || CanonicalJSON(event
// without Seq/Hash)), see AuditHash.
type AuditEvent struct {
	Seq      int64             `json:"seq"`
	Time     time.Time         `json:"time"`
	Type     string            `json:"type"`
	Outcome  string            `json:"outcome,omitempty"`
	Subject  string            `json:"subject,omitempty"`
	ClientID string            `json:"client_id,omitempty"`
	Provider string            `json:"provider,omitempty"`
	Session  string            `json:"session,omitempty"`
	Request  string            `json:"request_id,omitempty"`
	Details  map[string]string `json:"details,omitempty"`
	PrevHash string            `json:"prev_hash"`
	Hash     string            `json:"hash"`
}

// AuditStore keeps the append-only audit trail.
type AuditStore interface {
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// ListAudit returns events with from <= Time < until, in Seq order (zero times mean
	// unbounded), at most limit (0 = all).
	ListAudit(ctx context.Context, from, until time.Time, limit int) ([]*AuditEvent, error)
}

// SessionIDer is implemented by fosite sessions that know the SSO session they were
// issued in; the stores record that a grant has tokens in that session, for
// RevokeTokensOfSession.
type SessionIDer interface{ SSOSessionID() string }

// SessionRetention is how long a store keeps an SSO session after it ended or
// expired before the cleanup (DeleteExpired) removes it. RevokeTokensOfSession
// reaches a session's tokens only while the session is stored, and logout, the
// upstream's back-channel logout and the administrator's revocation all end the
// session first, so that no new token comes from it, then revoke its tokens: a
// cleanup in between must not take the session away.
const SessionRetention = time.Hour
