package broker

import (
	"context"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/grants/tokenexchange"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// delegations answers token exchange's question (may actor act for subject toward
// audience now?) from the delegations kept in the store. A missing delegation is
// storage.ErrNotFound, which the grant turns into invalid_request.
type delegations struct{ store storage.DelegationStore }

var _ tokenexchange.Delegations = delegations{}

// Allowed implements tokenexchange.Delegations: the ID of a delegation in force.
func (d delegations) Allowed(ctx context.Context, actor, subject, audience string, at time.Time) (string, error) {
	del, err := d.store.ActiveDelegation(ctx, actor, subject, audience, at)
	if err != nil {
		return "", err
	}
	return del.ID, nil
}
