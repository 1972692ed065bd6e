package logout_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/logout"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/sqlite"
)

var endT0 = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

// failing is a real SQLite store whose chosen step fails, after the steps before
// it have written in End's transaction (the embedded store keeps its BeginTX).
type failing struct {
	*sqlite.Store
	revoke, enqueue error
}

func (f *failing) RevokeTokensOfSession(ctx context.Context, sid string, keepOffline bool) (int64, error) {
	if f.revoke != nil {
		return 0, f.revoke
	}
	return f.Store.RevokeTokensOfSession(ctx, sid, keepOffline)
}

func (f *failing) EnqueueLogouts(ctx context.Context, ds []*storage.LogoutDelivery) (int64, error) {
	if f.enqueue != nil {
		return 0, f.enqueue
	}
	return f.Store.EnqueueLogouts(ctx, ds)
}

// sessionWithClients opens a store holding one live SSO session used by two
// clients, one of which takes back-channel logout notices.
func sessionWithClients(t *testing.T) (*failing, *storage.SSOSession) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "jc.db"), storage.Options{Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return endT0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for _, c := range []*storage.Client{
		{ID: "rp-bcl", Name: "RP", Kind: "partner", GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"},
			BackchannelLogoutURI: "https://rp.example/bcl"},
		{ID: "rp-plain", Name: "RP", Kind: "partner", GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}},
	} {
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	sess := &storage.SSOSession{ID: "sid-1", Subject: "sub-1", Provider: "annuaire", ACR: "eidas1", AuthTime: endT0,
		CreatedAt: endT0, LastSeenAt: endT0, IdleExpiresAt: endT0.Add(time.Hour), AbsoluteExpiresAt: endT0.Add(8 * time.Hour),
		Identity: []byte(`{}`)}
	if err := s.CreateSSOSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"rp-bcl", "rp-plain"} {
		if err := s.AddSSOSessionClient(ctx, sess.ID, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetSSOSession(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	return &failing{Store: s}, got
}

func queued(t *testing.T, s storage.Store) int64 {
	t.Helper()
	n, err := s.CountLogouts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func ended(t *testing.T, s storage.Store, id string) bool {
	t.Helper()
	got, err := s.GetSSOSession(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return got.EndedAt != nil
}

func TestEndQueuesTheNoticesWithTheSession(t *testing.T) {
	s, sess := sessionWithClients(t)
	got, err := logout.End(context.Background(), s, sess, true, true, endT0)
	if err != nil {
		t.Fatal(err)
	}
	if !ended(t, s, sess.ID) || len(got.Notices) != 1 || queued(t, s) != 1 {
		t.Fatalf("ended %v, notices %v, queue depth %d; want the session ended and one notice (rp-bcl)",
			ended(t, s, sess.ID), got.Notices, queued(t, s))
	}
	// Again (a retried logout, an administrator after the person): nothing
	// fails, and the queue holds one notice per client still.
	if _, err := logout.End(context.Background(), s, sess, true, true, endT0.Add(time.Minute)); err != nil {
		t.Fatalf("ending an ended session: %v", err)
	}
	if n := queued(t, s); n != 1 {
		t.Errorf("queue depth %d after a second End, want 1", n)
	}
}

func TestEndWithoutNotices(t *testing.T) {
	s, sess := sessionWithClients(t)
	got, err := logout.End(context.Background(), s, sess, true, false, endT0)
	if err != nil || !ended(t, s, sess.ID) || len(got.Notices) != 0 || queued(t, s) != 0 {
		t.Fatalf("End without notify: %v, %+v, queue %d; want the session ended and nothing queued", err, got, queued(t, s))
	}
}

// TestEndKeepsNothingOfAFailure: when a step fails, the session is still live
// (the next attempt finds it) rather than ended without its notices.
func TestEndKeepsNothingOfAFailure(t *testing.T) {
	for _, tc := range []struct {
		step    string
		failure func(*failing)
	}{
		{logout.StepRevokeTokens, func(f *failing) { f.revoke = errors.New("database unavailable") }},
		{logout.StepQueueNotices, func(f *failing) { f.enqueue = errors.New("database unavailable") }},
	} {
		t.Run(tc.step, func(t *testing.T) {
			s, sess := sessionWithClients(t)
			tc.failure(s)
			_, err := logout.End(context.Background(), s, sess, true, true, endT0)
			var step *logout.StepError
			if !errors.As(err, &step) || step.Step != tc.step {
				t.Fatalf("End = %v; want a StepError at %s", err, tc.step)
			}
			if ended(t, s, sess.ID) {
				t.Error("the session was ended though the step failed: its clients would never hear of it")
			}
			if n := queued(t, s); n != 0 {
				t.Errorf("%d notices queued for a session left live", n)
			}

			// The store recovers: the next attempt ends it, with its notice.
			s.revoke, s.enqueue = nil, nil
			if _, err := logout.End(context.Background(), s, sess, true, true, endT0); err != nil || !ended(t, s, sess.ID) || queued(t, s) != 1 {
				t.Fatalf("retry: %v, ended %v, queue %d", err, ended(t, s, sess.ID), queued(t, s))
			}
		})
	}
}
