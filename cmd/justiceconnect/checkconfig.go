package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/justiceconnect/justiceconnect/broker/config"
)

// checkProviderSettings decodes and checks one provider's type and settings; the
// file that knows the provider implementations sets it. Paths in its problems are
// relative to the provider ("type", "settings.url"). Nil means no provider type
// is known to this build: settings are then not checked.
var checkProviderSettings func(cfg *config.Config, p config.ProviderConfig) []config.Problem

// runCheckConfig is "justiceconnect check-config --config FILE": it prints every
// problem of the file at once (schema, values, unreadable secrets and files,
// provider settings) and exits 1, or "configuration OK" and the warnings and
// exits 0.
func runCheckConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	asJSON := fs.Bool("json", false, "JSON output, for scripts: {ok, problems: [{path, message}], warnings}")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: justiceconnect check-config --config FILE [--json]")
		return 2
	}
	data, err := os.ReadFile(*path)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect check-config: %v\n", err)
		return 1
	}
	cfg, problems := checkConfig(data)
	if *asJSON {
		return printCheckConfigJSON(cfg, problems, stdout, stderr)
	}
	if cfg != nil {
		for _, w := range cfg.Warnings() {
			fmt.Fprintf(stdout, "warning: %s\n", w)
		}
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "%s: %d problem(s):\n", *path, len(problems))
		for _, p := range problems {
			fmt.Fprintf(stderr, "  %s\n", p)
		}
		return 1
	}
	fmt.Fprintln(stdout, "configuration OK")
	return 0
}

// checkConfig gathers every problem: decoding and validation, then what serve
// would only find at start (secrets, files, provider settings).
func checkConfig(data []byte) (*config.Config, []config.Problem) {
	cfg, problems := config.Check(data)
	if cfg == nil {
		return nil, problems
	}
	problems = append(problems, cfg.CheckFiles()...)
	if checkProviderSettings != nil {
		for i, p := range cfg.Providers {
			base := fmt.Sprintf("providers[%d]", i)
			for _, pr := range checkProviderSettings(cfg, p) {
				path := base
				if pr.Path != "" {
					path += "." + pr.Path
				}
				problems = append(problems, config.Problem{Path: path, Message: pr.Message})
			}
		}
	}
	return cfg, problems
}

// checkConfigOutput is the --json document of check-config.
type checkConfigOutput struct {
	OK       bool               `json:"ok"`
	Problems []checkConfigIssue `json:"problems"`
	Warnings []string           `json:"warnings"`
}

type checkConfigIssue struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func printCheckConfigJSON(cfg *config.Config, problems []config.Problem, stdout, stderr io.Writer) int {
	out := checkConfigOutput{OK: len(problems) == 0, Problems: []checkConfigIssue{}, Warnings: []string{}}
	for _, p := range problems {
		out.Problems = append(out.Problems, checkConfigIssue{Path: p.Path, Message: p.Message})
	}
	if cfg != nil {
		out.Warnings = append(out.Warnings, cfg.Warnings()...)
	}
	if err := writeJSON(stdout, out); err != nil {
		fmt.Fprintf(stderr, "justiceconnect check-config: %v\n", err)
		return 1
	}
	if !out.OK {
		return 1
	}
	return 0
}
