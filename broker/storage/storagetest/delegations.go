package storagetest

import (
	"errors"
	"reflect"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// delegation returns a delegation from actor "clerk" for subject "judge" toward
// api.example valid for [T0-1h, T0+1h).
func delegation(id string) *storage.Delegation {
	return &storage.Delegation{ID: id, Actor: "clerk", Subject: "judge",
		Audiences: []string{"https://api.example", "https://other.example"},
		NotBefore: T0.Add(-time.Hour), NotAfter: T0.Add(time.Hour), Reason: "greffe"}
}

func (e *env) wantActive(what, actor, subject, audience string, at time.Time, wantID string) {
	e.t.Helper()
	d, err := e.s.ActiveDelegation(e.ctx, actor, subject, audience, at)
	if wantID == "" {
		if !errors.Is(err, storage.ErrNotFound) {
			e.t.Fatalf("%s: ActiveDelegation = %+v, %v; want ErrNotFound", what, d, err)
		}
		return
	}
	if err != nil {
		e.t.Fatalf("%s: ActiveDelegation: %v", what, err)
	}
	if d.ID != wantID {
		e.t.Fatalf("%s: ActiveDelegation = %q, want %q", what, d.ID, wantID)
	}
}

var delegationTests = []subtest{
	{"RoundTrip", func(e *env) {
		d := delegation("d1")
		e.wantErr("create", e.s.CreateDelegation(e.ctx, d), nil)
		if !d.CreatedAt.Equal(T0) {
			e.t.Errorf("CreatedAt = %v, want the store's now %v", d.CreatedAt, T0)
		}
		e.wantErr("duplicate", e.s.CreateDelegation(e.ctx, delegation("d1")), storage.ErrConflict)
		other := delegation("d2")
		other.Subject, other.Audiences, other.NotBefore, other.NotAfter = "prosecutor", []string{"https://api.example"}, time.Time{}, time.Time{}
		e.wantErr("create open-ended", e.s.CreateDelegation(e.ctx, other), nil)

		all, err := e.s.ListDelegations(e.ctx, "")
		e.wantErr("list all", err, nil)
		if len(all) != 2 {
			e.t.Fatalf("ListDelegations(\"\") = %d delegations, want 2", len(all))
		}
		got, err := e.s.ListDelegations(e.ctx, "judge")
		e.wantErr("list judge", err, nil)
		if len(got) != 1 {
			e.t.Fatalf("ListDelegations(judge) = %d delegations, want 1", len(got))
		}
		want := *delegation("d1")
		want.CreatedAt = T0
		if !reflect.DeepEqual(*got[0], want) {
			e.t.Errorf("ListDelegations(judge)[0] = %+v\nwant %+v", *got[0], want)
		}
		if got[0].RevokedAt != nil {
			e.t.Errorf("RevokedAt = %v, want nil", got[0].RevokedAt)
		}
		none, err := e.s.ListDelegations(e.ctx, "nobody")
		e.wantErr("list nobody", err, nil)
		if len(none) != 0 {
			e.t.Errorf("ListDelegations(nobody) = %d, want 0", len(none))
		}
	}},
	{"InForce", func(e *env) {
		e.wantErr("create", e.s.CreateDelegation(e.ctx, delegation("d1")), nil)
		e.wantActive("now", "clerk", "judge", "https://api.example", T0, "d1")
		e.wantActive("second audience", "clerk", "judge", "https://other.example", T0, "d1")
		e.wantActive("at not_before", "clerk", "judge", "https://api.example", T0.Add(-time.Hour), "d1")
		d, err := e.s.ActiveDelegation(e.ctx, "clerk", "judge", "https://api.example", T0)
		e.wantErr("active", err, nil)
		if !reflect.DeepEqual(d.Audiences, []string{"https://api.example", "https://other.example"}) || d.Reason != "greffe" {
			e.t.Errorf("ActiveDelegation = %+v", d)
		}
		open := delegation("d2")
		open.Subject, open.NotBefore, open.NotAfter = "prosecutor", time.Time{}, time.Time{}
		e.wantErr("create open-ended", e.s.CreateDelegation(e.ctx, open), nil)
		e.wantActive("open-ended, far future", "clerk", "prosecutor", "https://api.example", T0.Add(100*365*24*time.Hour), "d2")
	}},
	{"NotYetValid", func(e *env) {
		e.wantErr("create", e.s.CreateDelegation(e.ctx, delegation("d1")), nil)
		e.wantActive("before not_before", "clerk", "judge", "https://api.example", T0.Add(-time.Hour-time.Nanosecond), "")
	}},
	{"Expired", func(e *env) {
		e.wantErr("create", e.s.CreateDelegation(e.ctx, delegation("d1")), nil)
		e.wantActive("at not_after", "clerk", "judge", "https://api.example", T0.Add(time.Hour), "")
		e.wantActive("after not_after", "clerk", "judge", "https://api.example", T0.Add(2*time.Hour), "")
	}},
	{"Revoked", func(e *env) {
		e.wantErr("create", e.s.CreateDelegation(e.ctx, delegation("d1")), nil)
		e.wantErr("revoke unknown", e.s.RevokeDelegation(e.ctx, "nope", T0), storage.ErrNotFound)
		e.wantErr("revoke", e.s.RevokeDelegation(e.ctx, "d1", T0), nil)
		e.wantErr("revoke again", e.s.RevokeDelegation(e.ctx, "d1", T0.Add(time.Minute)), nil)
		e.wantActive("after revocation", "clerk", "judge", "https://api.example", T0, "")
		e.wantActive("later", "clerk", "judge", "https://api.example", T0.Add(time.Minute), "")
		e.wantActive("before revocation", "clerk", "judge", "https://api.example", T0.Add(-time.Minute), "d1")
		got, err := e.s.ListDelegations(e.ctx, "judge")
		e.wantErr("list", err, nil)
		if len(got) != 1 || got[0].RevokedAt == nil || !got[0].RevokedAt.Equal(T0) {
			e.t.Fatalf("ListDelegations after revoke = %+v; want RevokedAt = T0 (first revocation kept)", got)
		}
	}},
	{"OtherAudience", func(e *env) {
		e.wantErr("create", e.s.CreateDelegation(e.ctx, delegation("d1")), nil)
		e.wantActive("other audience", "clerk", "judge", "https://elsewhere.example", T0, "")
		e.wantActive("audience prefix", "clerk", "judge", "https://api.example/x", T0, "")
	}},
	{"OtherActor", func(e *env) {
		e.wantErr("create", e.s.CreateDelegation(e.ctx, delegation("d1")), nil)
		e.wantActive("other actor", "intruder", "judge", "https://api.example", T0, "")
		e.wantActive("swapped", "judge", "clerk", "https://api.example", T0, "")
		e.wantActive("other subject", "clerk", "prosecutor", "https://api.example", T0, "")
	}},
}
