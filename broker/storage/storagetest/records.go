package storagetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

var clientTests = []subtest{
	{"CRUD", func(e *env) {
		c := e.client("crud")
		got, err := e.s.GetClient(e.ctx, "crud")
		e.wantErr("get", err, nil)
		sc, ok := got.(*storage.Client)
		if !ok {
			e.t.Fatalf("GetClient returned %T, want *storage.Client", got)
		}
		if c.CreatedAt.IsZero() || !reflect.DeepEqual(normClient(sc), normClient(c)) {
			e.t.Errorf("round trip:\n got %+v\nwant %+v", sc, c)
		}
		e.wantErr("create duplicate", e.s.CreateClient(e.ctx, &storage.Client{ID: "crud"}), storage.ErrConflict)
		_, err = e.s.GetClient(e.ctx, "missing")
		e.wantErr("get missing", err, fosite.ErrNotFound)

		c.Name = "Renamed"
		e.wantErr("update", e.s.UpdateClient(e.ctx, c), nil)
		e.wantErr("update missing", e.s.UpdateClient(e.ctx, &storage.Client{ID: "missing"}), storage.ErrNotFound)
		e.wantErr("upsert existing", e.s.UpsertClient(e.ctx, &storage.Client{ID: "crud", Name: "Upserted"}), nil)
		e.wantErr("upsert new", e.s.UpsertClient(e.ctx, &storage.Client{ID: "another", Name: "New"}), nil)
		list, err := e.s.ListClients(e.ctx)
		e.wantErr("list", err, nil)
		var names []string
		for _, c := range list {
			names = append(names, c.ID+"="+c.Name)
		}
		if want := []string{"another=New", "crud=Upserted"}; !reflect.DeepEqual(names, want) {
			e.t.Errorf("ListClients = %v, want %v", names, want)
		}
		e.wantErr("delete", e.s.DeleteClient(e.ctx, "crud"), nil)
		e.wantErr("delete again", e.s.DeleteClient(e.ctx, "crud"), storage.ErrNotFound)
		_, err = e.s.GetClient(e.ctx, "crud")
		e.wantErr("get deleted", err, fosite.ErrNotFound)
	}},
	{"UpsertKeepsTokens", func(e *env) {
		// Configuration sync upserts clients at every start; that must not cascade
		// into deleting their tokens.
		c := e.client("sync")
		e.wantErr("create AT", e.s.CreateAccessTokenSession(e.ctx, "sync-at", e.request(c, "sync-req", "")), nil)
		e.wantErr("upsert", e.s.UpsertClient(e.ctx, c), nil)
		_, err := e.s.GetAccessTokenSession(e.ctx, "sync-at", new(Session))
		e.wantErr("token after upsert", err, nil)
	}},
}

// normClient drops the monotonic clock and location so DeepEqual compares instants.
func normClient(c *storage.Client) storage.Client {
	n := *c
	n.CreatedAt, n.UpdatedAt = c.CreatedAt.UTC().Round(0), c.UpdatedAt.UTC().Round(0)
	return n
}

