// Command justiceconnect is the JusticeConnect identity broker: one binary for the
// server (serve, demo) and its administration (check-config, keys, clients, ...).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand: it receives its own arguments (after the name) and the
// standard streams, and returns the process exit code.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"serve":        {"run the broker with a configuration file (production)", runServe},
		"demo":         {"run a self-contained demo broker on 127.0.0.1 (SQLite, demo users, demo client)", runDemo},
		"check-config": {"check a configuration file and print every problem at once", runCheckConfig},
		"keys":         {"manage signing keys: list, rotate, prune", runKeys},
		"clients":      {"manage OAuth clients: add, list, rotate-secret, delete", runClients},
		"audit":        {"check, export or prune the audit trail: verify, export, prune", runAudit},
		"migrate":      {"apply pending schema migrations, or show them (--status)", runMigrate},
		"sessions":     {"list or revoke a user's SSO sessions and tokens: list, revoke", runSessions},
		"delegations":  {"manage delegations (mandates) for token exchange: add, list, revoke", runDelegations},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if len(os.Args) > 1 && (os.Args[1] == "serve" || os.Args[1] == "demo") {
		// Process-wide, so here rather than in run (tests call run in-process).
		tuneGC(os.Getenv)
	}
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "justiceconnect: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: justiceconnect COMMAND [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-13s %s\n", n, cmds[n].summary)
	}
}
