package multinode

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
)

// TestScale measures how the wave scales on PostgreSQL from one broker node to
// three (issue #8): the load tool (cmd/justiceconnect-load) runs the wave
// (password logins, then SSO code flows) and SSO code flows alone against node 1
// only, then against the three nodes in turn (each new connection to the next
// node), alternating, so that both see the same shared machine. It reports the
// rates, the ratio three/one, and where the CPU went (nodes, PostgreSQL, the
// machine). It is a measurement, not a check, and runs only when asked:
//
//	JC_SCALE=1 go test -run TestScale -v -timeout 30m ./testsuite/multinode/
//
// JC_SCALE_DURATION (default 15s) is each run's length, JC_SCALE_ROUNDS (2) the
// rounds, JC_SCALE_OUT a directory for the tool's JSON reports. Any failed
// operation fails the test.
func TestScale(t *testing.T) {
	if os.Getenv("JC_SCALE") == "" {
		t.Skip("TestScale is a measurement: it runs only with JC_SCALE=1")
	}
	dur := envDuration(t, "JC_SCALE_DURATION", 15*time.Second)
	rounds := envInt(t, "JC_SCALE_ROUNDS", 2)
	out := envDir(t, "JC_SCALE_OUT")
	loadBin := buildLoadTool(t)

	c := startCluster(t, 3, 64)
	caFile := c.ca.WriteCert(t, c.dir, "ca")
	base := []string{"--issuer", c.issuer, "--ca-file", caFile, "--app", clientID + ":" + c.secret + ":" + redirect,
		"--concurrency", "32", "--duration", dur.String(), "--progress=false", "--json"}
	for _, u := range c.users {
		base = append(base, "--user", u.Username+":"+u.Password)
	}

	type key struct {
		scenario string
		nodes    int
	}
	sums := map[key]*scaleSum{}
	for r := 1; r <= rounds; r++ {
		order := []int{1, 3}
		if r%2 == 0 {
			order = []int{3, 1}
		}
		for _, sc := range []string{"wave", "sso"} {
			for _, n := range order {
				args := append(append([]string{}, base...), "--scenario", sc)
				for _, nd := range c.nodes[:n] {
					args = append(args, "--node", nd.addr)
				}
				before := c.cpuSnapshot()
				load := loadAvg()
				rep := runLoad(t, loadBin, args, out, fmt.Sprintf("scale-%s-%dnode-%d.json", sc, n, r))
				after := c.cpuSnapshot()
				cpu := after.minus(before, rep.DurationS)
				k := key{sc, n}
				if sums[k] == nil {
					sums[k] = &scaleSum{}
				}
				sums[k].add(rep, cpu)
				t.Logf("round %d %-4s %d node(s): %s; CPU cores: nodes %s, PostgreSQL %.2f, machine %.2f busy; load average %s",
					r, sc, n, rep.rates(), cpu.nodes(n), cpu.PG, cpu.Machine, load)
			}
		}
	}
	t.Logf("summary over %d rounds of %v (concurrency 32, %d-core machine shared):", rounds, dur, runtime.NumCPU())
	for _, sc := range []string{"wave", "sso"} {
		one, three := sums[key{sc, 1}], sums[key{sc, 3}]
		for _, op := range one.opNames() {
			r1, r3 := one.mean(op), three.mean(op)
			ratio := 0.0
			if r1 > 0 {
				ratio = r3 / r1
			}
			t.Logf("  %-4s %-5s 1 node %7.1f/s (p99 %6.1f ms)  3 nodes %7.1f/s (p99 %6.1f ms)  ratio %.2f", sc, op, r1, one.p99(op), r3, three.p99(op), ratio)
		}
		t.Logf("  %-4s CPU cores: 1 node: nodes %.2f + PostgreSQL %.2f (machine %.2f); 3 nodes: nodes %.2f + PostgreSQL %.2f (machine %.2f)", sc,
			one.cpu.nodeSum()/float64(one.n), one.cpu.PG/float64(one.n), one.cpu.Machine/float64(one.n),
			three.cpu.nodeSum()/float64(three.n), three.cpu.PG/float64(three.n), three.cpu.Machine/float64(three.n))
	}
}

// envDuration, envInt and envDir read a measurement's settings from the
// environment; a malformed value fails the test.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration such as 15s", name, v)
	}
	return d
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

func envDir(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv(name)
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return dir
}

// buildLoadTool builds cmd/justiceconnect-load into the test's directory.
func buildLoadTool(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "justiceconnect-load")
	if b, err := exec.Command("go", "build", "-o", bin, "github.com/justiceconnect/justiceconnect/cmd/justiceconnect-load").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/justiceconnect-load: %v\n%s", err, b)
	}
	return bin
}

// runLoad runs the load tool with --json and returns its report; the report is
// also written to out/name when out is set. A run without a report fails the
// test, and so does any failed operation.
func runLoad(t *testing.T, bin string, args []string, out, name string) scaleReport {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	var rep scaleReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("%s: no report (%v)\n%s", name, err, stderr.String())
	}
	if out != "" {
		if err := os.WriteFile(filepath.Join(out, name), stdout.Bytes(), 0o644); err != nil {
			t.Errorf("%s: %v", out, err)
		}
	}
	if rep.Errors > 0 {
		t.Errorf("%s: %d errors %v\n%s", name, rep.Errors, rep.ErrorsByKind, stderr.String())
	}
	return rep
}

