package peer

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("peer: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RequireBinary returns the path of an executable or fails the test naming the
// Debian package that provides it.
func RequireBinary(t testing.TB, name, debianPackage string) string {
	t.Helper()
	if filepath.IsAbs(name) {
		if _, err := os.Stat(name); err == nil {
			return name
		}
	} else if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("peer: %s not found; install it with testsuite/scripts/install-peers.sh (Debian package %s)", name, debianPackage)
	return ""
}

// Process is a started peer process whose output is kept for the test log.
type Process struct {
	Name string
	Cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs cmd in its own process group, captures its output, and registers a
// cleanup that stops it (SIGTERM, then SIGKILL after 5 s) and prints its output when
// the test failed.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p := &Process{Name: name, Cmd: cmd, out: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		t.Fatalf("peer: start %s: %v", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, tail(p.out.String(), 8000))
		}
	})
	return p
}

// Output returns what the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop ends the process group gracefully, then forcefully. It is idempotent.
func (p *Process) Stop() {
	if p.Exited() {
		return
	}
	pgid := -p.Cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.done
	}
}

// Kill ends the process group at once (SIGKILL), for crash tests.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// StartTimeout is how long a peer may take to be ready. Alone each starts in a
// second or two, but CI runs the packages' peers side by side under -race on two
// cores, where Node's oidc-provider once took more than 30 s: the wait is for a
// slow machine, not for the peer; a peer that never answers still fails the test.
const StartTimeout = 90 * time.Second

// WaitReady polls ready every 50 ms until it returns nil, the process exits, or
// StartTimeout passes; it fails the test in the last two cases.
func (p *Process) WaitReady(t testing.TB, ready func(ctx context.Context) error) {
	t.Helper()
	if err := p.waitReady(ready, StartTimeout); err != nil {
		t.Fatal(err)
	}
}

// waitReady is WaitReady with its own timeout, returning the failure instead of
// failing the test. When the process is alive but not ready, the error carries its
// kernel-side state (procState), so that a hang can be told from a slow machine.
func (p *Process) waitReady(ready func(ctx context.Context) error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if p.Exited() {
			return fmt.Errorf("peer: %s exited before it was ready: %v\n%s", p.Name, p.Cmd.ProcessState, tail(p.Output(), 4000))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = ready(ctx)
		cancel()
		if last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("peer: %s not ready after %v: %v\nprocess: %s\n%s", p.Name, timeout, last, procState(p.Cmd.Process.Pid), tail(p.Output(), 4000))
}

// procState summarises /proc/PID (proc(5)): the scheduler state and CPU time of
// the process, and for its threads how many are in each state and where the
// sleeping ones wait (wchan). A process that used little CPU while its threads
// sleep in one place is stuck there; one that used much was starved or looping.
func procState(pid int) string {
	fields, err := statFields(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "no /proc entry: " + err.Error()
	}
	// state is field 3, utime and stime fields 14 and 15, in clock ticks (USER_HZ, 100 on Linux).
	if len(fields) < 13 {
		return "unreadable /proc stat"
	}
	summary := fmt.Sprintf("state %s, user CPU %s ticks, system CPU %s ticks", fields[0], fields[11], fields[12])
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	states := map[string]int{}
	for _, task := range tasks {
		key := "?"
		if f, err := statFields(filepath.Join(task, "stat")); err == nil && len(f) > 0 {
			key = f[0]
		}
		if w, err := os.ReadFile(filepath.Join(task, "wchan")); err == nil && len(w) > 0 && string(w) != "0" {
			key += " in " + string(w)
		}
		states[key]++
	}
	keys := make([]string, 0, len(states))
	for k, n := range states {
		keys = append(keys, fmt.Sprintf("%s ×%d", k, n))
	}
	sort.Strings(keys)
	return fmt.Sprintf("%s; %d threads: %s", summary, len(tasks), strings.Join(keys, ", "))
}

// statFields reads a /proc stat file and returns its fields from the third on
// (state first): those after the parenthesised command name, which may hold spaces.
func statFields(path string) ([]string, error) {
	stat, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])), nil
}

// DialReady is a ready check that succeeds when addr accepts TCP connections.
func DialReady(addr string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// WriteFile writes content to dir/name with mode 0600 and returns the path.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatalf("peer: %v", err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatalf("peer: %v", err)
	}
	return p
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// Run runs a short command to completion and fails the test with its output if it fails.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("peer: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Addr formats 127.0.0.1:port.
func Addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
