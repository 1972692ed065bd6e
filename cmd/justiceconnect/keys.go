package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/keys"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// openKeyManager opens the key manager a configuration file describes (its store and
// key-encryption key) and returns a function that releases the store. The broker
// wiring sets it (from openStoreFromConfig); it is a hook so that this command does
// not itself read configuration or open databases. It is set once, before main runs
// commands, and never changed afterwards.
// The audit store it returns records rotations and prunes.
var openKeyManager func(ctx context.Context, configPath string) (*keys.Manager, storage.AuditStore, func() error, error)

const keysUsage = `usage: justiceconnect keys COMMAND --config FILE [--json]

commands:
  list                  show every stored key (no key material)
  rotate [--alg ALG]    next key -> current, current -> retired, new next key
                        (every configured algorithm unless --alg is given)
  prune                 delete retired keys whose publication period is over

rotate and prune take --reason TEXT and are recorded in the audit trail
(admin.key) with the operator's OS user name.
Broker nodes pick up a rotation within their refresh interval (1 minute by default).
`

// runKeys runs `justiceconnect keys`. Exit codes: 0 done, 1 failure, 2 usage error.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, keysUsage)
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "configuration `file` (required)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	alg := fs.String("alg", "", "rotate only this `algorithm` (e.g. ES256)")
	reason := fs.String("reason", "", "why, recorded in the audit trail (rotate, prune)")

	// Flags may come before or after the subcommand: parse, take the subcommand,
	// parse the rest into the same set.
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	sub := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "justiceconnect keys %s: unexpected argument %q\n", sub, fs.Arg(0))
		return 2
	}
	switch sub {
	case "list", "rotate", "prune":
	default:
		fmt.Fprintf(stderr, "justiceconnect keys: unknown command %q\n\n", sub)
		fs.Usage()
		return 2
	}
	if *alg != "" && sub != "rotate" {
		fmt.Fprintf(stderr, "justiceconnect keys %s: --alg only applies to rotate\n", sub)
		return 2
	}
	if *reason != "" && sub == "list" {
		fmt.Fprintf(stderr, "justiceconnect keys list: --reason only applies to rotate and prune\n")
		return 2
	}
	if *configPath == "" {
		fmt.Fprintf(stderr, "justiceconnect keys %s: --config FILE is required\n", sub)
		return 2
	}
	if openKeyManager == nil {
		fmt.Fprintf(stderr, "justiceconnect keys %s: this build cannot open the key store (openKeyManager is not wired)\n", sub)
		return 1
	}
	m, trail, closeStore, err := openKeyManager(ctx, *configPath)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect keys %s: %v\n", sub, err)
		return 1
	}
	code := runKeysCommand(ctx, m, trail, sub, *alg, *reason, *asJSON, stdout, stderr)
	if closeStore != nil {
		if err := closeStore(); err != nil {
			fmt.Fprintf(stderr, "justiceconnect keys %s: closing the store: %v\n", sub, err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

func runKeysCommand(ctx context.Context, m *keys.Manager, trail storage.AuditStore, sub, alg, reason string, asJSON bool, stdout, stderr io.Writer) int {
	out := keysOutput{}
	var beforeList []keys.KeyInfo
	if sub != "list" {
		var err error
		if beforeList, err = m.List(ctx); err != nil {
			fmt.Fprintf(stderr, "justiceconnect keys %s: %v\n", sub, err)
			return 1
		}
	}
	var auditErr error
	switch sub {
	case "rotate":
		err := m.Rotate(ctx, alg)
		auditErr = recordKeys(ctx, trail, m, "rotate", alg, reason, beforeList, err)
		if err != nil {
			fmt.Fprintf(stderr, "justiceconnect keys rotate: %v\n", err)
			return 1
		}
		if !asJSON {
			what := "all configured algorithms"
			if alg != "" {
				what = alg
			}
			fmt.Fprintf(stdout, "Rotated %s. The previous current keys stay published until their retire-until time.\n\n", what)
		}
	case "prune":
		n, err := m.PruneCount(ctx)
		auditErr = recordKeys(ctx, trail, m, "prune", "", reason, beforeList, err)
		if err != nil {
			fmt.Fprintf(stderr, "justiceconnect keys prune: %v\n", err)
			return 1
		}
		out.Deleted = &n
		if !asJSON {
			fmt.Fprintf(stdout, "Deleted %d retired key(s).\n\n", n)
		}
	}
	list, err := m.List(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect keys %s: %v\n", sub, err)
		return 1
	}
	out.Keys = list
	code := 0
	if asJSON {
		if err := writeJSON(stdout, out); err != nil {
			fmt.Fprintf(stderr, "justiceconnect keys %s: %v\n", sub, err)
			code = 1
		}
	} else {
		printKeyTable(stdout, list)
	}
	if auditErr != nil {
		fmt.Fprintf(stderr, "justiceconnect keys %s: done, but the audit event was not recorded: %v\n", sub, auditErr)
		return 1
	}
	return code
}

// recordKeys appends the admin.key event of a rotation or prune: the keys that
// became current (rotate) or were deleted (prune), compared with the list before.
func recordKeys(ctx context.Context, trail storage.AuditStore, m *keys.Manager, action, alg, reason string, before []keys.KeyInfo, opErr error) error {
	if trail == nil {
		return errors.New("no audit store")
	}
	ev := storage.AuditEvent{Type: audit.KeyAdmin, Outcome: audit.OutcomeOK, Details: map[string]string{}}
	if opErr != nil {
		ev.Outcome = audit.OutcomeFail
		ev.Details["error"] = opErr.Error()
	}
	if alg != "" {
		ev.Details["alg"] = alg
	}
	after, err := m.List(ctx)
	if err == nil {
		was := map[string]string{}
		for _, k := range before {
			was[k.ID] = k.State
		}
		now := map[string]bool{}
		var changed []string
		for _, k := range after {
			now[k.ID] = true
			if action == "rotate" && k.State != was[k.ID] && k.State == "current" {
				changed = append(changed, k.ID)
			}
		}
		if action == "prune" {
			for _, k := range before {
				if !now[k.ID] {
					changed = append(changed, k.ID)
				}
			}
			ev.Details["deleted"] = strconv.Itoa(len(changed))
		}
		key := map[string]string{"rotate": "new_current_kids", "prune": "deleted_kids"}[action]
		ev.Details[key] = strings.Join(changed, " ")
	}
	return recordAdmin(ctx, trail, ev, action, reason)
}

// keysOutput is the --json document: always the key list, plus what prune deleted.
type keysOutput struct {
	Deleted *int           `json:"deleted,omitempty"`
	Keys    []keys.KeyInfo `json:"keys"`
}

func printKeyTable(w io.Writer, list []keys.KeyInfo) {
	if len(list) == 0 {
		fmt.Fprintln(w, "No keys stored. The broker creates them at its first start.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tUSE\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED-UNTIL")
	for _, k := range list {
		alg := k.Alg
		if alg == "" {
			alg = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Use, alg, k.State,
			k.CreatedAt.UTC().Format(time.RFC3339), timeOrDash(k.ActivatedAt), timeOrDash(k.RetireUntil))
	}
	tw.Flush()
}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func flagExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