// scaleReport is the part of the load tool's JSON report read here.
type scaleReport struct {
	DurationS    float64          `json:"duration_s"`
	OpsPerS      float64          `json:"ops_per_s"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	Ops          []struct {
		Op    string  `json:"op"`
		PerS  float64 `json:"per_s"`
		P99Ms float64 `json:"p99_ms"`
	} `json:"ops"`
}

func (r scaleReport) rates() string {
	var parts []string
	for _, o := range r.Ops {
		if o.Op != "setup" {
			parts = append(parts, fmt.Sprintf("%s %.1f/s p99 %.1f ms", o.Op, o.PerS, o.P99Ms))
		}
	}
	return strings.Join(parts, ", ")
}

// scaleSum adds up the rounds of one scenario on one node count.
type scaleSum struct {
	n    int
	perS map[string]float64
	p99s map[string]float64 // the worst round's
	ops  []string
	cpu  cpuUse
}

func (s *scaleSum) add(r scaleReport, cpu cpuUse) {
	if s.perS == nil {
		s.perS, s.p99s = map[string]float64{}, map[string]float64{}
	}
	s.n++
	for _, o := range r.Ops {
		if o.Op == "setup" {
			continue
		}
		if _, seen := s.perS[o.Op]; !seen {
			s.ops = append(s.ops, o.Op)
		}
		s.perS[o.Op] += o.PerS
		s.p99s[o.Op] = max(s.p99s[o.Op], o.P99Ms)
	}
	for i := range cpu.Nodes {
		s.cpu.Nodes[i] += cpu.Nodes[i]
	}
	s.cpu.PG += cpu.PG
	s.cpu.Machine += cpu.Machine
}

func (s *scaleSum) opNames() []string {
	if s == nil {
		return nil
	}
	return s.ops
}

func (s *scaleSum) mean(op string) float64 {
	if s == nil || s.n == 0 {
		return 0
	}
	return s.perS[op] / float64(s.n)
}

func (s *scaleSum) p99(op string) float64 {
	if s == nil {
		return 0
	}
	return s.p99s[op]
}

// cpuUse is CPU in cores (CPU seconds per second of the run).
type cpuUse struct {
	Nodes   [3]float64
	PG      float64 // the postmaster and its backends
	Machine float64 // every process: the machine is shared
}

func (u cpuUse) nodes(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf("%.2f", u.Nodes[i]))
	}
	return strings.Join(parts, "+")
}

func (u cpuUse) nodeSum() float64 { return u.Nodes[0] + u.Nodes[1] + u.Nodes[2] }

// cpuSnap is CPU seconds used so far.
type cpuSnap struct {
	nodes   [3]float64
	pg      float64
	machine float64
}

func (s cpuSnap) minus(b cpuSnap, seconds float64) cpuUse {
	if seconds <= 0 {
		return cpuUse{}
	}
	var u cpuUse
	for i := range s.nodes {
		u.Nodes[i] = (s.nodes[i] - b.nodes[i]) / seconds
	}
	u.PG = (s.pg - b.pg) / seconds
	u.Machine = (s.machine - b.machine) / seconds
	return u
}

func (c *cluster) cpuSnapshot() cpuSnap {
	var s cpuSnap
	for i, nd := range c.nodes {
		if i < len(s.nodes) {
			s.nodes[i], _ = procCPU(nd.proc.Cmd.Process.Pid)
		}
	}
	// PostgreSQL forks a backend per connection: count the postmaster and its
	// children. Backends that ended during the run are lost (the nodes keep
	// their pools open, so few do).
	if raw, err := os.ReadFile(filepath.Join(c.pg.Dir, "data", "postmaster.pid")); err == nil {
		if pm, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0])); err == nil {
			s.pg, _ = procCPU(pm)
			entries, _ := os.ReadDir("/proc")
			for _, e := range entries {
				pid, err := strconv.Atoi(e.Name())
				if err != nil {
					continue
				}
				if ppid, _ := procPPID(pid); ppid == pm {
					v, _ := procCPU(pid)
					s.pg += v
				}
			}
		}
	}
	if raw, err := os.ReadFile("/proc/stat"); err == nil {
		// cpu  user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
		f := strings.Fields(strings.SplitN(string(raw), "\n", 2)[0])
		for i := 1; i < len(f) && i <= 8; i++ {
			if i == 4 || i == 5 {
				continue
			}
			v, _ := strconv.ParseFloat(f[i], 64)
			s.machine += v / 100 // USER_HZ
		}
	}
	return s
}

// procStatFields returns the fields of /proc/PID/stat after the command name.
func procStatFields(pid int) ([]string, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, errors.New("no command name")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return nil, errors.New("short stat")
	}
	return f, nil
}

// procCPU is utime + stime (fields 14 and 15) in seconds.
func procCPU(pid int) (float64, error) {
	f, err := procStatFields(pid)
	if err != nil {
		return 0, err
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100, nil
}

func procPPID(pid int) (int, error) {
	f, err := procStatFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(f[1])
}

func loadAvg() string {
	raw, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(raw))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
