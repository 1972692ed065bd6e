package storagetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// LockEnv describes a database for RunLock: how to open two stores on it, as two
// broker nodes would.
type LockEnv struct {
	// OpenPair opens two stores on one (fresh) database; the test closes them at
	// cleanup.
	OpenPair func(t *testing.T) (a, b storage.Store)
	// Shared is true when the database is shared between processes (PostgreSQL):
	// a lock held through a excludes b. False for a database one process owns
	// (SQLite), where every lock is granted.
	Shared bool
	// Sever ends, from outside, every database connection that holds an advisory
	// lock (pg_terminate_backend), as when the node holding it dies or loses its
	// network. Required when Shared.
	Sever func(t *testing.T)
}

// RunLock is the conformance suite of storage.Locker.
func RunLock(t *testing.T, e LockEnv) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	try := func(t *testing.T, s storage.Store, name string) (func(), bool) {
		t.Helper()
		lease, ok, err := s.TryAdvisoryLock(ctx, name)
		if err != nil {
			t.Fatalf("TryAdvisoryLock(%q): %v", name, err)
		}
		if !ok {
			return nil, false
		}
		if lease == nil {
			t.Fatalf("TryAdvisoryLock(%q): ok with a nil lease", name)
		}
		if err := lease.Held(ctx); err != nil {
			t.Fatalf("TryAdvisoryLock(%q): a lease just granted is not held: %v", name, err)
		}
		return lease.Release, true
	}

	if !e.Shared {
		t.Run("AlwaysGranted", func(t *testing.T) {
			a, b := e.OpenPair(t)
			ua, okA := try(t, a, "cleanup")
			ub, okB := try(t, b, "cleanup")
			ua2, okA2 := try(t, a, "cleanup")
			if !okA || !okB || !okA2 {
				t.Fatalf("locks granted = %v, %v, %v; want all (one process owns the database)", okA, okB, okA2)
			}
			ua()
			ua()
			ub()
			ua2()
		})
		return
	}

	t.Run("HeldUntilRelease", func(t *testing.T) {
		a, _ := e.OpenPair(t)
		lease, ok, err := a.TryAdvisoryLock(ctx, "held")
		if err != nil || !ok {
			t.Fatalf("lock not granted: %v", err)
		}
		for range 3 {
			if err := lease.Held(ctx); err != nil {
				t.Fatalf("Held on a live lease: %v", err)
			}
		}
		lease.Release()
		if err := lease.Held(ctx); err == nil {
			t.Fatal("Held after Release: nil; want an error")
		}
	})

	t.Run("OneHolderUntilUnlock", func(t *testing.T) {
		a, b := e.OpenPair(t)
		ua, ok := try(t, a, "cleanup")
		if !ok {
			t.Fatal("first TryAdvisoryLock on a free lock: not granted")
		}
		if _, ok := try(t, b, "cleanup"); ok {
			t.Fatal("the other store got a lock that is held")
		}
		// Session locks are re-entrant within one connection; the store must
		// still refuse a second holder in the same process, because the pool
		// hands out other connections.
		if _, ok := try(t, a, "cleanup"); ok {
			t.Fatal("the holding store got the held lock a second time")
		}
		// Another name is another lock.
		uo, ok := try(t, b, "keys-prune")
		if !ok {
			t.Fatal("a lock of another name was refused")
		}
		uo()
		ua()
		ua() // idempotent
		ub, ok := try(t, b, "cleanup")
		if !ok {
			t.Fatal("after unlock, the other store did not get the lock")
		}
		if _, ok := try(t, a, "cleanup"); ok {
			t.Fatal("the first store got the lock back while the other holds it")
		}
		ub()
		ua, ok = try(t, a, "cleanup")
		if !ok {
			t.Fatal("after the second unlock, the lock was not free")
		}
		ua()
	})

	t.Run("ExactlyOneOfManyContenders", func(t *testing.T) {
		a, b := e.OpenPair(t)
		var granted atomic.Int32
		var mu sync.Mutex
		var unlocks []func()
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func(s storage.Store) {
				defer wg.Done()
				lease, ok, err := s.TryAdvisoryLock(ctx, "race")
				if err != nil {
					t.Errorf("TryAdvisoryLock: %v", err)
					return
				}
				if ok {
					granted.Add(1)
					mu.Lock()
					unlocks = append(unlocks, lease.Release)
					mu.Unlock()
				}
			}([]storage.Store{a, b}[i%2])
		}
		wg.Wait()
		if n := granted.Load(); n != 1 {
			t.Errorf("%d of 8 concurrent TryAdvisoryLock calls were granted; want exactly 1", n)
		}
		for _, u := range unlocks {
			u()
		}
	})

	t.Run("DeadConnectionReleases", func(t *testing.T) {
		if e.Sever == nil {
			t.Fatal("LockEnv.Sever is required for a shared database")
		}
		a, b := e.OpenPair(t)
		lease, ok, err := a.TryAdvisoryLock(ctx, "cleanup")
		if err != nil || !ok {
			t.Fatalf("lock not granted: %v", err)
		}
		ua := lease.Release
		e.Sever(t)
		// The holder learns that it lost the lock (runExclusive asks at each
		// period before running its job again).
		if err := lease.Held(ctx); err == nil {
			t.Fatal("Held after the holding connection was ended: nil; want an error")
		}
		deadline := time.Now().Add(10 * time.Second)
		var ub func()
		for {
			if ub, ok = try(t, b, "cleanup"); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the lock of a dead connection was not released within 10 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The former holder's unlock must neither hang nor free the new
		// holder's lock.
		done := make(chan struct{})
		go func() { ua(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("unlock on a dead connection hangs")
		}
		if _, ok := try(t, a, "cleanup"); ok {
			t.Fatal("the former holder's unlock freed the new holder's lock")
		}
		ub()
		// The former holder's store still works: the dead connection left its pool.
		ua, ok = try(t, a, "cleanup")
		if !ok {
			t.Fatal("the former holder cannot take the lock again after the new holder unlocked")
		}
		ua()
	})

}
