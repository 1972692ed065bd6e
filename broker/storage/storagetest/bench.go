package storagetest

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// BenchmarkCreateGetAccessToken measures what the token endpoint and every
// introspection cost the store: one access token written, then read back. It reports
// ops/s (one op = one create + one get). Run it with -cpu to vary concurrency:
// goroutines = GOMAXPROCS.
func BenchmarkCreateGetAccessToken(b *testing.B, s storage.Store) {
	ctx := context.Background()
	e := &env{s: s, clock: NewClock(T0), ctx: ctx}
	c := &storage.Client{ID: "bench-client", GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid"}}
	if err := s.UpsertClient(ctx, c); err != nil {
		b.Fatalf("UpsertClient: %v", err)
	}
	// A token issued in a stored session also records its grant (a row for
	// the first token, a conflict for the others), as in the SSO code flow.
	if err := s.CreateSSOSession(ctx, &storage.SSOSession{ID: "sid-bench", Subject: "alice", IdleExpiresAt: T0.Add(time.Hour), AbsoluteExpiresAt: T0.Add(time.Hour)}); err != nil {
		b.Fatalf("CreateSSOSession: %v", err)
	}
	req := e.request(c, "bench-req", "sid-bench")
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sig := "bench-at-" + strconv.FormatInt(seq.Add(1), 10) + "-" + strconv.FormatInt(start.UnixNano(), 36)
			if err := s.CreateAccessTokenSession(ctx, sig, req); err != nil {
				b.Errorf("create: %v", err)
				return
			}
			if _, err := s.GetAccessTokenSession(ctx, sig, new(Session)); err != nil {
				b.Errorf("get: %v", err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}
