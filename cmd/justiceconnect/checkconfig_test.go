package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/justiceconnect/justiceconnect/broker/config"
)

// checkConfigFixture writes a configuration and the files it names into a
// temporary directory and returns the configuration's path.
func checkConfigFixture(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"kek", "salt", "rp-secret"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("value-of-"+name+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "justiceconnect.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(body, "DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const checkConfigValid = `
issuer: https://connect.example.justice.fr
store: {driver: sqlite, sqlite_path: "DIR/broker.db"}
keys: {kek: {file: "DIR/kek"}}
pairwise_salt: {file: "DIR/salt"}
providers:
  - {id: annuaire, type: ldap, label: "Agent du ministère", settings: {url: "ldaps://x"}}
clients:
  - client_id: rp1
    name: RP
    secret: {file: "DIR/rp-secret"}
    redirect_uris: ["https://rp.example/cb"]
    scopes: [openid]
`

func runCheckConfigTest(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runCheckConfig(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCheckConfig(t *testing.T) {
	saved := checkProviderSettings
	t.Cleanup(func() { checkProviderSettings = saved })
	checkProviderSettings = func(cfg *config.Config, p config.ProviderConfig) []config.Problem {
		var s struct {
			URL string `yaml:"url"`
		}
		if err := config.DecodeSettings(p.Settings, &s); err != nil {
			var problems *config.Problems
			if errors.As(err, &problems) {
				return problems.List // paths start with "settings"
			}
			return []config.Problem{{Path: "settings", Message: err.Error()}}
		}
		if s.URL == "" {
			return []config.Problem{{Path: "settings.url", Message: "required"}}
		}
		return nil
	}

	cases := []struct {
		name     string
		body     string
		args     []string
		code     int
		stdout   []string
		stderr   []string
		noStdout []string
	}{
		{name: "valid", body: checkConfigValid, code: 0, stdout: []string{"configuration OK"}, noStdout: []string{"warning"}},
		{
			name: "development warnings",
			body: strings.Replace(checkConfigValid, "https://connect.example.justice.fr", "http://127.0.0.1:8080", 1) + "mode: development\ninsecure_allow_http_issuer: true\n",
			code: 0, stdout: []string{"configuration OK", "warning: mode: development", "warning: insecure_allow_http_issuer"},
		},
		{
			name: "every problem, secrets and provider settings included",
			body: strings.NewReplacer(
				"DIR/kek\"", "DIR/missing-kek\"",
				`url: "ldaps://x"`, "uri: x",
				`"https://rp.example/cb"`, `"http://example.org/cb"`,
				`pairwise_salt: {file: "DIR/salt"}`, "pairwise_salt: {env: JC_TEST_UNSET_SALT}\ncolour: blue",
			).Replace(checkConfigValid),
			code: 1,
			stderr: []string{
				"5 problem(s)",
				`providers[0].settings.uri: unknown key "uri" (line 8)`,
				`colour: unknown key "colour"`,
				"clients[0].redirect_uris[0]: must be an absolute https URL (loopback http allowed)",
				"keys.kek: cannot read the secret",
				"missing-kek",
				"pairwise_salt: cannot read the secret: environment variable JC_TEST_UNSET_SALT",
			},
			noStdout: []string{"configuration OK"},
		},
		{
			name: "provider hook problems get the provider's path",
			body: strings.Replace(checkConfigValid, `settings: {url: "ldaps://x"}`, "settings: {}", 1),
			code: 1, stderr: []string{"providers[0].settings.url: required"},
		},
		{name: "syntax error", body: "issuer: [", code: 1, stderr: []string{"1 problem(s)", "yaml"}},
		{name: "config required", args: []string{}, code: 2, stderr: []string{"usage"}},
		{name: "missing file", args: []string{"--config", "/does/not/exist.yaml"}, code: 1, stderr: []string{"no such file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if args == nil {
				args = []string{"--config", checkConfigFixture(t, tc.body)}
			}
			code, stdout, stderr := runCheckConfigTest(t, args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, stdout, stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.noStdout {
				if strings.Contains(stdout, s) {
					t.Errorf("stdout has %q:\n%s", s, stdout)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if strings.Contains(stdout+stderr, "value-of-") {
				t.Errorf("a secret value was printed")
			}
		})
	}
}

// TestCheckConfigWithoutProviderHook: a build without provider types still checks
// the rest.
func TestCheckConfigWithoutProviderHook(t *testing.T) {
	saved := checkProviderSettings
	t.Cleanup(func() { checkProviderSettings = saved })
	checkProviderSettings = nil
	code, stdout, stderr := runCheckConfigTest(t, "--config", checkConfigFixture(t, strings.Replace(checkConfigValid, `settings: {url: "ldaps://x"}`, "settings: {}", 1)))
	if code != 0 || !strings.Contains(stdout, "configuration OK") {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}
