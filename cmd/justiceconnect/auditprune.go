package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// runAuditPrune is "justiceconnect audit prune": it deletes the events older than
// the retention through audit.Prune, which refuses a broken trail and leaves a
// checkpoint and its own event in the chain.
func runAuditPrune(ctx context.Context, path, beforeFlag, reason string, asJSON bool, stdout, stderr io.Writer) int {
	const cmd = "audit prune"
	if path == "" {
		fmt.Fprintf(stderr, "justiceconnect %s: --config is required\n", cmd)
		return 2
	}
	before, err := parseAdminTime(beforeFlag)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect %s: --before: %v\n", cmd, err)
		return 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect %s: %s:\n%v\n", cmd, path, err)
		return 1
	}
	// Nothing younger than the retention, nor than the shortest retention
	// accepted, is deleted: --before chooses an older limit, never a newer one.
	retention := time.Duration(cfg.Audit.Retention)
	now := adminNow()
	latest := now.Add(-max(retention, config.MinAuditRetention))
	switch {
	case before.IsZero() && retention == 0:
		fmt.Fprintf(stderr, "justiceconnect %s: audit.retention is not set (every event is kept): set it, or give --before\n", cmd)
		return 2
	case before.IsZero():
		before = latest
	case before.After(latest):
		fmt.Fprintf(stderr, "justiceconnect %s: --before %s would delete events younger than the retention (%s): the latest allowed is %s\n",
			cmd, before.Format(time.RFC3339), retentionText(retention), latest.Format(time.RFC3339))
		return 2
	}
	st, code := openAdminStore(ctx, cmd, path, stderr)
	if st == nil {
		return code
	}
	defer st.Close()
	store, ok := st.(audit.PruneStore)
	if !ok {
		fmt.Fprintf(stderr, "justiceconnect %s: this store (%T) cannot prune the audit trail\n", cmd, st)
		return 1
	}
	ev := storage.AuditEvent{Details: map[string]string{"action": "prune", "operator": sessionsOperator(), "via": "cli",
		"retention": retentionText(retention)}}
	if reason != "" {
		ev.Details["reason"] = reason
	}
	res, rep, err := audit.Prune(ctx, store, before, ev, adminNow)
	if errors.Is(err, audit.ErrBroken) {
		fmt.Fprintf(stderr, "justiceconnect %s: nothing deleted: the events to prune do not verify (%d problem(s)); "+
			"investigate with \"justiceconnect audit verify\" and keep an export:\n", cmd, len(rep.Problems))
		for _, p := range rep.Problems {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
		if asJSON {
			_ = writeJSON(stdout, struct {
				audit.PruneResult
				Problems []audit.Problem `json:"problems"`
			}{res, rep.Problems})
		}
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect %s: %v\n", cmd, err)
		return 1
	}
	if asJSON {
		if err := writeJSON(stdout, struct {
			audit.PruneResult
			Problems []audit.Problem `json:"problems"`
		}{res, []audit.Problem{}}); err != nil {
			fmt.Fprintf(stderr, "justiceconnect %s: %v\n", cmd, err)
			return 1
		}
		return 0
	}
	if res.Deleted == 0 {
		fmt.Fprintf(stdout, "No audit event before %s to delete.\n", before.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(stdout, "Deleted %d audit event(s) before %s.\n", res.Deleted, before.UTC().Format(time.RFC3339))
	}
	if cp := res.Checkpoint; cp != nil {
		fmt.Fprintf(stdout, "Checkpoint: seq %d, hash %s (%d events pruned in all); audit verify starts from it.\n", cp.Seq, cp.Hash, cp.Pruned)
	}
	return 0
}

func retentionText(r time.Duration) string {
	if r == 0 {
		return "not set"
	}
	if r%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", r/(24*time.Hour))
	}
	return r.String()
}