var txTests = []subtest{
	{"CommitAndRollback", func(e *env) {
		c := e.client("tx-client")
		tx := e.tx()
		cases := []struct {
			name    string
			commit  bool
			visible bool
		}{{"commit", true, true}, {"rollback", false, false}}
		for _, tc := range cases {
			ctx, err := tx.BeginTX(e.ctx)
			e.wantErr("begin", err, nil)
			sig := "tx-at-" + tc.name
			e.wantErr("create", e.s.CreateAccessTokenSession(ctx, sig, e.request(c, "tx-req-"+tc.name, "")), nil)
			e.wantErr("create flow", e.s.CreateFlow(ctx, &storage.Flow{ID: "tx-flow-" + tc.name, State: "s", ExpiresAt: T0.Add(time.Hour)}), nil)
			// Reads inside the transaction see its writes.
			_, err = e.s.GetAccessTokenSession(ctx, sig, new(Session))
			e.wantErr(tc.name+": read own write", err, nil)
			if tc.commit {
				e.wantErr("commit", tx.Commit(ctx), nil)
			} else {
				e.wantErr("rollback", tx.Rollback(ctx), nil)
			}
			_, err = e.s.GetAccessTokenSession(e.ctx, sig, new(Session))
			_, ferr := e.s.GetFlow(e.ctx, "tx-flow-"+tc.name)
			var want error
			if !tc.visible {
				want = fosite.ErrNotFound
			}
			e.wantErr(tc.name+": token after end", err, want)
			e.wantErr(tc.name+": flow after end", ferr, want)
		}
	}},
	{"NestedRollbackAbortsOuter", func(e *env) {
		tx := e.tx()
		outer, err := tx.BeginTX(e.ctx)
		e.wantErr("begin", err, nil)
		e.wantErr("write", e.s.UseOnce(outer, "ns", "nested", T0.Add(time.Hour)), nil)
		inner, err := tx.BeginTX(outer)
		e.wantErr("begin nested", err, nil)
		e.wantErr("rollback nested", tx.Rollback(inner), nil)
		if err := tx.Commit(outer); err == nil {
			e.t.Fatalf("outer commit succeeded after a nested rollback")
		}
		_ = tx.Rollback(outer)
		e.wantErr("marker not kept", e.s.UseOnce(e.ctx, "ns", "nested", T0.Add(time.Hour)), nil)
	}},
	{"MultiStatementMethodJoinsTx", func(e *env) {
		// Methods that are themselves transactional (UpdateKeys) join the ambient
		// transaction instead of committing on their own.
		e.wantErr("create key", e.s.CreateKey(e.ctx, &storage.Key{ID: "k", Use: "sig", Alg: "ES256", State: storage.KeyNext, CreatedAt: T0}), nil)
		tx := e.tx()
		ctx, err := tx.BeginTX(e.ctx)
		e.wantErr("begin", err, nil)
		e.wantErr("update", e.s.UpdateKeys(ctx, []*storage.Key{{ID: "k", State: storage.KeyCurrent}}), nil)
		e.wantErr("rollback", tx.Rollback(ctx), nil)
		keys, err := e.s.ListKeys(e.ctx)
		e.wantErr("list", err, nil)
		if len(keys) != 1 || keys[0].State != storage.KeyNext {
			e.t.Fatalf("after rollback keys = %+v, want state next", keys)
		}
	}},
}

