package sqlstore

import (
	"context"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

var _ storage.ConsentWithdrawer = (*Store)(nil)

// WithdrawConsent implements storage.ConsentWithdrawer: the consent and the
// client's grants for the person go in one transaction, so a withdrawn consent
// never leaves a live refresh token behind.
func (s *Store) WithdrawConsent(ctx context.Context, subject, clientID, tokenSubject string, t time.Time) (int64, error) {
	const op = "withdraw consent"
	var total int64
	err := s.inTx(ctx, op, func(ctx context.Context, q Querier) error {
		n, err := q.Exec(ctx, "UPDATE consents SET revoked_at = ? WHERE subject = ? AND client_id = ? AND revoked_at IS NULL", nanos(t), subject, clientID)
		if err != nil {
			return s.wrap(op, err)
		}
		if n == 0 {
			return notFound(op)
		}
		const cond = " WHERE client_id = ? AND subject = ?"
		n, err = q.Exec(ctx, "DELETE FROM "+tableAccess+cond, clientID, tokenSubject)
		if err != nil {
			return s.wrap(op, err)
		}
		total += n
		n, err = q.Exec(ctx, "UPDATE "+tableRefresh+" SET active = ?"+cond+" AND active", false, clientID, tokenSubject)
		if err != nil {
			return s.wrap(op, err)
		}
		total += n
		if _, err := q.Exec(ctx, "UPDATE "+tableCode+" SET active = ?"+cond+" AND active", false, clientID, tokenSubject); err != nil {
			return s.wrap(op, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}
