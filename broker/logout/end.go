package logout

import (
	"context"
	"errors"
	"fmt"
	"time"

	fositestorage "github.com/ory/fosite/storage"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// Steps of End, named in a StepError (and in the audit event's failed_step).
const (
	StepEndSession   = "end_session"
	StepRevokeTokens = "revoke_tokens"
	StepQueueNotices = "notify_clients"
	StepCommit       = "commit"
)

// StepError is End's error: the step that failed. On a store with transactions
// nothing of End is kept then.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return "logout: " + e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// Ended is what End did.
type Ended struct {
	// TokensRevoked counts the grants whose tokens were revoked.
	TokensRevoked int64
	// Notices are the IDs of the back-channel notices queued (Queue.Try sends them
	// at once; the worker otherwise).
	Notices []string
}

// End ends an SSO session, revokes its tokens (keeping offline_access ones when
// keepOffline: OpenID Connect Back-Channel Logout 1.0 §2.7) and, when notify,
// queues a back-channel notice for each of its clients with a
// backchannel_logout_uri (§2.5), all in one transaction. Either the session is
// over and every client will hear of it, or nothing changed and the caller may
// try again. Ending first and queueing after lost the notices when the queueing
// failed, ran out of the caller's deadline, or the node stopped in between: the
// clients' sessions then outlived the person's.
//
// A session already ended, or already deleted, is not an error: its tokens are
// revoked and its notices queued again. Delivery is at least once; a client
// told twice is harmless, a client never told is not.
func End(ctx context.Context, store storage.Store, sess *storage.SSOSession, keepOffline, notify bool, now time.Time) (Ended, error) {
	tctx, err := fositestorage.MaybeBeginTx(ctx, store)
	if err != nil {
		return Ended{}, &StepError{StepEndSession, err}
	}
	ended, err := end(tctx, store, sess, keepOffline, notify, now)
	if err != nil {
		_ = fositestorage.MaybeRollbackTx(tctx, store)
		return Ended{}, err
	}
	if err := fositestorage.MaybeCommitTx(tctx, store); err != nil {
		return Ended{}, &StepError{StepCommit, err}
	}
	return ended, nil
}

func end(ctx context.Context, store storage.Store, sess *storage.SSOSession, keepOffline, notify bool, now time.Time) (Ended, error) {
	if err := store.EndSSOSession(ctx, sess.ID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return Ended{}, &StepError{StepEndSession, err}
	}
	n, err := store.RevokeTokensOfSession(ctx, sess.ID, keepOffline)
	if err != nil {
		return Ended{}, &StepError{StepRevokeTokens, err}
	}
	ended := Ended{TokensRevoked: n}
	if notify {
		ids, err := Enqueue(ctx, store, sess, now)
		if err != nil {
			return Ended{}, &StepError{StepQueueNotices, err}
		}
		ended.Notices = ids
	}
	return ended, nil
}

// Try sends the notices End queued, at once and in parallel, until ctx ends (the
// caller gives a deadline of a couple of seconds, SECURITY.md E1). A client that
// is down or slow never holds the caller beyond that: its notice stays queued for
// the worker, which retries it (DefaultBackoff).
func (q *Queue) Try(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	ds, err := q.cfg.Store.ClaimLogouts(ctx, q.cfg.Now(), q.cfg.Lease, len(ids), ids...)
	if err != nil {
		return fmt.Errorf("logout: claim notices: %w", err)
	}
	q.deliverAll(ctx, ds)
	return nil
}
