package saml

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/providers"
)

type metadataTransport func(*http.Request) (*http.Response, error)

func (f metadataTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// slowFirstLoad is a provider whose metadata URL did not answer at New and
// whose next fetch signals fetching, then blocks until release is closed (and
// honours its request's context after that). calls counts the fetches.
func slowFirstLoad(t *testing.T, e *env) (p *Provider, calls *atomic.Int32, fetching, release chan struct{}) {
	t.Helper()
	md := e.idp.metadata(t)
	calls = new(atomic.Int32)
	fetching, release = make(chan struct{}), make(chan struct{})
	rt := metadataTransport(func(r *http.Request) (*http.Response, error) {
		switch calls.Add(1) {
		case 1:
			return nil, errors.New("connection refused") // at New
		case 2:
			close(fetching)
			<-release
		}
		if err := r.Context().Err(); err != nil {
			return nil, err
		}
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(md)), Request: r}, nil
	})
	cfg := e.cfg
	cfg.IdPMetadataFile, cfg.IdPMetadataURL = "", "https://idp.barreau.example/metadata"
	p, err := New(cfg, Options{Logger: testLogger(t), Now: e.clock.Now, ReplayCache: e.replay, Dial: e.dial,
		HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	return p, calls, fetching, release
}

// TestBeginDuringFirstMetadataLoad: the metadata URL did not answer at New; two
// logins then start together. The second found the first one's load running, did
// not wait for it and was refused for want of metadata that was about to arrive.
// It now waits for that load and uses its result (no second fetch).
func TestBeginDuringFirstMetadataLoad(t *testing.T) {
	e := newEnv(t, false)
	p, calls, fetching, release := slowFirstLoad(t, e)
	if p.current() != nil {
		t.Fatal("metadata loaded at New although the URL did not answer")
	}
	ctx := context.Background()
	first := make(chan error, 1)
	go func() {
		_, err := p.Begin(ctx, providers.LoginRequest{CallbackURL: e.acs, State: "first.state"})
		first <- err
	}()
	<-fetching
	// The load ends only once the second login has looked for metadata.
	time.AfterFunc(200*time.Millisecond, func() { close(release) })
	if _, err := p.Begin(ctx, providers.LoginRequest{CallbackURL: e.acs, State: "second.state"}); err != nil {
		t.Errorf("login started during the first metadata load: %v", err)
	}
	if err := <-first; err != nil {
		t.Errorf("login that loaded the metadata: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d metadata fetches; want 2 (New's, then one for both logins)", n)
	}
}

// TestFirstMetadataLoadOutlivesItsRequest: the login that started the first
// metadata load is given up while the IdP answers slowly. The load goes on with
// its own timeout, so the next login uses its result without another fetch;
// the load ran on the given-up request's context before and failed with it.
func TestFirstMetadataLoadOutlivesItsRequest(t *testing.T) {
	e := newEnv(t, false)
	p, calls, fetching, release := slowFirstLoad(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := p.Begin(ctx, providers.LoginRequest{CallbackURL: e.acs, State: "given-up.state"})
		first <- err
	}()
	<-fetching
	cancel()
	select {
	case err := <-first:
		if err == nil {
			t.Error("the given-up login went on without metadata")
		}
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("the given-up login was still held 5 s later")
	}
	close(release)
	if _, err := p.Begin(context.Background(), providers.LoginRequest{CallbackURL: e.acs, State: "next.state"}); err != nil {
		t.Fatalf("next login: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d metadata fetches; want 2 (New's, then the one the given-up login started)", n)
	}
}
