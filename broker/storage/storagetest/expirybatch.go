package storagetest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"
	fositestorage "github.com/ory/fosite/storage"

	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/internal/sqlstore"
)

// expiryBatchTests check that DeleteExpired, which deletes in bounded batches so
// that SQLite's single writer is never held long, still removes every expired row
// and nothing else when there are more expired rows than one batch.
var expiryBatchTests = []subtest{
	{"ManyBatches", func(e *env) {
		c := e.client("batch-client")
		// More expired rows than two batches in the access token table, and more
		// than one in the others, interleaved with live rows so that each batch
		// must skip some.
		nAT := 2*sqlstore.DeleteBatch + sqlstore.DeleteBatch/2
		nOther := sqlstore.DeleteBatch + 7
		ctx := e.ctx
		tx, transactional := e.s.(fositestorage.Transactional)
		if transactional {
			var err error
			if ctx, err = tx.BeginTX(ctx); err != nil {
				e.t.Fatalf("BeginTX: %v", err)
			}
		}
		must := func(what string, err error) {
			e.t.Helper()
			if err != nil {
				e.t.Fatalf("%s: %v", what, err)
			}
		}
		req := func(id string, exp time.Duration) *fosite.Request {
			r := e.request(c, id, "sid-"+id)
			s := r.Session.(*Session)
			s.SetExpiresAt(fosite.AccessToken, T0.Add(exp))
			s.SetExpiresAt(fosite.RefreshToken, T0.Add(exp))
			return r
		}
		for i := range nAT {
			must("at", e.s.CreateAccessTokenSession(ctx, fmt.Sprintf("at-old-%d", i), req(fmt.Sprintf("old-%d", i), -time.Duration(i+1)*time.Second)))
			must("at", e.s.CreateAccessTokenSession(ctx, fmt.Sprintf("at-live-%d", i), req(fmt.Sprintf("live-%d", i), time.Duration(i+1)*time.Second)))
		}
		for i := range nOther {
			must("rt", e.s.CreateRefreshTokenSession(ctx, fmt.Sprintf("rt-old-%d", i), "", req(fmt.Sprintf("rold-%d", i), -time.Minute)))
			must("rt", e.s.CreateRefreshTokenSession(ctx, fmt.Sprintf("rt-live-%d", i), "", req(fmt.Sprintf("rlive-%d", i), time.Minute)))
			idle := T0.Add(-storage.SessionRetention - time.Minute)
			if i%2 == 1 {
				idle = T0.Add(time.Minute)
			}
			must("sso", e.s.CreateSSOSession(ctx, &storage.SSOSession{ID: fmt.Sprintf("sso-%d", i), Subject: "s", IdleExpiresAt: idle, AbsoluteExpiresAt: T0.Add(time.Hour)}))
			must("marker", e.s.UseOnce(ctx, "batch", fmt.Sprintf("old-%d", i), T0.Add(-time.Second)))
			must("marker", e.s.UseOnce(ctx, "batch", fmt.Sprintf("live-%d", i), T0.Add(time.Second)))
		}
		if transactional {
			must("Commit", tx.Commit(ctx))
		}
		expiredSSO := (nOther + 1) / 2

		n, err := e.s.DeleteExpired(e.ctx, T0)
		must("DeleteExpired", err)
		if want := int64(nAT + 2*nOther + expiredSSO); n != want {
			e.t.Errorf("DeleteExpired removed %d rows, want %d (%d access tokens, %d refresh tokens, %d SSO sessions, %d markers)",
				n, want, nAT, nOther, expiredSSO, nOther)
		}
		var lost, left int
		for i := range nAT {
			if _, err := e.s.GetAccessTokenSession(e.ctx, fmt.Sprintf("at-live-%d", i), new(Session)); err != nil {
				lost++
			}
			if _, err := e.s.GetAccessTokenSession(e.ctx, fmt.Sprintf("at-old-%d", i), new(Session)); !errors.Is(err, fosite.ErrNotFound) {
				left++
			}
		}
		for i := range nOther {
			if _, err := e.s.GetRefreshTokenSession(e.ctx, fmt.Sprintf("rt-live-%d", i), new(Session)); err != nil {
				lost++
			}
			if _, err := e.s.GetRefreshTokenSession(e.ctx, fmt.Sprintf("rt-old-%d", i), new(Session)); !errors.Is(err, fosite.ErrNotFound) {
				left++
			}
			_, err := e.s.GetSSOSession(e.ctx, fmt.Sprintf("sso-%d", i))
			if i%2 == 1 && err != nil {
				lost++
			}
			if i%2 == 0 && !errors.Is(err, storage.ErrNotFound) {
				left++
			}
			if err := e.s.UseOnce(e.ctx, "batch", fmt.Sprintf("live-%d", i), T0.Add(time.Hour)); !errors.Is(err, storage.ErrAlreadyUsed) {
				lost++
			}
		}
		if lost != 0 || left != 0 {
			e.t.Errorf("after DeleteExpired: %d live rows lost, %d expired rows left", lost, left)
		}
		if n, err := e.s.DeleteExpired(e.ctx, T0); err != nil || n != 0 {
			e.t.Errorf("second DeleteExpired = %d, %v; want 0", n, err)
		}
	}},
	{"CancelledKeepsDone", func(e *env) {
		// A cancelled cleanup stops between batches and reports what it removed;
		// the next run finishes the job.
		for i := range sqlstore.DeleteBatch + 1 {
			if err := e.s.UseOnce(e.ctx, "batch", fmt.Sprintf("old-%d", i), T0.Add(-time.Second)); err != nil {
				e.t.Fatalf("UseOnce: %v", err)
			}
		}
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		n, err := e.s.DeleteExpired(ctx, T0)
		if err == nil || n != 0 {
			e.t.Errorf("DeleteExpired on a cancelled context = %d, %v; want 0 and an error", n, err)
		}
		if n, err := e.s.DeleteExpired(e.ctx, T0); err != nil || n != int64(sqlstore.DeleteBatch+1) {
			e.t.Errorf("DeleteExpired = %d, %v; want %d", n, err, sqlstore.DeleteBatch+1)
		}
	}},
}
