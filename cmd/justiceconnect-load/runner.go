package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/justiceconnect/justiceconnect/internal/loadflow"
)

// errBudget is returned by the transport once --max-requests is spent; the
// operation that meets it is neither a success nor an error.
var errBudget = errors.New("request budget spent (--max-requests)")

// budget counts the HTTP requests and refuses those beyond max (0: no bound).
type budget struct {
	next http.RoundTripper
	max  int64
	n    atomic.Int64
}

func (b *budget) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := b.admit(r); err != nil {
		return nil, err
	}
	return b.next.RoundTrip(r)
}

// admit counts a request, or refuses it once the budget is spent.
func (b *budget) admit(r *http.Request) error {
	if n := b.n.Add(1); b.max > 0 && n > b.max {
		b.n.Add(-1)
		if r.Body != nil {
			r.Body.Close()
		}
		return errBudget
	}
	return nil
}

// via counts the requests that go through next against the same budget.
func (b *budget) via(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if err := b.admit(r); err != nil {
			return nil, err
		}
		return next.RoundTrip(r)
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// cardRouter sends a card browser's requests for the card origin through the
// card's own transport, the others through the shared pool.
type cardRouter struct {
	host       string
	card, rest http.RoundTripper
}

func (c cardRouter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == c.host {
		return c.card.RoundTrip(r)
	}
	return c.rest.RoundTrip(r)
}

func (b *budget) spent() bool { return b.max > 0 && b.n.Load() >= b.max }

// pacer spaces the workers' steps to a target rate (--rate): each step gets the
// next free slot, never earlier than now, so a late broker is not sent a burst to
// catch up (the workers' number still bounds the requests in flight).
type pacer struct {
	mu       sync.Mutex
	next     time.Time
	interval time.Duration
}

func newPacer(rate float64) *pacer {
	if rate <= 0 {
		return nil
	}
	return &pacer{interval: time.Duration(float64(time.Second) / rate)}
}

// wait blocks until the caller's slot, or until ctx ends (false).
func (p *pacer) wait(ctx context.Context) bool {
	if p == nil {
		return true
	}
	p.mu.Lock()
	now := time.Now()
	slot := p.next
	if slot.Before(now) {
		slot = now
	}
	p.next = slot.Add(p.interval)
	p.mu.Unlock()
	if d := slot.Sub(now); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// opStats is what one operation kind did.
type opStats struct {
	ok, failed int64
	errors     map[string]int64
	samples    map[string]string // the first detail seen per error kind
	hist       loadflow.Histogram
}

// stats gathers every worker's operations.
type stats struct {
	mu     sync.Mutex
	ops    map[string]*opStats
	ok     atomic.Int64
	failed atomic.Int64
	// interval holds the latencies of every operation (setup aside) since the
	// last timeline sample (--sample-every).
	interval loadflow.Histogram
}

// takeInterval returns the latencies since the last call and starts anew.
func (s *stats) takeInterval() loadflow.Histogram {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.interval
	s.interval = loadflow.Histogram{}
	return h
}

func (s *stats) record(op string, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.ops[op]
	if st == nil {
		st = &opStats{errors: map[string]int64{}, samples: map[string]string{}}
		s.ops[op] = st
	}
	if err == nil {
		st.ok++
		st.hist.Record(d)
		if op != "setup" {
			s.ok.Add(1)
			s.interval.Record(d)
		}
		return
	}
	st.failed++
	kind := loadflow.Kind(err)
	st.errors[kind]++
	if _, seen := st.samples[kind]; !seen {
		st.samples[kind] = err.Error()
	}
	s.failed.Add(1)
}

// worker is one simulated browser and client: it keeps an SSO session and the
// tokens it needs between operations.
type worker struct {
	id     int
	o      *options
	b      *loadflow.Broker
	bud    *budget
	shared *http.Transport // the pool of connections to the broker
	st     *stats
	ctx    context.Context
	rng    *rand.Rand
	count  int // operations done, to walk applications and users in turn

	browser  *http.Client     // a browser with an SSO session (nil: none yet)
	app      *loadflow.Tokens // tokens of the first application (introspect, refresh)
	subject  string           // an access token of the exchange client
	inBurst  int              // exchanges done with subject
	mixTotal int
}

// do times op and records it under name; it returns op's error. An operation cut
// by the request budget or by an interrupt is not recorded.
func (w *worker) do(name string, op func() error) error {
	start := time.Now()
	err := op()
	if err != nil && (errors.Is(err, errBudget) || w.ctx.Err() != nil) {
		return errStop
	}
	w.st.record(name, time.Since(start), err)
	return err
}

var errStop = errors.New("stop")

func (w *worker) user() loadflow.User {
	return w.o.users[(w.id+w.count)%len(w.o.users)]
}

func (w *worker) nextApp() loadflow.Client {
	return w.o.apps[(w.id+w.count)%len(w.o.apps)]
}

// login opens a new browser and logs a user in with a password at the first
// application (the code flow and its token request included).
func (w *worker) login(name string, app loadflow.Client) error {
	br := w.b.NewBrowser()
	scope := w.o.scope
	if w.o.scenario == "refresh" || w.o.scenario == "mix" {
		scope += " offline_access"
	}
	var extra url.Values
	if w.o.idpHint != "" {
		extra = url.Values{"idp_hint": {w.o.idpHint}}
	}
	var toks *loadflow.Tokens
	err := w.do(name, func() (err error) {
		toks, err = w.b.CodeFlowWith(w.ctx, br, app, w.user(), scope, extra)
		return err
	})
	if err != nil {
		return err
	}
	w.browser, w.subject, w.inBurst = br, "", 0
	if app == w.o.apps[0] {
		w.app = toks
	}
	return nil
}

// card is a first login with an agent card, as a magistrate starting the day: a
// new browser (no SSO session, no TLS session to resume) asks for eidas3 at the
// next application; the broker sends it to its card origin, which reads the card
// in a full TLS handshake, then back for the code and the token.
func (w *worker) card() error {
	card := w.o.cards[(w.id+w.count)%len(w.o.cards)]
	origin, _ := url.Parse(w.o.cardOrigin)
	ct := w.shared.Clone()
	ct.TLSClientConfig = ct.TLSClientConfig.Clone()
	if ct.TLSClientConfig == nil {
		ct.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	ct.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &card, nil }
	// The card origin is one address: not the --node balancing of the issuer.
	ct.DialContext = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
	ct.MaxIdleConns, ct.MaxIdleConnsPerHost = 2, 2
	defer ct.CloseIdleConnections()
	br := w.b.NewBrowserVia(w.bud.via(cardRouter{host: origin.Host, card: ct, rest: w.shared}))
	return w.do("card", func() error {
		_, err := w.b.CodeFlowWith(w.ctx, br, w.nextApp(), loadflow.User{}, w.o.scope, url.Values{"acr_values": {w.o.cardACR}})
		return err
	})
}

// sso runs one code flow on the existing SSO session (no password).
func (w *worker) sso(c loadflow.Client) (*loadflow.Tokens, error) {
	var toks *loadflow.Tokens
	err := w.do("sso", func() (err error) {
		toks, err = w.b.CodeFlow(w.ctx, w.browser, c, loadflow.User{}, w.o.scope)
		return err
	})
	return toks, err
}

// setup gives the worker what its scenario needs before the clock starts.
func (w *worker) setup() error {
	switch w.o.scenario {
	case "sso", "refresh", "introspect", "exchange", "mix":
		if w.browser == nil || w.app == nil {
			if err := w.login("setup", w.o.apps[0]); err != nil {
				return err
			}
		}
	}
	if w.o.scenario == "exchange" && w.subject == "" {
		return w.renewSubject("setup")
	}
	return nil
}

// renewSubject gets a fresh subject token: an SSO code flow at the exchange client.
func (w *worker) renewSubject(name string) error {
	var toks *loadflow.Tokens
	err := w.do(name, func() (err error) {
		toks, err = w.b.CodeFlow(w.ctx, w.browser, w.o.exchange, loadflow.User{}, w.o.exchSubjectScope)
		return err
	})
	if err != nil {
		return err
	}
	w.subject, w.inBurst = toks.AccessToken, 0
	return nil
}

// warmUp authenticates every client once before the clock starts: the broker
// checks a client secret with bcrypt once, then remembers it, and 32 workers
// paying it together would show in the first second's latencies. A failure is
// recorded under setup.
func warmUp(ctx context.Context, b *loadflow.Broker, st *stats, o *options) {
	seen := map[loadflow.Client]bool{}
	var clients []loadflow.Client
	clients = append(clients, o.apps...)
	if o.ccSet {
		clients = append(clients, o.cc)
	}
	if o.exchSet {
		clients = append(clients, o.exchange)
	}
	for _, c := range clients {
		if seen[c] {
			continue
		}
		seen[c] = true
		start := time.Now()
		_, err := b.Post(ctx, "/token/introspection", c, url.Values{"token": {"warm-up-" + loadflow.RandomString(16)}})
		st.record("setup", time.Since(start), err)
	}
}

// step runs one unit of the scenario.
func (w *worker) step() error {
	defer func() { w.count++ }()
	switch w.o.scenario {
	case "wave":
		// A user logs in at one application, then reaches the next ones with SSO.
		first := (w.id + w.count) % len(w.o.apps)
		if err := w.login("login", w.o.apps[first]); err != nil {
			return err
		}
		for i := range w.o.ssoPerLogin {
			if _, err := w.sso(w.o.apps[(first+1+i)%len(w.o.apps)]); err != nil {
				return err
			}
		}
		return nil
	case "card":
		return w.card()
	case "jwks":
		if w.count%2 == 0 {
			return w.do("jwks", func() error { _, err := w.b.Get(w.ctx, "/jwks"); return err })
		}
		return w.do("discovery", func() error { _, err := w.b.Get(w.ctx, "/.well-known/openid-configuration"); return err })
	case "mix":
		return w.mixStep()
	}
	if err := w.setup(); err != nil {
		return err
	}
	return w.op(w.o.scenario)
}

// op runs one operation of a scenario or of the mix, its state being ready.
func (w *worker) op(name string) error {
	switch name {
	case "sso":
		_, err := w.sso(w.nextApp())
		return err
	case "cc":
		return w.do("cc", func() error {
			_, err := w.b.ClientCredentials(w.ctx, w.o.cc, w.o.ccScope, w.o.ccAudience)
			return err
		})
	case "introspect":
		return w.do("introspect", func() error { return w.b.Introspect(w.ctx, w.o.apps[0], w.app.AccessToken) })
	case "refresh":
		var toks *loadflow.Tokens
		err := w.do("refresh", func() (err error) {
			toks, err = w.b.Refresh(w.ctx, w.o.apps[0], w.app.RefreshToken)
			return err
		})
		if err != nil {
			w.app = nil // the family may be revoked: log in again
			return err
		}
		w.app = toks
		return nil
	case "exchange":
		if w.subject == "" || w.inBurst >= w.o.burst {
			if err := w.renewSubject("sso"); err != nil {
				return err
			}
		}
		w.inBurst++
		return w.do("exchange", func() error {
			_, err := w.b.Exchange(w.ctx, w.o.exchange, w.subject, w.o.exchAudience, w.o.exchScope)
			return err
		})
	case "jwks":
		return w.do("jwks", func() error { _, err := w.b.Get(w.ctx, "/jwks"); return err })
	case "login":
		return w.login("login", w.o.apps[0])
	case "card":
		return w.card()
	}
	return fmt.Errorf("unknown operation %q", name)
}

func (w *worker) mixStep() error {
	if err := w.setup(); err != nil {
		return err
	}
	n := w.rng.IntN(w.mixTotal)
	for _, name := range mixOrder {
		if n -= w.o.mix[name]; n < 0 {
			return w.op(name)
		}
	}
	return nil
}

var mixOrder = []string{"sso", "cc", "introspect", "refresh", "jwks", "exchange", "login", "card"}

// checkScenario says what a scenario lacks before anything runs.
func checkScenario(o *options) error {
	needs := map[string]bool{o.scenario: true}
	if o.scenario == "mix" {
		for name, w := range o.mix {
			needs[name] = w > 0
		}
		if !o.exchSet || o.exchAudience == "" {
			delete(o.mix, "exchange")
			needs["exchange"] = false
		}
		if !o.ccSet {
			delete(o.mix, "cc")
			needs["cc"] = false
		}
		if len(o.cards) == 0 || o.cardOrigin == "" {
			delete(o.mix, "card")
			needs["card"] = false
		}
		total := 0
		for _, w := range o.mix {
			total += w
		}
		if total == 0 {
			return errors.New("--mix: every weight is 0")
		}
		needs["sso"] = true // the mix's setup logs in
	}
	if needs["wave"] || needs["sso"] || needs["refresh"] || needs["introspect"] || needs["exchange"] || needs["login"] {
		if len(o.apps) == 0 {
			return errors.New("no application for code flows: give --demo-json or --app ID:SECRET")
		}
		if len(o.users) == 0 {
			return errors.New("no user: give --demo-json or --user NAME:PASSWORD")
		}
	}
	if needs["card"] {
		if len(o.cards) == 0 || o.cardOrigin == "" {
			return errors.New("the card scenario needs --card CERT.pem:KEY.pem (an agent card the broker's card provider accepts) and --card-origin URL")
		}
		if len(o.apps) == 0 {
			return errors.New("no application for code flows: give --demo-json or --app ID:SECRET")
		}
	}
	if needs["cc"] && !o.ccSet {
		return errors.New("no client_credentials client: give --demo-json or --cc-client ID:SECRET")
	}
	if needs["exchange"] {
		if !o.exchSet {
			return errors.New("the exchange scenario needs a client allowed the token-exchange grant and the authorization code: " +
				"give --exchange-client ID:SECRET (see docs/PERFORMANCE.md: justiceconnect clients add)")
		}
		if o.exchAudience == "" {
			return errors.New("the exchange scenario needs --exchange-audience URL (an audience the exchange client may ask for)")
		}
	}
	return nil
}

// transport is the HTTP transport of the run: a bounded pool of connections to the
// issuer, or to --node addresses in turn, trusting --ca-file.
func transport(o *options) (*http.Transport, error) {
	tr := loadflow.NewTransport(2 * o.concurrency)
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, err
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate", o.caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if len(o.nodes) > 0 {
		// Several nodes share one pool (same issuer host): MaxIdleConnsPerHost
		// bounds them together, so each node keeps its share of connections.
		// HTTP/2 would carry every request on one connection, to one node:
		// HTTP/1.1 keeps one request per connection, as many connections as
		// requests in flight.
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		var next atomic.Uint64
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, o.nodes[(next.Add(1)-1)%uint64(len(o.nodes))])
		}
	}
	return tr, nil
}

