package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/metrics"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// memLocker is a storage.Locker shared by several fake nodes, like one database.
type memLocker struct {
	mu     sync.Mutex
	holder map[string]*memLease
}

// memLease is a lock held by one node; sever ends it as a dead connection would.
type memLease struct {
	m    *memLocker
	name string
	node int
	lost atomic.Bool
}

func (l *memLease) Held(context.Context) error {
	if l.lost.Load() {
		return errors.New("connection lost")
	}
	return nil
}

func (l *memLease) Release() { l.sever() }

func (l *memLease) sever() {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	l.lost.Store(true)
	if l.m.holder[l.name] == l {
		delete(l.m.holder, l.name)
	}
}

// node returns the Locker of one node.
func (m *memLocker) node(id int) lockerFunc {
	return func(_ context.Context, name string) (storage.Lease, bool, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.holder[name] != nil {
			return nil, false, nil
		}
		l := &memLease{m: m, name: name, node: id}
		m.holder[name] = l
		return l, true, nil
	}
}

func (m *memLocker) current(name string) *memLease {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.holder[name]
}

type lockerFunc func(ctx context.Context, name string) (storage.Lease, bool, error)

func (f lockerFunc) TryAdvisoryLock(ctx context.Context, name string) (storage.Lease, bool, error) {
	return f(ctx, name)
}

// TestRunExclusive: three nodes run one job; only one runs it at any time and it
// keeps it while it lives; when its connection dies, or when it stops, another
// node takes the job over.
func TestRunExclusive(t *testing.T) {
	locks := &memLocker{holder: map[string]*memLease{}}
	logger := slog.New(slog.DiscardHandler)
	var runs [3]atomic.Int64
	var running atomic.Int32
	var overlap atomic.Bool
	var cancels [3]context.CancelFunc
	var wg sync.WaitGroup
	for i := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			runExclusive(ctx, locks.node(i), logger, "cleanup", 5*time.Millisecond, func(context.Context) {
				if running.Add(1) > 1 {
					overlap.Store(true)
				}
				runs[i].Add(1)
				time.Sleep(time.Millisecond)
				running.Add(-1)
			})
		}()
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	}()
	total := func() (n int64) {
		for i := range runs {
			n += runs[i].Load()
		}
		return n
	}
	// waitRuns waits until the job ran n more times in all (timer ticks come
	// late on a loaded machine: no fixed sleep).
	waitRuns := func(n int64, what string) {
		t.Helper()
		target := total() + n
		deadline := time.Now().Add(10 * time.Second)
		for total() < target {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the job ran %d times in 10 s; want %d", what, total(), target)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	waitRuns(20, "start")
	first := locks.current("cleanup")
	if first == nil {
		t.Fatal("nobody holds the job's lock while the job runs")
	}
	for i := range runs {
		if i != first.node && runs[i].Load() != 0 {
			t.Errorf("node %d ran the job %d times while node %d held the lock", i, runs[i].Load(), first.node)
		}
	}
	if overlap.Load() {
		t.Fatal("two nodes ran the job at the same time")
	}

	// The holder's connection dies: the lock is free and is taken again, by
	// another node or by the former holder once it noticed (it asks Held
	// before each run and then competes like the others). A run in progress
	// at that moment may overlap the next holder's first run (fn is
	// idempotent), so overlaps are counted again from the new holder on.
	first.sever()
	waitRuns(20, "after the holder's connection died")
	second := locks.current("cleanup")
	if second == nil || second == first {
		t.Fatalf("after the holder's connection died the lock is held by %+v; want a new lease", second)
	}
	overlap.Store(false)
	waitRuns(20, "under the new holder")
	for i := range runs {
		if i == second.node {
			continue
		}
		before := runs[i].Load()
		waitRuns(5, "under the new holder")
		if runs[i].Load() != before {
			t.Errorf("node %d ran the job while node %d held the lock", i, second.node)
		}
	}
	if overlap.Load() {
		t.Fatal("two nodes ran the job at the same time under the new holder")
	}

	// The new holder stops (its node shuts down): the last node takes over.
	cancels[second.node]()
	before2 := runs[second.node].Load()
	waitRuns(20, "after the second holder stopped")
	third := locks.current("cleanup")
	if third == nil || third.node == second.node {
		t.Fatalf("after the second holder stopped the lock is held by %+v; want another node", third)
	}
	if runs[second.node].Load() > before2+1 {
		t.Errorf("the stopped node kept running the job")
	}
	if overlap.Load() {
		t.Error("two nodes ran the job at the same time")
	}
}

// The cleanup's log line tells a whole run from one the node's stop cut short,
// and says nothing when nothing was deleted; the outcome goes to the metrics.
func TestLogCleanup(t *testing.T) {
	cases := []struct {
		name    string
		rows    int64
		err     error
		want    string // the message; "" for no line
		outcome string
	}{
		{"whole run", 1200, nil, "cleanup: expired rows deleted", metrics.CleanupDone},
		{"nothing expired", 0, nil, "", metrics.CleanupDone},
		{"node stopping", 800, fmt.Errorf("storage: delete expired: %w", context.Canceled), "cleanup: stopped with the node before the end", metrics.CleanupStopped},
		{"node stopping, nothing deleted yet", 0, context.Canceled, "", metrics.CleanupStopped},
		{"store error", 300, errors.New("storage: delete expired: disk I/O error"), "cleanup: delete expired rows", metrics.CleanupFailed},
	}
	for _, c := range cases {
		var buf strings.Builder
		if got := logCleanup(slog.New(slog.NewTextHandler(&buf, nil)), c.rows, c.err, 1500*time.Millisecond); got != c.outcome {
			t.Errorf("%s: outcome %q; want %q", c.name, got, c.outcome)
		}
		out := buf.String()
		if c.want == "" {
			if out != "" {
				t.Errorf("%s: logged %q; want nothing", c.name, out)
			}
			continue
		}
		if !strings.Contains(out, `msg="`+c.want+`"`) || !strings.Contains(out, fmt.Sprintf("rows=%d", c.rows)) || !strings.Contains(out, "took=1.5s") {
			t.Errorf("%s: logged %q; want %q with rows=%d took=1.5s", c.name, out, c.want, c.rows)
		}
		if strings.Count(out, "\n") != 1 {
			t.Errorf("%s: %d lines; want one", c.name, strings.Count(out, "\n"))
		}
	}
}
