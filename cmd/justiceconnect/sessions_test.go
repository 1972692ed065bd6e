package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

func (s *adminFakeStore) ListSSOSessionsBySubject(ctx context.Context, subject string) ([]*storage.SSOSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listErr != nil {
		return nil, s.listErr
	}
	var out []*storage.SSOSession
	for _, ss := range s.sessions {
		if ss.Subject == subject && ss.EndedAt == nil {
			c := *ss
			out = append(out, &c)
		}
	}
	return out, nil
}

func (s *adminFakeStore) EndSSOSession(ctx context.Context, id string, t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.endErr[id]; err != nil {
		return err
	}
	ss, ok := s.sessions[id]
	if !ok {
		return storage.ErrNotFound
	}
	if ss.EndedAt == nil {
		ss.EndedAt = &t
	}
	return nil
}

func (s *adminFakeStore) RevokeTokensOfSession(ctx context.Context, sid string, keepOffline bool) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.revokeErr[sid]; err != nil {
		return 0, err
	}
	n := s.tokens[sid]
	if keepOffline {
		s.keptOnline = true
		n -= s.offline[sid]
		s.tokens[sid] = s.offline[sid]
	} else {
		s.tokens[sid] = 0
		s.offline[sid] = 0
	}
	return n, nil
}

var sessT0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// sessionsStore holds two live sessions of the struck-off lawyer (one already
// past its idle expiry), one session of hers that ended at logout, and one of
// a colleague.
func sessionsStore() *adminFakeStore {
	ended := sessT0.Add(-time.Hour)
	mk := func(id, subject string, created time.Time, idle time.Duration, clients ...string) *storage.SSOSession {
		return &storage.SSOSession{ID: id, Subject: subject, Provider: "barreau", ACR: "eidas2", AMR: []string{"pwd", "otp"},
			AuthTime: created, CreatedAt: created, LastSeenAt: created, IdleExpiresAt: created.Add(idle),
			AbsoluteExpiresAt: created.Add(12 * time.Hour), Clients: clients}
	}
	s := &adminFakeStore{
		sessions: map[string]*storage.SSOSession{
			"sid-b": mk("sid-b", "avocat-1", sessT0.Add(-30*time.Minute), time.Hour, "rpva", "portalis"),
			"sid-a": mk("sid-a", "avocat-1", sessT0.Add(-3*time.Hour), time.Hour),
			"sid-c": mk("sid-c", "avocat-1", sessT0.Add(-5*time.Hour), time.Hour, "rpva"),
			"sid-x": mk("sid-x", "avocat-2", sessT0.Add(-time.Hour), time.Hour, "rpva"),
		},
		tokens:    map[string]int64{"sid-a": 1, "sid-b": 4, "sid-c": 1, "sid-x": 2},
		offline:   map[string]int64{"sid-b": 1, "sid-c": 1},
		endErr:    map[string]error{},
		revokeErr: map[string]error{},
	}
	s.sessions["sid-c"].EndedAt = &ended
	return s
}

