package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// PruneStore is a store whose audit trail can be pruned.
type PruneStore interface {
	storage.AuditStore
	storage.AuditPruner
}

// ErrBroken is returned by Prune when the events it would delete do not verify:
// deleting them would destroy the evidence of the tampering.
var ErrBroken = errors.New("audit: the part of the trail to prune is broken")

// PruneResult is what Prune did.
type PruneResult struct {
	Before  time.Time `json:"before"`
	Deleted int64     `json:"deleted"`
	// Checkpoint is where the kept trail now starts (nil when nothing was ever
	// pruned).
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
}

// Prune deletes the events older than before (never the newest one), once Verify
// found them, and their link to the events kept, intact. The store records the
// last deleted event as the checkpoint that Verify starts from, and appends e (its
// Type defaults to AuditPruned, its Time to now) in the same transaction, so the
// chain itself says who pruned what. With a broken chain it deletes nothing and
// returns ErrBroken with the Report.
func Prune(ctx context.Context, store PruneStore, before time.Time, e storage.AuditEvent, now func() time.Time) (PruneResult, Report, error) {
	res := PruneResult{Before: before}
	if before.IsZero() {
		return res, Report{}, errors.New("audit: prune: no time given")
	}
	rep, err := Verify(ctx, store, time.Time{}, before)
	if err != nil {
		return res, rep, fmt.Errorf("audit: prune: %w", err)
	}
	if !rep.OK() {
		return res, rep, ErrBroken
	}
	if e.Type == "" {
		e.Type = AuditPruned
	}
	if e.Outcome == "" {
		e.Outcome = OutcomeOK
	}
	if e.Time.IsZero() {
		if now == nil {
			now = time.Now
		}
		e.Time = now()
	}
	e.Time = e.Time.UTC()
	if e.Details == nil {
		e.Details = map[string]string{}
	}
	e.Details["before"] = before.UTC().Format(time.RFC3339)
	cp, n, ok, err := store.PruneAudit(ctx, before, &e)
	if err != nil {
		return res, rep, fmt.Errorf("audit: prune: %w", err)
	}
	res.Deleted = n
	if ok {
		res.Checkpoint = checkpointOf(cp)
	}
	return res, rep, nil
}
