package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// memTrail is an in-memory AuditStore that appends the way the SQL stores do:
// Seq = last Seq + 1, PrevHash = last Hash, Hash = storage.AuditHash. Tests then
// tamper with rows directly, as someone with database access would.
type memTrail struct {
	mu     sync.Mutex
	events []*storage.AuditEvent // in Seq order
	err    error
}

func (m *memTrail) AppendAudit(ctx context.Context, e *storage.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	var seq int64
	var prev string
	if n := len(m.events); n > 0 {
		seq, prev = m.events[n-1].Seq, m.events[n-1].Hash
	}
	e.Time = e.Time.UTC()
	e.Seq, e.PrevHash = seq+1, prev
	e.Hash = storage.AuditHash(prev, e)
	c := *e
	c.Details = cloneMap(e.Details)
	m.events = append(m.events, &c)
	return nil
}

func (m *memTrail) ListAudit(ctx context.Context, from, until time.Time, limit int) ([]*storage.AuditEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	var out []*storage.AuditEvent
	for _, e := range m.events {
		if (!from.IsZero() && e.Time.Before(from)) || (!until.IsZero() && !e.Time.Before(until)) {
			continue
		}
		c := *e
		c.Details = cloneMap(e.Details)
		out = append(out, &c)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

// bySeq returns the stored row with that Seq, for tampering.
func (m *memTrail) bySeq(t *testing.T, seq int64) int {
	t.Helper()
	for i, e := range m.events {
		if e.Seq == seq {
			return i
		}
	}
	t.Fatalf("no event %d", seq)
	return -1
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// trail records n events one minute apart through Log.Record.
func trail(t *testing.T, n int) *memTrail {
	t.Helper()
	m := &memTrail{}
	now := t0
	l := &Log{Store: m, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }}
	for i := 1; i <= n; i++ {
		l.Record(context.Background(), storage.AuditEvent{Type: Login, Outcome: OutcomeOK, Subject: fmt.Sprintf("sub-%d", i),
			Provider: "annuaire", Details: map[string]string{"acr": "eidas2", "n": fmt.Sprint(i)}})
		now = now.Add(time.Minute)
	}
	if len(m.events) != n {
		t.Fatalf("recorded %d events, want %d", len(m.events), n)
	}
	return m
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, m *memTrail)
		// want is the first problem: its Seq, kind and a fragment of its message.
		wantSeq  int64
		wantKind string
		wantMsg  string
	}{
		{name: "intact"},
		{name: "details modified", tamper: func(t *testing.T, m *memTrail) {
			m.events[m.bySeq(t, 4)].Details["acr"] = "eidas3"
		}, wantSeq: 4, wantKind: Modified, wantMsg: "does not match its hash"},
		{name: "subject modified", tamper: func(t *testing.T, m *memTrail) {
			m.events[m.bySeq(t, 2)].Subject = "someone-else"
		}, wantSeq: 2, wantKind: Modified},
		{name: "time modified", tamper: func(t *testing.T, m *memTrail) {
			m.events[m.bySeq(t, 6)].Time = m.events[m.bySeq(t, 6)].Time.Add(time.Second)
		}, wantSeq: 6, wantKind: Modified},
		{name: "details added", tamper: func(t *testing.T, m *memTrail) {
			m.events[m.bySeq(t, 3)].Details["note"] = "x"
		}, wantSeq: 3, wantKind: Modified},
		{name: "modified and rehashed", tamper: func(t *testing.T, m *memTrail) {
			e := m.events[m.bySeq(t, 3)]
			e.Outcome = OutcomeFail
			e.Hash = storage.AuditHash(e.PrevHash, e)
		}, wantSeq: 4, wantKind: Deleted, wantMsg: "seq 3 was rewritten"},
		{name: "one deleted", tamper: func(t *testing.T, m *memTrail) {
			i := m.bySeq(t, 5)
			m.events = append(m.events[:i], m.events[i+1:]...)
		}, wantSeq: 6, wantKind: Deleted, wantMsg: "seq 5 missing"},
		{name: "two deleted", tamper: func(t *testing.T, m *memTrail) {
			i := m.bySeq(t, 3)
			m.events = append(m.events[:i], m.events[i+2:]...)
		}, wantSeq: 5, wantKind: Deleted, wantMsg: "seq 3 to 4 missing"},
		{name: "first deleted", tamper: func(t *testing.T, m *memTrail) {
			m.events = m.events[1:]
		}, wantSeq: 2, wantKind: Deleted, wantMsg: "events 1 to 1 are missing"},
		{name: "deleted and renumbered", tamper: func(t *testing.T, m *memTrail) {
			i := m.bySeq(t, 5)
			m.events = append(m.events[:i], m.events[i+1:]...)
			for _, e := range m.events[i:] {
				e.Seq--
			}
		}, wantSeq: 5, wantKind: Deleted, wantMsg: "hash of no event"},
		{name: "two swapped", tamper: func(t *testing.T, m *memTrail) {
			// The rows keep their Seq and exchange everything else.
			i, j := m.bySeq(t, 3), m.bySeq(t, 4)
			a, b := *m.events[i], *m.events[j]
			a.Seq, b.Seq = b.Seq, a.Seq
			*m.events[i], *m.events[j] = b, a
		}, wantSeq: 3, wantKind: Reordered, wantMsg: "hash of seq 4"},
		{name: "distant swap", tamper: func(t *testing.T, m *memTrail) {
			i, j := m.bySeq(t, 2), m.bySeq(t, 7)
			a, b := *m.events[i], *m.events[j]
			a.Seq, b.Seq = b.Seq, a.Seq
			*m.events[i], *m.events[j] = b, a
		}, wantSeq: 2, wantKind: Reordered, wantMsg: "hash of seq 6"},
		{name: "rows returned out of order", tamper: func(t *testing.T, m *memTrail) {
			// Verify sorts by Seq itself: the rows are intact.
			i, j := m.bySeq(t, 5), m.bySeq(t, 6)
			m.events[i], m.events[j] = m.events[j], m.events[i]
		}},
		{name: "seq duplicated", tamper: func(t *testing.T, m *memTrail) {
			m.events[m.bySeq(t, 6)].Seq = 5
		}, wantSeq: 5, wantKind: Reordered, wantMsg: "appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := trail(t, 8)
			if tt.tamper != nil {
				tt.tamper(t, m)
			}
			rep, err := Verify(context.Background(), m, time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Events != len(m.events) {
				t.Errorf("Events = %d, want %d", rep.Events, len(m.events))
			}
			first, broken := rep.First()
			if tt.wantKind == "" {
				if broken || !rep.OK() {
					t.Fatalf("intact trail reported %v", rep.Problems)
				}
				if !rep.Anchored || rep.FirstSeq != 1 || rep.LastSeq != 8 || rep.LastHash != m.events[m.bySeq(t, 8)].Hash {
					t.Errorf("report = %+v", rep)
				}
				return
			}
			if !broken || rep.OK() {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if first.Seq != tt.wantSeq || first.Kind != tt.wantKind || !strings.Contains(first.Message, tt.wantMsg) {
				t.Errorf("first problem = %v, want seq %d %s containing %q (all: %v)", first, tt.wantSeq, tt.wantKind, tt.wantMsg, rep.Problems)
			}
		})
	}
}

// TestVerifyOneModifiedEventOnce checks that the chain is resumed after a
// modified event: only that event is reported, not every event after it.
func TestVerifyOneModifiedEventOnce(t *testing.T) {
	m := trail(t, 10)
	m.events[m.bySeq(t, 3)].Details["acr"] = "eidas3"
	rep, err := Verify(context.Background(), m, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 {
		t.Fatalf("problems = %v, want only seq 3", rep.Problems)
	}
}

func TestVerifyWindow(t *testing.T) {
	m := trail(t, 30)
	from, until := t0.Add(10*time.Minute), t0.Add(20*time.Minute)

	rep, err := Verify(context.Background(), m, from, until)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("intact window reported %v", rep.Problems)
	}
	if rep.Anchored {
		t.Error("a window starting after seq 1 is reported anchored")
	}
	// The margin reads a few events on each side.
	if rep.FirstSeq != 6 || rep.LastSeq != 25 {
		t.Errorf("read seq %d..%d, want 6..25 (window and margin)", rep.FirstSeq, rep.LastSeq)
	}

	// An event stamped just before the window but chained inside it (concurrent
	// appends) is not a deletion.
	m.events[m.bySeq(t, 14)].Time = from.Add(-time.Second)
	m.events[m.bySeq(t, 14)].Hash = "" // rehash the chain from there, as the store would have
	for i := m.bySeq(t, 14); i < len(m.events); i++ {
		e := m.events[i]
		e.PrevHash = m.events[i-1].Hash
		e.Hash = storage.AuditHash(e.PrevHash, e)
	}
	if rep, err = Verify(context.Background(), m, from.Add(3*time.Minute), until); err != nil || !rep.OK() {
		t.Fatalf("jittered event reported: %v, %v", rep.Problems, err)
	}

	// A deletion inside the window is found.
	i := m.bySeq(t, 15)
	m.events = append(m.events[:i], m.events[i+1:]...)
	rep, err = Verify(context.Background(), m, from, until)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := rep.First(); !ok || p.Seq != 16 || p.Kind != Deleted {
		t.Errorf("problems = %v, want seq 16 deleted", rep.Problems)
	}
}

func TestVerifyEmptyAndErrors(t *testing.T) {
	rep, err := Verify(context.Background(), &memTrail{}, time.Time{}, time.Time{})
	if err != nil || !rep.OK() || rep.Events != 0 {
		t.Errorf("empty trail: %+v, %v", rep, err)
	}
	unavailable := fmt.Errorf("ping: %w", storage.ErrUnavailable)
	if _, err := Verify(context.Background(), &memTrail{err: unavailable}, time.Time{}, time.Time{}); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	if _, err := Export(context.Background(), &memTrail{err: unavailable}, time.Time{}, time.Time{}, &bytes.Buffer{}); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("export err = %v, want ErrUnavailable", err)
	}
}

