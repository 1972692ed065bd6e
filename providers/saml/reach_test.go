package saml

import (
	"context"
	"errors"
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