func runSessionsTest(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	saved, savedOp := sessionsNow, sessionsOperator
	t.Cleanup(func() { sessionsNow, sessionsOperator = saved, savedOp })
	sessionsNow = func() time.Time { return sessT0 }
	sessionsOperator = func() string { return "greffier" }
	var stdout, stderr bytes.Buffer
	code := runSessions(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestSessionsList(t *testing.T) {
	s := sessionsStore()
	cfg := adminFixture(t, s)
	code, stdout, stderr := runSessionsTest(t, "list", "--config", cfg, "--user", "avocat-1", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []sessionView
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if len(got) != 2 || got[0].ID != "sid-a" || got[1].ID != "sid-b" {
		t.Fatalf("sessions = %+v, want sid-a then sid-b (live ones, oldest first)", got)
	}
	if !got[0].Expired || got[1].Expired {
		t.Errorf("expired = %v %v, want true false", got[0].Expired, got[1].Expired)
	}
	if strings.Join(got[1].Clients, " ") != "rpva portalis" || got[0].Clients == nil {
		t.Errorf("clients = %v %v", got[0].Clients, got[1].Clients)
	}
	if strings.Contains(stdout, "identity") {
		t.Error("list shows the stored identity")
	}
	if s.sessions["sid-a"].EndedAt != nil || s.tokens["sid-b"] != 4 {
		t.Error("list changed something")
	}

	code, stdout, _ = runSessionsTest(t, "list", "--config", cfg, "--user", "avocat-1")
	if code != 0 || !strings.Contains(stdout, "SESSION") || !strings.Contains(stdout, "sid-b") ||
		!strings.Contains(stdout, "rpva portalis") || !strings.Contains(stdout, "expired") || strings.Contains(stdout, "sid-x") {
		t.Errorf("table:\n%s", stdout)
	}
	code, stdout, _ = runSessionsTest(t, "list", "--config", cfg, "--user", "nobody")
	if code != 0 || !strings.Contains(stdout, "No live session for nobody.") {
		t.Errorf("nobody: %d %q", code, stdout)
	}
}

func TestSessionsRevoke(t *testing.T) {
	s := sessionsStore()
	cfg := adminFixture(t, s)
	code, stdout, stderr := runSessionsTest(t, "revoke", "--config", cfg, "--user", "avocat-1", "--reason", "radiation du barreau", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	var got revokeResult
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if !got.OK || got.Subject != "avocat-1" || len(got.Sessions) != 2 || got.TokensRevoked != 5 {
		t.Fatalf("result = %+v", got)
	}
	for _, r := range got.Sessions {
		if !r.Ended || !r.Audited || r.Error != "" {
			t.Errorf("session %+v", r)
		}
	}

	// Both live sessions ended, every token gone, offline_access included.
	for _, id := range []string{"sid-a", "sid-b"} {
		if s.sessions[id].EndedAt == nil || !s.sessions[id].EndedAt.Equal(sessT0) {
			t.Errorf("%s ended at %v, want %v", id, s.sessions[id].EndedAt, sessT0)
		}
		if s.tokens[id] != 0 {
			t.Errorf("%s keeps %d tokens", id, s.tokens[id])
		}
	}
	if s.keptOnline {
		t.Error("tokens revoked with keepOffline = true: offline_access survives")
	}
	// The colleague is untouched.
	if s.sessions["sid-x"].EndedAt != nil || s.tokens["sid-x"] != 2 {
		t.Error("another subject's session was touched")
	}

	// One audit event per session, chained, then one for the subject's other
	// tokens (offline grants of ended sessions).
	if len(s.events) != 3 {
		t.Fatalf("%d audit events, want 3", len(s.events))
	}
	if e := s.events[2]; e.Subject != "avocat-1" || e.Session != "" || e.Details["scope"] != "all_tokens" {
		t.Errorf("subject-wide event = %+v", e)
	}
	for i, e := range s.events[:2] {
		wantSID := []string{"sid-a", "sid-b"}[i]
		if e.Type != "admin.session_revoked" || e.Outcome != audit.OutcomeOK ||
			e.Subject != "avocat-1" || e.Session != wantSID || e.Provider != "barreau" || !e.Time.Equal(sessT0) {
			t.Errorf("event %d = %+v", i, e)
		}
		if e.Details["reason"] != "radiation du barreau" || e.Details["operator"] != "greffier" {
			t.Errorf("event %d details = %v", i, e.Details)
		}
	}
	if s.events[0].Details["tokens_revoked"] != "1" || s.events[1].Details["tokens_revoked"] != "4" ||
		s.events[1].Details["clients"] != "rpva portalis" {
		t.Errorf("details = %v, %v", s.events[0].Details, s.events[1].Details)
	}

	// Again: nothing left, nothing recorded.
	code, stdout, _ = runSessionsTest(t, "revoke", "--config", cfg, "--user", "avocat-1")
	if code != 0 || !strings.Contains(stdout, "nothing to revoke") || len(s.events) != 3 {
		t.Errorf("second run: %d %q, %d events", code, stdout, len(s.events))
	}
}

func TestSessionsRevokeTable(t *testing.T) {
	s := sessionsStore()
	code, stdout, _ := runSessionsTest(t, "revoke", "--config", adminFixture(t, s), "--user", "avocat-1")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"SESSION", "sid-a", "sid-b", "2 session(s) of avocat-1 ended, 5 token(s) revoked.",
		"back-channel logout notices are queued", "NOTICES", "disable it there"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
}

func TestSessionsRevokeFailures(t *testing.T) {
	s := sessionsStore()
	s.revokeErr["sid-a"] = errors.New("tokens: database unavailable")
	code, stdout, _ := runSessionsTest(t, "revoke", "--config", adminFixture(t, s), "--user", "avocat-1", "--json")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	var got revokeResult
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	// The failure on sid-a does not stop sid-b.
	if got.OK || len(got.Sessions) != 2 || !strings.Contains(got.Sessions[0].Error, "revoke its tokens") || got.Sessions[1].Error != "" {
		t.Errorf("result = %+v", got)
	}
	if s.tokens["sid-b"] != 0 || s.sessions["sid-b"].EndedAt == nil {
		t.Error("sid-b not revoked after sid-a failed")
	}
	if len(s.events) != 3 || s.events[0].Outcome != audit.OutcomeFail || s.events[0].Details["failed_step"] != "revoke_tokens" ||
		s.events[1].Outcome != audit.OutcomeOK {
		t.Errorf("events = %+v %+v", s.events[0], s.events[1])
	}

	// Ending the session fails: its tokens are left for the next run, and said so.
	s = sessionsStore()
	s.endErr["sid-b"] = errors.New("locked")
	code, stdout, _ = runSessionsTest(t, "revoke", "--config", adminFixture(t, s), "--user", "avocat-1")
	if code != 1 || !strings.Contains(stdout, "end the session: locked") || !strings.Contains(stdout, "run the command again") {
		t.Errorf("exit %d:\n%s", code, stdout)
	}

	// The audit trail cannot be written: the sessions are still revoked, the
	// command says the event is missing and fails.
	s = sessionsStore()
	s.auditErr = errors.New("audit: disk full")
	code, stdout, stderr := runSessionsTest(t, "revoke", "--config", adminFixture(t, s), "--user", "avocat-1", "--json")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if got.Sessions[0].Audited || !strings.Contains(got.Sessions[0].Error, "record the audit event: audit: disk full") {
		t.Errorf("result = %+v", got)
	}
	if s.tokens["sid-a"] != 0 || s.tokens["sid-b"] != 0 || !strings.Contains(stderr, "event not recorded") {
		t.Errorf("tokens %v, stderr %q", s.tokens, stderr)
	}

	// Listing fails: nothing done.
	s = sessionsStore()
	s.listErr = errors.New("connection refused")
	code, _, stderr = runSessionsTest(t, "revoke", "--config", adminFixture(t, s), "--user", "avocat-1")
	if code != 1 || !strings.Contains(stderr, "list sessions: connection refused") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestSessionsUsage(t *testing.T) {
	cfg := adminFixture(t, sessionsStore())
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage:"},
		{[]string{"kill"}, 2, `unknown command "kill"`},
		{[]string{"list", "--config", cfg}, 2, "--user is required"},
		{[]string{"revoke", "--config", cfg, "--user", " "}, 2, "--user is required"},
		{[]string{"revoke", "--user", "avocat-1"}, 2, "--config is required"},
		{[]string{"list", "--config", cfg, "--user", "avocat-1", "extra"}, 2, "unexpected argument"},
		{[]string{"list", "--config", cfg, "--reason", "x", "--user", "avocat-1"}, 2, "not defined: -reason"},
	} {
		code, _, stderr := runSessionsTest(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

// GetClient knows no client: no back-channel notice is queued by the fake.
func (s *adminFakeStore) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	return nil, storage.ErrNotFound
}

func (s *adminFakeStore) EnqueueLogouts(ctx context.Context, ds []*storage.LogoutDelivery) (int64, error) {
	return int64(len(ds)), nil
}

// RevokeTokensOfSubject finds nothing beyond the sessions' tokens in the fake.
func (s *adminFakeStore) RevokeTokensOfSubject(ctx context.Context, subject string) (int64, error) {
	return 0, nil
}
