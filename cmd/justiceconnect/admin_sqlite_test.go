package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/sqlite"
)

// sqliteAdmin is a configuration on a SQLite file in a temp dir, used through the
// real wiring (openStore, openKeyManager, migrationStatus as main sets them).
type sqliteAdmin struct {
	config, db string
}

var adminT0 = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

func newSQLiteAdmin(t *testing.T, extra string) sqliteAdmin {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "kek"), []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "salt"), []byte("salt\n"), 0o600)
	path := filepath.Join(dir, "justiceconnect.yaml")
	body := `
issuer: https://connect.example.justice.fr
store: {driver: sqlite, sqlite_path: "DIR/broker.db"}
keys: {kek: {file: "DIR/kek"}}
pairwise_salt: {file: "DIR/salt"}
` + extra
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(body, "DIR", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	savedOp, savedNow, savedDeleg := sessionsOperator, adminNow, delegationsNow
	t.Cleanup(func() { sessionsOperator, adminNow, delegationsNow = savedOp, savedNow, savedDeleg })
	sessionsOperator = func() string { return "alice.admin" }
	adminNow = func() time.Time { return adminT0 }
	delegationsNow = func() time.Time { return adminT0 }
	return sqliteAdmin{config: path, db: filepath.Join(dir, "broker.db")}
}

