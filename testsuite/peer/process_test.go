package peer

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A peer that stays alive without listening is reported with its kernel-side
// state, so that a CI failure tells a hang from a starved process.
func TestWaitReadyReportsAPeerThatDoesNotListen(t *testing.T) {
	p := Start(t, "sleeper", exec.Command("sleep", "30"))
	err := p.waitReady(DialReady(Addr(FreePort(t))), 300*time.Millisecond)
	if err == nil {
		t.Fatal("waitReady succeeded on a port nobody listens on")
	}
	// sleep has one thread, asleep (S) for the whole test.
	if !regexp.MustCompile(`not ready after 300ms: .*connection refused\nprocess: state S, user CPU \d+ ticks, system CPU \d+ ticks; 1 threads: S`).MatchString(err.Error()) {
		t.Errorf("waitReady error lacks the reason or the process state:\n%v", err)
	}
}

func TestWaitReadyReportsAPeerThatExited(t *testing.T) {
	p := Start(t, "quitter", exec.Command("sh", "-c", "echo cannot start >&2; exit 3"))
	err := p.waitReady(DialReady(Addr(FreePort(t))), 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "quitter exited before it was ready: exit status 3") || !strings.Contains(err.Error(), "cannot start") {
		t.Errorf("waitReady = %v; want the exit status and the output", err)
	}
}
