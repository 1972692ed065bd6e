package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// migrationStatus reports the store's migrations without applying them; the
// broker wiring sets it.
var migrationStatus func(ctx context.Context, cfg *config.Config) ([]storage.MigrationState, error)

const migrateUsage = `usage: justiceconnect migrate --config FILE [--status] [--reason TEXT] [--json]

Applies the pending schema migrations of the configured store and records it in
the audit trail. With --status, only shows which migrations are applied and which
are pending, and changes nothing. The broker also applies pending migrations when
it starts; this command lets them run, and be checked, beforehand.
`

// migrationView is one migration in the output.
type migrationView struct {
	Version   int        `json:"version"`
	Name      string     `json:"name"`
	State     string     `json:"state"` // applied, pending or unknown (recorded by a newer version)
	AppliedAt *time.Time `json:"applied_at,omitempty"`
}

// migrateOutput is the --json document.
type migrateOutput struct {
	Driver     string          `json:"driver"`
	Migrations []migrationView `json:"migrations"`
	Pending    int             `json:"pending"`
	// Applied lists the versions this run applied (absent with --status).
	Applied []int `json:"applied,omitempty"`
}

// runMigrate is "justiceconnect migrate".
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, migrateUsage)
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	path := fs.String("config", "", "configuration `file` (required)")
	status := fs.Bool("status", false, "show applied and pending migrations, apply nothing")
	reason := fs.String("reason", "", "why, recorded in the audit trail")
	asJSON := fs.Bool("json", false, "JSON output, for scripts")
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "justiceconnect migrate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "justiceconnect migrate: --config is required")
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect migrate: %s:\n%v\n", *path, err)
		return 1
	}
	if migrationStatus == nil || openStore == nil {
		fmt.Fprintln(stderr, "justiceconnect migrate: this build has no store (migrationStatus is not wired)")
		return 1
	}
	before, err := migrationStatus(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect migrate: read the migration status: %v\n", err)
		return 1
	}
	out := migrateOutput{Driver: cfg.Store.Driver}
	if *status {
		out.Migrations, out.Pending = migrationViews(before)
		return printMigrations(out, true, *asJSON, stdout, stderr)
	}

	// Opening the store applies what is pending, under the store's migration lock
	// (another node starting at the same time applies each migration once).
	store, err := openStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect migrate: apply the migrations: %v\n", err)
		return 1
	}
	defer store.Close()
	after, err := migrationStatus(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect migrate: read the migration status: %v\n", err)
		return 1
	}
	wasApplied := map[int]bool{}
	for _, m := range before {
		wasApplied[m.Version] = m.Applied
	}
	out.Applied = []int{}
	var names []string
	for _, m := range after {
		if m.Applied && !wasApplied[m.Version] {
			out.Applied = append(out.Applied, m.Version)
			names = append(names, m.Name)
		}
	}
	out.Migrations, out.Pending = migrationViews(after)
	ev := storage.AuditEvent{Type: audit.Migration, Outcome: audit.OutcomeOK, Details: map[string]string{
		"driver": cfg.Store.Driver, "applied": strconv.Itoa(len(out.Applied)), "migrations": strings.Join(names, " ")}}
	if out.Pending > 0 {
		ev.Outcome = audit.OutcomeFail
	}
	auditErr := recordAdmin(ctx, store, ev, "apply", *reason)
	code := printMigrations(out, false, *asJSON, stdout, stderr)
	if auditErr != nil {
		fmt.Fprintf(stderr, "justiceconnect migrate: migrations applied, but the audit event was not recorded: %v\n", auditErr)
		return 1
	}
	if out.Pending > 0 {
		fmt.Fprintf(stderr, "justiceconnect migrate: %d migration(s) still pending\n", out.Pending)
		return 1
	}
	return code
}

func migrationViews(states []storage.MigrationState) ([]migrationView, int) {
	views := make([]migrationView, 0, len(states))
	pending := 0
	for _, m := range states {
		v := migrationView{Version: m.Version, Name: m.Name, State: "pending"}
		switch {
		case m.Unknown:
			v.State = "unknown"
		case m.Applied:
			v.State = "applied"
		default:
			pending++
		}
		if m.Applied {
			t := m.AppliedAt
			v.AppliedAt = &t
		}
		views = append(views, v)
	}
	return views, pending
}

func printMigrations(out migrateOutput, status, asJSON bool, stdout, stderr io.Writer) int {
	if asJSON {
		if err := writeJSON(stdout, out); err != nil {
			fmt.Fprintf(stderr, "justiceconnect migrate: %v\n", err)
			return 1
		}
		return 0
	}
	if !status {
		if len(out.Applied) == 0 {
			fmt.Fprintln(stdout, "No pending migration: the schema is up to date.")
		} else {
			fmt.Fprintf(stdout, "Applied %d migration(s).\n", len(out.Applied))
		}
		fmt.Fprintln(stdout)
	}
	rows := make([][]string, 0, len(out.Migrations))
	unknown := false
	for _, m := range out.Migrations {
		at := ""
		if m.AppliedAt != nil {
			at = m.AppliedAt.UTC().Format(time.RFC3339)
		}
		unknown = unknown || m.State == "unknown"
		rows = append(rows, []string{strconv.Itoa(m.Version), m.Name, m.State, at})
	}
	if err := writeTable(stdout, []string{"VERSION", "NAME", "STATE", "APPLIED AT"}, rows); err != nil {
		fmt.Fprintf(stderr, "justiceconnect migrate: %v\n", err)
		return 1
	}
	if status {
		fmt.Fprintf(stdout, "\n%d pending (%s store).\n", out.Pending, out.Driver)
	}
	if unknown {
		fmt.Fprintln(stdout, "Migrations marked unknown were applied by a newer version of justiceconnect.")
	}
	return 0
}
