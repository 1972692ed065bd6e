package broker

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/keys"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/sqlite"
)

// TestPruneKeysAudited: the background job deletes a retired key once its
// publication period is over, keeps it before, and audits what it deleted.
func TestPruneKeysAudited(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "broker.db"), storage.Options{NewSession: session.NewFosite, Now: clock, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	km := keys.NewManager(store, keys.GenerateKEK(), keys.Options{Algorithms: []string{"ES256"}, MaxTokenLifetime: time.Hour, Now: clock, Logger: logger})
	if err := km.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := km.List(ctx)
	var old string
	for _, k := range before {
		if k.Use == "sig" && k.State == storage.KeyCurrent {
			old = k.ID
		}
	}
	if err := km.Rotate(ctx, "ES256"); err != nil {
		t.Fatal(err)
	}
	trail := &audit.Log{Store: store, Logger: logger, Now: clock}
	count := func() (n int, last *storage.AuditEvent) {
		evs, err := store.ListAudit(ctx, time.Time{}, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Type == audit.KeyAdmin {
				n, last = n+1, e
			}
		}
		return n, last
	}

	now = now.Add(time.Hour) // still published: tokens it signed may be alive
	pruneKeys(ctx, km, trail, logger)
	if n, _ := count(); n != 0 {
		t.Fatalf("%d key events before the retired key may go", n)
	}
	now = now.Add(time.Hour)
	pruneKeys(ctx, km, trail, logger)
	n, ev := count()
	if n != 1 || ev.Details["deleted"] != "1" || ev.Details["deleted_kids"] != old || ev.Details["via"] != "background" {
		t.Fatalf("%d key events, last %+v; want one deleting %s", n, ev, old)
	}
	after, _ := km.List(ctx)
	for _, k := range after {
		if k.ID == old || strings.EqualFold(k.State, storage.KeyRetired) {
			t.Errorf("key %s (%s) still stored", k.ID, k.State)
		}
	}
}
