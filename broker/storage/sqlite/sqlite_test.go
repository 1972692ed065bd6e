package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/sqlite"
	"github.com/justiceconnect/justiceconnect/broker/storage/storagetest"
)

func open(t *testing.T, opts storage.Options) storage.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jc.db"), opts)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) { storagetest.Run(t, open) }

func BenchmarkCreateGetAccessToken(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), storage.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatalf("sqlite.Open: %v", err)
	}
	defer s.Close()
	storagetest.BenchmarkCreateGetAccessToken(b, s)
}

func quiet() storage.Options { return storage.Options{Logger: slog.New(slog.DiscardHandler)} }

func TestReopenIsIdempotent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jc.db")
	for i := 0; i < 3; i++ {
		s, err := sqlite.Open(ctx, path, quiet())
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if i == 0 {
			if err := s.CreateClient(ctx, &storage.Client{ID: "kept"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.GetClient(ctx, "kept"); err != nil {
			t.Fatalf("open %d: client lost: %v", i, err)
		}
		s.Close()
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	var mode string
	// One row per embedded migration, each applied once over the reopenings.
	if want := storagetest.CountMigrations(t, "migrations"); db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n) != nil || n != want {
		t.Errorf("schema_migrations rows = %d; want %d", n, want)
	}
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

// TestTwoStoresOneFile stands for the server and the CLI (justiceconnect clients,
// keys, audit) writing one file at once: BEGIN IMMEDIATE and busy_timeout must turn
// contention into waiting, not SQLITE_BUSY, and the audit chain must stay linear.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jc.db")
	var stores []*sqlite.Store
	for i := 0; i < 2; i++ {
		s, err := sqlite.Open(ctx, path, quiet())
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			s := stores[w%2]
			for i := 0; i < 10; i++ {
				if err := s.AppendAudit(ctx, &storage.AuditEvent{Type: "t", Subject: fmt.Sprint(w, i)}); err != nil {
					errs <- err
					return
				}
				if err := s.UseOnce(ctx, "ns", fmt.Sprint(w, "-", i), time.Now().Add(time.Hour)); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent write across stores: %v", err)
	}
	evs, err := stores[0].ListAudit(ctx, time.Time{}, time.Time{}, 0)
	if err != nil || len(evs) != 40 {
		t.Fatalf("ListAudit = %d events, %v; want 40", len(evs), err)
	}
	prev := ""
	for i, e := range evs {
		if e.Seq != int64(i+1) || e.PrevHash != prev || e.Hash != storage.AuditHash(prev, e) {
			t.Fatalf("chain broken at %d: %+v", i, e)
		}
		prev = e.Hash
	}
}

// TestNoSecretsInFile reads the database files raw: client credentials, the PKCE
// verifier, and raw codes/tokens passed as keys must not be in them.
func TestNoSecretsInFile(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "jc.db"), quiet())
	if err != nil {
		t.Fatal(err)
	}
	c := &storage.Client{ID: "c"}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	secrets := []string{"CLIENTSECRETVALUE", "PASSWORDVALUE", "VERIFIERVALUE", "ASSERTIONVALUE", "RAWCODEVALUE", "RAWREFRESHVALUE"}
	req := &fosite.Request{ID: "r", Client: c, Session: new(storagetest.Session), Form: url.Values{
		"client_secret": {secrets[0]}, "password": {secrets[1]}, "code_verifier": {secrets[2]},
		"client_assertion": {secrets[3]}, "code": {secrets[4]}, "refresh_token": {secrets[5]}, "state": {"STATEVALUE"},
	}}
	if err := s.CreateAuthorizeCodeSession(ctx, "sig", req); err != nil {
		t.Fatal(err)
	}
	// fosite keys the OpenID Connect session by the raw authorization code.
	if err := s.CreateOpenIDConnectSession(ctx, "RAWOIDCCODEVALUE", req); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var all []byte
	for _, f := range []string{"jc.db", "jc.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		all = append(all, b...)
	}
	if !bytes.Contains(all, []byte("STATEVALUE")) {
		t.Fatalf("sanity: stored form not found in the files")
	}
	for _, sec := range append(secrets, "RAWOIDCCODEVALUE") {
		if bytes.Contains(all, []byte(sec)) {
			t.Errorf("%s found in the database file", sec)
		}
	}
}

func TestClosedIsUnavailable(t *testing.T) {
	s := open(t, quiet())
	s.Close()
	if err := s.Ping(context.Background()); !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Ping after Close = %v, want ErrUnavailable", err)
	}
}