// execute runs the scenario and builds the report.
func execute(ctx context.Context, o *options, stderr io.Writer) (*report, error) {
	if err := checkScenario(o); err != nil {
		return nil, err
	}
	tr, err := transport(o)
	if err != nil {
		return nil, err
	}
	bud := &budget{next: tr, max: o.maxRequests}
	b := loadflow.New(o.issuer, bud)
	b.CardOrigin = o.cardOrigin
	// One request first: a broker that does not answer is a setup failure, not
	// thousands of errors.
	if _, err := b.Get(ctx, "/.well-known/openid-configuration"); err != nil {
		return nil, fmt.Errorf("the broker at %s does not answer discovery: %v", o.issuer, err)
	}
	var probe *prober
	if o.pid > 0 || o.metricsURL != "" {
		probe = newProber(o.pid, o.metricsURL)
		if err := probe.sample(); err != nil {
			return nil, err
		}
		go probe.loop(ctx, 250*time.Millisecond)
		defer probe.stop()
	}
	storeBefore := storeSize(o.storeFile)

	st := &stats{ops: map[string]*opStats{}}
	workers := make([]*worker, o.concurrency)
	total := 0
	for _, w := range o.mix {
		total += w
	}
	for i := range workers {
		workers[i] = &worker{id: i, o: o, b: b, bud: bud, shared: tr, st: st, ctx: ctx, rng: rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano()))), mixTotal: total}
	}
	// Setup (logins) before the clock: the scenario measures its own operation.
	if o.scenario != "jwks" {
		warmUp(ctx, b, st, o)
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { _ = w.setup() })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	reqBefore := bud.n.Load()
	var cpuBefore float64
	var ioBefore *procIO // nil: no --pid, or /proc/PID/io unreadable (another user's broker without root)
	if probe != nil {
		_ = probe.sample()
		cpuBefore = probe.cpuSeconds()
		probe.resetPeaks()
		if o.pid > 0 {
			if io, err := readProcIO(o.pid); err == nil {
				ioBefore = &io
			}
		}
	}
	start := time.Now()
	deadline := start.Add(o.duration)
	pace := newPacer(o.rate)
	runCtx, cancelRun := context.WithDeadline(ctx, deadline)
	defer cancelRun()
	var stop atomic.Bool
	done := make(chan struct{})
	for _, w := range workers {
		wg.Go(func() {
			for !stop.Load() && time.Now().Before(deadline) && ctx.Err() == nil && !bud.spent() {
				if !pace.wait(runCtx) {
					return
				}
				if err := w.step(); errors.Is(err, errStop) {
					return
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	tl := newTimeline(o.sampleEvery, start, st, probe)
	defer tl.stop()
	var lastOK int64
	lastT := start
loop:
	for {
		select {
		case <-done:
			break loop
		case <-ctx.Done():
			stop.Store(true)
		case now := <-tl.c:
			tl.sample(now)
		case now := <-tick.C:
			if !o.progress {
				continue
			}
			ok := st.ok.Load()
			rate := float64(ok-lastOK) / now.Sub(lastT).Seconds()
			lastOK, lastT = ok, now
			line := fmt.Sprintf("[%5.1fs] %d ops (%.0f/s), %d requests, %d errors", now.Sub(start).Seconds(), ok, rate, bud.n.Load()-reqBefore, st.failed.Load())
			if probe != nil {
				line += probe.progress()
			}
			fmt.Fprintln(stderr, line)
		}
	}
	elapsed := time.Since(start)
	rep := &report{Scenario: o.scenario, Issuer: o.issuer, Concurrency: o.concurrency, DurationS: elapsed.Seconds(),
		Requests: bud.n.Load() - reqBefore, Budget: o.maxRequests, ErrorsByKind: map[string]int64{}, TargetRate: o.rate}
	if o.sampleEvery > 0 {
		tl.sample(time.Now()) // the last, partial interval (its interval_s says how long)
		rep.SampleEveryS = o.sampleEvery.Seconds()
		rep.Samples = tl.samples
		rep.RSSSlopeMBPerHour = rssSlope(tl.samples)
	}
	rep.RequestsPerS = float64(rep.Requests) / elapsed.Seconds()
	names := make([]string, 0, len(st.ops))
	for name := range st.ops {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return opRank(names[i]) < opRank(names[j]) })
	for _, name := range names {
		s := st.ops[name]
		or := opReport{Op: name, OK: s.ok, Errors: s.failed, ErrorsByKind: s.errors, ErrorSamples: s.samples,
			P50Ms: ms(s.hist.Quantile(0.50)), P95Ms: ms(s.hist.Quantile(0.95)), P99Ms: ms(s.hist.Quantile(0.99)), MaxMs: ms(s.hist.Max()), MeanMs: ms(s.hist.Mean())}
		if name != "setup" {
			or.PerS = float64(s.ok) / elapsed.Seconds()
			rep.OK += s.ok
		}
		rep.Errors += s.failed
		for k, n := range s.errors {
			rep.ErrorsByKind[prefixed(name, k)] += n
		}
		rep.Ops = append(rep.Ops, or)
	}
	rep.OpsPerS = float64(rep.OK) / elapsed.Seconds()
	if probe != nil {
		_ = probe.sample()
		rep.Broker = probe.report(elapsed, cpuBefore)
		if ioBefore != nil {
			if ioAfter, err := readProcIO(o.pid); err == nil {
				rep.Broker.IO = ioDelta(*ioBefore, ioAfter, rep.OK)
			}
		}
	}
	if o.storeFile != "" {
		after := storeSize(o.storeFile)
		rep.Store = &storeReport{Path: o.storeFile, BeforeBytes: storeBefore, AfterBytes: after, GrowthBytes: after - storeBefore}
	}
	return rep, nil
}

func prefixed(op, kind string) string {
	return op + ": " + kind
}

func opRank(name string) string {
	order := []string{"setup", "login", "sso", "cc", "exchange", "refresh", "introspect", "jwks", "discovery"}
	for i, n := range order {
		if n == name {
			return fmt.Sprintf("%02d", i)
		}
	}
	return "99" + strings.ToLower(name)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