func TestVerifyTruncatesProblems(t *testing.T) {
	m := trail(t, maxProblems+20)
	for _, e := range m.events {
		e.Provider = "rewritten"
	}
	rep, err := Verify(context.Background(), m, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != maxProblems || !rep.Truncated {
		t.Errorf("%d problems, truncated %v", len(rep.Problems), rep.Truncated)
	}
}

func TestExport(t *testing.T) {
	m := trail(t, 6)
	m.events = m.events[:2]
	l := &Log{Store: m, Now: func() time.Time { return t0.Add(2 * time.Minute) }}
	l.Record(context.Background(), storage.AuditEvent{Type: Consent, Details: map[string]string{"html": "<b>&</b>"}})
	for i := 3; i < 6; i++ {
		l.Now = func() time.Time { return t0.Add(time.Duration(i) * time.Minute) }
		l.Record(context.Background(), storage.AuditEvent{Type: Logout})
	}
	var buf bytes.Buffer
	n, err := Export(context.Background(), m, t0.Add(time.Minute), t0.Add(5*time.Minute), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("exported %d, want 4 (seq 2..5)", n)
	}
	if !strings.Contains(buf.String(), `"html":"<b>&</b>"`) {
		t.Errorf("details escaped: %s", buf.String())
	}
	// Every line is an event, with its chain fields, so the export can be
	// re-verified on its own.
	sc := bufio.NewScanner(&buf)
	var got []*storage.AuditEvent
	for sc.Scan() {
		var e storage.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, &e)
	}
	if len(got) != 4 {
		t.Fatalf("%d lines", len(got))
	}
	for i, e := range got {
		want := m.events[i+1]
		if e.Seq != want.Seq || e.Hash != want.Hash || e.PrevHash != want.PrevHash {
			t.Errorf("line %d = seq %d, want %d", i, e.Seq, want.Seq)
		}
		if h := storage.AuditHash(e.PrevHash, e); h != e.Hash {
			t.Errorf("seq %d does not re-hash after the JSON round trip", e.Seq)
		}
		if i > 0 && e.PrevHash != got[i-1].Hash {
			t.Errorf("seq %d not chained to the line before", e.Seq)
		}
	}

	var empty bytes.Buffer
	if n, err := Export(context.Background(), &memTrail{}, time.Time{}, time.Time{}, &empty); n != 0 || err != nil || empty.Len() != 0 {
		t.Errorf("empty export: %d, %v, %q", n, err, empty.String())
	}
}

func TestRecordWithoutClockOrLogger(t *testing.T) {
	m := &memTrail{}
	(&Log{Store: m}).Record(context.Background(), storage.AuditEvent{Type: SessionRevoked})
	if len(m.events) != 1 || m.events[0].Time.IsZero() {
		t.Fatalf("events = %+v", m.events)
	}
	m.err = errors.New("down")
	(&Log{Store: m}).Record(context.Background(), storage.AuditEvent{Type: SessionRevoked}) // logs, does not panic
	var nilLog *Log
	nilLog.Record(context.Background(), storage.AuditEvent{Type: Login})
}
