package multinode

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/justiceconnect/justiceconnect/internal/loadflow"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

const (
	clientID = "multinode-app"
	scope    = "openid profile offline_access"
	redirect = "http://127.0.0.1/callback"
)

// cluster is PostgreSQL and three broker nodes sharing one database and one issuer.
type cluster struct {
	t      *testing.T
	pg     *peer.Postgres
	dsn    string
	dir    string
	ca     *peer.CA
	issuer string
	secret string
	users  []loadflow.User
	nodes  []*node
	// inflight counts the requests each node is serving (dialled, no answer yet).
	inflight [8]atomic.Int32
	// out marks the nodes the balancer's health check took out of rotation, and
	// draining those it saw answer /readyz 503 "draining" (see watchReadiness).
	out, draining [8]atomic.Bool
}

// clusterOpts are settings of startClusterWith.
type clusterOpts struct {
	// drainDelay is every node's listen.drain_delay.
	drainDelay time.Duration
	// clientCredentials lets the application use client_credentials too (the
	// load tool's cc scenario).
	clientCredentials bool
}

// node is one justiceconnect serve process.
type node struct {
	index  int
	addr   string
	config string
	proc   *peer.Process
}

// startCluster starts PostgreSQL and n nodes with users user001...userNNN.
func startCluster(t *testing.T, n, users int) *cluster {
	t.Helper()
	return startClusterWith(t, n, users, clusterOpts{})
}