var recordTests = []subtest{
	{"Flows", func(e *env) {
		f := &storage.Flow{ID: "flow-1", State: "awaiting_login", ClientID: "c", Data: []byte(`{"a":1}`), CreatedAt: T0, ExpiresAt: T0.Add(10 * time.Minute)}
		e.wantErr("create", e.s.CreateFlow(e.ctx, f), nil)
		if f.Version != 1 {
			e.t.Errorf("version after create = %d, want 1", f.Version)
		}
		e.wantErr("create duplicate", e.s.CreateFlow(e.ctx, &storage.Flow{ID: "flow-1"}), storage.ErrConflict)
		got, err := e.s.GetFlow(e.ctx, "flow-1")
		e.wantErr("get", err, nil)
		if !reflect.DeepEqual(got, f) {
			e.t.Errorf("GetFlow = %+v, want %+v", got, f)
		}
		stale := *got
		got.State, got.Data = "authenticated", []byte(`{"a":2}`)
		e.wantErr("update", e.s.UpdateFlow(e.ctx, got), nil)
		if got.Version != 2 {
			e.t.Errorf("version after update = %d, want 2", got.Version)
		}
		stale.State = "failed"
		e.wantErr("stale update", e.s.UpdateFlow(e.ctx, &stale), storage.ErrConflict)
		again, _ := e.s.GetFlow(e.ctx, "flow-1")
		if again.State != "authenticated" || again.Version != 2 || string(again.Data) != `{"a":2}` {
			e.t.Errorf("after stale update flow = %+v", again)
		}
		e.wantErr("update missing", e.s.UpdateFlow(e.ctx, &storage.Flow{ID: "nope", Version: 1}), storage.ErrNotFound)
		_, err = e.s.GetFlow(e.ctx, "nope")
		e.wantErr("get missing", err, storage.ErrNotFound)
		// Concurrent updates from one version: exactly one wins.
		errs := parallel(6, func(i int) error {
			c := *again
			c.State = fmt.Sprint("s", i)
			return e.s.UpdateFlow(e.ctx, &c)
		})
		if countNil(errs) != 1 {
			e.t.Errorf("%d concurrent updates of one version succeeded, want 1: %v", countNil(errs), errs)
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, storage.ErrConflict) {
				e.t.Errorf("losing update: %v, want ErrConflict", err)
			}
		}
		e.wantErr("delete", e.s.DeleteFlow(e.ctx, "flow-1"), nil)
		_, err = e.s.GetFlow(e.ctx, "flow-1")
		e.wantErr("get deleted", err, storage.ErrNotFound)
		e.wantErr("delete again", e.s.DeleteFlow(e.ctx, "flow-1"), nil)
	}},
	{"SSOSessions", func(e *env) {
		s := &storage.SSOSession{ID: "sso-1", Subject: "alice", Provider: "ldap", ACR: "eidas2", AMR: []string{"pwd", "otp"},
			AuthTime: T0, CreatedAt: T0, LastSeenAt: T0, IdleExpiresAt: T0.Add(30 * time.Minute), AbsoluteExpiresAt: T0.Add(12 * time.Hour),
			Identity: []byte(`{"sub":"alice"}`), Clients: []string{"c1"}}
		e.wantErr("create", e.s.CreateSSOSession(e.ctx, s), nil)
		e.wantErr("create duplicate", e.s.CreateSSOSession(e.ctx, &storage.SSOSession{ID: "sso-1"}), storage.ErrConflict)
		e.wantErr("create other", e.s.CreateSSOSession(e.ctx, &storage.SSOSession{ID: "sso-2", Subject: "alice", CreatedAt: T0.Add(time.Second)}), nil)
		got, err := e.s.GetSSOSession(e.ctx, "sso-1")
		e.wantErr("get", err, nil)
		if !reflect.DeepEqual(got, s) {
			e.t.Errorf("GetSSOSession =\n %+v\nwant %+v", got, s)
		}
		for _, c := range []string{"c2", "c1", "c3", "c2"} {
			e.wantErr("add client "+c, e.s.AddSSOSessionClient(e.ctx, "sso-1", c), nil)
		}
		errs := parallel(6, func(i int) error { return e.s.AddSSOSessionClient(e.ctx, "sso-1", "c4") })
		if countNil(errs) != 6 {
			e.t.Errorf("concurrent AddSSOSessionClient: %v", errs)
		}
		e.wantErr("add to missing", e.s.AddSSOSessionClient(e.ctx, "missing", "c1"), storage.ErrNotFound)
		got, _ = e.s.GetSSOSession(e.ctx, "sso-1")
		if want := []string{"c1", "c2", "c3", "c4"}; !reflect.DeepEqual(got.Clients, want) {
			e.t.Errorf("Clients = %v, want %v (first-issue order, no duplicates)", got.Clients, want)
		}
		e.wantErr("touch", e.s.TouchSSOSession(e.ctx, "sso-1", T0.Add(time.Minute), T0.Add(31*time.Minute)), nil)
		e.wantErr("touch missing", e.s.TouchSSOSession(e.ctx, "missing", T0, T0), storage.ErrNotFound)
		got, _ = e.s.GetSSOSession(e.ctx, "sso-1")
		if !got.LastSeenAt.Equal(T0.Add(time.Minute)) || !got.IdleExpiresAt.Equal(T0.Add(31*time.Minute)) {
			e.t.Errorf("after touch: %+v", got)
		}
		list, err := e.s.ListSSOSessionsBySubject(e.ctx, "alice")
		e.wantErr("list", err, nil)
		if len(list) != 2 || list[0].ID != "sso-1" || len(list[0].Clients) != 4 {
			e.t.Errorf("ListSSOSessionsBySubject = %+v", list)
		}
		e.wantErr("end", e.s.EndSSOSession(e.ctx, "sso-1", T0.Add(time.Hour)), nil)
		e.wantErr("end again", e.s.EndSSOSession(e.ctx, "sso-1", T0.Add(2*time.Hour)), nil)
		e.wantErr("end missing", e.s.EndSSOSession(e.ctx, "missing", T0), storage.ErrNotFound)
		got, _ = e.s.GetSSOSession(e.ctx, "sso-1")
		if got.EndedAt == nil || !got.EndedAt.Equal(T0.Add(time.Hour)) {
			e.t.Errorf("EndedAt = %v, want the first end time", got.EndedAt)
		}
		list, _ = e.s.ListSSOSessionsBySubject(e.ctx, "alice")
		if len(list) != 1 || list[0].ID != "sso-2" {
			e.t.Errorf("live sessions after end = %+v, want only sso-2", list)
		}
		_, err = e.s.GetSSOSession(e.ctx, "missing")
		e.wantErr("get missing", err, storage.ErrNotFound)
	}},
	{"Consents", func(e *env) {
		c := &storage.Consent{Subject: "alice", ClientID: "partner", Scopes: []string{"openid", "profile"}, GrantedAt: T0}
		e.wantErr("save", e.s.SaveConsent(e.ctx, c), nil)
		e.wantErr("save other", e.s.SaveConsent(e.ctx, &storage.Consent{Subject: "alice", ClientID: "another", Scopes: []string{"openid"}, GrantedAt: T0}), nil)
		got, err := e.s.GetConsent(e.ctx, "alice", "partner")
		e.wantErr("get", err, nil)
		if !reflect.DeepEqual(got, c) {
			e.t.Errorf("GetConsent = %+v, want %+v", got, c)
		}
		c.Scopes = []string{"openid"}
		e.wantErr("replace", e.s.SaveConsent(e.ctx, c), nil)
		got, _ = e.s.GetConsent(e.ctx, "alice", "partner")
		if !reflect.DeepEqual(got.Scopes, []string{"openid"}) {
			e.t.Errorf("scopes after replace = %v", got.Scopes)
		}
		e.wantErr("revoke", e.s.RevokeConsent(e.ctx, "alice", "partner", T0.Add(time.Hour)), nil)
		e.wantErr("revoke missing", e.s.RevokeConsent(e.ctx, "bob", "partner", T0), storage.ErrNotFound)
		_, err = e.s.GetConsent(e.ctx, "alice", "partner")
		e.wantErr("get revoked", err, storage.ErrNotFound)
		list, err := e.s.ListConsents(e.ctx, "alice")
		e.wantErr("list", err, nil)
		if len(list) != 2 || list[0].ClientID != "another" || list[1].RevokedAt == nil || !list[1].RevokedAt.Equal(T0.Add(time.Hour)) {
			e.t.Errorf("ListConsents = %+v", list)
		}
		c.RevokedAt = nil
		e.wantErr("consent again", e.s.SaveConsent(e.ctx, c), nil)
		_, err = e.s.GetConsent(e.ctx, "alice", "partner")
		e.wantErr("get after new consent", err, nil)
	}},
	{"Keys", func(e *env) {
		at := func(d time.Duration) *time.Time { t := T0.Add(d); return &t }
		k1 := &storage.Key{ID: "k1", Use: "sig", Alg: "ES256", State: storage.KeyCurrent, PrivateSealed: []byte{1, 2, 3}, PublicJWK: []byte(`{"kty":"EC"}`), CreatedAt: T0, ActivatedAt: at(0)}
		k2 := &storage.Key{ID: "k2", Use: "sig", Alg: "ES256", State: storage.KeyNext, PrivateSealed: []byte{4}, PublicJWK: []byte(`{"kty":"EC"}`), CreatedAt: T0.Add(time.Second)}
		k3 := &storage.Key{ID: "k3", Use: "cookie", State: storage.KeyCurrent, PrivateSealed: []byte{5}, CreatedAt: T0.Add(2 * time.Second)}
		for _, k := range []*storage.Key{k1, k2, k3} {
			e.wantErr("create "+k.ID, e.s.CreateKey(e.ctx, k), nil)
		}
		e.wantErr("create duplicate", e.s.CreateKey(e.ctx, &storage.Key{ID: "k1", Use: "sig", State: "next"}), storage.ErrConflict)
		keys, err := e.s.ListKeys(e.ctx)
		e.wantErr("list", err, nil)
		if len(keys) != 3 || !reflect.DeepEqual(keys[0], k1) || !reflect.DeepEqual(keys[1], k2) {
			e.t.Fatalf("ListKeys = %+v", keys)
		}
		// Rotation: k2 becomes current, k1 retired, in one transaction.
		r1, r2 := *k1, *k2
		r1.State, r1.RetiredAt, r1.RetireUntil = storage.KeyRetired, at(time.Hour), at(25*time.Hour)
		r2.State, r2.ActivatedAt = storage.KeyCurrent, at(time.Hour)
		e.wantErr("rotate", e.s.UpdateKeys(e.ctx, []*storage.Key{&r1, &r2}), nil)
		keys, _ = e.s.ListKeys(e.ctx)
		if !reflect.DeepEqual(keys[0], &r1) || !reflect.DeepEqual(keys[1], &r2) {
			e.t.Errorf("after rotation = %+v %+v", keys[0], keys[1])
		}
		// An unknown key aborts the whole update.
		bad := r2
		bad.State = storage.KeyRetired
		e.wantErr("update with unknown", e.s.UpdateKeys(e.ctx, []*storage.Key{&bad, {ID: "ghost", State: storage.KeyCurrent}}), storage.ErrNotFound)
		keys, _ = e.s.ListKeys(e.ctx)
		if keys[1].State != storage.KeyCurrent {
			e.t.Errorf("partial UpdateKeys was kept: k2 state %q", keys[1].State)
		}
		e.wantErr("delete", e.s.DeleteKey(e.ctx, "k3"), nil)
		e.wantErr("delete missing", e.s.DeleteKey(e.ctx, "k3"), storage.ErrNotFound)
	}},
	{"UseOnce", func(e *env) {
		exp := T0.Add(5 * time.Minute)
		e.wantErr("first", e.s.UseOnce(e.ctx, "saml", "id-1", exp), nil)
		e.wantErr("replay", e.s.UseOnce(e.ctx, "saml", "id-1", exp), storage.ErrAlreadyUsed)
		e.wantErr("other namespace", e.s.UseOnce(e.ctx, "logout-jti", "id-1", exp), nil)
		e.clock.Advance(4 * time.Minute)
		e.wantErr("replay before expiry", e.s.UseOnce(e.ctx, "saml", "id-1", exp), storage.ErrAlreadyUsed)
		e.clock.Advance(2 * time.Minute)
		e.wantErr("after expiry", e.s.UseOnce(e.ctx, "saml", "id-1", e.clock.Now().Add(time.Minute)), nil)
		e.wantErr("replay of renewed", e.s.UseOnce(e.ctx, "saml", "id-1", e.clock.Now().Add(time.Minute)), storage.ErrAlreadyUsed)
		errs := parallel(8, func(int) error { return e.s.UseOnce(e.ctx, "verifier", "v-race", e.clock.Now().Add(time.Minute)) })
		if countNil(errs) != 1 {
			e.t.Fatalf("%d of 8 concurrent UseOnce succeeded, want 1: %v", countNil(errs), errs)
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, storage.ErrAlreadyUsed) {
				e.t.Errorf("losing UseOnce: %v, want ErrAlreadyUsed", err)
			}
		}
	}},
	{"Ping", func(e *env) {
		e.wantErr("ping", e.s.Ping(e.ctx), nil)
	}},
}

