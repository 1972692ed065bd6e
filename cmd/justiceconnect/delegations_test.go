package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// delegationsFakeStore keeps delegations and audit events in memory; the rest of
// storage.Store is the nil embedded interface, so any other call panics.
type delegationsFakeStore struct {
	storage.Store
	mu          sync.Mutex
	delegations []*storage.Delegation
	events      []*storage.AuditEvent
	auditErr    error
	closed      bool
}

func (s *delegationsFakeStore) CreateDelegation(ctx context.Context, d *storage.Delegation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.delegations {
		if o.ID == d.ID {
			return storage.ErrConflict
		}
	}
	c := *d
	c.Audiences = slices.Clone(d.Audiences)
	s.delegations = append(s.delegations, &c)
	return nil
}

func (s *delegationsFakeStore) ListDelegations(ctx context.Context, subject string) ([]*storage.Delegation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*storage.Delegation
	for _, d := range s.delegations {
		if subject == "" || d.Subject == subject {
			c := *d
			out = append(out, &c)
		}
	}
	return out, nil
}

func (s *delegationsFakeStore) RevokeDelegation(ctx context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.delegations {
		if d.ID == id {
			if d.RevokedAt == nil {
				d.RevokedAt = &at
			}
			return nil
		}
	}
	return storage.ErrNotFound
}

func (s *delegationsFakeStore) AppendAudit(ctx context.Context, e *storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.auditErr != nil {
		return s.auditErr
	}
	s.events = append(s.events, e)
	return nil
}

func (s *delegationsFakeStore) Close() error {
	s.closed = true
	return nil
}

var delegationsT0 = time.Date(2031, time.March, 14, 9, 0, 0, 0, time.UTC)

func delegationsFixture(t *testing.T) (*delegationsFakeStore, string) {
	t.Helper()
	_, cfg := clientsFixture(t) // a valid configuration file
	store := &delegationsFakeStore{}
	savedOpen, savedNow, savedID, savedOp := openStore, delegationsNow, newDelegationID, sessionsOperator
	t.Cleanup(func() {
		openStore, delegationsNow, newDelegationID, sessionsOperator = savedOpen, savedNow, savedID, savedOp
	})
	openStore = func(ctx context.Context, cfg *config.Config) (storage.Store, error) { return store, nil }
	delegationsNow = func() time.Time { return delegationsT0 }
	n := 0
	newDelegationID = func() (string, error) { n++; return "dlg_" + strings.Repeat("x", n), nil }
	sessionsOperator = func() string { return "admin" }
	return store, cfg
}

