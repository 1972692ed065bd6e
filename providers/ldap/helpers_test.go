package ldap

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/providers"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// fixedTime is the tests' clock start.
var fixedTime = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// clock is a settable clock for throttling tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: fixedTime} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects logs from concurrent goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// baseConfig talks ldaps:// to s with its CA, the service account, and the test
// directory's disabled marker.
func baseConfig(s *peer.Slapd) Config {
	return Config{
		URLs:             []string{s.LDAPSURL},
		CAFile:           s.CAFile,
		BindDN:           s.ServiceDN,
		BindPasswordFile: s.ServicePasswordFile,
		BaseDN:           s.BaseDN,
		DisabledFilter:   peer.SlapdDisabledFilter,
		Timeout:          2 * time.Second,
		LookupAttributes: map[string]string{"certificate_serial": "employeeNumber", "mail": "mail"},
	}
}

type testProvider struct {
	*Provider
	logs  *syncBuffer
	clock *clock
}

// newProvider builds a provider for s; edit changes the base configuration.
func newProvider(t testing.TB, s *peer.Slapd, edit func(*Config)) testProvider {
	t.Helper()
	cfg := baseConfig(s)
	if edit != nil {
		edit(&cfg)
	}
	logs := &syncBuffer{}
	clk := newClock()
	p, err := New(cfg, Options{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    clk.Now,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		p.Close()
		if t.Failed() {
			t.Logf("--- provider log ---\n%s", logs.String())
		}
	})
	return testProvider{Provider: p, logs: logs, clock: clk}
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// wantErr fails unless err wraps want (nil: no error).
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

// quietOperations waits until slapd's stats log stops growing, then returns the
// number of connections and operations it shows.
func quietOperations(s *peer.Slapd) int {
	last := -1
	for i := 0; i < 40; i++ {
		n := s.Operations()
		if n == last {
			return n
		}
		last = n
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

// mustLogin logs in and fails the test on error.
func mustLogin(t testing.TB, p *Provider, username, password string) providers.Identity {
	t.Helper()
	id, err := p.Login(ctxTimeout(t, 10*time.Second), username, password)
	if err != nil {
		t.Fatalf("login %s: %v", username, err)
	}
	return id
}