// ensureKeys creates the first keys, as the broker's first start does.
func (a sqliteAdmin) ensureKeys(t *testing.T) {
	t.Helper()
	m, _, closeStore, err := openKeyManager(context.Background(), a.config)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// run runs one command line in-process.
func (a sqliteAdmin) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func (a sqliteAdmin) open(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), a.db, storage.Options{Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return adminT0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func (a sqliteAdmin) events(t *testing.T) []*storage.AuditEvent {
	t.Helper()
	s := a.open(t)
	events, err := s.ListAudit(context.Background(), time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func decodeJSON(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
}

func TestMigrateStatusAndApply(t *testing.T) {
	a := newSQLiteAdmin(t, "")
	code, out, errOut := a.run(t, "migrate", "--config", a.config, "--status", "--json")
	if code != 0 {
		t.Fatalf("migrate --status = %d, %s", code, errOut)
	}
	var st migrateOutput
	decodeJSON(t, out, &st)
	if st.Driver != "sqlite" || st.Pending < 4 || st.Pending != len(st.Migrations) || st.Applied != nil {
		t.Fatalf("status on a new store = %+v", st)
	}
	for _, m := range st.Migrations {
		if m.State != "pending" || m.AppliedAt != nil {
			t.Errorf("migration %s = %+v; want pending", m.Name, m)
		}
	}
	if _, err := os.Stat(a.db); !os.IsNotExist(err) {
		t.Fatalf("migrate --status created the database (stat: %v)", err)
	}
	// Every embedded migration, whatever their number today.
	total, last := st.Pending, st.Migrations[len(st.Migrations)-1].Name

	code, out, errOut = a.run(t, "migrate", "--config", a.config, "--reason", "mise à jour 1.4")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("Applied %d migration(s).", total)) || !strings.Contains(out, last) {
		t.Fatalf("migrate = %d\n%s%s", code, out, errOut)
	}
	code, out, _ = a.run(t, "migrate", "--config", a.config, "--status")
	if code != 0 || !strings.Contains(out, "VERSION") || !strings.Contains(out, "applied") || !strings.Contains(out, "0 pending (sqlite store).") {
		t.Fatalf("migrate --status after = %d\n%s", code, out)
	}
	code, out, _ = a.run(t, "migrate", "--config", a.config, "--json")
	decodeJSON(t, out, &st)
	if code != 0 || st.Pending != 0 || len(st.Applied) != 0 {
		t.Fatalf("second migrate = %d %+v; want nothing applied", code, st)
	}

	events := a.events(t)
	if len(events) != 2 {
		t.Fatalf("audit events = %d; want one per migrate run (status is not recorded)", len(events))
	}
	e := events[0]
	if e.Type != audit.Migration || e.Outcome != audit.OutcomeOK || e.Details["action"] != "apply" || e.Details["operator"] != "alice.admin" ||
		e.Details["reason"] != "mise à jour 1.4" || e.Details["applied"] != strconv.Itoa(total) || !strings.Contains(e.Details["migrations"], "0001_initial.sql") {
		t.Fatalf("migration event = %+v", e)
	}
	if events[1].Details["applied"] != "0" {
		t.Fatalf("second migration event = %+v", events[1])
	}
}

func TestMigrateUsage(t *testing.T) {
	a := newSQLiteAdmin(t, "")
	for _, args := range [][]string{{"migrate"}, {"migrate", "--config", a.config, "extra"}, {"migrate", "--bogus"}} {
		if code, _, _ := a.run(t, args...); code != 2 {
			t.Errorf("%v = %d; want 2", args, code)
		}
	}
	if code, _, errOut := a.run(t, "migrate", "--config", filepath.Join(t.TempDir(), "none.yaml")); code != 1 || errOut == "" {
		t.Errorf("missing file = %d %q", code, errOut)
	}
}

// TestAdminActionsAudited runs every administrative action against one SQLite
// store and reads back one event per action, naming the action, the operator, the
// reason and the target; the trail then verifies.
func TestAdminActionsAudited(t *testing.T) {
	a := newSQLiteAdmin(t, "")
	a.ensureKeys(t)
	steps := [][]string{
		{"clients", "add", "--config", a.config, "--id", "rp.cli", "--name", "RP", "--redirect-uri", "https://rp.example/cb", "--reason", "ticket 12", "--json"},
		{"clients", "rotate-secret", "--config", a.config, "--id", "rp.cli", "--reason", "fuite", "--json"},
		{"clients", "delete", "--config", a.config, "--id", "rp.cli", "--reason", "fin du contrat"},
		{"keys", "rotate", "--config", a.config, "--reason", "rotation annuelle", "--json"},
		{"keys", "prune", "--config", a.config},
		{"delegations", "add", "--config", a.config, "--actor", "greffier", "--subject", "juge", "--audience", "https://api.justice.example", "--reason", "intérim"},
		{"audit", "export", "--config", a.config},
	}
	for _, args := range steps {
		if code, out, errOut := a.run(t, args...); code != 0 {
			t.Fatalf("%v = %d\n%s%s", args, code, out, errOut)
		}
	}
	events := a.events(t)
	want := []struct{ typ, action, reason, client string }{
		{audit.ClientAdmin, "add", "ticket 12", "rp.cli"},
		{audit.ClientAdmin, "rotate-secret", "fuite", "rp.cli"},
		{audit.ClientAdmin, "delete", "fin du contrat", "rp.cli"},
		{audit.KeyAdmin, "rotate", "rotation annuelle", ""},
		{audit.KeyAdmin, "prune", "", ""},
		{audit.DelegationAdmin, "add", "intérim", ""},
		{audit.AuditExported, "export", "", ""},
	}
	if len(events) != len(want) {
		for _, e := range events {
			t.Logf("%s %v", e.Type, e.Details)
		}
		t.Fatalf("%d audit events; want %d", len(events), len(want))
	}
	for i, w := range want {
		e := events[i]
		if e.Type != w.typ || e.Details["action"] != w.action || e.Details["operator"] != "alice.admin" ||
			e.Details["reason"] != w.reason || e.ClientID != w.client || e.Outcome != audit.OutcomeOK || !e.Time.Equal(adminT0) {
			t.Errorf("event %d = %s %s %v; want %s %s reason %q client %q", i, e.Type, e.ClientID, e.Details, w.typ, w.action, w.reason, w.client)
		}
	}
	if events[3].Details["new_current_kids"] == "" || events[4].Details["deleted"] != "0" || events[6].Details["events"] != "6" {
		t.Errorf("key and export details = %v, %v, %v", events[3].Details, events[4].Details, events[6].Details)
	}
	if code, out, _ := a.run(t, "audit", "verify", "--config", a.config); code != 0 || !strings.Contains(out, "Audit trail intact: 7 events") {
		t.Fatalf("verify = %d\n%s", code, out)
	}
}

// TestListCommandsJSON: every command that lists has a --json form a script can
// decode, with the same field names as documented.
func TestListCommandsJSON(t *testing.T) {
	a := newSQLiteAdmin(t, "")
	a.run(t, "clients", "add", "--config", a.config, "--id", "rp.cli", "--name", "RP", "--redirect-uri", "https://rp.example/cb")
	a.ensureKeys(t)
	a.run(t, "delegations", "add", "--config", a.config, "--actor", "greffier", "--subject", "juge", "--audience", "https://api.justice.example")
	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"clients", "list"}, "client_id"},
		{[]string{"keys", "list"}, "kid"},
		{[]string{"delegations", "list"}, "actor"},
		{[]string{"sessions", "list", "--user", "juge"}, ""},
		{[]string{"audit", "verify"}, "ok"},
		{[]string{"migrate", "--status"}, "migrations"},
		{[]string{"check-config"}, "problems"},
	} {
		args := append(append([]string{}, tc.args...), "--config", a.config, "--json")
		code, out, errOut := a.run(t, args...)
		if code != 0 {
			t.Errorf("%v = %d: %s", tc.args, code, errOut)
			continue
		}
		var v any
		decodeJSON(t, out, &v)
		if tc.field != "" && !strings.Contains(out, `"`+tc.field+`"`) {
			t.Errorf("%v --json has no %q field:\n%s", tc.args, tc.field, out)
		}
	}
}

func TestCheckConfigJSON(t *testing.T) {
	a := newSQLiteAdmin(t, "audit: {retention: 400d}\n")
	code, out, _ := a.run(t, "check-config", "--config", a.config, "--json")
	var res checkConfigOutput
	decodeJSON(t, out, &res)
	if code != 0 || !res.OK || len(res.Problems) != 0 || res.Warnings == nil {
		t.Fatalf("check-config --json = %d %+v", code, res)
	}
	bad := newSQLiteAdmin(t, "audit: {retention: 400h}\n")
	code, out, _ = bad.run(t, "check-config", "--config", bad.config, "--json")
	decodeJSON(t, out, &res)
	if code != 1 || res.OK || len(res.Problems) != 1 || res.Problems[0].Path != "audit.retention" {
		t.Fatalf("check-config --json on a bad file = %d %+v", code, res)
	}
}

