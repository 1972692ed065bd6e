package saml

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/providers"
)

// TestIdPUnreachable: with good metadata (from a file) but an IdP whose sign-on
// endpoint does not answer, Check and Begin say unavailable instead of sending a
// browser there; the provider comes back when the IdP does, and a later outage
// is noticed by Check within one probe interval without holding Check up.
func TestIdPUnreachable(t *testing.T) {
	e := newEnv(t, false)
	e.idpDown.Store(true)
	p := e.newProvider(t) // no probe result yet: the first Check probes
	ctx := context.Background()
	if err := p.Check(ctx); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Check with the IdP down: %v; want ErrUnavailable", err)
	}
	if _, err := p.Begin(ctx, providers.LoginRequest{CallbackURL: e.acs, State: "down.state"}); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Begin with the IdP down: %v; want ErrUnavailable", err)
	}

	// The IdP is back: Begin probes again at once, and Check reads its result.
	e.idpDown.Store(false)
	if _, err := p.Begin(ctx, providers.LoginRequest{CallbackURL: e.acs, State: "up.state"}); err != nil {
		t.Fatalf("Begin with the IdP back: %v", err)
	}
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check after a successful probe: %v", err)
	}

	// Down again: within the interval Check keeps the last result; after it,
	// Check starts a probe in the background and soon reports the outage.
	e.idpDown.Store(true)
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check within the probe interval: %v; want the last result (nil)", err)
	}
	e.clock.Advance(reachInterval)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := p.Check(ctx)
		if errors.Is(err, providers.ErrUnavailable) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Check 5 s after the IdP went down again: %v; want ErrUnavailable", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// heldDial is a provider whose first dial to the IdP signals dialling, then
// waits for release to be closed before answering with answer.
func heldDial(t *testing.T, e *env, answer func(ctx context.Context, network, addr string) (net.Conn, error)) (p *Provider, dialling, release chan struct{}) {
	t.Helper()
	dialling, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	p, err := New(e.cfg, Options{Logger: testLogger(t), Now: e.clock.Now, ReplayCache: e.replay,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			once.Do(func() { close(dialling) })
			<-release
			return answer(ctx, network, addr)
		}})
	if err != nil {
		t.Fatal(err)
	}
	return p, dialling, release
}

// TestCheckDuringFirstProbe: a Check that arrives while another Check's first
// probe is still dialling must not report the IdP up: nothing was tried yet. It
// read "no result, probe running" and returned that empty result (nil) before.
func TestCheckDuringFirstProbe(t *testing.T) {
	e := newEnv(t, false)
	p, dialling, release := heldDial(t, e, func(_ context.Context, _, addr string) (net.Conn, error) {
		return nil, fmt.Errorf("dial %s: connection refused", addr)
	})
	ctx := context.Background()
	first := make(chan error, 1)
	go func() { first <- p.Check(ctx) }()
	<-dialling
	// The IdP refuses only once the second Check has read the probe state.
	time.AfterFunc(200*time.Millisecond, func() { close(release) })
	if err := p.Check(ctx); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Check during the first probe of a down IdP: %v; want ErrUnavailable", err)
	}
	if err := <-first; !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("first Check with the IdP down: %v; want ErrUnavailable", err)
	}
}

// TestFirstProbeOutlivesItsRequest: the request that started the first probe
// gives up while it dials; the probe still finishes with its own deadline, so
// an IdP that answers is reported up, not unavailable for reachInterval
// because of one abandoned page.
func TestFirstProbeOutlivesItsRequest(t *testing.T) {
	e := newEnv(t, false)
	p, dialling, release := heldDial(t, e, func(ctx context.Context, network, addr string) (net.Conn, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return e.dial(ctx, network, addr)
	})
	var releaseOnce sync.Once
	releaseDial := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseDial()
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- p.Check(ctx) }()
	<-dialling
	cancel()
	select {
	case err := <-first:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Check whose request was given up: %v; want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Check still held 5 s after its request was given up")
	}
	releaseDial()
	// Within reachInterval (the test clock does not move), Check reports what
	// the first probe found.
	if err := p.Check(context.Background()); err != nil {
		t.Fatalf("Check after the first probe reached the IdP: %v; want nil", err)
	}
}
