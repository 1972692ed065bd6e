package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/sqlite"
	"github.com/justiceconnect/justiceconnect/broker/timekey"
)

func TestRSSSlope(t *testing.T) {
	mb := int64(1 << 20)
	for _, tc := range []struct {
		name    string
		samples []sample
		want    float64
	}{
		{"flat", []sample{{TS: 60, RSSBytes: 50 * mb}, {TS: 120, RSSBytes: 50 * mb}, {TS: 180, RSSBytes: 50 * mb}}, 0},
		// 1 MB a minute is 60 MB an hour, whatever the noise around the line.
		{"growing", []sample{{TS: 60, RSSBytes: 51 * mb}, {TS: 120, RSSBytes: 51 * mb}, {TS: 180, RSSBytes: 53 * mb}, {TS: 240, RSSBytes: 53 * mb}}, 48},
		{"one sample", []sample{{TS: 60, RSSBytes: 50 * mb}}, 0},
		{"no RSS", []sample{{TS: 60}, {TS: 120}}, 0},
	} {
		if got := rssSlope(tc.samples); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: slope %v MB/h, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRateAndTimeline: --rate paces the workers (a fake broker could serve far
// more) and --sample-every records a timeline with the RSS.
func TestRateAndTimeline(t *testing.T) {
	srv, _ := fakeBroker(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--issuer", srv.URL, "--scenario", "cc", "--cc-client", "svc:good", "--duration", "2s",
		"--concurrency", "8", "--rate", "100", "--sample-every", "500ms", "--pid", itoa(os.Getpid()), "--progress=false", "--json"}, nil, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, stdout.String())
	}
	// 200 operations in 2 s at 100/s; generous bounds for a loaded machine (a
	// slow machine only makes it fewer).
	if rep.OK < 100 || rep.OK > 215 || rep.TargetRate != 100 {
		t.Errorf("%d operations at --rate 100 for 2 s (target %v)", rep.OK, rep.TargetRate)
	}
	if len(rep.Samples) < 3 || len(rep.Samples) > 5 || rep.SampleEveryS != 0.5 {
		t.Fatalf("%d samples every %v s: %+v", len(rep.Samples), rep.SampleEveryS, rep.Samples)
	}
	var ok uint64
	for _, s := range rep.Samples {
		ok += s.OK
		if s.RSSBytes <= 0 || s.IntervalS <= 0 || (s.OK > 0 && s.P99Ms <= 0) {
			t.Errorf("sample %+v", s)
		}
	}
	if int64(ok) != rep.OK {
		t.Errorf("the samples count %d operations, the report %d", ok, rep.OK)
	}
}

// TestFill fills a SQLite store, then the broker's cleanup removes exactly the
// expired logins' rows: the live logins' codes, expired but within their replay
// retention, stay.
func TestFill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := sqlite.Open(context.Background(), path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"app-1", "app-2", "app-3"} {
		if err := s.CreateClient(context.Background(), &storage.Client{ID: id, Name: id, Kind: storage.ClientFirstParty,
			RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"},
			Scopes: []string{"openid", "profile", "offline_access"}, TokenEndpointAuthMethod: "client_secret_basic"}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"fill", "--sqlite", path, "--rows", "2000", "--batch", "300", "--delete-expired"}, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var rep fillReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, stdout.String())
	}
	if rep.Rows != 2000 || rep.ExpiredRows != 1000 || rep.ByKind["sso_session"] != 200 || rep.ByKind["access_token"] != 600 || rep.StoreBytes <= 0 {
		t.Errorf("report %+v", rep)
	}
	if rep.Deleted != rep.ExpiredRows {
		t.Errorf("cleanup deleted %d rows, want the %d expired ones", rep.Deleted, rep.ExpiredRows)
	}
	s, err = sqlite.Open(context.Background(), path, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.DeleteExpired(context.Background(), time.Now()); err != nil || n != 0 {
		t.Errorf("a second cleanup deleted %d rows (%v)", n, err)
	}
	// Each login left its audit events, as the broker writes them: a login, then
	// authorize and token.issued at each of the three clients, in one valid chain
	// whose times never go back.
	if rep.AuditEvents != 200*7 {
		t.Errorf("%d audit events, want %d (7 per login)", rep.AuditEvents, 200*7)
	}
	events, err := s.ListAudit(context.Background(), time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string]int{}
	for i, e := range events {
		byType[e.Type]++
		if i > 0 && e.Time.Before(events[i-1].Time) {
			t.Fatalf("audit event %d at %v, before event %d at %v", e.Seq, e.Time, events[i-1].Seq, events[i-1].Time)
		}
	}
	if byType[audit.Login] != 200 || byType[audit.Authorize] != 600 || byType[audit.TokenIssued] != 600 || len(events) != 1400 {
		t.Errorf("audit events by type %v (%d in all)", byType, len(events))
	}
	if vr, err := audit.Verify(context.Background(), s, time.Time{}, time.Time{}); err != nil || !vr.OK() {
		t.Errorf("the filled audit chain does not verify: %v %+v", err, vr.Problems)
	}
	// The keys look like the broker's: the issue time, then the hash of the key; the
	// request ID a version 7 UUID of the same millisecond.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The rows went in oldest first, as a broker writes them (rowid order
	// follows time), up to the minutes between a login's applications: a
	// login's tokens are written together.
	rows, err := db.Query(`SELECT signature, request_id, requested_at FROM oauth_access_tokens ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var checked int
	var last int64
	for rows.Next() {
		var sig, id string
		var at int64
		if err := rows.Scan(&sig, &id, &at); err != nil {
			t.Fatal(err)
		}
		if at < last-int64(appsPerLogin*time.Minute) {
			t.Fatalf("access token %q requested at %d after one requested at %d: rows not in time order", sig, at, last)
		}
		last = max(last, at)
		want := timekey.Prefix(time.Unix(0, at))
		idPrefix, ok := timekey.PrefixOfUUIDv7(id)
		if len(sig) != timekey.PrefixLen+64 || sig[:timekey.PrefixLen] != want || !ok || idPrefix != want {
			t.Fatalf("access token key %q, request ID %q: want both to start with %s", sig, id, want)
		}
		checked++
	}
	if err := rows.Err(); err != nil || checked == 0 {
		t.Fatalf("checked %d access tokens (%v)", checked, err)
	}

	if code := run(context.Background(), []string{"fill", "--rows", "10"}, nil, &stdout, &stderr); code != exitUsage {
		t.Errorf("fill without a store: exit %d", code)
	}
}

// TestNodes: --node spreads the connections over several brokers in turn, the
// issuer's URL unchanged.
func TestNodes(t *testing.T) {
	a, hitsA := fakeBroker(t)
	b, hitsB := fakeBroker(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--issuer", a.URL, "--node", a.Listener.Addr().String(), "--node", b.Listener.Addr().String(),
		"--scenario", "jwks", "--duration", "500ms", "--concurrency", "4", "--progress=false", "--json"}, nil, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	if hitsA.Load() == 0 || hitsB.Load() == 0 {
		t.Errorf("requests per node: %d and %d; want both", hitsA.Load(), hitsB.Load())
	}
	stderr.Reset()
	if _, code := parseFlags([]string{"--issuer", a.URL, "--node", "10.0.0.1:443"}, nil, &stderr); code != exitUsage {
		t.Errorf("a node off the loopback: exit %d", code)
	}
}