// seedTrail appends n login events one day apart from start, directly in the store.
func seedTrail(t *testing.T, a sqliteAdmin, start time.Time, n int) {
	t.Helper()
	s := a.open(t)
	for i := range n {
		if err := s.AppendAudit(context.Background(), &storage.AuditEvent{Time: start.Add(time.Duration(i) * 24 * time.Hour),
			Type: audit.Login, Outcome: audit.OutcomeOK, Subject: "agent"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
}

func TestAuditPruneThenVerify(t *testing.T) {
	a := newSQLiteAdmin(t, "audit: {retention: 30d}\n")
	// 40 events, one a day from 45 days ago: seq 1 to 15 are older than the
	// retention.
	start := adminT0.Add(-45 * 24 * time.Hour)
	seedTrail(t, a, start, 40)

	code, out, errOut := a.run(t, "audit", "prune", "--config", a.config, "--reason", "politique de conservation", "--json")
	if code != 0 {
		t.Fatalf("audit prune = %d\n%s%s", code, out, errOut)
	}
	var res struct {
		audit.PruneResult
		Problems []audit.Problem `json:"problems"`
	}
	decodeJSON(t, out, &res)
	if res.Deleted != 15 || res.Checkpoint == nil || res.Checkpoint.Seq != 15 || !res.Before.Equal(adminT0.Add(-30*24*time.Hour)) {
		t.Fatalf("prune result = %+v", res)
	}
	code, out, _ = a.run(t, "audit", "verify", "--config", a.config)
	if code != 0 || !strings.Contains(out, "Audit trail intact: 26 events checked (seq 16 to 41)") || !strings.Contains(out, "15 events up to seq 15") {
		t.Fatalf("verify after prune = %d\n%s", code, out)
	}
	events := a.events(t)
	last := events[len(events)-1]
	if last.Type != audit.AuditPruned || last.Details["operator"] != "alice.admin" || last.Details["reason"] != "politique de conservation" ||
		last.Details["retention"] != "30d" || last.Details[storage.AuditCheckpointSeq] != "15" {
		t.Fatalf("prune event = %+v", last)
	}
	// Nothing more to prune: the same command deletes nothing and says so.
	if code, out, _ = a.run(t, "audit", "prune", "--config", a.config); code != 0 || !strings.Contains(out, "No audit event before") {
		t.Fatalf("second prune = %d\n%s", code, out)
	}

	// Tampering after the prune is still detected.
	db, err := sql.Open("sqlite", a.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DELETE FROM audit_events WHERE seq = 16"); err != nil {
		t.Fatal(err)
	}
	code, out, _ = a.run(t, "audit", "verify", "--config", a.config, "--json")
	var rep struct {
		OK bool `json:"ok"`
		audit.Report
	}
	decodeJSON(t, out, &rep)
	if code != 1 || rep.OK || rep.Problems[0].Seq != 17 || rep.Problems[0].Kind != audit.Deleted || rep.Checkpoint == nil {
		t.Fatalf("verify after deleting the first kept event = %d %+v", code, rep)
	}
	// And a prune over the broken part refuses to delete the evidence.
	adminNow = func() time.Time { return adminT0.Add(10 * 24 * time.Hour) }
	if code, _, errOut = a.run(t, "audit", "prune", "--config", a.config); code != 1 || !strings.Contains(errOut, "nothing deleted") {
		t.Fatalf("prune over a broken trail = %d %s", code, errOut)
	}
}

func TestAuditPruneRefused(t *testing.T) {
	a := newSQLiteAdmin(t, "")
	if code, _, errOut := a.run(t, "audit", "prune", "--config", a.config); code != 2 || !strings.Contains(errOut, "audit.retention is not set") {
		t.Errorf("prune without retention = %d %s", code, errOut)
	}
	if code, _, errOut := a.run(t, "audit", "prune", "--config", a.config, "--before", "2026-05-20"); code != 2 || !strings.Contains(errOut, "younger than the retention") {
		t.Errorf("prune --before 12 days ago = %d %s", code, errOut)
	}
	if code, _, errOut := a.run(t, "audit", "prune", "--config", a.config, "--since", "2026-01-01"); code != 2 || !strings.Contains(errOut, "use --before") {
		t.Errorf("prune --since = %d %s", code, errOut)
	}
	seedTrail(t, a, adminT0.Add(-100*24*time.Hour), 3)
	if code, out, errOut := a.run(t, "audit", "prune", "--config", a.config, "--before", "2026-02-23"); code != 0 || !strings.Contains(out, "Deleted 2 audit event(s)") {
		t.Errorf("prune --before an old date without retention = %d\n%s%s", code, out, errOut)
	}
}