func TestOpenRejects(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=memory"} {
		if s, err := sqlite.Open(context.Background(), p, quiet()); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

// TestSessionGrantsMigration: migration 0007 records the grants of the tokens
// stored before it, for the sessions still stored, so that logout revokes them
// as it did through the sso_session_id indexes; a deleted session takes its
// grants with it.
func TestSessionGrantsMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jc.db")
	now := time.Now()
	s, err := sqlite.Open(ctx, path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	c := &storage.Client{ID: "c", GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid"}}
	must("client", s.CreateClient(ctx, c))
	must("session", s.CreateSSOSession(ctx, &storage.SSOSession{ID: "kept", Subject: "alice",
		IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour)}))
	req := func(id, sid string) *fosite.Request {
		sess := &storagetest.Session{SID: sid}
		sess.Subject = "alice"
		for _, tt := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken} {
			sess.SetExpiresAt(tt, now.Add(time.Hour))
		}
		return &fosite.Request{ID: id, RequestedAt: now, Client: c, GrantedScope: fosite.Arguments{"openid"}, Session: sess, Form: url.Values{}}
	}
	must("at", s.CreateAccessTokenSession(ctx, "at-1", req("grant-1", "kept")))
	must("rt", s.CreateRefreshTokenSession(ctx, "rt-1", "at-1", req("grant-1", "kept")))
	must("code", s.CreateAuthorizeCodeSession(ctx, "code-2", req("grant-2", "kept")))
	// A token of a session no longer stored: nothing to record.
	must("at gone", s.CreateAccessTokenSession(ctx, "at-3", req("grant-3", "gone")))
	s.Close()

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	grants := func() int {
		t.Helper()
		var n int
		if err := db.QueryRow("SELECT count(*) FROM sso_session_grants").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := grants(); n != 2 {
		t.Fatalf("grant rows written with the tokens = %d, want 2 (grant-1, grant-2 of session kept)", n)
	}
	// Back to the schema before 0007: no grant rows, an index per token table.
	for _, q := range []string{
		"DROP TRIGGER oauth_codes_session_grant",
		"DROP TRIGGER oauth_access_tokens_session_grant",
		"DROP TRIGGER oauth_refresh_tokens_session_grant",
		"DROP TABLE sso_session_grants",
		"DROP INDEX oauth_codes_request_id",
		"CREATE INDEX oauth_codes_sso_session_id ON oauth_codes (sso_session_id)",
		"CREATE INDEX oauth_access_tokens_sso_session_id ON oauth_access_tokens (sso_session_id)",
		"CREATE INDEX oauth_refresh_tokens_sso_session_id ON oauth_refresh_tokens (sso_session_id)",
		"DELETE FROM schema_migrations WHERE version = 7",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	s, err = sqlite.Open(ctx, path, quiet())
	if err != nil {
		t.Fatalf("reopen (migration 0007 again): %v", err)
	}
	defer s.Close()
	if n := grants(); n != 2 {
		t.Errorf("grant rows after the migration = %d, want 2", n)
	}
	n, err := s.RevokeTokensOfSession(ctx, "kept", false)
	if err != nil || n != 2 {
		t.Errorf("RevokeTokensOfSession(kept) = %d, %v; want 2 (at-1, rt-1)", n, err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at-1", new(storagetest.Session)); !errors.Is(err, fosite.ErrNotFound) {
		t.Errorf("at-1 after logout: %v, want not found", err)
	}
	if _, err := s.GetAuthorizeCodeSession(ctx, "code-2", new(storagetest.Session)); !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
		t.Errorf("code-2 after logout: %v, want invalidated", err)
	}
	if _, err := s.GetAccessTokenSession(ctx, "at-3", new(storagetest.Session)); err != nil {
		t.Errorf("at-3 of another session: %v, want it kept", err)
	}

	// The cleanup keeps the ended session for storage.SessionRetention, then
	// deletes it; its grants go with it.
	must("end", s.EndSSOSession(ctx, "kept", now))
	if _, err := s.DeleteExpired(ctx, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := grants(); n != 2 {
		t.Errorf("grant rows right after the session ended = %d, want 2", n)
	}
	if _, err := s.DeleteExpired(ctx, now.Add(storage.SessionRetention+time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := grants(); n != 0 {
		t.Errorf("grant rows after the session was deleted = %d, want 0", n)
	}
}

// TestUpstreamKeysMigration: after migration 0008 a session stored before it,
// or written by a node of the previous release (no upstream key columns in its
// INSERT), is still listed for an upstream logout, for the caller to match;
// sessions with keys are found by them.
func TestUpstreamKeysMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "jc.db")
	now := time.Now()
	s, err := sqlite.Open(ctx, path, quiet())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Back to the schema before 0008, and a session as the previous release
	// writes it.
	for _, q := range []string{
		"DROP INDEX sso_sessions_upstream_subject",
		"DROP INDEX sso_sessions_upstream_sid",
		"ALTER TABLE sso_sessions DROP COLUMN upstream_subject",
		"ALTER TABLE sso_sessions DROP COLUMN upstream_sid",
		"CREATE INDEX sso_sessions_provider ON sso_sessions (provider)",
		"DELETE FROM schema_migrations WHERE version = 8",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	const oldInsert = "INSERT INTO sso_sessions (id, subject, provider, acr, amr, auth_time, created_at, last_seen_at, idle_expires_at, absolute_expires_at, identity, ended_at)" +
		" VALUES (?, 'alice', 'bailiffs', 'eidas1', '[]', ?, ?, ?, ?, ?, '{}', NULL)"
	if _, err := db.Exec(oldInsert, "before", now.UnixNano(), now.UnixNano(), now.UnixNano(), now.Add(time.Hour).UnixNano(), now.Add(time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}

	s, err = sqlite.Open(ctx, path, quiet())
	if err != nil {
		t.Fatalf("reopen (migration 0008): %v", err)
	}
	defer s.Close()
	later := now.Add(time.Second)
	if _, err := db.Exec(oldInsert, "previous-release", later.UnixNano(), later.UnixNano(), later.UnixNano(), now.Add(time.Hour).UnixNano(), now.Add(time.Hour).UnixNano()); err != nil {
		t.Fatalf("INSERT of the previous release after 0008: %v", err)
	}
	if err := s.CreateSSOSession(ctx, &storage.SSOSession{ID: "keyed", Subject: "bob", Provider: "bailiffs", CreatedAt: now.Add(2 * time.Second),
		IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour), UpstreamSubject: "cj-1", UpstreamSessionID: "up-1"}); err != nil {
		t.Fatal(err)
	}
	list, err := s.ListSSOSessionsByUpstream(ctx, "bailiffs", "cj-1", "up-1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ss := range list {
		ids = append(ids, ss.ID)
	}
	if want := []string{"before", "previous-release", "keyed"}; !slices.Equal(ids, want) {
		t.Errorf("ListSSOSessionsByUpstream after 0008 = %v, want %v", ids, want)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'sso_sessions_provider'").Scan(&n); err != nil || n != 0 {
		t.Errorf("sso_sessions_provider still there (%d, %v); 0008 replaces it", n, err)
	}
}

// BenchmarkListSSOSessionsByUpstream is what an upstream back-channel logout
// reads before it matches the logout token (oidc/logout_upstream.go), with
// 1,000 and 10,000 live sessions of the provider (each with three clients in
// the store) and the token naming one person's upstream session. keys=indexed:
// the sessions carry their upstream keys (migration 0008), the person's one is
// found by index. keys=none: sessions written before 0008, every one returned
// for the caller to match, which is what every logout read before.
func BenchmarkListSSOSessionsByUpstream(b *testing.B) {
	for _, keyed := range []bool{true, false} {
		for _, live := range []int{1000, 10000} {
			name := fmt.Sprintf("keys=none/live=%d", live)
			if keyed {
				name = fmt.Sprintf("keys=indexed/live=%d", live)
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				s := benchStore(b)
				now := time.Now()
				for i := range live {
					sub, sid := fmt.Sprintf("cj-%06d", i), fmt.Sprintf("upstream-session-%06d", i)
					ss := bailiffSession(fmt.Sprintf("s%06d", i), fmt.Sprintf("person-%06d", i), sub, sid, now)
					ss.Clients = []string{"app-1", "app-2", "app-3"}
					if !keyed {
						ss.UpstreamSubject, ss.UpstreamSessionID = "", ""
					}
					if err := s.CreateSSOSession(ctx, ss); err != nil {
						b.Fatal(err)
					}
				}
				want := live
				if keyed {
					want = 1
				}
				for b.Loop() { // b.Loop times only the loop, not the setup above
					list, err := s.ListSSOSessionsByUpstream(ctx, "bailiffs", "cj-000042", "upstream-session-000042")
					if err != nil || len(list) != want {
						b.Fatalf("ListSSOSessionsByUpstream: %d sessions, %v; want %d", len(list), err, want)
					}
				}
			})
		}
	}
}

// BenchmarkCreateSSOSession is the session row written at each login, on a
// store that already holds 50,000 live sessions of the same provider:
// keys=none as the directory's and the card's sessions (no upstream keys),
// keys=upstream as an upstream OpenID provider's since migration 0008 (two
// more index entries, at random places: upstream subjects and sids are not
// ordered).
func BenchmarkCreateSSOSession(b *testing.B) {
	const stored = 50000
	for _, keyed := range []bool{false, true} {
		name := "keys=none"
		if keyed {
			name = "keys=upstream"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s := benchStore(b)
			now := time.Now()
			session := func(i int) *storage.SSOSession {
				// Multiplicative hashes: subjects and upstream keys in no order.
				ss := bailiffSession(fmt.Sprintf("s%08d", i), fmt.Sprintf("person-%08x", uint32(i)*2654435761),
					fmt.Sprintf("cj-%08x", uint32(i)*2246822519), fmt.Sprintf("%08x-%08x", uint32(i)*3266489917, uint32(i)*668265263), now)
				if !keyed {
					ss.UpstreamSubject, ss.UpstreamSessionID = "", ""
				}
				return ss
			}
			for i := range stored {
				if err := s.CreateSSOSession(ctx, session(i)); err != nil {
					b.Fatal(err)
				}
			}
			i := stored
			for b.Loop() {
				if err := s.CreateSSOSession(ctx, session(i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// benchStore opens an empty store in the benchmark's directory, closed after it.
func benchStore(b *testing.B) *sqlite.Store {
	b.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), quiet())
	if err != nil {
		b.Fatalf("sqlite.Open: %v", err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// bailiffSession is a live session opened through the bailiffs' OpenID
// provider, with its upstream logout keys (migration 0008) and, in its identity,
// the same subject and sid the keyless path matches.
func bailiffSession(id, subject, upstreamSubject, upstreamSID string, now time.Time) *storage.SSOSession {
	return &storage.SSOSession{ID: id, Subject: subject, Provider: "bailiffs",
		ACR: "eidas1", AMR: []string{"pwd"}, AuthTime: now, CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(12 * time.Hour),
		Identity:        []byte(`{"provider":"bailiffs","upstream_subject":"` + upstreamSubject + `","upstream":{"sid":"` + upstreamSID + `"}}`),
		UpstreamSubject: upstreamSubject, UpstreamSessionID: upstreamSID}
}
