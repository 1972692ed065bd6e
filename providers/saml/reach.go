package saml

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	csaml "github.com/crewjam/saml"

	"github.com/justiceconnect/justiceconnect/providers"
)

// The IdP's metadata (a file, or a URL refreshed now and then) says nothing of
// whether the IdP answers now; a browser sent to a stopped IdP would end on its
// own connection error instead of the broker's page. So the provider opens a TCP
// connection to the IdP's single sign-on endpoint (nothing is sent): before each
// redirect there, and for Check at most every reachInterval, in the background.
const (
	reachInterval = 10 * time.Second
	reachTimeout  = 2 * time.Second
)

// reachability is the last probe's result.
type reachability struct {
	mu      sync.Mutex
	at      time.Time
	err     error
	running bool
	// firstDone is closed when the first probe ends.
	firstDone chan struct{}
}

// ssoAddress is host:port of the IdP's HTTP-Redirect single sign-on endpoint.
func ssoAddress(md *idpMetadata) (string, error) {
	for _, d := range md.entity.IDPSSODescriptors {
		for _, s := range d.SingleSignOnServices {
			if s.Binding != csaml.HTTPRedirectBinding {
				continue
			}
			u, err := url.Parse(s.Location)
			if err != nil || u.Host == "" {
				return "", fmt.Errorf("saml: unusable SingleSignOnService location %q", s.Location)
			}
			port := u.Port()
			if port == "" {
				port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
			}
			return net.JoinHostPort(u.Hostname(), port), nil
		}
	}
	return "", fmt.Errorf("saml: the IdP metadata has no HTTP-Redirect SingleSignOnService")
}

// probe dials the IdP's SSO endpoint now and records the result.
func (p *Provider) probe(ctx context.Context, md *idpMetadata) error {
	addr, err := ssoAddress(md)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, reachTimeout)
		defer cancel()
		dial := p.dial
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		var c net.Conn
		if c, err = dial(ctx, "tcp", addr); err == nil {
			_ = c.Close()
		}
	}
	if err != nil {
		err = fmt.Errorf("saml: %w: the IdP's sign-on endpoint does not answer: %w", providers.ErrUnavailable, err)
	}
	p.reach.mu.Lock()
	if err != nil && p.reach.err == nil {
		p.log.WarnContext(ctx, "saml: IdP unreachable", "error", err)
	} else if err == nil && p.reach.err != nil {
		p.log.InfoContext(ctx, "saml: IdP reachable again")
	}
	p.reach.at, p.reach.err = p.now(), err
	p.reach.mu.Unlock()
	return err
}

// reachable returns the last probe's result for Check, starting a new probe in
// the background when it is older than reachInterval (the chooser asks every
// provider in turn: it must not wait for a slow network). Before the first probe
// has ended every call waits for it, so a provider is never reported up before it
// was tried.
func (p *Provider) reachable(ctx context.Context, md *idpMetadata) error {
	p.reach.mu.Lock()
	if p.reach.at.IsZero() {
		if p.reach.firstDone == nil {
			p.reach.firstDone = p.startProbeLocked(ctx, md)
		}
		wait := p.reach.firstDone
		// Not yet tried: the empty result read here says nothing.
		p.reach.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return fmt.Errorf("saml: %w: waiting for the first probe of the IdP: %w", providers.ErrUnavailable, ctx.Err())
		}
		p.reach.mu.Lock()
		defer p.reach.mu.Unlock()
		return p.reach.err
	}
	if p.now().Sub(p.reach.at) >= reachInterval && !p.reach.running {
		p.startProbeLocked(ctx, md)
	}
	err := p.reach.err
	p.reach.mu.Unlock()
	return err
}

// startProbeLocked starts a probe (p.reach.mu held) and returns a channel closed
// when it ends. The probe runs apart from the request that started it, bounded by
// reachTimeout: a request given up must not record the IdP as unreachable for
// reachInterval.
func (p *Provider) startProbeLocked(ctx context.Context, md *idpMetadata) chan struct{} {
	p.reach.running = true
	done := make(chan struct{})
	go func() {
		_ = p.probe(context.WithoutCancel(ctx), md)
		p.reach.mu.Lock()
		p.reach.running = false
		p.reach.mu.Unlock()
		close(done)
	}()
	return done
}
