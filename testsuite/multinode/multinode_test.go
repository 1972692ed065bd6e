package multinode

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/internal/loadflow"
)

// runWave runs one flow per user concurrently, flow i starting at node i.
func (c *cluster) runWave(ctx context.Context, users []int, pause func()) []*result {
	results := make([]*result, len(users))
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.flow(ctx, i, c.users[u], pause)
		}()
	}
	wg.Wait()
	return results
}

func seq(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

// TestFlowsHopBetweenNodes: 30 users log in at once, every request of each login on
// another node than the one before; all complete, and the tokens are active on
// every node.
func TestFlowsHopBetweenNodes(t *testing.T) {
	c := startCluster(t, 3, 30)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	results := c.runWave(ctx, seq(0, 30), nil)
	t.Logf("30 flows in %v", time.Since(start).Round(time.Millisecond))
	for _, r := range results {
		if r.Err != nil {
			t.Errorf("%s: failed at %s: %v", r.User, r.Stage, r.Err)
			continue
		}
		used := map[int]bool{}
		for i, h := range r.Hops {
			used[h.Node] = true
			if !h.Forced && i > 0 && !r.Hops[i-1].Forced && h.Node == r.Hops[i-1].Node {
				t.Errorf("%s: %s %s and the request before it both went to node%d", r.User, h.Method, h.Path, h.Node+1)
			}
		}
		if len(used) != len(c.nodes) {
			t.Errorf("%s: requests reached %d nodes; want all %d", r.User, len(used), len(c.nodes))
		}
	}
	if len(results) > 0 {
		for _, h := range results[0].Hops {
			t.Logf("  %s: %s %s -> node%d %d", results[0].User, h.Method, h.Path, h.Node+1, h.Status)
		}
	}
	evs := c.checkAudit()
	c.checkTokens(results, evs)
	c.checkRows()
}

// trigger calls fn once, in its own goroutine, when it has been called n times.
func trigger(n int32, fn func()) func() {
	var calls atomic.Int32
	return func() {
		if calls.Add(1) == n {
			go fn()
		}
	}
}

// tally counts failed flows by stage and kind of error.
func tally(results []*result) (done int, failed map[string]int) {
	failed = map[string]int{}
	for _, r := range results {
		if r.Err == nil {
			done++
			continue
		}
		failed[r.Stage+": "+loadflow.Kind(r.Err)]++
	}
	return done, failed
}

// TestNodeKilledMidWave: a node is SIGKILLed while 60 logins run. Requests that
// could not reach it go to another node; those it was serving fail in transport.
// Every flow completes or fails with a classified error; the audit trail and the
// token rows show no loss, duplicate or half-written transaction.
func TestNodeKilledMidWave(t *testing.T) {
	c := startCluster(t, 3, 60)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	victim := c.nodes[1]
	var killedAt time.Time
	var inflight int32
	killed := make(chan struct{})
	pause := trigger(15, func() {
		inflight = c.inflight[victim.index].Load()
		killedAt = time.Now()
		victim.proc.Kill()
		close(killed)
	})
	start := time.Now()
	results := c.runWave(ctx, seq(0, 60), pause)
	select {
	case <-killed:
	default:
		t.Fatal("the wave ended before the node was killed")
	}
	done, failed := tally(results)
	retries, resumeRefused := 0, 0
	for _, r := range results {
		retries += r.Retries
		for _, h := range r.Hops {
			if h.Status >= 500 {
				t.Errorf("%s: %s %s on node%d answered %d", r.User, h.Method, h.Path, h.Node+1, h.Status)
			}
		}
		if r.Err != nil && !strings.HasPrefix(loadflow.Kind(r.Err), "transport") {
			if loadflow.Kind(r.Err) == "http 400" && resumeRetried(r) {
				// /authorize/resume spends a single-use verifier: when the dead
				// node had spent it, the balancer's retry of that GET gets the
				// refusal page. Clean, but the person must start again.
				resumeRefused++
				continue
			}
			for _, h := range r.Hops {
				t.Logf("  %s: %s %s -> node%d %d %v", r.User, h.Method, h.Path, h.Node+1, h.Status, h.Err)
			}
			t.Errorf("%s: failed at %s with %v; only transport failures (requests the dead node was serving) are expected", r.User, r.Stage, r.Err)
		}
	}
	t.Logf("%d flows got the refusal page after their GET /authorize/resume was retried", resumeRefused)
	t.Logf("wave of 60 in %v, node2 killed at +%v with %d requests in flight on it: %d completed, failed %v, %d requests retried on another node",
		time.Since(start).Round(time.Millisecond), killedAt.Sub(start).Round(time.Millisecond), inflight, done, failed, retries)
	// Each failed flow must be explained by a request the dead node was serving:
	// one of its hops reached node2 and ended in a transport error. (Comparing
	// the count with the requests in flight when the kill was decided would race
	// with requests dialled between that count and the kill.)
	for _, r := range results {
		if r.Err != nil && !cutByKill(r, victim.index) {
			t.Errorf("%s failed at %s with %v, but none of its requests to node%d was cut by the kill", r.User, r.Stage, r.Err, victim.index+1)
		}
	}
	evs := c.checkAudit()
	c.checkTokens(results, evs)
	c.checkRows()
	// The killed node comes back on the same database.
	c.restart(victim)
	r := c.flow(ctx, 0, c.users[0], nil)
	if r.Err != nil {
		t.Errorf("after node2 restarted: %s failed at %s: %v", r.User, r.Stage, r.Err)
	}
}

// cutByKill reports whether one of r's requests reached node and then ended in a
// transport error, as requests a killed node was serving do (a refused dial
// reached nothing, and the balancer retries it).
func cutByKill(r *result, node int) bool {
	for _, h := range r.Hops {
		if h.Node == node && h.Err != nil && !dialFailed(h.Err) {
			return true
		}
	}
	return false
}

// TestPostgresRestartMidWave: PostgreSQL stops (fast shutdown, as in a failover)
// while logins run, stays down two seconds, and starts again. During the outage
// every node says it is not ready and answers requests with the French 503 page or
// OAuth temporarily_unavailable (503), never another error, a hang or a trace
// (issue #7); afterwards every node is
// ready again without a restart and new logins succeed.
func TestPostgresRestartMidWave(t *testing.T) {
	c := startCluster(t, 3, 60)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type probe struct {
		node   int
		status int
		err    error
	}
	var mu sync.Mutex
	var during []probe
	outageOver := make(chan struct{})
	var downAt, upAt time.Time
	pause := trigger(20, func() {
		defer close(outageOver)
		downAt = time.Now()
		c.pg.Stop()
		// Readiness during the outage, on every node.
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			for _, nd := range c.nodes {
				// /readyz bounds its store ping to 2 s; the rest is slack for a node
				// busy with the wave on a loaded machine (a hang still fails).
				st, err := c.readyz(nd, 10*time.Second)
				mu.Lock()
				during = append(during, probe{nd.index, st, err})
				mu.Unlock()
			}
			time.Sleep(200 * time.Millisecond)
		}
		c.pg.Start(t)
		upAt = time.Now()
	})
	start := time.Now()
	results := c.runWave(ctx, seq(0, 30), pause)
	<-outageOver
	t.Logf("PostgreSQL down from +%v to +%v", downAt.Sub(start).Round(time.Millisecond), upAt.Sub(start).Round(time.Millisecond))

	// Readiness: false on every node during the outage (after the first probes,
	// which may be served by a pool connection not yet known dead).
	notReady := map[int]int{}
	for _, p := range during {
		if p.err != nil {
			t.Errorf("node%d: /readyz during the outage: %v (want an answer, not a transport error)", p.node+1, p.err)
		} else if p.status == http.StatusServiceUnavailable {
			notReady[p.node]++
		} else if p.status != http.StatusOK {
			t.Errorf("node%d: /readyz during the outage answered %d", p.node+1, p.status)
		}
	}
	for _, nd := range c.nodes {
		if notReady[nd.index] == 0 {
			t.Errorf("node%d: /readyz never said 503 during a 2 s outage", nd.index+1)
		}
	}
	t.Logf("/readyz during the outage: %d probes, 503 per node %v", len(during), notReady)

	// What the flows saw.
	statuses := map[string]int{}
	for _, r := range results {
		for _, h := range r.Hops {
			switch {
			case h.Err != nil:
				statuses[fmt.Sprintf("%s %s: transport: %v", h.Method, h.Path, loadflow.Kind(h.Err))]++
				if h.Elapsed > 10*time.Second {
					t.Errorf("%s: %s %s on node%d hung %v during the outage", r.User, h.Method, h.Path, h.Node+1, h.Elapsed)
				}
			case h.Status >= 500:
				statuses[fmt.Sprintf("%s %s: %d", h.Method, h.Path, h.Status)]++
				if h.Status != http.StatusServiceUnavailable {
					t.Errorf("%s: %s %s on node%d answered %d during the outage; want 503", r.User, h.Method, h.Path, h.Node+1, h.Status)
				}
			}
		}
		if r.Err == nil {
			continue
		}
		k := loadflow.Kind(r.Err)
		switch {
		case k == "http 503", k == "oauth temporarily_unavailable":
		default:
			t.Errorf("%s: failed at %s with %v; want the 503 page or temporarily_unavailable", r.User, r.Stage, r.Err)
		}
		if strings.Contains(r.Err.Error(), "goroutine ") || strings.Contains(r.Err.Error(), ".go:") {
			t.Errorf("%s: the error shows a stack trace: %v", r.User, r.Err)
		}
	}
	done, failed := tally(results)
	t.Logf("wave of 30: %d completed, failed %v; 5xx and transport errors per endpoint: %v", done, failed, statuses)

	// Recovery without restarting any node.
	for _, nd := range c.nodes {
		c.waitReady(nd, 20*time.Second)
		if nd.proc.Exited() {
			t.Errorf("node%d exited during the outage", nd.index+1)
		}
	}
	t.Logf("all nodes ready %v after PostgreSQL started", time.Since(upAt).Round(time.Millisecond))
	after := c.runWave(ctx, seq(30, 30), nil)
	for _, r := range after {
		if r.Err != nil {
			t.Errorf("after recovery: %s failed at %s: %v", r.User, r.Stage, r.Err)
		}
	}
	evs := c.checkAudit()
	c.checkTokens(append(results, after...), evs)
	c.checkRows()
}

