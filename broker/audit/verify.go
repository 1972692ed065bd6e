package audit

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// Kinds of chain breaks found by Verify.
const (
	// Modified: the event's content no longer hashes to its stored Hash.
	Modified = "modified"
	// Deleted: events are missing before this one (a gap in Seq, or a PrevHash that
	// matches no event read).
	Deleted = "deleted"
	// Reordered: the event's PrevHash is the Hash of another event than the one
	// stored before it, so events were moved.
	Reordered = "reordered"
	// CheckpointMismatch: the trail and the prune checkpoint disagree (the first
	// kept event does not link to it, an event it says was pruned is still there,
	// or it is not the checkpoint the last prune recorded in the chain).
	CheckpointMismatch = "checkpoint"
)

// verifyMargin widens the window Verify reads on each side. Log.Record stamps an
// event's time before the store takes the chain lock, so under concurrency Seq and
// Time may disagree by the length of a transaction: without the margin an event
// just outside the window, chained between two inside it, would look deleted.
const verifyMargin = 5 * time.Minute

// maxProblems bounds Report.Problems: one break usually cascades, and a wholesale
// rewrite should not produce a report the size of the trail.
const maxProblems = 100

// Problem is one break in the chain, located at the event that reveals it.
type Problem struct {
	Seq     int64  `json:"seq"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (p Problem) String() string { return fmt.Sprintf("seq %d: %s: %s", p.Seq, p.Kind, p.Message) }

// Report is what Verify found.
type Report struct {
	From  time.Time `json:"from,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// Events is how many events were checked (the window and its margin).
	Events   int   `json:"events"`
	FirstSeq int64 `json:"first_seq,omitempty"`
	// LastSeq and LastHash are the head of the chain as read. Deleting the newest
	// events leaves no trace inside the chain itself: keep the head somewhere else
	// (a ticket, a log shipped off the machine) and compare it at the next run.
	LastSeq  int64  `json:"last_seq,omitempty"`
	LastHash string `json:"last_hash,omitempty"`
	// Anchored is true when the first event read is the chain's genesis (Seq 1,
	// empty PrevHash), or the first event after the prune checkpoint and linked to
	// it, so nothing before it can have been removed unseen. With a From bound the
	// first event's own link is otherwise taken on trust.
	Anchored bool `json:"anchored"`
	// Checkpoint is where the kept trail starts when older events were pruned.
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`
	// Problems lists the breaks in Seq order, at most maxProblems of them;
	// Truncated says more were found.
	Problems  []Problem `json:"problems"`
	Truncated bool      `json:"truncated,omitempty"`
}

// OK reports whether the chain is unbroken.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// First returns the first break, if any.
func (r *Report) First() (Problem, bool) {
	if len(r.Problems) == 0 {
		return Problem{}, false
	}
	return r.Problems[0], true
}

func (r *Report) add(seq int64, kind, format string, args ...any) {
	if len(r.Problems) >= maxProblems {
		r.Truncated = true
		return
	}
	r.Problems = append(r.Problems, Problem{Seq: seq, Kind: kind, Message: fmt.Sprintf(format, args...)})
}

// Verify re-reads the events with from <= Time < until (zero times mean unbounded),
// in Seq order, and recomputes the chain: each event must follow the previous Seq
// without a gap, carry the previous event's Hash as PrevHash, and hash to its own
// Hash (storage.AuditHash). Each event is checked against the stored Hash of the
// one before it, not the recomputed one, so one modified event is reported once and
// the rest of the chain is still checked.
//
// A broken chain is not an error: the Report lists the problems. The error is for
// failing to read the trail.
//
// When the store prunes (storage.AuditPruner) and has pruned, the chain starts at
// its checkpoint instead of the genesis: the first kept event must follow the
// checkpoint's Seq and carry its Hash, and the checkpoint must be the one the last
// prune event in the chain recorded (so moving it to hide more deletions shows).
func Verify(ctx context.Context, store storage.AuditStore, from, until time.Time) (Report, error) {
	rep := Report{From: from, Until: until, Problems: []Problem{}}
	var cp storage.AuditCheckpoint
	hasCP := false
	if p, ok := store.(storage.AuditPruner); ok {
		var err error
		if cp, hasCP, err = p.AuditCheckpoint(ctx); err != nil {
			return rep, fmt.Errorf("audit: verify: read the checkpoint: %w", err)
		}
		if hasCP {
			rep.Checkpoint = checkpointOf(cp)
		}
	}
	readFrom, readUntil := from, until
	if !readFrom.IsZero() {
		readFrom = readFrom.Add(-verifyMargin)
	}
	if !readUntil.IsZero() {
		readUntil = readUntil.Add(verifyMargin)
	}
	events, err := store.ListAudit(ctx, readFrom, readUntil, 0)
	if err != nil {
		return rep, fmt.Errorf("audit: verify: read events: %w", err)
	}
	// ListAudit promises Seq order; sorting again keeps the check independent of
	// the store, and the same Seq twice is still caught below.
	slices.SortStableFunc(events, func(a, b *storage.AuditEvent) int { return cmp.Compare(a.Seq, b.Seq) })
	rep.Events = len(events)
	if len(events) == 0 {
		return rep, nil
	}

	// Where each stored hash sits, to tell a moved event (its predecessor is
	// elsewhere in the trail) from a deleted one (its predecessor is nowhere).
	at := make(map[string]int64, len(events))
	for _, e := range events {
		if _, dup := at[e.Hash]; !dup {
			at[e.Hash] = e.Seq
		}
	}

	first := events[0]
	rep.FirstSeq = first.Seq
	switch {
	case hasCP && first.Seq <= cp.Seq:
		rep.add(first.Seq, CheckpointMismatch, "the checkpoint says events up to seq %d were pruned, yet seq %d is stored: "+
			"the checkpoint was moved or the events renumbered", cp.Seq, first.Seq)
	case hasCP && first.Seq == cp.Seq+1:
		if first.PrevHash == cp.Hash {
			rep.Anchored = true
		} else {
			rep.add(first.Seq, CheckpointMismatch, "its prev_hash %s is not the checkpoint's hash %s (seq %d): "+
				"the first kept event or the checkpoint was rewritten", short(first.PrevHash), short(cp.Hash), cp.Seq)
		}
	case hasCP && from.IsZero():
		rep.add(first.Seq, Deleted, "the trail starts at seq %d after the checkpoint at seq %d: %s are missing",
			first.Seq, cp.Seq, seqRange(cp.Seq+1, first.Seq-1))
	case first.Seq == 1 && first.PrevHash == "":
		rep.Anchored = true
	case from.IsZero() && first.Seq > 1:
		rep.add(first.Seq, Deleted, "the trail starts at seq %d: events 1 to %d are missing", first.Seq, first.Seq-1)
	case first.Seq == 1:
		rep.add(first.Seq, Deleted, "the chain's first event carries prev_hash %s: the events before it were deleted "+
			"and the sequence renumbered", short(first.PrevHash))
	}
	if got := storage.AuditHash(first.PrevHash, first); got != first.Hash {
		rep.add(first.Seq, Modified, "its content does not match its hash (stored %s, computed %s)", short(first.Hash), short(got))
	}

	for i := 1; i < len(events); i++ {
		prev, e := events[i-1], events[i]
		switch {
		case e.Seq == prev.Seq:
			rep.add(e.Seq, Reordered, "seq %d appears twice", e.Seq)
		case e.Seq > prev.Seq+1:
			missing := fmt.Sprintf("seq %d", prev.Seq+1)
			if e.Seq > prev.Seq+2 {
				missing = fmt.Sprintf("seq %d to %d", prev.Seq+1, e.Seq-1)
			}
			rep.add(e.Seq, Deleted, "%s missing before it", missing)
		case e.PrevHash != prev.Hash:
			// Consecutive Seq but a foreign link: say where the link points.
			if seq, ok := at[e.PrevHash]; ok && seq != e.Seq {
				rep.add(e.Seq, Reordered, "its prev_hash is the hash of seq %d, not of seq %d stored before it", seq, prev.Seq)
			} else {
				rep.add(e.Seq, Deleted, "its prev_hash %s is the hash of no event read: the event before it was deleted "+
					"(and the sequence renumbered), or seq %d was rewritten with a new hash", short(e.PrevHash), prev.Seq)
			}
		}
		if got := storage.AuditHash(e.PrevHash, e); got != e.Hash {
			rep.add(e.Seq, Modified, "its content does not match its hash (stored %s, computed %s)", short(e.Hash), short(got))
		}
	}
	last := events[len(events)-1]
	rep.LastSeq, rep.LastHash = last.Seq, last.Hash
	if hasCP {
		checkPruneEvents(&rep, events, cp, from.IsZero() && until.IsZero())
	}
	return rep, nil
}

// checkPruneEvents compares the checkpoint with the one the prune events read
// recorded. Each prune appends its event after the kept head, so the newest prune
// event is never pruned itself: over the whole trail it must name the checkpoint
// exactly; over a period, no prune read may name a later one.
func checkPruneEvents(rep *Report, events []*storage.AuditEvent, cp storage.AuditCheckpoint, whole bool) {
	var newest *storage.AuditEvent
	var newestSeq int64
	for _, e := range events {
		if e.Type != AuditPruned {
			continue
		}
		seq, err := strconv.ParseInt(e.Details[storage.AuditCheckpointSeq], 10, 64)
		if err != nil {
			rep.add(e.Seq, CheckpointMismatch, "this prune event names no checkpoint")
			continue
		}
		if newest == nil || seq >= newestSeq {
			newest, newestSeq = e, seq
		}
	}
	switch {
	case newest == nil && whole:
		rep.add(cp.Seq, CheckpointMismatch, "no prune event in the trail records the checkpoint at seq %d: "+
			"the checkpoint was written outside a prune, or its event was deleted", cp.Seq)
	case newest == nil:
	case newestSeq > cp.Seq || (whole && newestSeq != cp.Seq):
		rep.add(newest.Seq, CheckpointMismatch, "the last prune recorded its checkpoint at seq %d, the store has seq %d: "+
			"the checkpoint was moved", newestSeq, cp.Seq)
	case newestSeq == cp.Seq && newest.Details[storage.AuditCheckpointHash] != cp.Hash:
		rep.add(newest.Seq, CheckpointMismatch, "the last prune recorded the checkpoint hash %s, the store has %s: "+
			"the checkpoint was rewritten", short(newest.Details[storage.AuditCheckpointHash]), short(cp.Hash))
	}
}

// Checkpoint is storage.AuditCheckpoint as reports show it.
type Checkpoint struct {
	Seq      int64     `json:"seq"`
	Hash     string    `json:"hash"`
	Time     time.Time `json:"time"`
	Pruned   int64     `json:"pruned"`
	PrunedAt time.Time `json:"pruned_at"`
}

func checkpointOf(cp storage.AuditCheckpoint) *Checkpoint {
	return &Checkpoint{Seq: cp.Seq, Hash: cp.Hash, Time: cp.Time, Pruned: cp.Pruned, PrunedAt: cp.PrunedAt}
}

func seqRange(a, b int64) string {
	if a == b {
		return fmt.Sprintf("seq %d", a)
	}
	return fmt.Sprintf("seq %d to %d", a, b)
}

// short abbreviates a hash for messages.
func short(h string) string {
	if h == "" {
		return `""`
	}
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// Export writes the events with from <= Time < until (zero times mean unbounded) to
// w as JSON lines, one storage.AuditEvent per line in Seq order, with the chain
// fields, so that an archived export can be verified on its own. It returns how
// many events were written.
func Export(ctx context.Context, store storage.AuditStore, from, until time.Time, w io.Writer) (int, error) {
	events, err := store.ListAudit(ctx, from, until, 0)
	if err != nil {
		return 0, fmt.Errorf("audit: export: read events: %w", err)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i, e := range events {
		if err := ctx.Err(); err != nil {
			return i, fmt.Errorf("audit: export: %w", err)
		}
		if err := enc.Encode(e); err != nil {
			return i, fmt.Errorf("audit: export: write seq %d: %w", e.Seq, err)
		}
	}
	return len(events), nil
}
