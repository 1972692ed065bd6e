package sqlite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/internal/sqlstore"
	"github.com/justiceconnect/justiceconnect/broker/storage/storagetest"
)

// groupEnv is a store where using the marker "doom" aborts the whole SQLite
// transaction (RAISE(ROLLBACK) behaves like SQLITE_FULL: SQLite rolls back the
// transaction itself, not just the statement).
func groupEnv(t *testing.T) (*Store, *backend) {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "g.db"), storage.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	b := s.Backend().(*backend)
	ctx := context.Background()
	if _, err := b.Writer().Exec(ctx, "CREATE TEMP TRIGGER doom BEFORE INSERT ON used_markers WHEN NEW.marker = 'doom'"+
		" BEGIN SELECT RAISE(ROLLBACK, 'doomed'); END"); err != nil {
		t.Fatal(err)
	}
	return s, b
}

func names(t *testing.T, b *backend) map[string]bool {
	t.Helper()
	rows, err := b.Reader().Query(context.Background(), "SELECT marker FROM used_markers")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		got[n] = true
	}
	return got
}

// waitFor polls cond (the members queue on a channel the test cannot observe
// otherwise).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// member runs one store transaction using the marker name; if rollback is set it
// rolls back after the write instead of committing.
func member(ctx context.Context, s *Store, name string, rollback bool) error {
	txCtx, err := s.BeginTX(ctx)
	if err != nil {
		return err
	}
	if err := s.UseOnce(txCtx, "ns", name, time.Now().Add(time.Hour)); err != nil {
		_ = s.Rollback(txCtx)
		return err
	}
	if rollback {
		return s.Rollback(txCtx)
	}
	return s.Commit(txCtx)
}