var expiryTests = []subtest{
	{"DeleteExpired", func(e *env) {
		c := e.client("exp-client")
		// req builds a request whose tokens expire at the given offsets from T0.
		req := func(id string, code, at, rt time.Duration) *fosite.Request {
			r := e.request(c, id, "")
			s := r.Session.(*Session)
			s.SetExpiresAt(fosite.AuthorizeCode, T0.Add(code))
			s.SetExpiresAt(fosite.AccessToken, T0.Add(at))
			s.SetExpiresAt(fosite.RefreshToken, T0.Add(rt))
			return r
		}
		old := req("old", -2*time.Hour, -time.Hour, -time.Minute)
		young := req("young", time.Minute, time.Hour, time.Hour)
		// A code expired an hour ago is kept (replay detection), one expired
		// two days ago is not.
		oldCode := req("old-code", -48*time.Hour, time.Hour, time.Hour)
		noExpiry := e.request(c, "forever", "")
		noExpiry.Session.(*Session).ExpiresAt = nil
		must := func(what string, err error) { e.t.Helper(); e.wantErr(what, err, nil) }
		must("code old", e.s.CreateAuthorizeCodeSession(e.ctx, "code-old", old))
		must("code very old", e.s.CreateAuthorizeCodeSession(e.ctx, "code-very-old", oldCode))
		must("code young", e.s.CreateAuthorizeCodeSession(e.ctx, "code-young", young))
		must("at old", e.s.CreateAccessTokenSession(e.ctx, "at-old", old))
		must("at young", e.s.CreateAccessTokenSession(e.ctx, "at-young", young))
		must("at forever", e.s.CreateAccessTokenSession(e.ctx, "at-forever", noExpiry))
		must("rt old", e.s.CreateRefreshTokenSession(e.ctx, "rt-old", "", old))
		must("rt young", e.s.CreateRefreshTokenSession(e.ctx, "rt-young", "", young))
		must("rotate young", e.s.RotateRefreshToken(e.ctx, "young", "rt-young"))
		must("pkce old", e.s.CreatePKCERequestSession(e.ctx, "pkce-old", old))
		must("pkce young", e.s.CreatePKCERequestSession(e.ctx, "pkce-young", young))
		must("oidc old", e.s.CreateOpenIDConnectSession(e.ctx, "oidc-old", old))
		must("oidc young", e.s.CreateOpenIDConnectSession(e.ctx, "oidc-young", young))
		must("flow old", e.s.CreateFlow(e.ctx, &storage.Flow{ID: "flow-old", State: "s", ExpiresAt: T0.Add(-time.Second)}))
		must("flow young", e.s.CreateFlow(e.ctx, &storage.Flow{ID: "flow-young", State: "s", ExpiresAt: T0.Add(time.Second)}))
		// Sessions stay storage.SessionRetention past their end or expiry.
		past := -storage.SessionRetention - time.Minute
		for _, s := range []*storage.SSOSession{
			{ID: "sso-live", Subject: "a", IdleExpiresAt: T0.Add(time.Minute), AbsoluteExpiresAt: T0.Add(time.Hour)},
			{ID: "sso-idle", Subject: "a", IdleExpiresAt: T0.Add(past), AbsoluteExpiresAt: T0.Add(time.Hour)},
			{ID: "sso-abs", Subject: "a", IdleExpiresAt: T0.Add(time.Minute), AbsoluteExpiresAt: T0.Add(past)},
			{ID: "sso-idle-recently", Subject: "a", IdleExpiresAt: T0.Add(-time.Minute), AbsoluteExpiresAt: T0.Add(time.Hour)},
			{ID: "sso-ended", Subject: "a", IdleExpiresAt: T0.Add(time.Minute), AbsoluteExpiresAt: T0.Add(time.Hour)},
			{ID: "sso-ended-recently", Subject: "a", IdleExpiresAt: T0.Add(time.Minute), AbsoluteExpiresAt: T0.Add(time.Hour)},
		} {
			must("sso "+s.ID, e.s.CreateSSOSession(e.ctx, s))
		}
		must("end", e.s.EndSSOSession(e.ctx, "sso-ended", T0.Add(past)))
		must("end recently", e.s.EndSSOSession(e.ctx, "sso-ended-recently", T0.Add(-time.Second)))
		must("marker old", e.s.UseOnce(e.ctx, "ns", "old", T0.Add(-time.Second)))
		must("marker young", e.s.UseOnce(e.ctx, "ns", "young", T0.Add(time.Second)))
		e.clock.Advance(-time.Hour) // the jti store cleans expired rows at insert: insert both "in the past"
		must("jti old", e.s.SetClientAssertionJWT(e.ctx, "jti-old", T0.Add(-time.Second)))
		must("jti young", e.s.SetClientAssertionJWT(e.ctx, "jti-young", T0.Add(time.Second)))
		e.clock.Advance(time.Hour)
		until := func(d time.Duration) *time.Time { t := T0.Add(d); return &t }
		for _, k := range []*storage.Key{
			{ID: "key-gone", Use: "sig", Alg: "ES256", State: storage.KeyRetired, CreatedAt: T0, RetireUntil: until(-time.Second)},
			{ID: "key-published", Use: "sig", Alg: "ES256", State: storage.KeyRetired, CreatedAt: T0, RetireUntil: until(time.Hour)},
			{ID: "key-current", Use: "sig", Alg: "ES256", State: storage.KeyCurrent, CreatedAt: T0},
		} {
			must("key "+k.ID, e.s.CreateKey(e.ctx, k))
		}

		n, err := e.s.DeleteExpired(e.ctx, T0)
		must("DeleteExpired", err)
		// code-very-old, at-old, rt-old, pkce-old, oidc-old, flow-old, 3 SSO
		// sessions, marker, jti, key.
		if n != 12 {
			e.t.Errorf("DeleteExpired removed %d rows, want 12", n)
		}
		gone := func(what string, err error) { e.t.Helper(); e.wantErr(what+" deleted", err, fosite.ErrNotFound) }
		kept := func(what string, err error) {
			e.t.Helper()
			if err != nil && !errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) && !errors.Is(err, fosite.ErrInactiveToken) {
				e.t.Errorf("%s should be kept: %v", what, err)
			}
		}
		var err2 error
		_, err2 = e.s.GetAuthorizeCodeSession(e.ctx, "code-very-old", new(Session))
		gone("code past retention", err2)
		_, err2 = e.s.GetAuthorizeCodeSession(e.ctx, "code-old", new(Session))
		kept("code within retention", err2)
		_, err2 = e.s.GetAuthorizeCodeSession(e.ctx, "code-young", new(Session))
		kept("live code", err2)
		_, err2 = e.s.GetAccessTokenSession(e.ctx, "at-old", new(Session))
		gone("expired AT", err2)
		_, err2 = e.s.GetAccessTokenSession(e.ctx, "at-forever", new(Session))
		kept("AT without expiry", err2)
		_, err2 = e.s.GetRefreshTokenSession(e.ctx, "rt-old", new(Session))
		gone("expired RT", err2)
		_, err2 = e.s.GetRefreshTokenSession(e.ctx, "rt-young", new(Session))
		kept("rotated RT before its expiry", err2)
		_, err2 = e.s.GetPKCERequestSession(e.ctx, "pkce-old", new(Session))
		gone("expired PKCE", err2)
		_, err2 = e.s.GetPKCERequestSession(e.ctx, "pkce-young", new(Session))
		kept("PKCE", err2)
		_, err2 = e.s.GetOpenIDConnectSession(e.ctx, "oidc-old", &fosite.Request{Session: new(Session)})
		gone("expired OIDC", err2)
		_, err2 = e.s.GetFlow(e.ctx, "flow-old")
		gone("expired flow", err2)
		_, err2 = e.s.GetFlow(e.ctx, "flow-young")
		kept("flow", err2)
		for _, id := range []string{"sso-idle", "sso-abs", "sso-ended"} {
			_, err2 = e.s.GetSSOSession(e.ctx, id)
			gone(id, err2)
		}
		for _, id := range []string{"sso-live", "sso-idle-recently", "sso-ended-recently"} {
			_, err2 = e.s.GetSSOSession(e.ctx, id)
			kept(id, err2)
		}
		e.wantErr("expired marker reusable", e.s.UseOnce(e.ctx, "ns", "old", T0.Add(time.Hour)), nil)
		e.wantErr("live marker", e.s.UseOnce(e.ctx, "ns", "young", T0.Add(time.Hour)), storage.ErrAlreadyUsed)
		keys, _ := e.s.ListKeys(e.ctx)
		var ids []string
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		if !reflect.DeepEqual(ids, []string{"key-published", "key-current"}) && !reflect.DeepEqual(ids, []string{"key-current", "key-published"}) {
			e.t.Errorf("keys after DeleteExpired = %v", ids)
		}
		if n, err := e.s.DeleteExpired(e.ctx, T0); err != nil || n != 0 {
			e.t.Errorf("second DeleteExpired = %d, %v; want 0", n, err)
		}
	}},
}

