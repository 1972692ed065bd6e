package storage

import (
	"context"
	"time"
)

// LogoutDelivery is one back-channel logout notice still to deliver to a client
// (OpenID Connect Back-Channel Logout 1.0 §2.5): one per (SSO session, client). The
// logout token is minted at each attempt, so the row keeps what it is made of.
type LogoutDelivery struct {
	ID        string
	SessionID string // the sid of the logout token
	// Subject is the broker's public subject; the client's own sub (pairwise for
	// partners) is derived from it when the token is made.
	Subject  string
	ClientID string
	// URI is the client's backchannel_logout_uri when the notice was queued.
	URI           string
	Attempts      int
	NextAttemptAt time.Time
	CreatedAt     time.Time
	LastError     string
	// Lease is set by ClaimLogouts: the claim a worker must show to finish or
	// reschedule the row.
	Lease string
}

// LogoutStore keeps the back-channel logout queue and the lookups a logout cascade
// needs beyond the SSO session store.
type LogoutStore interface {
	// EnqueueLogouts adds deliveries (ID, SessionID, Subject, ClientID, URI and
	// NextAttemptAt set by the caller; a zero CreatedAt is the store's now). A
	// delivery whose (SessionID, ClientID) is already queued is skipped; it returns
	// how many were added.
	EnqueueLogouts(ctx context.Context, ds []*LogoutDelivery) (int64, error)
	// ClaimLogouts leases up to limit deliveries that are due at now and not leased
	// by anyone (or whose lease ran out) until now+lease, and returns them with
	// their Lease set. With ids, only those deliveries are considered (due or not).
	// Two callers never get the same row while its lease runs.
	ClaimLogouts(ctx context.Context, now time.Time, lease time.Duration, limit int, ids ...string) ([]*LogoutDelivery, error)
	// FinishLogout removes a delivered (or abandoned) delivery; ErrConflict when the
	// lease is no longer the caller's.
	FinishLogout(ctx context.Context, id, lease string) error
	// RetryLogout records a failed attempt: Attempts+1, the error, the next attempt
	// time, and releases the lease; ErrConflict when the lease is no longer the
	// caller's.
	RetryLogout(ctx context.Context, id, lease string, next time.Time, lastError string) error
	// CountLogouts returns the queue depth.
	CountLogouts(ctx context.Context) (int64, error)

	// RevokeTokensOfSubject revokes every access and refresh token and every
	// unredeemed code whose grant belongs to the broker's public subject, in any
	// SSO session, ended ones and offline_access included (administrator
	// revocation). It returns the number of access and refresh tokens revoked.
	RevokeTokensOfSubject(ctx context.Context, publicSubject string) (int64, error)
	// ListSSOSessionsByUpstream returns, for upstream back-channel logout, the
	// live (not ended) SSO sessions opened through provider whose upstream
	// subject is subject (unless "") and whose upstream session ID is sid
	// (unless ""), found by index; at least one of the two is set. It also
	// returns the provider's live sessions stored without upstream keys
	// (written by a release before migration 0008): the caller matches those
	// itself, from their Identity. Clients is nil; the caller reads the few
	// sessions it ends with GetSSOSession.
	ListSSOSessionsByUpstream(ctx context.Context, provider, subject, sid string) ([]*SSOSession, error)
}
