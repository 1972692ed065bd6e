package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

const auditUsage = `usage: justiceconnect audit COMMAND --config FILE [--since TIME] [--until TIME] [--json]

commands:
  verify   recompute the hash chain of the audit trail; exit status 1 when an event
           was modified, deleted or reordered (the first one is named by its seq)
  export   write the events as JSON lines on standard output, with their chain
           fields (an export can be verified again later); recorded in the trail
  prune    [--before TIME] [--reason TEXT]
           delete the events older than audit.retention (or --before, which may
           not be more recent than the retention), once they verify; the last one
           deleted becomes the checkpoint verify starts from; recorded in the trail

TIME is RFC 3339 (2025-03-14T09:00:00+01:00) or a date (2025-03-14, midnight local
time); --since is inclusive, --until exclusive. Without --since, verify also checks
that the trail starts at its first event.
`

// runAudit is "justiceconnect audit": checks and exports the hash-chained audit
// trail kept in the store.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, auditUsage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sub := args[0]
	if sub != "verify" && sub != "export" && sub != "prune" {
		fmt.Fprintf(stderr, "justiceconnect audit: unknown command %q\n\n%s", sub, auditUsage)
		return 2
	}
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	since := fs.String("since", "", "first time included (RFC 3339 or YYYY-MM-DD)")
	until := fs.String("until", "", "first time excluded (RFC 3339 or YYYY-MM-DD)")
	asJSON := fs.Bool("json", false, "JSON output, for scripts (export always writes JSON lines)")
	var before, reason *string
	if sub == "prune" {
		before = fs.String("before", "", "delete events before this time (RFC 3339 or YYYY-MM-DD; default now minus audit.retention)")
		reason = fs.String("reason", "", "why, recorded in the audit trail")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if sub == "prune" {
		if *since != "" || *until != "" {
			fmt.Fprintln(stderr, "justiceconnect audit prune: --since and --until do not apply; use --before")
			return 2
		}
		return runAuditPrune(ctx, *path, *before, *reason, *asJSON, stdout, stderr)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "justiceconnect audit %s: unexpected argument %q\n", sub, fs.Arg(0))
		return 2
	}
	from, err := parseAdminTime(*since)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect audit %s: --since: %v\n", sub, err)
		return 2
	}
	to, err := parseAdminTime(*until)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect audit %s: --until: %v\n", sub, err)
		return 2
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		fmt.Fprintf(stderr, "justiceconnect audit %s: --since must be before --until\n", sub)
		return 2
	}
	store, code := openAdminStore(ctx, "audit "+sub, *path, stderr)
	if store == nil {
		return code
	}
	defer store.Close()
	if sub == "export" {
		n, err := audit.Export(ctx, store, from, to, stdout)
		ev := storage.AuditEvent{Type: audit.AuditExported, Outcome: audit.OutcomeOK, Details: map[string]string{
			"events": strconv.Itoa(n), "since": *since, "until": *until}}
		if err != nil {
			ev.Outcome = audit.OutcomeFail
		}
		// The export's own event comes after the events exported: it is in the next
		// export, not this one.
		auditErr := recordAdmin(ctx, store, ev, "export", "")
		if err != nil {
			fmt.Fprintf(stderr, "justiceconnect audit export: %v (%d events written)\n", err, n)
			return 1
		}
		if auditErr != nil {
			fmt.Fprintf(stderr, "justiceconnect audit export: %d events exported, but the export was not recorded in the trail: %v\n", n, auditErr)
			return 1
		}
		fmt.Fprintf(stderr, "%d events exported.\n", n)
		return 0
	}
	return auditVerify(ctx, store, from, to, *asJSON, stdout, stderr)
}

func auditVerify(ctx context.Context, store storage.AuditStore, from, until time.Time, asJSON bool, stdout, stderr io.Writer) int {
	rep, err := audit.Verify(ctx, store, from, until)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect audit verify: %v\n", err)
		return 1
	}
	code := 0
	if !rep.OK() {
		code = 1
	}
	if asJSON {
		if err := writeJSON(stdout, struct {
			OK bool `json:"ok"`
			audit.Report
		}{rep.OK(), rep}); err != nil {
			fmt.Fprintf(stderr, "justiceconnect audit verify: %v\n", err)
			return 1
		}
		return code
	}
	if rep.Events == 0 {
		if from.IsZero() && until.IsZero() {
			fmt.Fprintln(stdout, "The audit trail is empty.")
		} else {
			fmt.Fprintln(stdout, "No audit event in this period.")
		}
		return 0
	}
	span := fmt.Sprintf("%d events checked (seq %d to %d)", rep.Events, rep.FirstSeq, rep.LastSeq)
	if !from.IsZero() || !until.IsZero() {
		span += ", the period and a few minutes on each side"
	}
	if rep.OK() {
		fmt.Fprintf(stdout, "Audit trail intact: %s.\n", span)
	} else {
		more := ""
		if rep.Truncated {
			more = ", more not listed"
		}
		fmt.Fprintf(stdout, "Audit trail BROKEN: %d problem(s)%s in %s.\n", len(rep.Problems), more, span)
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "  seq %d: %s: %s\n", p.Seq, p.Kind, p.Message)
		}
	}
	if cp := rep.Checkpoint; cp != nil {
		fmt.Fprintf(stdout, "Pruned before: %d events up to seq %d (%s), last prune %s; the trail is checked from that checkpoint.\n",
			cp.Pruned, cp.Seq, cp.Time.UTC().Format(time.RFC3339), cp.PrunedAt.UTC().Format(time.RFC3339))
	}
	if !rep.Anchored && rep.OK() {
		fmt.Fprintf(stdout, "The link of seq %d to the event before the period was not checked.\n", rep.FirstSeq)
	}
	// Removing the newest events leaves the rest of the chain valid: only a head
	// recorded elsewhere shows it.
	fmt.Fprintf(stdout, "Head: seq %d, hash %s (keep it outside this machine: a later run must reach it).\n", rep.LastSeq, rep.LastHash)
	return code
}

// parseAdminTime reads a command-line time: RFC 3339, or a date meaning its
// midnight in local time. Empty means unbounded (the zero time).
func parseAdminTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 (2025-03-14T09:00:00+01:00) nor a date (2025-03-14)", s)
}

// openAdminStore loads the configuration at path and opens its store through the
// openStore hook, printing problems for people. It returns the exit code to use
// when the store is nil.
func openAdminStore(ctx context.Context, cmd, path string, stderr io.Writer) (storage.Store, int) {
	if path == "" {
		fmt.Fprintf(stderr, "justiceconnect %s: --config is required\n", cmd)
		return nil, 2
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect %s: %s:\n%v\n", cmd, path, err)
		return nil, 1
	}
	if openStore == nil {
		fmt.Fprintf(stderr, "justiceconnect %s: this build has no store (openStore is not wired)\n", cmd)
		return nil, 1
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect %s: open the store: %v\n", cmd, err)
		return nil, 1
	}
	return store, 0
}