var auditTests = []subtest{
	{"Chain", func(e *env) {
		events := []*storage.AuditEvent{
			{Time: T0, Type: "login", Outcome: "success", Subject: "alice", ClientID: "c1", Provider: "ldap", Session: "sso-1", Details: map[string]string{"acr": "eidas2"}},
			{Time: T0.Add(time.Second), Type: "token", Outcome: "success", Subject: "alice", ClientID: "c1", Request: "r1"},
			{Time: T0.Add(2 * time.Second), Type: "logout"},
		}
		for _, ev := range events {
			e.wantErr("append", e.s.AppendAudit(e.ctx, ev), nil)
		}
		got, err := e.s.ListAudit(e.ctx, time.Time{}, time.Time{}, 0)
		e.wantErr("list", err, nil)
		if len(got) != 3 {
			e.t.Fatalf("ListAudit returned %d events, want 3", len(got))
		}
		for i, ev := range got {
			if !reflect.DeepEqual(ev, events[i]) {
				e.t.Errorf("event %d =\n %+v\nwant %+v", i, ev, events[i])
			}
		}
		verifyChain(e.t, got)
		cases := []struct {
			name        string
			from, until time.Time
			limit       int
			want        []int64
		}{
			{"from", T0.Add(time.Second), time.Time{}, 0, []int64{2, 3}},
			{"until", time.Time{}, T0.Add(2 * time.Second), 0, []int64{1, 2}},
			{"limit", time.Time{}, time.Time{}, 2, []int64{1, 2}},
			{"window", T0.Add(time.Second), T0.Add(time.Second + 1), 0, []int64{2}},
		}
		for _, tc := range cases {
			got, err := e.s.ListAudit(e.ctx, tc.from, tc.until, tc.limit)
			e.wantErr(tc.name, err, nil)
			var seqs []int64
			for _, ev := range got {
				seqs = append(seqs, ev.Seq)
			}
			if !reflect.DeepEqual(seqs, tc.want) {
				e.t.Errorf("%s: seqs %v, want %v", tc.name, seqs, tc.want)
			}
		}
	}},
	{"ConcurrentAppends", func(e *env) {
		const workers, each = 8, 6
		errs := parallel(workers, func(w int) error {
			for i := 0; i < each; i++ {
				ev := &storage.AuditEvent{Time: T0.Add(time.Duration(i) * time.Millisecond), Type: "t", Subject: fmt.Sprintf("w%d-%d", w, i)}
				if err := e.s.AppendAudit(e.ctx, ev); err != nil {
					return err
				}
			}
			return nil
		})
		for _, err := range errs {
			e.wantErr("append", err, nil)
		}
		got, err := e.s.ListAudit(e.ctx, time.Time{}, time.Time{}, 0)
		e.wantErr("list", err, nil)
		if len(got) != workers*each {
			e.t.Fatalf("%d events, want %d", len(got), workers*each)
		}
		verifyChain(e.t, got)
	}},
}

// verifyChain checks what `justiceconnect audit verify` checks: consecutive Seq from
// 1, each PrevHash the previous Hash, each Hash recomputed.
func verifyChain(t *testing.T, evs []*storage.AuditEvent) {
	t.Helper()
	prev := ""
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has Seq %d", i, ev.Seq)
		}
		if ev.PrevHash != prev {
			t.Fatalf("event %d PrevHash %q, want %q", ev.Seq, ev.PrevHash, prev)
		}
		if h := storage.AuditHash(prev, ev); ev.Hash != h {
			t.Fatalf("event %d Hash %q, recomputed %q", ev.Seq, ev.Hash, h)
		}
		prev = ev.Hash
	}
}
