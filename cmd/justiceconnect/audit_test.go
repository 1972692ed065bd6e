package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// adminFakeStore keeps the audit trail and SSO sessions in memory; the rest of
// storage.Store is the nil embedded interface, so any other call panics and
// shows up in the test. AppendAudit chains events the way the SQL stores do.
type adminFakeStore struct {
	storage.Store
	mu       sync.Mutex
	events   []*storage.AuditEvent
	auditErr error

	sessions   map[string]*storage.SSOSession
	tokens     map[string]int64 // live tokens per session
	offline    map[string]int64 // of which offline_access
	listErr    error
	endErr     map[string]error
	revokeErr  map[string]error
	keptOnline bool // RevokeTokensOfSession was asked to keep offline tokens
	closed     bool
}

func (s *adminFakeStore) AppendAudit(ctx context.Context, e *storage.AuditEvent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.auditErr != nil {
		return s.auditErr
	}
	var seq int64
	var prev string
	if n := len(s.events); n > 0 {
		seq, prev = s.events[n-1].Seq, s.events[n-1].Hash
	}
	e.Time = e.Time.UTC()
	e.Seq, e.PrevHash = seq+1, prev
	e.Hash = storage.AuditHash(prev, e)
	c := *e
	s.events = append(s.events, &c)
	return nil
}

func (s *adminFakeStore) ListAudit(ctx context.Context, from, until time.Time, limit int) ([]*storage.AuditEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.auditErr != nil {
		return nil, s.auditErr
	}
	var out []*storage.AuditEvent
	for _, e := range s.events {
		if (!from.IsZero() && e.Time.Before(from)) || (!until.IsZero() && !e.Time.Before(until)) {
			continue
		}
		c := *e
		out = append(out, &c)
	}
	return out, nil
}

func (s *adminFakeStore) Close() error {
	s.closed = true
	return nil
}

