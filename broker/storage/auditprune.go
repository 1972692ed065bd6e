package storage

import (
	"context"
	"time"
)

// AuditCheckpoint is where the kept audit trail starts once older events were
// pruned (audit.retention): the last pruned event's Seq, Hash and Time. The first
// kept event carries Hash as its PrevHash, so the remaining chain is still checked
// from a known point.
type AuditCheckpoint struct {
	Seq  int64
	Hash string
	Time time.Time
	// Pruned counts every event pruned so far; PrunedAt is the last prune.
	Pruned   int64
	PrunedAt time.Time
}

// AuditPruner is implemented by stores that can prune the audit trail. It is not
// part of Store: callers find it by type assertion, and a store without it keeps
// every event.
type AuditPruner interface {
	// PruneAudit deletes the oldest events, in Seq order, as long as their Time is
	// before `before`, and never the newest event (the chain head that the next
	// append links to). In the same transaction, holding the audit chain lock, it
	// records the checkpoint (the last deleted event) and appends e, the prune's
	// own audit event, with "checkpoint_seq", "checkpoint_hash" and "pruned" added
	// to its Details. With nothing to delete it appends nothing and returns 0 and
	// the current checkpoint (ok false when there is none).
	PruneAudit(ctx context.Context, before time.Time, e *AuditEvent) (cp AuditCheckpoint, deleted int64, ok bool, err error)
	// AuditCheckpoint returns the checkpoint; ok is false when nothing was pruned.
	AuditCheckpoint(ctx context.Context) (cp AuditCheckpoint, ok bool, err error)
}

// Detail keys of the event PruneAudit appends.
const (
	AuditCheckpointSeq  = "checkpoint_seq"
	AuditCheckpointHash = "checkpoint_hash"
	AuditPrunedCount    = "pruned"
)

// MigrationState is one schema migration as a store reports it (`justiceconnect
// migrate --status`).
type MigrationState struct {
	Version int
	Name    string
	Applied bool
	// AppliedAt is zero for a pending migration.
	AppliedAt time.Time
	// Unknown is a migration recorded in the database that this binary does not
	// embed: the database was migrated by a newer version.
	Unknown bool
}
