package storagetest

import (
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ory/fosite"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

func delivery(id, sid, client string) *storage.LogoutDelivery {
	return &storage.LogoutDelivery{ID: id, SessionID: sid, Subject: "alice", ClientID: client,
		URI: "https://" + client + ".example/bcl", NextAttemptAt: T0}
}

func ids(ds []*storage.LogoutDelivery) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.ID)
	}
	sort.Strings(out)
	return out
}

var logoutTests = []subtest{
	{"QueueLifecycle", func(e *env) {
		n, err := e.s.EnqueueLogouts(e.ctx, []*storage.LogoutDelivery{delivery("d1", "s1", "a"), delivery("d2", "s1", "b")})
		e.wantErr("enqueue", err, nil)
		if n != 2 {
			e.t.Fatalf("enqueued %d, want 2", n)
		}
		// The same (session, client) again is skipped, whatever its ID.
		n, err = e.s.EnqueueLogouts(e.ctx, []*storage.LogoutDelivery{delivery("d1bis", "s1", "a")})
		if err != nil || n != 0 {
			e.t.Fatalf("duplicate enqueue: n=%d err=%v, want 0, nil", n, err)
		}
		later := delivery("d3", "s2", "a")
		later.NextAttemptAt = T0.Add(time.Hour)
		_, err = e.s.EnqueueLogouts(e.ctx, []*storage.LogoutDelivery{later})
		e.wantErr("enqueue later", err, nil)
		if c, err := e.s.CountLogouts(e.ctx); err != nil || c != 3 {
			e.t.Fatalf("CountLogouts = %d, %v; want 3", c, err)
		}

		got, err := e.s.ClaimLogouts(e.ctx, T0, time.Minute, 10)
		e.wantErr("claim", err, nil)
		if !slices.Equal(ids(got), []string{"d1", "d2"}) {
			e.t.Fatalf("claimed %v, want the two due deliveries", ids(got))
		}
		for _, d := range got {
			if d.Lease == "" || d.Subject != "alice" || d.URI == "" || !d.CreatedAt.Equal(T0) || !d.NextAttemptAt.Equal(T0) {
				e.t.Errorf("claimed row %+v", d)
			}
		}
		// Leased rows are not claimed again until the lease runs out.
		again, err := e.s.ClaimLogouts(e.ctx, T0.Add(30*time.Second), time.Minute, 10)
		if err != nil || len(again) != 0 {
			e.t.Fatalf("claim during lease = %v, %v; want none", ids(again), err)
		}
		var d1, d2 *storage.LogoutDelivery
		for _, d := range got {
			if d.ID == "d1" {
				d1 = d
			} else {
				d2 = d
			}
		}
		e.wantErr("finish with a wrong lease", e.s.FinishLogout(e.ctx, d1.ID, "not-mine"), storage.ErrConflict)
		e.wantErr("finish", e.s.FinishLogout(e.ctx, d1.ID, d1.Lease), nil)
		e.wantErr("finish twice", e.s.FinishLogout(e.ctx, d1.ID, d1.Lease), storage.ErrConflict)
		e.wantErr("retry", e.s.RetryLogout(e.ctx, d2.ID, d2.Lease, T0.Add(2*time.Minute), "HTTP 503"), nil)
		e.wantErr("retry with the old lease", e.s.RetryLogout(e.ctx, d2.ID, d2.Lease, T0, "x"), storage.ErrConflict)

		// Not due yet; then due with the attempt counted.
		if got, _ := e.s.ClaimLogouts(e.ctx, T0.Add(time.Minute), time.Minute, 10); len(got) != 0 {
			e.t.Fatalf("claim before next attempt = %v", ids(got))
		}
		got, err = e.s.ClaimLogouts(e.ctx, T0.Add(2*time.Minute), time.Minute, 10)
		e.wantErr("claim retry", err, nil)
		if len(got) != 1 || got[0].ID != "d2" || got[0].Attempts != 1 || got[0].LastError != "HTTP 503" {
			e.t.Fatalf("claim retry = %+v", got)
		}
		// A lease that ran out can be taken over; the first holder then loses.
		over, err := e.s.ClaimLogouts(e.ctx, T0.Add(4*time.Minute), time.Minute, 10)
		if err != nil || len(over) != 2 { // d2 (lease expired) and d3 is not due: only d2
			if len(over) != 1 || over[0].ID != "d2" {
				e.t.Fatalf("claim after lease expiry = %v, %v", ids(over), err)
			}
		}
		e.wantErr("finish by the first holder", e.s.FinishLogout(e.ctx, "d2", got[0].Lease), storage.ErrConflict)
		e.wantErr("finish by the new holder", e.s.FinishLogout(e.ctx, "d2", over[0].Lease), nil)

		// By ID: not due, still claimable for an immediate attempt.
		got, err = e.s.ClaimLogouts(e.ctx, T0, time.Minute, 10, "d3", "missing")
		if err != nil || len(got) != 1 || got[0].ID != "d3" {
			e.t.Fatalf("claim by id = %v, %v", ids(got), err)
		}
		if c, _ := e.s.CountLogouts(e.ctx); c != 1 {
			e.t.Fatalf("CountLogouts = %d, want 1", c)
		}
	}},
	{"ConcurrentClaims", func(e *env) {
		var ds []*storage.LogoutDelivery
		for i := range 20 {
			ds = append(ds, delivery("c"+string(rune('a'+i)), "s", "client"+string(rune('a'+i))))
		}
		_, err := e.s.EnqueueLogouts(e.ctx, ds)
		e.wantErr("enqueue", err, nil)
		var mu sync.Mutex
		seen := map[string]int{}
		errs := parallel(6, func(int) error {
			got, err := e.s.ClaimLogouts(e.ctx, T0, time.Minute, 5)
			mu.Lock()
			defer mu.Unlock()
			for _, d := range got {
				seen[d.ID]++
			}
			return err
		})
		for _, err := range errs {
			if err != nil && !errors.Is(err, storage.ErrUnavailable) {
				e.t.Fatalf("concurrent claim: %v", err)
			}
		}
		for id, n := range seen {
			if n > 1 {
				e.t.Errorf("%s claimed %d times", id, n)
			}
		}
	}},
	{"RevokeTokensOfSubject", func(e *env) {
		c := e.client("subj-client")
		mk := func(id, sid, pub string, scopes ...string) *fosite.Request {
			r := e.request(c, id, sid, scopes...)
			s := r.Session.(*Session)
			s.PublicSubject = pub
			return r
		}
		// alice's tokens: an offline grant of an ended session (pairwise sub, found
		// through the session's public subject) and an online one; bob's untouched.
		alice1 := mk("a1", "gone", "alice", "openid", "offline_access")
		alice2 := mk("a2", "live", "alice", "openid")
		bob := mk("b1", "live-b", "bob", "openid")
		// A subject whose name is a LIKE pattern must not match others.
		wild := mk("w1", "w", "al%", "openid")
		for _, x := range []struct {
			sig string
			r   fosite.Requester
		}{{"a1", alice1}, {"a2", alice2}, {"b1", bob}, {"w1", wild}} {
			e.wantErr("create AT", e.s.CreateAccessTokenSession(e.ctx, "at-"+x.sig, x.r), nil)
			e.wantErr("create RT", e.s.CreateRefreshTokenSession(e.ctx, "rt-"+x.sig, "at-"+x.sig, x.r), nil)
		}
		n, err := e.s.RevokeTokensOfSubject(e.ctx, "alice")
		e.wantErr("revoke", err, nil)
		if n != 4 {
			e.t.Errorf("revoked %d, want 4", n)
		}
		for sig, want := range map[string]error{"at-a1": fosite.ErrNotFound, "at-a2": fosite.ErrNotFound, "at-b1": nil, "at-w1": nil} {
			_, err := e.s.GetAccessTokenSession(e.ctx, sig, new(Session))
			e.wantErr(sig, err, want)
		}
		for sig, want := range map[string]error{"rt-a1": fosite.ErrInactiveToken, "rt-a2": fosite.ErrInactiveToken, "rt-b1": nil, "rt-w1": nil} {
			_, err := e.s.GetRefreshTokenSession(e.ctx, sig, new(Session))
			e.wantErr(sig, err, want)
		}
		n, err = e.s.RevokeTokensOfSubject(e.ctx, "al%")
		if err != nil || n != 2 {
			e.t.Errorf("revoke al%%: n=%d err=%v, want 2", n, err)
		}
	}},
	{"ListSSOSessionsByUpstream", func(e *env) {
		// Sessions of two providers; "legacy" has no upstream keys, as a
		// session written before migration 0008.
		for i, k := range []struct{ id, provider, sub, sid string }{
			{"k1", "bailiffs", "u1", "s1"}, {"k2", "bailiffs", "u1", "s2"}, {"k3", "bailiffs", "u2", "s3"},
			{"nosid", "bailiffs", "u2", ""}, {"legacy", "bailiffs", "", ""}, {"ended", "bailiffs", "u1", "s1"},
			{"other", "bar", "u1", "s1"}, {"other-legacy", "bar", "", ""},
		} {
			s := &storage.SSOSession{ID: k.id, Subject: "alice", Provider: k.provider, AMR: []string{"pwd"},
				AuthTime: T0, CreatedAt: T0.Add(time.Duration(i) * time.Second), LastSeenAt: T0,
				IdleExpiresAt: T0.Add(time.Hour), AbsoluteExpiresAt: T0.Add(time.Hour), Identity: []byte(`{}`), Clients: []string{"c"},
				UpstreamSubject: k.sub, UpstreamSessionID: k.sid}
			e.wantErr("create", e.s.CreateSSOSession(e.ctx, s), nil)
		}
		e.wantErr("end", e.s.EndSSOSession(e.ctx, "ended", T0), nil)
		got, err := e.s.GetSSOSession(e.ctx, "k2")
		e.wantErr("get", err, nil)
		if got.UpstreamSubject != "u1" || got.UpstreamSessionID != "s2" {
			e.t.Errorf("GetSSOSession(k2) upstream keys = %q, %q; want u1, s2", got.UpstreamSubject, got.UpstreamSessionID)
		}
		for _, c := range []struct {
			sub, sid string
			want     []string
		}{
			{"u1", "", []string{"k1", "k2", "legacy"}},
			{"", "s1", []string{"k1", "legacy"}},
			{"u1", "s2", []string{"k2", "legacy"}},
			{"u2", "", []string{"k3", "nosid", "legacy"}},
			{"u2", "s1", []string{"legacy"}},
			{"nobody", "", []string{"legacy"}},
		} {
			list, err := e.s.ListSSOSessionsByUpstream(e.ctx, "bailiffs", c.sub, c.sid)
			e.wantErr("list", err, nil)
			var ids []string
			for _, ss := range list {
				ids = append(ids, ss.ID)
				// Without clients: loading them was a query per listed session.
				if ss.Clients != nil || ss.Subject != "alice" {
					e.t.Errorf("ListSSOSessionsByUpstream(%q, %q): %s has subject %q, clients %v; want alice, nil", c.sub, c.sid, ss.ID, ss.Subject, ss.Clients)
				}
			}
			if !slices.Equal(ids, c.want) {
				e.t.Errorf("ListSSOSessionsByUpstream(bailiffs, %q, %q) = %v; want %v (oldest first)", c.sub, c.sid, ids, c.want)
			}
		}
		if _, err := e.s.ListSSOSessionsByUpstream(e.ctx, "bailiffs", "", ""); err == nil {
			e.t.Error("ListSSOSessionsByUpstream without subject or sid: no error")
		}
	}},
}
