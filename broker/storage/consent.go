package storage

import (
	"context"
	"time"
)

// ConsentWithdrawer is implemented by stores that can withdraw a consent with
// everything it let the client obtain, in one transaction: the account page
// (broker/account) uses it when a person withdraws their agreement. Both SQL
// stores implement it; callers find it by type assertion.
type ConsentWithdrawer interface {
	// WithdrawConsent revokes the consent of (subject, clientID) at t and revokes
	// the grants clientID holds for the person: its access tokens are deleted, its
	// refresh tokens and unredeemed codes deactivated (RFC 7009 §2.1: revoking a
	// refresh token also invalidates the grant's access tokens). tokenSubject is the
	// subject the client was given (the public subject, or its pairwise subject),
	// which is what the token records carry. It returns the number of access and
	// refresh tokens revoked, and ErrNotFound (with nothing changed) when there is
	// no consent in force.
	WithdrawConsent(ctx context.Context, subject, clientID, tokenSubject string, t time.Time) (int64, error)
}
