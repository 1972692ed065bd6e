package keys

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// memStore is an in-memory storage.KeyStore for unit tests. It copies rows in and
// out like a database would, so tests notice code that relies on shared pointers.
// The real stores pass their own conformance suite (broker/storage/storagetest).
type memStore struct {
	mu      sync.Mutex
	keys    map[string]*storage.Key
	calls   map[string]int
	failAll error // when set, every call fails with it
}

var _ storage.KeyStore = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{keys: map[string]*storage.Key{}, calls: map[string]int{}}
}

func copyKey(k *storage.Key) *storage.Key {
	c := *k
	c.PrivateSealed = slices.Clone(k.PrivateSealed)
	c.PublicJWK = slices.Clone(k.PublicJWK)
	c.ActivatedAt = copyTime(k.ActivatedAt)
	c.RetiredAt = copyTime(k.RetiredAt)
	c.RetireUntil = copyTime(k.RetireUntil)
	return &c
}

func copyTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

func (s *memStore) CreateKey(_ context.Context, k *storage.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["CreateKey"]++
	if s.failAll != nil {
		return s.failAll
	}
	if _, ok := s.keys[k.ID]; ok {
		return fmt.Errorf("create key %s: %w", k.ID, storage.ErrConflict)
	}
	s.keys[k.ID] = copyKey(k)
	return nil
}

func (s *memStore) ListKeys(context.Context) ([]*storage.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["ListKeys"]++
	if s.failAll != nil {
		return nil, s.failAll
	}
	out := make([]*storage.Key, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, copyKey(k))
	}
	return out, nil
}

func (s *memStore) UpdateKeys(_ context.Context, ks []*storage.Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["UpdateKeys"]++
	if s.failAll != nil {
		return s.failAll
	}
	for _, k := range ks {
		if _, ok := s.keys[k.ID]; !ok {
			return fmt.Errorf("update key %s: %w", k.ID, storage.ErrNotFound)
		}
	}
	for _, k := range ks {
		row := s.keys[k.ID]
		row.State = k.State
		row.ActivatedAt = copyTime(k.ActivatedAt)
		row.RetiredAt = copyTime(k.RetiredAt)
		row.RetireUntil = copyTime(k.RetireUntil)
	}
	return nil
}

func (s *memStore) DeleteKey(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls["DeleteKey"]++
	if s.failAll != nil {
		return s.failAll
	}
	if _, ok := s.keys[id]; !ok {
		return storage.ErrNotFound
	}
	delete(s.keys, id)
	return nil
}

func (s *memStore) count(call string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[call]
}

func (s *memStore) resetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = map[string]int{}
}

func (s *memStore) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = err
}

func (s *memStore) row(id string) *storage.Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.keys[id]; ok {
		return copyKey(k)
	}
	return nil
}

// byState returns the kids of signing keys of alg in state, oldest first.
func (s *memStore) byState(use, alg, state string) []*storage.Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*storage.Key
	for _, k := range s.keys {
		if k.Use == use && k.Alg == alg && k.State == state {
			out = append(out, copyKey(k))
		}
	}
	slices.SortFunc(out, oldestFirst)
	return out
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

// clock is a fixed clock that tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 3, 14, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
