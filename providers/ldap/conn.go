package ldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
)

// server is one configured URL, ready to dial.
type server struct {
	url  string
	addr string // host:port
	tls  *tls.Config
	// implicitTLS is ldaps://; startTLS upgrades ldap:// (RFC 4513 §3).
	implicitTLS bool
	startTLS    bool
}

func newServer(raw string, startTLS bool, base *tls.Config) (server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return server{}, err
	}
	port := u.Port()
	if port == "" {
		port = goldap.DefaultLdapPort
		if u.Scheme == "ldaps" {
			port = goldap.DefaultLdapsPort
		}
	}
	tc := base.Clone()
	if tc.ServerName == "" {
		// RFC 4513 §3.1.3: the server's identity is checked against the host name
		// of the URL the client was given.
		tc.ServerName = u.Hostname()
	}
	return server{
		url:         raw,
		addr:        net.JoinHostPort(u.Hostname(), port),
		tls:         tc,
		implicitTLS: u.Scheme == "ldaps",
		startTLS:    u.Scheme == "ldap" && startTLS,
	}, nil
}

// dial connects to the first server that answers, in the configured order
// (failover), each attempt bounded by the timeout. When bindDN is set the
// connection is bound with it before being returned.
func (p *Provider) dial(ctx context.Context, bindDN, password string) (*goldap.Conn, error) {
	var errs []error
	for _, s := range p.servers {
		c, err := p.dialOne(ctx, s, bindDN, password)
		if err == nil {
			return c, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", s.url, err))
		p.logger.Warn("ldap: directory server unusable, trying the next one", "url", s.url, "error", err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (p *Provider) dialOne(parent context.Context, s server, bindDN, password string) (*goldap.Conn, error) {
	ctx, cancel := context.WithTimeout(parent, p.cfg.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	raw, err := p.dialer.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	// The deadline bounds the TLS handshake, StartTLS and the service bind, which
	// go-ldap's own request timeout does not all cover (a stopped server completes
	// the TCP handshake from the kernel's backlog, then never answers).
	_ = raw.SetDeadline(deadline)
	var c *goldap.Conn
	if s.implicitTLS {
		tc := tls.Client(raw, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, fmt.Errorf("TLS: %w", err)
		}
		c = goldap.NewConn(tc, true)
	} else {
		c = goldap.NewConn(raw, false)
	}
	c.Start()
	c.SetTimeout(time.Until(deadline))
	if s.startTLS {
		if err := c.StartTLS(s.tls); err != nil {
			c.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	if bindDN != "" {
		if err := c.Bind(bindDN, password); err != nil {
			c.Close()
			return nil, fmt.Errorf("service bind: %w", err)
		}
	}
	if ctx.Err() != nil {
		c.Close()
		return nil, fmt.Errorf("connect: %w", ctx.Err())
	}
	_ = raw.SetDeadline(time.Time{})
	return c, nil
}

// pool keeps up to size connections. The search pool's connections are bound as
// the service account and never bound as anyone else. The bind pool's connections
// are only ever used for a user's simple bind: each use starts with a bind, so
// whoever the previous bind authenticated (RFC 4513 §4: a bind replaces the
// connection's authorization state, a failed one leaves it anonymous) is never
// used to read anything.
type pool struct {
	p       *Provider
	service bool
	slots   chan struct{}

	mu   sync.Mutex
	idle []*goldap.Conn
}

func newPool(p *Provider, service bool) *pool {
	return &pool{p: p, service: service, slots: make(chan struct{}, p.cfg.PoolSize)}
}

// get returns a connection and whether it was reused from the idle list.
func (pl *pool) get(ctx context.Context) (*goldap.Conn, bool, error) {
	wait, cancel := context.WithTimeout(ctx, pl.p.cfg.Timeout)
	defer cancel()
	select {
	case pl.slots <- struct{}{}:
	case <-wait.Done():
		return nil, false, fmt.Errorf("waiting for a connection: %w", wait.Err())
	}
	pl.mu.Lock()
	for len(pl.idle) > 0 {
		c := pl.idle[len(pl.idle)-1]
		pl.idle = pl.idle[:len(pl.idle)-1]
		if !c.IsClosing() {
			pl.mu.Unlock()
			return c, true, nil
		}
		go c.Close()
	}
	pl.mu.Unlock()
	bindDN, password := "", ""
	if pl.service {
		bindDN, password = pl.p.cfg.BindDN, pl.p.bindPassword
	}
	c, err := pl.p.dial(ctx, bindDN, password)
	if err != nil {
		<-pl.slots
		return nil, false, err
	}
	return c, false, nil
}

// put returns a healthy connection.
func (pl *pool) put(c *goldap.Conn) {
	if c.IsClosing() {
		pl.discard(c)
		return
	}
	pl.mu.Lock()
	pl.idle = append(pl.idle, c)
	pl.mu.Unlock()
	<-pl.slots
}

// discard closes a connection after an error.
func (pl *pool) discard(c *goldap.Conn) {
	go c.Close()
	<-pl.slots
}

// close closes the idle connections.
func (pl *pool) close() {
	pl.mu.Lock()
	idle := pl.idle
	pl.idle = nil
	pl.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// errTimeout marks an operation that ran out of time.
var errTimeout = errors.New("directory did not answer in time")

// run sends one request on c, bounded by the timeout and by ctx: when either ends
// first, the connection is closed under the request, which then fails.
func (p *Provider) run(ctx context.Context, c *goldap.Conn, req func(*goldap.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	c.SetTimeout(time.Until(deadline))
	stop := context.AfterFunc(ctx, func() { c.Close() })
	err := req(c)
	if !stop() {
		return fmt.Errorf("%w: %w", errTimeout, context.Cause(ctx))
	}
	return err
}

// use runs req on a connection of pl. A reused connection that fails at once with
// a network error (the server restarted, or closed an idle connection) is replaced
// by a new one and req is tried again once; a timeout is never retried.
func (p *Provider) use(ctx context.Context, pl *pool, req func(*goldap.Conn) error) error {
	for attempt := 0; ; attempt++ {
		c, reused, err := pl.get(ctx)
		if err != nil {
			return unavailable(err)
		}
		start := time.Now()
		err = p.run(ctx, c, req)
		if err == nil || !isNetworkError(err) {
			pl.put(c)
			return err
		}
		pl.discard(c)
		if !reused || attempt > 0 || errors.Is(err, errTimeout) || time.Since(start) > p.cfg.Timeout/2 || ctx.Err() != nil {
			return unavailable(err)
		}
	}
}

// unavailableError marks errors that mean the directory could not serve.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

func unavailable(err error) error {
	var u *unavailableError
	if errors.As(err, &u) {
		return err
	}
	return &unavailableError{err}
}

// isNetworkError reports whether err is about the transport or the server's
// availability rather than an LDAP answer about the request.
func isNetworkError(err error) bool {
	if err == nil {
		return false
	}
	var le *goldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case goldap.ErrorNetwork, goldap.LDAPResultBusy, goldap.LDAPResultUnavailable,
			goldap.LDAPResultTimeLimitExceeded, goldap.LDAPResultAdminLimitExceeded,
			goldap.LDAPResultUnwillingToPerform, goldap.LDAPResultOther:
			return true
		}
		return false
	}
	return true
}