// startClusterWith is startCluster with options.
func startClusterWith(t *testing.T, n, users int, opts clusterOpts) *cluster {
	t.Helper()
	pg := peer.StartPostgres(t)
	c := &cluster{t: t, pg: pg, dsn: pg.NewDatabase(t), dir: t.TempDir(), ca: peer.NewCA(t, "JusticeConnect multinode test CA")}
	certPEM, keyPEM, _, _ := c.ca.Issue(t, peer.WithCommonName("127.0.0.1"), peer.WithIPs(net.ParseIP("127.0.0.1")), peer.WithServerAuth())
	certFile, keyFile := peer.WritePair(t, c.dir, "tls", certPEM, keyPEM)
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	kekFile := peer.WriteFile(t, c.dir, "kek", base64.RawURLEncoding.EncodeToString(kek)+"\n")
	c.secret = loadflow.RandomString(32)
	secretFile := peer.WriteFile(t, c.dir, "client-secret", c.secret+"\n")
	dsnFile := peer.WriteFile(t, c.dir, "postgres-dsn", c.dsn+"\n")

	var ub strings.Builder
	for i := 1; i <= users; i++ {
		u := loadflow.User{Username: fmt.Sprintf("user%03d", i), Password: "pw-" + loadflow.RandomString(12)}
		// MinCost: the nodes share two cores with everything else; the cost of
		// bcrypt is not what this test measures.
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		attrs, _ := json.Marshal(map[string][]string{"givenName": {"Agent"}, "sn": {fmt.Sprintf("N%03d", i)},
			"employeeType": {"MAG"}, "court": {"TJ75101"}})
		fmt.Fprintf(&ub, "          - username: %q\n            password_hash: %q\n            attributes: %s\n", u.Username, hash, attrs)
		c.users = append(c.users, u)
	}
	grants := "authorization_code, refresh_token"
	if opts.clientCredentials {
		grants += ", client_credentials"
	}
	ports := make([]int, n)
	for i := range ports {
		ports[i] = peer.FreePort(t)
	}
	c.issuer = fmt.Sprintf("https://127.0.0.1:%d", ports[0])
	for i, port := range ports {
		nd := &node{index: i, addr: peer.Addr(port)}
		nd.config = peer.WriteFile(t, c.dir, fmt.Sprintf("node%d.yaml", i+1), fmt.Sprintf(`issuer: %q
mode: development
listen: {address: %q, tls_cert_file: %q, tls_key_file: %q, drain_delay: %s}
store: {driver: postgres, postgres_dsn: {file: %q}}
keys: {kek: {file: %q}}
rate_limits: {login_per_address: {disabled: true}, token_per_client: {disabled: true}, login_failures_per_account: {disabled: true}}
providers:
  - id: agents
    type: static
    label: "Agents (test)"
    max_acr: eidas1
    settings:
      users:
%s    mapping:
      given_name: givenName
      family_name: sn
      profession: {attribute: employeeType, values: {MAG: magistrat}}
      courts: {attribute: court}
clients:
  - client_id: %s
    name: "Application multinode"
    organization: "Ministère de la Justice"
    kind: first_party
    secret: {file: %q}
    redirect_uris: [%q]
    grant_types: [%s]
    scopes: [openid, profile, offline_access]
`, c.issuer, nd.addr, certFile, keyFile, opts.drainDelay, dsnFile, kekFile, ub.String(), clientID, secretFile, redirect, grants))
		c.nodes = append(c.nodes, nd)
	}
	// All nodes start together on the empty database, as after a deployment:
	// migrations, signing keys and client sync must converge.
	var wg sync.WaitGroup
	for _, nd := range c.nodes {
		nd.proc = peer.Start(t, fmt.Sprintf("node%d", nd.index+1), exec.Command(binary, "serve", "--config", nd.config))
	}
	for _, nd := range c.nodes {
		wg.Add(1)
		go func() { defer wg.Done(); c.waitReady(nd, 30*time.Second) }()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return c
}

// restart starts a stopped or killed node again with the same configuration.
func (c *cluster) restart(nd *node) {
	c.t.Helper()
	nd.proc = peer.Start(c.t, fmt.Sprintf("node%d", nd.index+1), exec.Command(binary, "serve", "--config", nd.config))
	c.waitReady(nd, 30*time.Second)
}

// waitReady polls GET /readyz on the node until it answers 200.
func (c *cluster) waitReady(nd *node, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		if nd.proc.Exited() {
			c.t.Errorf("node%d exited before it was ready:\n%s", nd.index+1, tail(nd.proc.Output()))
			return
		}
		status, err := c.readyz(nd, time.Second)
		if status == http.StatusOK {
			return
		}
		last = fmt.Sprint(status, err)
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Errorf("node%d not ready after %v: %s\n%s", nd.index+1, timeout, last, tail(nd.proc.Output()))
}

// readyz returns the status of GET /readyz on nd (0 on a transport error).
func (c *cluster) readyz(nd *node, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(context.WithValue(ctx, forceKey{}, nd.index), http.MethodGet, c.issuer+"/readyz", nil)
	resp, err := c.balancer(0).RoundTrip(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

// watchReadiness is the balancer's health check: every node's /readyz is probed
// every 100 ms; a node that answers 503 is out of rotation at once, one that does
// not answer within a second three times in a row too (a loaded machine makes a
// healthy node slow, not unready), and it is back at its first 200. It runs until
// the test ends.
func (c *cluster) watchReadiness() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	c.t.Cleanup(func() { cancel(); wg.Wait() })
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.ca.Pool(), MinVersion: tls.VersionTLS12}, DisableKeepAlives: true}
	for _, nd := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			fails := 0
			for {
				status, body := probe(ctx, tr, "https://"+nd.addr+"/readyz")
				switch status {
				case http.StatusOK:
					fails = 0
					c.out[nd.index].Store(false)
				case 0:
					if fails++; fails >= 3 {
						c.out[nd.index].Store(true)
					}
				default:
					c.out[nd.index].Store(true)
				}
				if status == http.StatusServiceUnavailable && strings.Contains(body, "draining") {
					c.draining[nd.index].Store(true)
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
}

// probe returns the status and body of GET url within a second (0 on failure).
func probe(ctx context.Context, tr *http.Transport, url string) (int, string) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// pick returns the next node in rotation; when the health check took every node
// out, it tries them all anyway (as nginx does), so that an outage of the
// database is seen as the nodes answer it.
func (c *cluster) pick(next *atomic.Uint64) int {
	n := uint64(len(c.nodes))
	for range n {
		if i := int((next.Add(1) - 1) % n); !c.out[i].Load() {
			return i
		}
	}
	return int((next.Add(1) - 1) % n)
}

// forceKey in a request's context names the node (index) that must serve it.
type forceKey struct{}

// hopKey carries the *hop the dialer fills in.
type hopKey struct{}

type hop struct{ node atomic.Int32 }

// hopRec is one request as the balancer saw it.
type hopRec struct {
	Method, Path string
	Node         int
	Status       int
	Err          error
	Start        time.Time
	Elapsed      time.Duration
	// Forced is set when the test chose the node (introspection on each node).
	Forced bool
}

// balancer is the load balancer in front of the nodes, as one client sees it: each
// new connection (keep-alives are off, so each request) goes to the next node in
// rotation (see pick), starting at start. A GET that failed in transport is retried on the next
// node, as load balancers retry idempotent requests; any request whose connection
// could not even be opened is retried too (nothing reached a node). A POST that
// failed once sent is not retried: its outcome is unknown.
type balancer struct {
	c       *cluster
	tr      *http.Transport
	next    atomic.Uint64
	mu      sync.Mutex
	hops    []hopRec
	retries int
}

func (c *cluster) balancer(start int) *balancer {
	lb := &balancer{c: c}
	lb.next.Store(uint64(start))
	d := &net.Dialer{Timeout: 5 * time.Second}
	lb.tr = &http.Transport{
		TLSClientConfig:       &tls.Config{RootCAs: c.ca.Pool(), MinVersion: tls.VersionTLS12},
		DisableKeepAlives:     true,
		ResponseHeaderTimeout: 15 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			i, forced := ctx.Value(forceKey{}).(int)
			if !forced {
				i = c.pick(&lb.next)
			}
			if h, ok := ctx.Value(hopKey{}).(*hop); ok {
				if h.node.CompareAndSwap(-1, int32(i)) {
					c.inflight[i].Add(1)
				}
			}
			return d.DialContext(ctx, network, c.nodes[i].addr)
		},
	}
	return lb
}

func (lb *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		h := &hop{}
		h.node.Store(-1)
		r := req.Clone(context.WithValue(req.Context(), hopKey{}, h))
		if attempt > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			r.Body = body
		}
		start := time.Now()
		resp, err := lb.tr.RoundTrip(r)
		node := int(h.node.Swap(-2))
		if n := node; n >= 0 {
			lb.c.inflight[n].Add(-1)
		}
		_, forced := req.Context().Value(forceKey{}).(int)
		rec := hopRec{Method: req.Method, Path: req.URL.Path, Node: node, Err: err, Start: start, Elapsed: time.Since(start), Forced: forced}
		if resp != nil {
			rec.Status = resp.StatusCode
		}
		lb.mu.Lock()
		lb.hops = append(lb.hops, rec)
		lb.mu.Unlock()
		if err == nil {
			return resp, nil
		}
		if forced || attempt == 2 || req.Context().Err() != nil || !(req.Method == http.MethodGet || dialFailed(err)) {
			return nil, err
		}
		lb.mu.Lock()
		lb.retries++
		lb.mu.Unlock()
	}
}

// dialFailed reports an error from opening the connection: the request never left.
func dialFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (lb *balancer) record() ([]hopRec, int) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return append([]hopRec(nil), lb.hops...), lb.retries
}
