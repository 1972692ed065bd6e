package claims_test

import (
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/claims/claimstest"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// clock is a settable fixed clock shared by an issuer and a verifier.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// setup returns an issuer and a verifier for it sharing a fixed clock.
func setup(t *testing.T) (*claimstest.Issuer, *claims.Verifier, *clock) {
	t.Helper()
	clk := newClock()
	iss := claimstest.NewIssuer(t, claimstest.WithClock(clk.Now))
	v, err := claims.NewVerifier(iss.Config())
	if err != nil {
		t.Fatal(err)
	}
	return iss, v, clk
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func date(t time.Time) *claims.NumericDate { return claims.NewNumericDate(t) }
