package audit

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
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
	// empty PrevHash), so nothing before it can have been removed. With a From
	// bound the first event's own link is taken on trust.
	Anchored bool `json:"anchored"`
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
func Verify(ctx context.Context, store storage.AuditStore, from, until time.Time) (Report, error) {
	rep := Report{From: from, Until: until, Problems: []Problem{}}
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
	return rep, nil
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
