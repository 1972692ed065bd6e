package storagetest

import (
	"fmt"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

var auditPruneTests = []subtest{
	{"PrefixCheckpointAndEvent", func(e *env) {
		p, ok := e.s.(storage.AuditPruner)
		if !ok {
			e.t.Fatalf("%T does not implement storage.AuditPruner", e.s)
		}
		if _, ok, err := p.AuditCheckpoint(e.ctx); err != nil || ok {
			e.t.Fatalf("AuditCheckpoint on a new store = ok %v, %v; want none", ok, err)
		}
		// Six events one hour apart, except seq 4 stamped before seq 3 (Record
		// stamps the time before the chain lock): the prefix stops at seq 2.
		times := []time.Duration{0, 1, 3, 2, 4, 5}
		var events []*storage.AuditEvent
		for i, h := range times {
			ev := &storage.AuditEvent{Time: T0.Add(h * time.Hour), Type: "login", Outcome: "success", Subject: fmt.Sprintf("s%d", i+1)}
			if err := e.s.AppendAudit(e.ctx, ev); err != nil {
				e.t.Fatal(err)
			}
			events = append(events, ev)
		}
		prune := &storage.AuditEvent{Time: T0.Add(6 * time.Hour), Type: "admin.audit_pruned", Outcome: "success",
			Details: map[string]string{"operator": "ops"}}
		cp, n, ok, err := p.PruneAudit(e.ctx, T0.Add(2*time.Hour+30*time.Minute), prune)
		if err != nil || !ok || n != 2 {
			e.t.Fatalf("PruneAudit = n %d ok %v, %v; want 2 deleted", n, ok, err)
		}
		if cp.Seq != 2 || cp.Hash != events[1].Hash || !cp.Time.Equal(events[1].Time) || cp.Pruned != 2 {
			e.t.Fatalf("checkpoint = %+v; want seq 2, hash of seq 2, 2 pruned", cp)
		}
		if prune.Seq != 7 || prune.PrevHash != events[5].Hash || prune.Details[storage.AuditCheckpointSeq] != "2" ||
			prune.Details[storage.AuditCheckpointHash] != events[1].Hash || prune.Details[storage.AuditPrunedCount] != "2" ||
			prune.Details["operator"] != "ops" {
			e.t.Fatalf("prune event = %+v", prune)
		}
		got, err := e.s.ListAudit(e.ctx, time.Time{}, time.Time{}, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(got) != 5 || got[0].Seq != 3 || got[0].PrevHash != cp.Hash || got[4].Seq != 7 {
			e.t.Fatalf("kept events start at seq %d (%d events); want seq 3 to 7", got[0].Seq, len(got))
		}
		if got[4].Hash != storage.AuditHash(got[4].PrevHash, got[4]) {
			e.t.Fatalf("the prune event does not hash as stored")
		}
		read, ok, err := p.AuditCheckpoint(e.ctx)
		if err != nil || !ok || read.Seq != cp.Seq || read.Hash != cp.Hash || read.Pruned != 2 || !read.PrunedAt.Equal(T0) {
			e.t.Fatalf("AuditCheckpoint = %+v, %v, %v; want %+v pruned at the store clock", read, ok, err, cp)
		}

		// Everything old: the head (the prune event) is kept, the count adds up.
		e.clock.Advance(time.Hour)
		cp, n, ok, err = p.PruneAudit(e.ctx, T0.Add(100*time.Hour), &storage.AuditEvent{Time: T0.Add(7 * time.Hour), Type: "admin.audit_pruned"})
		if err != nil || !ok || n != 4 || cp.Seq != 6 || cp.Pruned != 6 {
			e.t.Fatalf("second PruneAudit = %+v n %d ok %v, %v; want seq 3 to 6 deleted, 6 in total", cp, n, ok, err)
		}
		got, _ = e.s.ListAudit(e.ctx, time.Time{}, time.Time{}, 0)
		if len(got) != 2 || got[0].Seq != 7 || got[1].Seq != 8 {
			e.t.Fatalf("kept %d events; want the head (seq 7) and the new prune event (seq 8)", len(got))
		}

		// Nothing to prune: no event, the checkpoint unchanged.
		cp2, n, ok, err := p.PruneAudit(e.ctx, T0, &storage.AuditEvent{Type: "admin.audit_pruned"})
		if err != nil || n != 0 || !ok || cp2.Seq != 6 {
			e.t.Fatalf("PruneAudit with nothing old = %+v n %d ok %v, %v", cp2, n, ok, err)
		}
		if got, _ = e.s.ListAudit(e.ctx, time.Time{}, time.Time{}, 0); len(got) != 2 {
			e.t.Fatalf("a prune that deleted nothing appended an event")
		}
		// Appends go on from the head.
		next := &storage.AuditEvent{Time: T0.Add(8 * time.Hour), Type: "login"}
		if err := e.s.AppendAudit(e.ctx, next); err != nil || next.Seq != 9 || next.PrevHash != got[1].Hash {
			e.t.Fatalf("append after prune = seq %d, %v", next.Seq, err)
		}
	}},
	{"EmptyTrail", func(e *env) {
		p := e.s.(storage.AuditPruner)
		_, n, ok, err := p.PruneAudit(e.ctx, T0, &storage.AuditEvent{Type: "admin.audit_pruned"})
		if err != nil || n != 0 || ok {
			e.t.Fatalf("PruneAudit on an empty trail = n %d ok %v, %v", n, ok, err)
		}
	}},
}
