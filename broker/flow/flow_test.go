package flow

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// memFlows is an in-memory FlowStore with the optimistic concurrency contract.
type memFlows struct {
	mu sync.Mutex
	m  map[string]storage.Flow
}

func (s *memFlows) CreateFlow(_ context.Context, f *storage.Flow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f.Version = 1
	s.m[f.ID] = *f
	return nil
}

func (s *memFlows) GetFlow(_ context.Context, id string) (*storage.Flow, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.m[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	return &f, nil
}

func (s *memFlows) UpdateFlow(_ context.Context, f *storage.Flow) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.m[f.ID]
	if !ok || cur.Version != f.Version {
		return storage.ErrConflict
	}
	f.Version++
	s.m[f.ID] = *f
	return nil
}

func (s *memFlows) DeleteFlow(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
	return nil
}

func TestFlowLifecycle(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st := &Store{Store: &memFlows{m: map[string]storage.Flow{}}, Lifetime: 15 * time.Minute, Now: clock}
	ctx := context.Background()
	f := &Flow{ClientID: "c", Query: url.Values{"scope": {"openid"}}, Binding: HashBinding("cookie-A")}
	if err := st.New(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, f.ID, "cookie-B"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("foreign browser: %v", err)
	}
	got, err := st.Get(ctx, f.ID, "cookie-A")
	if err != nil || got.Query.Get("scope") != "openid" || got.State != AwaitingLogin {
		t.Fatalf("get: %+v %v", got, err)
	}
	verifier, err := st.Authenticate(ctx, got, &Auth{PublicSubject: "p"}, "sid-1")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := st.Get(ctx, f.ID, "cookie-A")
	b, _ := st.Get(ctx, f.ID, "cookie-A")
	if !a.CheckVerifier(verifier) || a.CheckVerifier("guess") {
		t.Fatal("verifier check wrong")
	}
	// Two requests race to use the verifier: exactly one wins.
	a.State, b.State = Done, Done
	errA, errB := st.Save(ctx, a), st.Save(ctx, b)
	if (errA == nil) == (errB == nil) || !errors.Is(errors.Join(errA, errB), storage.ErrConflict) {
		t.Fatalf("race: %v / %v", errA, errB)
	}
	if _, err := st.Get(ctx, f.ID, "cookie-A"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("done flow still usable: %v", err)
	}
	f2 := &Flow{ClientID: "c", Binding: HashBinding("cookie-A")}
	if err := st.New(ctx, f2); err != nil {
		t.Fatal(err)
	}
	now = now.Add(16 * time.Minute)
	if _, err := st.Get(ctx, f2.ID, "cookie-A"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired flow: %v", err)
	}
}
