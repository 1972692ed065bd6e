package broker

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// memLocker is a storage.Locker shared by several fake nodes, like one database.
type memLocker struct {
	mu     sync.Mutex
	holder map[string]*int
}

// node returns the Locker of one node; ids tell holders apart.
func (m *memLocker) node(id *int) lockerFunc {
	return func(_ context.Context, name string) (func(), bool, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.holder[name] != nil {
			return nil, false, nil
		}
		m.holder[name] = id
		var once sync.Once
		return func() {
			once.Do(func() {
				m.mu.Lock()
				defer m.mu.Unlock()
				if m.holder[name] == id {
					delete(m.holder, name)
				}
			})
		}, true, nil
	}
}

type lockerFunc func(ctx context.Context, name string) (func(), bool, error)

func (f lockerFunc) TryAdvisoryLock(ctx context.Context, name string) (func(), bool, error) {
	return f(ctx, name)
}

// TestRunExclusive: three nodes run one job; only one runs it at any time, it keeps
// it while it lives, and another takes over when it stops.
func TestRunExclusive(t *testing.T) {
	locks := &memLocker{holder: map[string]*int{}}
	logger := slog.New(slog.DiscardHandler)
	var runs [3]atomic.Int64
	var running atomic.Int32
	var overlap atomic.Bool
	var cancels [3]context.CancelFunc
	var wg sync.WaitGroup
	for i := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		id := i
		wg.Add(1)
		go func() {
			defer wg.Done()
			runExclusive(ctx, locks.node(&id), logger, "cleanup", 5*time.Millisecond, func(context.Context) {
				if running.Add(1) > 1 {
					overlap.Store(true)
				}
				runs[id].Add(1)
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
	time.Sleep(300 * time.Millisecond)
	// The holder releases and retakes the lock at each tick; another node's tick
	// may fall in that gap now and then, but one node runs nearly every time.
	leader, total := 0, int64(0)
	for i := range runs {
		total += runs[i].Load()
		if runs[i].Load() > runs[leader].Load() {
			leader = i
		}
	}
	if total < 10 {
		t.Fatalf("job ran %d times in 300 ms at a 5 ms period; want at least 10", total)
	}
	if n := runs[leader].Load(); n*10 < total*8 {
		t.Errorf("the most active node ran %d of %d runs; want one node to keep the job (>= 80%%)", n, total)
	}
	// The leader stops (its node shuts down): another node takes the job.
	cancels[leader]()
	before := runs[leader].Load()
	time.Sleep(200 * time.Millisecond)
	if runs[leader].Load() > before+1 {
		t.Errorf("the stopped node kept running the job")
	}
	others := int64(0)
	for i := range runs {
		if i != leader {
			others += runs[i].Load()
		}
	}
	if others == 0 {
		t.Errorf("no other node took the job over after the leader stopped")
	}
	if overlap.Load() {
		t.Errorf("two nodes ran the job at the same time")
	}
}