// adminFixture installs store behind openStore and writes a valid configuration.
func adminFixture(t *testing.T, store storage.Store) string {
	t.Helper()
	saved := openStore
	t.Cleanup(func() { openStore = saved })
	openStore = func(ctx context.Context, cfg *config.Config) (storage.Store, error) { return store, nil }
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "kek"), []byte("kek\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "salt"), []byte("salt\n"), 0o600)
	path := filepath.Join(dir, "justiceconnect.yaml")
	body := `
issuer: https://connect.example.justice.fr
store: {driver: sqlite, sqlite_path: "DIR/broker.db"}
keys: {kek: {file: "DIR/kek"}}
pairwise_salt: {file: "DIR/salt"}
providers:
  - {id: annuaire, type: ldap, label: "Agent du ministère"}
`
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(body, "DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

var auditT0 = time.Date(2025, 3, 14, 8, 0, 0, 0, time.UTC)

// auditStore holds n events one hour apart, appended like the stores do.
func auditStore(t *testing.T, n int) *adminFakeStore {
	t.Helper()
	s := &adminFakeStore{}
	for i := 0; i < n; i++ {
		s.AppendAudit(context.Background(), &storage.AuditEvent{Time: auditT0.Add(time.Duration(i) * time.Hour), Type: "login",
			Outcome: "success", Subject: fmt.Sprintf("sub-%d", i+1), Details: map[string]string{"acr": "eidas2"}})
	}
	return s
}

func runAuditTest(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runAudit(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestAuditVerify(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(s *adminFakeStore)
		args     []string
		wantCode int
		want     []string
	}{
		{name: "intact", wantCode: 0, want: []string{"Audit trail intact: 6 events checked (seq 1 to 6).", "Head: seq 6"}},
		{name: "modified", tamper: func(s *adminFakeStore) { s.events[2].Details = map[string]string{"acr": "eidas3"} },
			wantCode: 1, want: []string{"BROKEN", "seq 3: modified"}},
		{name: "deleted", tamper: func(s *adminFakeStore) { s.events = append(s.events[:3], s.events[4:]...) },
			wantCode: 1, want: []string{"BROKEN", "seq 5: deleted: seq 4 missing"}},
		{name: "swapped", tamper: func(s *adminFakeStore) {
			a, b := *s.events[1], *s.events[2]
			a.Seq, b.Seq = b.Seq, a.Seq
			*s.events[1], *s.events[2] = b, a
		}, wantCode: 1, want: []string{"BROKEN", "seq 2: reordered"}},
		{name: "window", args: []string{"--since", "2025-03-14T10:00:00Z", "--until", "2025-03-14T12:00:00Z"},
			wantCode: 0, want: []string{"intact", "seq 3 to 5", "link of seq 3 to the event before the period was not checked"}},
		{name: "deletion inside the window", tamper: func(s *adminFakeStore) { s.events = append(s.events[:3], s.events[4:]...) },
			args: []string{"--since", "2025-03-14T10:00:00Z"}, wantCode: 1, want: []string{"seq 5: deleted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := auditStore(t, 6)
			if tt.tamper != nil {
				tt.tamper(s)
			}
			cfg := adminFixture(t, s)
			code, stdout, stderr := runAuditTest(t, append([]string{"verify", "--config", cfg}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout)
				}
			}
			if !s.closed {
				t.Error("store not closed")
			}
		})
	}
}

func TestAuditVerifyJSON(t *testing.T) {
	s := auditStore(t, 4)
	s.events[1].Subject = "tampered"
	code, stdout, stderr := runAuditTest(t, "verify", "--config", adminFixture(t, s), "--json")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (stderr %s)", code, stderr)
	}
	var got struct {
		OK       bool  `json:"ok"`
		Events   int   `json:"events"`
		LastSeq  int64 `json:"last_seq"`
		Problems []struct {
			Seq  int64  `json:"seq"`
			Kind string `json:"kind"`
		} `json:"problems"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if got.OK || got.Events != 4 || got.LastSeq != 4 || len(got.Problems) != 1 || got.Problems[0].Seq != 2 || got.Problems[0].Kind != "modified" {
		t.Errorf("report = %+v", got)
	}

	code, stdout, _ = runAuditTest(t, "verify", "--config", adminFixture(t, auditStore(t, 2)), "--json")
	if code != 0 || !strings.Contains(stdout, `"ok": true`) || !strings.Contains(stdout, `"problems": []`) {
		t.Errorf("intact: exit %d\n%s", code, stdout)
	}
}

func TestAuditExport(t *testing.T) {
	s := auditStore(t, 6)
	cfg := adminFixture(t, s)
	code, stdout, stderr := runAuditTest(t, "export", "--config", cfg, "--since", "2025-03-14T09:00:00Z", "--until", "2025-03-14T12:00:00Z")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "3 events exported.") {
		t.Errorf("stderr = %q", stderr)
	}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	var seqs []int64
	for sc.Scan() {
		var e storage.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if e.Hash == "" || storage.AuditHash(e.PrevHash, &e) != e.Hash {
			t.Errorf("seq %d: chain fields lost in the export", e.Seq)
		}
		seqs = append(seqs, e.Seq)
	}
	if fmt.Sprint(seqs) != "[2 3 4]" {
		t.Errorf("exported seqs %v, want [2 3 4]", seqs)
	}
}

func TestAuditErrors(t *testing.T) {
	down := &adminFakeStore{auditErr: fmt.Errorf("ping: %w", storage.ErrUnavailable)}
	tests := []struct {
		name     string
		store    storage.Store
		args     []string
		noConfig bool
		wantCode int
		want     string
	}{
		{name: "no command", args: []string{}, wantCode: 2, want: "usage:"},
		{name: "unknown command", args: []string{"rotate"}, wantCode: 2, want: `unknown command "rotate"`},
		{name: "no config", args: []string{"verify"}, noConfig: true, wantCode: 2, want: "--config is required"},
		{name: "bad since", args: []string{"verify", "--since", "yesterday"}, wantCode: 2, want: "--since"},
		{name: "bad until", args: []string{"export", "--until", "14/03/2025"}, wantCode: 2, want: "--until"},
		{name: "since after until", args: []string{"verify", "--since", "2025-03-15", "--until", "2025-03-14"}, wantCode: 2, want: "before --until"},
		{name: "extra argument", args: []string{"verify", "now"}, wantCode: 2, want: "unexpected argument"},
		{name: "store down verify", store: down, args: []string{"verify"}, wantCode: 1, want: "database unavailable"},
		{name: "store down export", store: down, args: []string{"export"}, wantCode: 1, want: "database unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := tt.store
			if store == nil {
				store = auditStore(t, 1)
			}
			args := tt.args
			if len(args) > 0 && !tt.noConfig {
				args = append([]string{args[0], "--config", adminFixture(t, store)}, args[1:]...)
			}
			code, _, stderr := runAuditTest(t, args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.wantCode, tt.want)
			}
		})
	}
}

func TestAuditOpenStoreFails(t *testing.T) {
	cfg := adminFixture(t, nil)
	openStore = func(ctx context.Context, cfg *config.Config) (storage.Store, error) {
		return nil, errors.New("sqlite: locked")
	}
	code, _, stderr := runAuditTest(t, "verify", "--config", cfg)
	if code != 1 || !strings.Contains(stderr, "open the store: sqlite: locked") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestParseAdminTime(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"2025-03-14T09:00:00+01:00", time.Date(2025, 3, 14, 8, 0, 0, 0, time.UTC), true},
		{"2025-03-14T08:00:00.5Z", time.Date(2025, 3, 14, 8, 0, 0, 5e8, time.UTC), true},
		{"2025-03-14", time.Date(2025, 3, 14, 0, 0, 0, 0, time.Local), true},
		{"14/03/2025", time.Time{}, false},
		{"2025-03-14 09:00", time.Time{}, false},
	} {
		got, err := parseAdminTime(tt.in)
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseAdminTime(%q) = %v, %v", tt.in, got, err)
		}
	}
}