// hold begins a transaction that takes the writer with the marker name.
func hold(t *testing.T, s *Store, name string) context.Context {
	t.Helper()
	txCtx, err := s.BeginTX(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UseOnce(txCtx, "ns", name, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return txCtx
}

// startQueued starts member(name) and waits until it queues behind the holder.
func startQueued(t *testing.T, s *Store, b *backend, name string, rollback bool, queued int64) chan error {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- member(context.Background(), s, name, rollback) }()
	waitFor(t, name+" queued", func() bool { return b.w.waiting.Load() == queued })
	return ch
}

func TestGroupCommitSharesOneCommit(t *testing.T) {
	s, b := groupEnv(t)
	before := b.w.commits.Load()
	holder := hold(t, s, "a")
	bc := startQueued(t, s, b, "b", false, 1)
	cc := startQueued(t, s, b, "c", true, 2) // rolls back alone
	dc := startQueued(t, s, b, "d", false, 3)
	if err := s.Commit(holder); err != nil {
		t.Fatalf("a: %v", err)
	}
	for n, ch := range map[string]chan error{"b": bc, "c": cc, "d": dc} {
		if err := <-ch; err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if got := b.w.commits.Load() - before; got != 1 {
		t.Errorf("%d commits for a, b, d; want 1 shared", got)
	}
	if got := names(t, b); !got["a"] || !got["b"] || got["c"] || !got["d"] {
		t.Errorf("rows %v; want a, b, d (c rolled back alone)", got)
	}
}

// A transaction begun with sqlstore.WithSoloCommit (the cleanup's batches)
// commits when it ends even though another waits to join its group, so its
// commit does not wait for the transactions after it.
func TestGroupSoloCommit(t *testing.T) {
	s, b := groupEnv(t)
	before := b.w.commits.Load()
	txCtx, err := s.BeginTX(sqlstore.WithSoloCommit(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UseOnce(txCtx, "ns", "a", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	bc := startQueued(t, s, b, "b", false, 1)
	if err := s.Commit(txCtx); err != nil {
		t.Fatalf("a: %v", err)
	}
	if err := <-bc; err != nil {
		t.Fatalf("b: %v", err)
	}
	if got := b.w.commits.Load() - before; got != 2 {
		t.Errorf("%d commits for a (solo) and b; want 2", got)
	}
	if got := names(t, b); !got["a"] || !got["b"] {
		t.Errorf("rows %v; want a and b", got)
	}
}

// TestGroupFailureFailsEveryMember: a member whose statement makes SQLite roll the
// transaction back fails the members already waiting for the group's commit, and
// none of their writes remain; the next group starts clean.
func TestGroupFailureFailsEveryMember(t *testing.T) {
	s, b := groupEnv(t)
	ctx := context.Background()
	holder := hold(t, s, "a")
	if err := s.AppendAudit(holder, &storage.AuditEvent{Type: "t", Subject: "a"}); err != nil {
		t.Fatal(err)
	}
	doom := startQueued(t, s, b, "doom", false, 1)
	after := startQueued(t, s, b, "c", false, 2)
	holderErr := s.Commit(holder)
	if holderErr == nil {
		t.Errorf("a: committed although its group was rolled back")
	}
	if err := <-doom; err == nil {
		t.Errorf("doom: no error")
	}
	if err := <-after; err != nil {
		t.Errorf("c (next group): %v", err)
	}
	if got := names(t, b); got["a"] || got["doom"] || !got["c"] {
		t.Errorf("rows %v; want only c", got)
	}
	if err := s.AppendAudit(ctx, &storage.AuditEvent{Type: "t", Subject: "after"}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.ListAudit(ctx, time.Time{}, time.Time{}, 0)
	if err != nil || len(evs) != 1 || evs[0].Subject != "after" || evs[0].Seq != 1 || evs[0].Hash != storage.AuditHash("", evs[0]) {
		t.Fatalf("audit after a failed group = %+v, %v; want the one later event, first in the chain", evs, err)
	}
}

// TestGroupCancelledWaiter: a waiter that gives up does not leave the group
// uncommitted.
func TestGroupCancelledWaiter(t *testing.T) {
	s, b := groupEnv(t)
	holder := hold(t, s, "a")
	cctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	go func() { ch <- member(cctx, s, "b", false) }()
	waitFor(t, "b queued", func() bool { return b.w.waiting.Load() == 1 })
	cancel()
	if err := <-ch; !errors.Is(err, context.Canceled) {
		t.Errorf("b = %v, want context.Canceled", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Commit(holder) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("holder's commit never came")
	}
	if got := names(t, b); !got["a"] || got["b"] {
		t.Errorf("rows %v; want a", got)
	}
}

// TestGroupConcurrentAudit: many concurrent token-like transactions (a row and an
// audit event each) all commit, in fewer commits than transactions, and the audit
// chain is unbroken.
func TestGroupConcurrentAudit(t *testing.T) {
	s, b := groupEnv(t)
	ctx := context.Background()
	before := b.w.commits.Load()
	const workers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				txCtx, err := s.BeginTX(ctx)
				if err != nil {
					errs <- err
					return
				}
				name := fmt.Sprintf("%d-%d", w, i)
				err = s.UseOnce(txCtx, "ns", name, time.Now().Add(time.Hour))
				if err == nil {
					err = s.AppendAudit(txCtx, &storage.AuditEvent{Type: "t", Subject: name})
				}
				if err == nil {
					err = s.Commit(txCtx)
				} else {
					_ = s.Rollback(txCtx)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	evs, err := s.ListAudit(ctx, time.Time{}, time.Time{}, 0)
	if err != nil || len(evs) != workers*each {
		t.Fatalf("ListAudit = %d, %v; want %d", len(evs), err, workers*each)
	}
	prev := ""
	for i, e := range evs {
		if e.Seq != int64(i+1) || e.PrevHash != prev || e.Hash != storage.AuditHash(prev, e) {
			t.Fatalf("chain broken at %d", i)
		}
		prev = e.Hash
	}
	t.Logf("%d transactions in %d commits", workers*each, b.w.commits.Load()-before)
}

// TestGroupReadsBeforeFirstWrite: a transaction that has only read does not hold
// the writer (fosite reads the code, then signs, then writes), and once it writes
// it reads its own writes.
func TestGroupReadsBeforeFirstWrite(t *testing.T) {
	s, _ := groupEnv(t)
	txCtx, err := s.BeginTX(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetClient(txCtx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetClient = %v, want ErrNotFound", err)
	}
	done := make(chan error, 1)
	go func() { done <- member(context.Background(), s, "other", false) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a transaction that only read holds the writer")
	}
	if err := s.CreateClient(txCtx, &storage.Client{ID: "mine"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetClient(txCtx, "mine"); err != nil {
		t.Errorf("read after own write: %v", err)
	}
	if _, err := s.GetClient(context.Background(), "mine"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("uncommitted client visible outside the transaction: %v", err)
	}
	if err := s.Commit(txCtx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetClient(context.Background(), "mine"); err != nil {
		t.Errorf("after commit: %v", err)
	}
}

// TestGroupDeferredDelete: fosite deletes the PKCE session before it signs the
// tokens; inside a transaction the delete waits for the transaction's first write
// or its commit, so it does not hold the writer, and it is undone by a rollback.
func TestGroupDeferredDelete(t *testing.T) {
	s, _ := groupEnv(t)
	ctx := context.Background()
	c := &storage.Client{ID: "c"}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"rolled-back", "committed", "after-a-write"} {
		req := &fosite.Request{ID: key, Client: c, Session: new(storagetest.Session), Form: url.Values{}}
		if err := s.CreatePKCERequestSession(ctx, key, req); err != nil {
			t.Fatal(err)
		}
		txCtx, err := s.BeginTX(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if key == "after-a-write" {
			if err := s.UseOnce(txCtx, "ns", key, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeletePKCERequestSession(txCtx, key); err != nil {
			t.Fatal(err)
		}
		if key != "after-a-write" {
			if err := member(ctx, s, "while-"+key, false); err != nil {
				t.Fatalf("a deferred delete holds the writer: %v", err)
			}
		}
		if key == "rolled-back" {
			err = s.Rollback(txCtx)
		} else {
			err = s.Commit(txCtx)
		}
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.GetPKCERequestSession(ctx, key, new(storagetest.Session))
		if key == "rolled-back" && err != nil {
			t.Errorf("%s: PKCE session gone: %v", key, err)
		}
		if key != "rolled-back" && !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("%s: PKCE session still there: %v", key, err)
		}
	}
}

// TestGroupAbandonedTransaction: a transaction whose caller never ends it (a
// handler that panicked) is rolled back when its context ends, and the writer
// serves the others again.
func TestGroupAbandonedTransaction(t *testing.T) {
	s, _ := groupEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	txCtx, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UseOnce(txCtx, "ns", "abandoned", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	cancel() // the request ends without Commit or Rollback
	done := make(chan error, 1)
	go func() { done <- member(context.Background(), s, "next", false) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an abandoned transaction keeps the writer")
	}
	if err := s.Commit(txCtx); err == nil {
		t.Error("Commit of the abandoned transaction succeeded")
	}
	got, err := s.Backend().Reader().Query(context.Background(), "SELECT marker FROM used_markers WHERE marker = 'abandoned'")
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	if got.Next() {
		t.Error("the abandoned transaction's write was committed")
	}
}

// TestGroupCancelledCommit: a caller whose context ends while it holds the writer
// (the client went away) is rolled back alone and does not fail its group.
func TestGroupCancelledCommit(t *testing.T) {
	s, b := groupEnv(t)
	holder := hold(t, s, "a")
	ctx, cancel := context.WithCancel(context.Background())
	txCtx, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- s.UseOnce(txCtx, "ns", "b", time.Now().Add(time.Hour)) }()
	waitFor(t, "b queued", func() bool { return b.w.waiting.Load() == 1 })
	// a's commit waits for the group, which b (holding the writer next) is in.
	held := make(chan error, 1)
	go func() { held <- s.Commit(holder) }()
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	c := startQueued(t, s, b, "c", false, 1)
	cancel()
	// b's context ended while it holds the writer: it is rolled back alone, and
	// c, queued behind it, commits the group with a.
	if err := <-c; err != nil {
		t.Errorf("c: %v", err)
	}
	if err := <-held; err != nil {
		t.Errorf("a: %v", err)
	}
	if got := names(t, b); !got["a"] || got["b"] || !got["c"] {
		t.Errorf("rows %v; want a and c", got)
	}
}

// TestGroupDeferredWrites: in a transaction the code's invalidation and the token
// inserts wait for the writer (fosite signs in between), a read of their table
// still sees them, and a redemption that lost the race fails at its commit with
// nothing written.
func TestGroupDeferredWrites(t *testing.T) {
	s, b := groupEnv(t)
	ctx := context.Background()
	c := &storage.Client{ID: "c"}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	req := &fosite.Request{ID: "r", Client: c, Session: new(storagetest.Session), Form: url.Values{}}
	if err := s.CreateAuthorizeCodeSession(ctx, "code", req); err != nil {
		t.Fatal(err)
	}
	redeem := func(at string) (context.Context, error) {
		txCtx, err := s.BeginTX(ctx)
		if err != nil {
			return nil, err
		}
		if err := s.InvalidateAuthorizeCodeSession(txCtx, "code"); err != nil {
			return txCtx, err
		}
		return txCtx, s.CreateAccessTokenSession(txCtx, at, req)
	}
	first, err := redeem("at-1")
	if err != nil {
		t.Fatal(err)
	}
	second, err := redeem("at-2")
	if err != nil {
		t.Fatal(err)
	}
	if b.w.waiting.Load() != 0 || len(b.w.sem) != 0 {
		t.Fatal("deferred writes took the writer")
	}
	if _, err := s.GetAccessTokenSession(first, "at-1", new(storagetest.Session)); err != nil {
		t.Errorf("own deferred insert not visible to a read of its table: %v", err)
	}
	if err := s.Commit(first); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(second); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Errorf("second redemption's commit = %v, want ErrInvalidatedAuthorizeCode", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at-2", new(storagetest.Session)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("the losing redemption's token was stored: %v", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at-1", new(storagetest.Session)); err != nil {
		t.Errorf("the winning redemption's token: %v", err)
	}
}

// openWriter opens a fresh store and returns its group writer (the connection the
// pragmas and plans are read on).
func openWriter(t *testing.T) *groupWriter {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "jc.db"), storage.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s.Store.Backend().(*backend).w
}

// The write connection runs with the pragmas Open sets for it (a DSN option the
// driver ignored would leave SQLite's defaults, and the sub-journal on disk).
func TestWriterPragmas(t *testing.T) {
	w := openWriter(t)
	ctx := context.Background()
	var mode string
	if err := w.conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	for pragma, want := range map[string]int64{
		"temp_store":   2, // MEMORY
		"synchronous":  1, // NORMAL
		"foreign_keys": 1,
		"busy_timeout": busyTimeoutMS,
	} {
		var got int64
		if err := w.conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %d, want %d", pragma, got, want)
		}
	}
}

// The cleanup and the hot lookups search indexes instead of scanning tables that
// hold a million rows (docs/PERFORMANCE.md, "Query plans"). The conditions are
// those of sqlstore's DeleteExpired and getRequest.
func TestQueryPlansUseIndexes(t *testing.T) {
	w := openWriter(t)
	for _, c := range []struct{ table, query, want string }{
		{"sso_sessions", "SELECT id FROM sso_sessions WHERE (ended_at > 0 AND ended_at <= ?) OR (absolute_expires_at > 0 AND absolute_expires_at < ?) OR (idle_expires_at > 0 AND idle_expires_at < ?) LIMIT ?", "MULTI-INDEX OR"},
		{"oauth_access_tokens", "SELECT signature FROM oauth_access_tokens WHERE expires_at IS NOT NULL AND expires_at < ? LIMIT ?", "oauth_access_tokens_expires_at"},
		{"oauth_refresh_tokens", "SELECT signature FROM oauth_refresh_tokens WHERE expires_at IS NOT NULL AND expires_at < ? LIMIT ?", "oauth_refresh_tokens_expires_at"},
		{"oauth_codes", "SELECT t.session, c.data FROM oauth_codes t LEFT JOIN clients c ON c.id = t.client_id WHERE t.signature = ?", "sqlite_autoindex_oauth_codes_1 (signature=?)"},
		{"oauth_access_tokens", "UPDATE oauth_access_tokens SET active = 0 WHERE request_id = ?", "oauth_access_tokens_request_id"},
		// Logout (RevokeTokensOfSession) finds the tokens through the session's
		// grants since migration 0007 dropped the sso_session_id indexes.
		{"oauth_access_tokens", "DELETE FROM oauth_access_tokens WHERE request_id IN (SELECT request_id FROM sso_session_grants WHERE sso_session_id = ?) AND sso_session_id = ? AND NOT offline", "oauth_access_tokens_request_id (request_id=?)"},
		{"oauth_refresh_tokens", "UPDATE oauth_refresh_tokens SET active = 0 WHERE request_id IN (SELECT request_id FROM sso_session_grants WHERE sso_session_id = ?) AND sso_session_id = ? AND active", "oauth_refresh_tokens_request_id (request_id=?)"},
		{"oauth_codes", "UPDATE oauth_codes SET active = 0 WHERE request_id IN (SELECT request_id FROM sso_session_grants WHERE sso_session_id = ?) AND sso_session_id = ? AND active", "oauth_codes_request_id (request_id=?)"},
		{"sso_session_grants", "SELECT request_id FROM sso_session_grants WHERE sso_session_id = ?", "PRIMARY KEY (sso_session_id=?)"},
		{"sso_sessions", "SELECT 1 FROM sso_sessions WHERE id = ?", "sqlite_autoindex_sso_sessions_1 (id=?)"},
		{"oauth_pkce", "DELETE FROM oauth_pkce WHERE signature = ?", "sqlite_autoindex_oauth_pkce_1"},
		{"oauth_oidc", "DELETE FROM oauth_oidc WHERE signature = ?", "sqlite_autoindex_oauth_oidc_1"},
		// Upstream back-channel logout (migration 0008): the keyed sessions by
		// index, and the provider's sessions without keys by the same index.
		{"sso_sessions", sqlstore.UpstreamSessionsQuery(true, false), "sso_sessions_upstream_subject (provider=? AND upstream_subject=?)"},
		{"sso_sessions", sqlstore.UpstreamSessionsQuery(false, true), "sso_sessions_upstream_sid (provider=? AND upstream_sid=?)"},
		{"sso_sessions", sqlstore.UpstreamSessionsQuery(true, true), "sso_sessions_upstream_sid (provider=? AND upstream_sid=?)"},
	} {
		args := make([]any, strings.Count(c.query, "?"))
		for i := range args {
			args[i] = int64(1)
		}
		rows, err := w.conn.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+c.query, args...)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := fmt.Sprint(plan)
		// No scan of any table: the subqueries of logout's statements must search too.
		if !strings.Contains(text, c.want) || strings.Contains(text, "SCAN ") {
			t.Errorf("%s\nplan %s: want %q and no scan (of %s or another table)", c.query, text, c.want, c.table)
		}
	}
}
