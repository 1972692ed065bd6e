package multinode

import (
	"context"
	"sync"
	"testing"
	"time"
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
