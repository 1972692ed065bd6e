package keys

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// sharedStore is a memStore shared by several nodes, with the advisory lock a
// PostgreSQL store has (storage.Locker). It records how many holders it ever had at
// once, and can refuse or fail every lock request.
type sharedStore struct {
	*memStore
	lockMu     sync.Mutex
	held       bool
	grants     int
	overlapped bool
	refuse     bool  // another node holds the lock forever
	lockErr    error // the database cannot be asked
}

func (s *sharedStore) TryAdvisoryLock(_ context.Context, name string) (storage.Lease, bool, error) {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if name != storeLockName {
		return nil, false, errors.New("unexpected lock name " + name)
	}
	if s.lockErr != nil {
		return nil, false, s.lockErr
	}
	if s.refuse || s.held {
		return nil, false, nil
	}
	s.held = true
	s.grants++
	return &sharedLease{s: s}, true, nil
}

type sharedLease struct {
	s        *sharedStore
	released bool
}

func (l *sharedLease) Held(context.Context) error { return nil }

func (l *sharedLease) Release() {
	l.s.lockMu.Lock()
	defer l.s.lockMu.Unlock()
	if !l.released {
		l.released, l.s.held = true, false
	}
}

func (s *sharedStore) isHeld() bool {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	return s.held
}

// TestEnsureNodesTakeTurnsOnSharedStore: three nodes start together on a shared
// store with RS256 (slow to generate, so without the lock each node would read an
// empty store and create its own keys). With the lock, one node creates exactly one
// current and one next key per algorithm, the others find them, and nothing is
// retired as a duplicate.
func TestEnsureNodesTakeTurnsOnSharedStore(t *testing.T) {
	ctx := context.Background()
	st, clk, kek := &sharedStore{memStore: newMemStore()}, newClock(), GenerateKEK()
	algs := []string{"ES256", "RS256"}
	nodes := make([]*Manager, 3)
	for i := range nodes {
		nodes[i] = NewManager(st, kek, Options{Algorithms: algs, Now: clk.Now, Logger: quiet})
	}
	ensureTogether(t, nodes)
	if n := st.count("CreateKey"); n != 2*len(algs) {
		t.Errorf("%d keys created, want %d (one current and one next per algorithm)", n, 2*len(algs))
	}
	for _, alg := range algs {
		if r := st.byState(useSig, alg, storage.KeyRetired); len(r) != 0 {
			t.Errorf("%s: %d keys retired as duplicates, want none", alg, len(r))
		}
	}
	if st.grants < len(nodes) {
		t.Errorf("the key lock was granted %d times, want at least once per node (%d)", st.grants, len(nodes))
	}
	if st.isHeld() {
		t.Error("the key lock is still held after every Ensure returned")
	}
	want := st.byState(useSig, "RS256", storage.KeyCurrent)[0].ID
	for i, m := range nodes {
		if sk, err := m.Signer(ctx, "RS256"); err != nil || sk.ID != want {
			t.Errorf("node %d signs with %v (%v), want %s", i, sk, err, want)
		}
	}
}

// TestKeyWritesNeedTheLock: when the lock cannot be had, no key write happens and
// the error says why; the node's own writers are not left blocked.
func TestKeyWritesNeedTheLock(t *testing.T) {
	t.Run("database error", func(t *testing.T) {
		st := &sharedStore{memStore: newMemStore(), lockErr: errors.New("connection refused")}
		m := NewManager(st, GenerateKEK(), Options{Algorithms: []string{"ES256"}, Now: newClock().Now, Logger: quiet})
		err := m.Ensure(context.Background())
		if err == nil || !strings.Contains(err.Error(), "keys: ensure: key lock: connection refused") {
			t.Fatalf("Ensure = %v, want the lock's error", err)
		}
		if _, err := m.CookieKeys(context.Background()); err == nil || !strings.Contains(err.Error(), "key lock") {
			t.Errorf("CookieKeys = %v, want the lock's error", err)
		}
		if n := st.len(); n != 0 {
			t.Errorf("%d keys written without the lock", n)
		}
	})
	t.Run("held elsewhere", func(t *testing.T) {
		st := &sharedStore{memStore: newMemStore(), refuse: true}
		m := NewManager(st, GenerateKEK(), Options{Algorithms: []string{"ES256"}, Now: newClock().Now, Logger: quiet})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := m.Ensure(ctx)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "key lock") {
			t.Fatalf("Ensure = %v, want the wait for the key lock to end with the context", err)
		}
		if n := st.len(); n != 0 {
			t.Errorf("%d keys written without the lock", n)
		}
		// writeMu was released: the next writer gets as far as the lock again.
		ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel2()
		if err := m.Rotate(ctx2, "ES256"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Rotate after a failed Ensure = %v, want it to wait for the key lock too", err)
		}
	})
}
