package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/sqlite"
)

var pruneT0 = time.Date(2025, 3, 14, 8, 0, 0, 0, time.UTC)

// prunedTrail opens a SQLite store with n login events one day apart, prunes the
// first `old` of them, and returns the store and the raw database to tamper with,
// as someone with database access would.
func prunedTrail(t *testing.T, n, old int) (*sqlite.Store, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jc.db")
	s, err := sqlite.Open(ctx, path, storage.Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return pruneT0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	log := &audit.Log{Store: s}
	for i := range n {
		log.Record(ctx, storage.AuditEvent{Time: pruneT0.Add(time.Duration(i) * 24 * time.Hour), Type: audit.Login,
			Outcome: audit.OutcomeOK, Subject: fmt.Sprintf("sub-%d", i+1)})
	}
	before := pruneT0.Add(time.Duration(old)*24*time.Hour - time.Hour)
	res, rep, err := audit.Prune(ctx, s, before, storage.AuditEvent{Details: map[string]string{"operator": "ops"}},
		func() time.Time { return pruneT0.Add(time.Duration(n) * 24 * time.Hour) })
	if err != nil || !rep.OK() {
		t.Fatalf("Prune = %v, problems %v", err, rep.Problems)
	}
	if res.Deleted != int64(old) || res.Checkpoint == nil || res.Checkpoint.Seq != int64(old) {
		t.Fatalf("Prune result = %+v; want %d deleted, checkpoint at seq %d", res, old, old)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db
}

func TestPruneThenVerify(t *testing.T) {
	ctx := context.Background()
	s, _ := prunedTrail(t, 10, 4)
	rep, err := audit.Verify(ctx, s, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || !rep.Anchored || rep.FirstSeq != 5 || rep.LastSeq != 11 || rep.Events != 7 {
		t.Fatalf("Verify after prune = %+v; want intact, anchored at the checkpoint, seq 5 to 11 (the prune event)", rep)
	}
	if rep.Checkpoint == nil || rep.Checkpoint.Seq != 4 || rep.Checkpoint.Pruned != 4 {
		t.Fatalf("checkpoint = %+v", rep.Checkpoint)
	}
	events, _ := s.ListAudit(ctx, time.Time{}, time.Time{}, 0)
	last := events[len(events)-1]
	if last.Type != audit.AuditPruned || last.Details["operator"] != "ops" || last.Details[storage.AuditPrunedCount] != "4" ||
		last.Details[storage.AuditCheckpointSeq] != "4" || last.Details["before"] == "" {
		t.Fatalf("prune event = %+v", last)
	}

	// A second prune moves the checkpoint; the chain still verifies from it.
	res, _, err := audit.Prune(ctx, s, pruneT0.Add(7*24*time.Hour), storage.AuditEvent{}, nil)
	if err != nil || res.Deleted != 3 || res.Checkpoint.Seq != 7 || res.Checkpoint.Pruned != 7 {
		t.Fatalf("second Prune = %+v, %v", res, err)
	}
	if rep, _ = audit.Verify(ctx, s, time.Time{}, time.Time{}); !rep.OK() || !rep.Anchored || rep.FirstSeq != 8 {
		t.Fatalf("Verify after a second prune = %+v", rep)
	}
	// A period that starts after the checkpoint still verifies.
	if rep, _ = audit.Verify(ctx, s, pruneT0.Add(8*24*time.Hour), time.Time{}); !rep.OK() {
		t.Fatalf("Verify of a period after prune = %v", rep.Problems)
	}
}

func TestPruneThenTamperIsDetected(t *testing.T) {
	tests := []struct {
		name   string
		tamper []string
		kind   string
		seq    int64
	}{
		{"modified", []string{"UPDATE audit_events SET subject = 'mallory' WHERE seq = 7"}, audit.Modified, 7},
		{"deleted in the middle", []string{"DELETE FROM audit_events WHERE seq = 7"}, audit.Deleted, 8},
		{"first kept event deleted", []string{"DELETE FROM audit_events WHERE seq = 5"}, audit.Deleted, 6},
		{"reordered", []string{
			"UPDATE audit_events SET seq = -6 WHERE seq = 6", "UPDATE audit_events SET seq = 6 WHERE seq = 7",
			"UPDATE audit_events SET seq = 7 WHERE seq = -6"}, audit.Reordered, 6},
		{"checkpoint moved forward over deleted events", []string{
			"DELETE FROM audit_events WHERE seq IN (5, 6)",
			"UPDATE audit_checkpoint SET seq = 6, hash = (SELECT prev_hash FROM audit_events WHERE seq = 7)"},
			audit.CheckpointMismatch, 11},
		{"checkpoint hash rewritten", []string{"UPDATE audit_checkpoint SET hash = 'forged'"}, audit.CheckpointMismatch, 5},
		{"checkpoint moved back", []string{"UPDATE audit_checkpoint SET seq = 5"}, audit.CheckpointMismatch, 5},
		{"checkpoint removed", []string{"DELETE FROM audit_checkpoint"}, audit.Deleted, 5},
		{"prune event rewritten", []string{"UPDATE audit_events SET details = replace(details, '\"operator\":\"ops\"', '\"operator\":\"x\"') WHERE seq = 11"},
			audit.Modified, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, db := prunedTrail(t, 10, 4)
			for _, q := range tt.tamper {
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			rep, err := audit.Verify(context.Background(), s, time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK() {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			found := false
			for _, p := range rep.Problems {
				if p.Kind == tt.kind && p.Seq == tt.seq {
					found = true
				}
			}
			if !found {
				t.Fatalf("problems = %v; want %s at seq %d", rep.Problems, tt.kind, tt.seq)
			}
		})
	}
}

func TestPruneRefusesABrokenTrail(t *testing.T) {
	ctx := context.Background()
	s, db := prunedTrail(t, 10, 2)
	if _, err := db.Exec("UPDATE audit_events SET subject = 'mallory' WHERE seq = 4"); err != nil {
		t.Fatal(err)
	}
	res, rep, err := audit.Prune(ctx, s, pruneT0.Add(6*24*time.Hour), storage.AuditEvent{}, nil)
	if !errors.Is(err, audit.ErrBroken) || res.Deleted != 0 || rep.OK() {
		t.Fatalf("Prune over a modified event = %+v, %v; want ErrBroken and nothing deleted", res, err)
	}
	if p, _ := rep.First(); p.Seq != 4 || p.Kind != audit.Modified {
		t.Fatalf("first problem = %v", p)
	}
	if events, _ := s.ListAudit(ctx, time.Time{}, time.Time{}, 0); events[0].Seq != 3 {
		t.Fatalf("events deleted despite the broken chain (first seq %d)", events[0].Seq)
	}
	if _, _, err := audit.Prune(ctx, s, time.Time{}, storage.AuditEvent{}, nil); err == nil || !strings.Contains(err.Error(), "no time") {
		t.Fatalf("Prune without a time = %v", err)
	}
}
