// Package load runs the load tool (cmd/justiceconnect-load) briefly against a real
// `justiceconnect demo` process, to prove that every scenario works end to end and
// that errors are counted by kind. It measures nothing: docs/PERFORMANCE.md does.
package load

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// report is the part of the tool's --json output the test reads.
type report struct {
	Scenario     string           `json:"scenario"`
	Requests     int64            `json:"requests"`
	OK           int64            `json:"ok"`
	OpsPerS      float64          `json:"ops_per_s"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	Ops          []struct {
		Op     string  `json:"op"`
		OK     int64   `json:"ok"`
		Errors int64   `json:"errors"`
		PerS   float64 `json:"per_s"`
		P99Ms  float64 `json:"p99_ms"`
	} `json:"ops"`
	Broker *struct {
		PeakRSSBytes int64   `json:"peak_rss_bytes"`
		CPUSeconds   float64 `json:"cpu_seconds"`
		IO           *struct {
			PerOp *struct {
				WriteCalls   float64 `json:"write_calls"`
				WrittenBytes float64 `json:"written_bytes"`
			} `json:"per_op"`
		} `json:"io"`
	} `json:"broker"`
	Store *struct {
		BeforeBytes int64 `json:"before_bytes"`
		AfterBytes  int64 `json:"after_bytes"`
	} `json:"store"`
	Samples []struct {
		TS       float64 `json:"t_s"`
		OK       uint64  `json:"ok"`
		RSSBytes int64   `json:"rss_bytes"`
	} `json:"samples"`
	RSSSlopeMBPerHour float64 `json:"rss_slope_mb_per_hour"`
}

type demo struct {
	bin, loadBin, dataDir, demoJSON string
	proc                            *peer.Process
	exchanger, app2                 string // ID:SECRET of clients added with `justiceconnect clients add`
}

const exchangeAudience = "https://api.justice.example/load"

// startDemo builds both binaries, runs `justiceconnect demo`, saves its JSON line
// and registers two more clients in its store: a second application for the wave,
// and a client allowed token exchange.
func startDemo(t *testing.T) *demo {
	t.Helper()
	dir := t.TempDir()
	d := &demo{bin: filepath.Join(dir, "justiceconnect"), loadBin: filepath.Join(dir, "justiceconnect-load"),
		dataDir: filepath.Join(dir, "data"), demoJSON: filepath.Join(dir, "demo.json")}
	build(t, d.bin, "./cmd/justiceconnect", false)
	// With go test -race, the tool is built with the race detector too: its workers
	// then run under it against a real broker.
	build(t, d.loadBin, "./cmd/justiceconnect-load", raceEnabled)

	cmd := exec.Command(d.bin, "demo", "--addr", "127.0.0.1:0", "--data", d.dataDir)
	d.proc = peer.Start(t, "justiceconnect demo", cmd)
	deadline := time.Now().Add(60 * time.Second)
	for line := ""; line == ""; {
		for _, l := range strings.Split(d.proc.Output(), "\n") {
			if strings.HasPrefix(l, `{"issuer"`) {
				line = l
			}
		}
		if line != "" {
			if err := os.WriteFile(d.demoJSON, []byte(line+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			break
		}
		if d.proc.Exited() || time.Now().After(deadline) {
			t.Fatalf("demo did not start:\n%s", d.proc.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	var info struct {
		Issuer string `json:"issuer"`
	}
	raw, _ := os.ReadFile(d.demoJSON)
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}

	// `justiceconnect clients add` writes into the demo's store while it runs;
	// the broker reads clients from the store at each request.
	admin := filepath.Join(dir, "admin.yaml")
	yaml := fmt.Sprintf("issuer: %q\nmode: development\ninsecure_allow_http_issuer: true\nstore: {driver: sqlite, sqlite_path: %q}\nkeys: {kek: {file: %q}}\n",
		info.Issuer, filepath.Join(d.dataDir, "justiceconnect.db"), filepath.Join(d.dataDir, "kek"))
	if err := os.WriteFile(admin, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	d.exchanger = d.addClient(t, admin, "load-exchanger", "--kind", "first_party", "--scope", "openid", "--scope", "profession",
		"--grant-type", "authorization_code", "--grant-type", "urn:ietf:params:oauth:grant-type:token-exchange", "--audience", exchangeAudience)
	d.app2 = d.addClient(t, admin, "load-app-2", "--kind", "first_party")
	return d
}

func (d *demo) addClient(t *testing.T, admin, id string, args ...string) string {
	t.Helper()
	full := append([]string{"clients", "add", "--config", admin, "--json", "--id", id, "--name", "Load " + id, "--redirect-uri", "http://127.0.0.1/callback"}, args...)
	out, err := exec.Command(d.bin, full...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("clients add %s: %v\n%s", id, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var c struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := json.Unmarshal(out, &c); err != nil || c.ClientSecret == "" {
		t.Fatalf("clients add %s printed %q: %v", id, out, err)
	}
	return c.ClientID + ":" + c.ClientSecret
}

func build(t *testing.T, out, pkg string, race bool) {
	t.Helper()
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = repoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
}

// load runs the tool with --json and returns its report and exit code.
func (d *demo) load(t *testing.T, args ...string) (*report, int, string) {
	t.Helper()
	full := append([]string{"--demo-json", d.demoJSON, "--json", "--concurrency", "8",
		"--pid", strconv.Itoa(d.proc.Cmd.Process.Pid), "--store-file", filepath.Join(d.dataDir, "justiceconnect.db")}, args...)
	cmd := exec.Command(d.loadBin, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr.String(), "DATA RACE") {
		t.Fatalf("the race detector found a race in the tool:\n%s", stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("load %v: exit %d, no JSON report (%v)\nstdout: %s\nstderr: %s", args, code, err, stdout.String(), stderr.String())
	}
	return &rep, code, stderr.String()
}

func TestScenarios(t *testing.T) {
	d := startDemo(t)
	for _, sc := range []struct {
		name string
		args []string
		ops  []string // operations that must have succeeded
	}{
		{"wave", []string{"--app", "demo-partner:" + d.demoSecret(t), "--app", d.app2}, []string{"login", "sso"}},
		{"sso", nil, []string{"sso"}},
		{"cc", nil, []string{"cc"}},
		{"exchange", []string{"--exchange-client", d.exchanger, "--exchange-audience", exchangeAudience, "--burst", "5"}, []string{"exchange", "sso"}},
		{"refresh", nil, []string{"refresh"}},
		{"introspect", nil, []string{"introspect"}},
		{"jwks", nil, []string{"jwks", "discovery"}},
		{"mix", []string{"--exchange-client", d.exchanger, "--exchange-audience", exchangeAudience}, []string{"sso", "cc", "introspect", "refresh", "jwks"}},
	} {
		t.Run(sc.name, func(t *testing.T) {
			rep, code, stderr := d.load(t, append([]string{"--scenario", sc.name, "--duration", "3s"}, sc.args...)...)
			if code != 0 || rep.Errors != 0 || len(rep.ErrorsByKind) != 0 {
				t.Errorf("exit %d, %d errors: %v\n%s", code, rep.Errors, rep.ErrorsByKind, stderr)
			}
			if rep.OK == 0 || rep.OpsPerS <= 0 || rep.Requests < rep.OK {
				t.Errorf("ok %d, %.1f ops/s, %d requests", rep.OK, rep.OpsPerS, rep.Requests)
			}
			for _, want := range sc.ops {
				found := false
				for _, o := range rep.Ops {
					if o.Op == want && o.OK > 0 && o.PerS > 0 && o.P99Ms > 0 {
						found = true
					}
				}
				if !found {
					t.Errorf("no successful %q operation in %+v", want, rep.Ops)
				}
			}
			if rep.Broker == nil || rep.Broker.PeakRSSBytes < 1<<20 || rep.Broker.CPUSeconds <= 0 {
				t.Errorf("broker resources %+v", rep.Broker)
			} else if io := rep.Broker.IO; io == nil || io.PerOp == nil || io.PerOp.WriteCalls <= 0 || io.PerOp.WrittenBytes <= 0 {
				// Every operation at least writes its answers to a socket.
				t.Errorf("broker I/O per operation %+v", io)
			}
			if rep.Store == nil || rep.Store.BeforeBytes <= 0 || rep.Store.AfterBytes <= 0 {
				t.Errorf("store %+v", rep.Store)
			}
			if !strings.Contains(stderr, "[  1.0s]") {
				t.Errorf("no progress line on stderr:\n%s", stderr)
			}
		})
	}

	t.Run("wrong secret", func(t *testing.T) {
		rep, code, stderr := d.load(t, "--scenario", "cc", "--cc-client", "demo-partner:not-the-secret", "--duration", "2s")
		if code != 3 || rep.OK != 0 {
			t.Errorf("exit %d (want 3), %d ok\n%s", code, rep.OK, stderr)
		}
		if n := rep.ErrorsByKind["cc: oauth invalid_client"]; n == 0 {
			t.Errorf("errors by kind %v: want cc: oauth invalid_client", rep.ErrorsByKind)
		}
		if !strings.Contains(stderr, "oauth invalid_client") {
			t.Errorf("the table does not name the error kind:\n%s", stderr)
		}
	})

	t.Run("max requests", func(t *testing.T) {
		rep, code, stderr := d.load(t, "--scenario", "jwks", "--duration", "20s", "--max-requests", "300")
		// The discovery probe before the clock is the 300th.
		if code != 0 || rep.Requests != 299 || rep.OK != 299 {
			t.Errorf("exit %d, %d requests, %d ok\n%s", code, rep.Requests, rep.OK, stderr)
		}
	})
}

// demoSecret reads the demo client's secret from the JSON line.
func (d *demo) demoSecret(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(d.demoJSON)
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Clients []struct {
			ClientSecret string `json:"client_secret"`
		} `json:"clients"`
	}
	if err := json.Unmarshal(raw, &info); err != nil || len(info.Clients) == 0 {
		t.Fatalf("demo JSON %s: %v", raw, err)
	}
	return info.Clients[0].ClientSecret
}

func repoRoot(t *testing.T) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}