func runDelegationsTest(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runDelegations(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestDelegations(t *testing.T) {
	store, cfg := delegationsFixture(t)

	code, stdout, stderr := runDelegationsTest(t, "add", "--config", cfg, "--json", "--actor", "clerk-sub", "--subject", "judge-sub",
		"--audience", "https://api.detenus.example", "--audience", "https://api.greffe.example",
		"--until", "2031-04-01T00:00:00Z", "--reason", "greffe du cabinet")
	if code != 0 {
		t.Fatalf("add: exit %d: %s", code, stderr)
	}
	var added delegationView
	if err := json.Unmarshal([]byte(stdout), &added); err != nil {
		t.Fatalf("add --json: %v\n%s", err, stdout)
	}
	if added.ID != "dlg_x" || added.State != "active" || added.NotBefore == nil || !added.NotBefore.Equal(delegationsT0) {
		t.Errorf("add output %+v", added)
	}
	if len(store.delegations) != 1 {
		t.Fatalf("stored %d delegations", len(store.delegations))
	}
	d := store.delegations[0]
	if d.Actor != "clerk-sub" || d.Subject != "judge-sub" || strings.Join(d.Audiences, " ") != "https://api.detenus.example https://api.greffe.example" ||
		!d.NotBefore.Equal(delegationsT0) || !d.NotAfter.Equal(time.Date(2031, 4, 1, 0, 0, 0, 0, time.UTC)) || d.Reason != "greffe du cabinet" ||
		!d.CreatedAt.Equal(delegationsT0) {
		t.Errorf("stored %+v", d)
	}
	if !store.closed {
		t.Errorf("store not closed")
	}
	if len(store.events) != 1 {
		t.Fatalf("audit events after add: %d", len(store.events))
	}
	ev := store.events[0]
	if ev.Type != "admin.delegation" || ev.Outcome != "success" || ev.Subject != "judge-sub" || ev.Details["action"] != "add" ||
		ev.Details["delegation_id"] != "dlg_x" || ev.Details["actor"] != "clerk-sub" || ev.Details["operator"] != "admin" ||
		ev.Details["reason"] != "greffe du cabinet" || ev.Details["not_after"] == "" {
		t.Errorf("add audit event %+v", ev)
	}

	// A second, for someone else, in the text form.
	code, stdout, stderr = runDelegationsTest(t, "add", "--config", cfg, "--actor", "clerk-sub", "--subject", "prosecutor-sub",
		"--audience", "https://api.detenus.example", "--from", "2031-05-01T00:00:00+02:00")
	if code != 0 || !strings.Contains(stdout, "Delegation dlg_xx created") {
		t.Fatalf("text add: exit %d\n%s%s", code, stdout, stderr)
	}

	// list --subject filters; --json shows states.
	code, stdout, stderr = runDelegationsTest(t, "list", "--config", cfg, "--json", "--subject", "judge-sub")
	var views []delegationView
	if code != 0 || json.Unmarshal([]byte(stdout), &views) != nil || len(views) != 1 || views[0].ID != "dlg_x" {
		t.Fatalf("list --subject: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = runDelegationsTest(t, "list", "--config", cfg, "--json")
	views = nil
	if code != 0 || json.Unmarshal([]byte(stdout), &views) != nil || len(views) != 2 || views[1].State != "pending" {
		t.Fatalf("list: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runDelegationsTest(t, "list", "--config", cfg)
	if code != 0 || !strings.Contains(stdout, "ACTOR") || !strings.Contains(stdout, "pending") || !strings.Contains(stdout, "greffe du cabinet") {
		t.Errorf("text list: exit %d\n%s", code, stdout)
	}

	// revoke.
	code, stdout, stderr = runDelegationsTest(t, "revoke", "--config", cfg, "--json", "--id", "dlg_x")
	if code != 0 || !strings.Contains(stdout, `"revoked": true`) {
		t.Fatalf("revoke: exit %d\n%s%s", code, stdout, stderr)
	}
	if store.delegations[0].RevokedAt == nil || !store.delegations[0].RevokedAt.Equal(delegationsT0) {
		t.Errorf("not revoked: %+v", store.delegations[0])
	}
	code, stdout, _ = runDelegationsTest(t, "list", "--config", cfg, "--json", "--subject", "judge-sub")
	views = nil
	if code != 0 || json.Unmarshal([]byte(stdout), &views) != nil || len(views) != 1 || views[0].State != "revoked" {
		t.Errorf("list after revoke: exit %d\n%s", code, stdout)
	}
	code, _, stderr = runDelegationsTest(t, "revoke", "--config", cfg, "--id", "dlg_unknown")
	if code != 1 || !strings.Contains(stderr, "no delegation") {
		t.Errorf("revoke unknown: exit %d %s", code, stderr)
	}

	// Every command is audited, failures included.
	var actions []string
	for _, e := range store.events {
		if e.Type != "admin.delegation" {
			t.Errorf("event type %q", e.Type)
		}
		actions = append(actions, e.Details["action"]+":"+e.Outcome)
	}
	want := "add:success add:success list:success list:success list:success revoke:success list:success revoke:failure"
	if strings.Join(actions, " ") != want {
		t.Errorf("audited actions = %s\nwant %s", strings.Join(actions, " "), want)
	}
}

func TestDelegationsRefused(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no actor", []string{"add", "--subject", "j", "--audience", "https://a.example"}, "--actor is required"},
		{"no audience", []string{"add", "--actor", "c", "--subject", "j"}, "--audience is required"},
		{"same person", []string{"add", "--actor", "j", "--subject", "j", "--audience", "https://a.example"}, "same person"},
		{"relative audience", []string{"add", "--actor", "c", "--subject", "j", "--audience", "api"}, "not an absolute URL"},
		{"bad from", []string{"add", "--actor", "c", "--subject", "j", "--audience", "https://a.example", "--from", "tomorrow"}, "--from"},
		{"until before from", []string{"add", "--actor", "c", "--subject", "j", "--audience", "https://a.example",
			"--from", "2031-05-01T00:00:00Z", "--until", "2031-04-01T00:00:00Z"}, "--until must be after --from"},
		{"revoke without id", []string{"revoke"}, "--id is required"},
		{"unknown command", []string{"grant"}, "unknown command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store, cfg := delegationsFixture(t)
			code, _, stderr := runDelegationsTest(t, append(tc.args, "--config", cfg)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
			if len(store.delegations) != 0 || len(store.events) != 0 {
				t.Errorf("store touched: %+v %+v", store.delegations, store.events)
			}
		})
	}

	t.Run("past until", func(t *testing.T) {
		store, cfg := delegationsFixture(t)
		code, _, stderr := runDelegationsTest(t, "add", "--config", cfg, "--actor", "c", "--subject", "j",
			"--audience", "https://a.example", "--until", "2030-01-01T00:00:00Z")
		if code != 1 || !strings.Contains(stderr, "already past") || len(store.delegations) != 0 {
			t.Errorf("exit %d %s", code, stderr)
		}
	})
	t.Run("audit failure is reported", func(t *testing.T) {
		store, cfg := delegationsFixture(t)
		store.auditErr = errors.New("disk full")
		code, _, stderr := runDelegationsTest(t, "add", "--config", cfg, "--actor", "c", "--subject", "j", "--audience", "https://a.example")
		if code != 1 || !strings.Contains(stderr, "audit event was not recorded") {
			t.Errorf("exit %d %s", code, stderr)
		}
	})
}
