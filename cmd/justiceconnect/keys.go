package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/keys"
)

// openKeyManager opens the key manager a configuration file describes (its store and
// key-encryption key) and returns a function that releases the store. The broker
// wiring sets it (from openStoreFromConfig); it is a hook so that this command does
// not itself read configuration or open databases. It is set once, before main runs
// commands, and never changed afterwards.
var openKeyManager func(ctx context.Context, configPath string) (*keys.Manager, func() error, error)

const keysUsage = `usage: justiceconnect keys COMMAND --config FILE [--json]

commands:
  list                  show every stored key (no key material)
  rotate [--alg ALG]    next key -> current, current -> retired, new next key
                        (every configured algorithm unless --alg is given)
  prune                 delete retired keys whose publication period is over

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
	if *configPath == "" {
		fmt.Fprintf(stderr, "justiceconnect keys %s: --config FILE is required\n", sub)
		return 2
	}
	if openKeyManager == nil {
		fmt.Fprintf(stderr, "justiceconnect keys %s: this build cannot open the key store (openKeyManager is not wired)\n", sub)
		return 1
	}
	m, closeStore, err := openKeyManager(ctx, *configPath)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect keys %s: %v\n", sub, err)
		return 1
	}
	code := runKeysCommand(ctx, m, sub, *alg, *asJSON, stdout, stderr)
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

func runKeysCommand(ctx context.Context, m *keys.Manager, sub, alg string, asJSON bool, stdout, stderr io.Writer) int {
	out := keysOutput{}
	switch sub {
	case "rotate":
		if err := m.Rotate(ctx, alg); err != nil {
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
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "justiceconnect keys %s: %v\n", sub, err)
			return 1
		}
		return 0
	}
	printKeyTable(stdout, list)
	return 0
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