// TestGracefulShutdown: SIGTERM to a node (listen.drain_delay 2s) while logins
// run behind a balancer that health-checks /readyz every 100 ms. The node answers
// /readyz 503 at once and keeps serving; the balancer takes it out of rotation; the
// requests it was serving complete; it exits 0. No flow fails and no request to
// the stopping node fails, not even one the balancer could retry: no connection is
// left in the listen backlog when it closes.
func TestGracefulShutdown(t *testing.T) {
	const drain = 2 * time.Second
	c := startClusterWith(t, 3, 40, clusterOpts{drainDelay: drain})
	c.watchReadiness()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	victim := c.nodes[2]
	var inflight int32
	var sigterm, exited time.Time
	stopped := make(chan struct{})
	pause := trigger(30, func() {
		defer close(stopped)
		inflight = c.inflight[victim.index].Load()
		sigterm = time.Now()
		_ = syscall.Kill(victim.proc.Cmd.Process.Pid, syscall.SIGTERM)
		for !victim.proc.Exited() {
			time.Sleep(20 * time.Millisecond)
		}
		exited = time.Now()
	})
	results := c.runWave(ctx, seq(0, 40), pause)
	<-stopped
	done, failed := tally(results)
	servedAfter := 0
	for _, r := range results {
		for _, h := range r.Hops {
			if h.Node != victim.index {
				continue
			}
			if h.Err != nil {
				t.Errorf("%s: %s %s to the stopping node failed in transport: %v", r.User, h.Method, h.Path, h.Err)
			} else if h.Start.Add(h.Elapsed).After(sigterm) {
				servedAfter++
			}
		}
		if r.Err != nil {
			for _, h := range r.Hops {
				t.Logf("  %s: %s %s -> node%d %d %v", r.User, h.Method, h.Path, h.Node+1, h.Status, h.Err)
			}
			t.Errorf("%s: failed at %s: %v", r.User, r.Stage, r.Err)
		}
	}
	t.Logf("node3 got SIGTERM with %d requests in flight on it, answered %d requests after it, exited %v later (drain %v): %d of 40 completed, failed %v; exit: %v",
		inflight, servedAfter, exited.Sub(sigterm).Round(time.Millisecond), drain, done, failed, victim.proc.Cmd.ProcessState)
	if !c.draining[victim.index].Load() {
		t.Error("the balancer's health check never saw node3's /readyz answer 503 draining")
	}
	if took := exited.Sub(sigterm); took < drain {
		t.Errorf("node3 exited %v after SIGTERM, before its drain delay %v", took, drain)
	}
	if st := victim.proc.Cmd.ProcessState; st == nil || st.ExitCode() != 0 {
		t.Errorf("node3 after SIGTERM: %v; want exit status 0", st)
	}
	evs := c.checkAudit()
	c.checkTokens(results, evs)
	c.checkRows()
}

// resumeRefused reports whether the flow's GET /authorize/resume failed in transport
// and was retried on another node.
func resumeRetried(r *result) bool {
	for i, h := range r.Hops {
		if h.Path == "/authorize/resume" && h.Err != nil && i+1 < len(r.Hops) && r.Hops[i+1].Path == "/authorize/resume" {
			return true
		}
	}
	return false
}
