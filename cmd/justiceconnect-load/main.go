// Command justiceconnect-load drives realistic request mixes against a running
// JusticeConnect broker on the loopback interface, bounded in time and in count,
// and reports throughput, latency percentiles, errors by kind, the broker's peak
// memory and CPU, and the growth of its store.
//
// The quickest start is the demo broker, whose JSON line tells the issuer, the
// client and the users:
//
//	go run ./cmd/justiceconnect demo --addr 127.0.0.1:8088 > demo.json &
//	go run ./cmd/justiceconnect-load --demo-json demo.json --scenario wave --duration 20s
//
// Scenarios: wave (password logins, then SSO code flows to several applications
// per user), sso (SSO code flows only), cc (client_credentials), exchange (RFC
// 8693 bursts), refresh, introspect, jwks (JWKS and discovery), mix. See
// docs/PERFORMANCE.md.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/justiceconnect/justiceconnect/internal/loadflow"
)

// Exit codes.
const (
	exitOK     = 0
	exitSetup  = 1 // the run could not start (bad flags, broker unreachable)
	exitUsage  = 2
	exitErrors = 3 // the run completed but some operations failed
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// demoLine is what `justiceconnect demo` prints on stdout. grant_types, audience
// and scopes are optional: the demo may list them; flags can say them too.
type demoLine struct {
	Issuer  string       `json:"issuer"`
	Clients []demoClient `json:"clients"`
	Users   []struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"users"`
}

type demoClient struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	RedirectURIs []string `json:"redirect_uris"`
	GrantTypes   []string `json:"grant_types"`
	Audience     []string `json:"audience"`
}

// options are the parsed flags.
type options struct {
	scenario         string
	duration         time.Duration
	maxRequests      int64
	concurrency      int
	ssoPerLogin      int
	burst            int
	scope            string
	ccScope          string
	ccAudience       string
	exchAudience     string
	exchScope        string
	exchSubjectScope string
	mix              map[string]int
	pid              int
	metricsURL       string
	storeFile        string
	jsonOut          bool
	progress         bool
	allowNonLocal    bool
	rate             float64           // steps per second over all workers (0: as fast as they go)
	nodes            []string          // host:port of the broker nodes to dial in turn (empty: the issuer's host)
	caFile           string            // PEM certificates to trust besides the system's
	sampleEvery      time.Duration     // timeline interval (0: no timeline)
	cards            []tls.Certificate // agent cards for card logins, used in turn
	cardOrigin       string            // the broker's card origin URL
	cardACR          string            // acr_values of a card login
	idpHint          string            // idp_hint of password logins (a broker with several providers)

	issuer   string
	apps     []loadflow.Client // code flow clients, in order
	users    []loadflow.User
	cc       loadflow.Client // client_credentials
	exchange loadflow.Client // token exchange (also the subject token's client)
	ccSet    bool
	exchSet  bool
}

var scenarios = []string{"wave", "sso", "card", "cc", "exchange", "refresh", "introspect", "jwks", "mix"}

const defaultMix = "sso=40,cc=20,introspect=15,refresh=10,jwks=10,exchange=4,login=1"

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "fill" {
		return runFill(ctx, args[1:], stdout, stderr)
	}
	o, code := parseFlags(args, stdin, stderr)
	if code >= 0 {
		return code
	}
	rep, err := execute(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect-load: %v\n", err)
		return exitSetup
	}
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
		rep.table(stderr)
	} else {
		rep.table(stdout)
	}
	if rep.Errors > 0 {
		return exitErrors
	}
	return exitOK
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// parseFlags returns the options, or an exit code >= 0 to stop with.
func parseFlags(args []string, stdin io.Reader, stderr io.Writer) (*options, int) {
	fs := flag.NewFlagSet("justiceconnect-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	demoJSON := fs.String("demo-json", "", "the JSON line of `justiceconnect demo` (a file, or - for stdin)")
	fs.StringVar(&o.issuer, "issuer", "", "broker issuer (overrides the demo's)")
	fs.StringVar(&o.scenario, "scenario", "wave", "one of "+strings.Join(scenarios, ", "))
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to load the broker (the bound in time)")
	fs.Int64Var(&o.maxRequests, "max-requests", 0, "stop after this many HTTP requests (0: no bound but --duration)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "concurrent workers (simulated browsers or clients)")
	fs.IntVar(&o.ssoPerLogin, "sso-per-login", 3, "wave: SSO code flows after each password login, each to the next application (--app) in turn")
	fs.IntVar(&o.burst, "burst", 10, "exchange: token exchanges per subject token (one SSO code flow per burst)")
	fs.StringVar(&o.scope, "scope", "openid profile", "scope of the code flows")
	fs.StringVar(&o.ccScope, "cc-scope", "", "scope of client_credentials requests")
	fs.StringVar(&o.ccAudience, "cc-audience", "", "audience of client_credentials requests")
	fs.StringVar(&o.exchAudience, "exchange-audience", "", "audience of token exchanges (default: the exchange client's first audience)")
	fs.StringVar(&o.exchScope, "exchange-scope", "profession", "scope of token exchanges (within the subject token's; empty: not sent)")
	fs.StringVar(&o.exchSubjectScope, "exchange-subject-scope", "openid profession", "scope of the code flow at the exchange client that gets the subject token")
	mix := fs.String("mix", defaultMix, "mix: weights of the operations (sso, cc, introspect, refresh, jwks, exchange, login, card: card needs --card and --card-origin)")
	fs.IntVar(&o.pid, "pid", 0, "the broker's process ID: peak RSS and CPU from /proc/PID/status and /proc/PID/stat, I/O per operation from /proc/PID/io")
	fs.StringVar(&o.metricsURL, "metrics-url", "", "the broker's admin /metrics URL: peak RSS and CPU from process_resident_memory_bytes and process_cpu_seconds_total")
	fs.StringVar(&o.storeFile, "store-file", "", "the SQLite store file: its size (with -wal) before and after")
	fs.Float64Var(&o.rate, "rate", 0, "pace the workers to this many operations per second in all (a wave step is a login and its SSO flows; 0: as fast as they go), e.g. 70 % of a capacity measured before")
	fs.DurationVar(&o.sampleEvery, "sample-every", 0, "a timeline sample every interval: throughput, p50/p99/max and the broker's RSS and CPU (e.g. 1m for a soak, 1s to see pauses); the JSON reports the RSS slope in MB/hour")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON on stdout (the table goes to stderr)")
	fs.BoolVar(&o.progress, "progress", true, "a progress line on stderr every second")
	fs.BoolVar(&o.allowNonLocal, "allow-non-loopback", false, "allow an issuer that is not on the loopback interface (do not load shared machines)")
	fs.StringVar(&o.cardOrigin, "card-origin", "", "card: the broker's card origin URL (card_listen.public_url)")
	fs.StringVar(&o.cardACR, "card-acr", "eidas3", "card: acr_values of a card login")
	fs.StringVar(&o.idpHint, "idp-hint", "", "idp_hint of password logins: the provider that takes the password (e.g. the LDAP directory), when the broker has several and would show its chooser")
	var apps, users, nodes, cards listFlag
	fs.Var(&cards, "card", "card: an agent card `CERT.pem:KEY.pem` (repeatable; logins use them in turn); each login is a new browser and a full TLS handshake at the card origin")
	var ccClient, exchClient string
	fs.Var(&nodes, "node", "a broker node `HOST:PORT` to connect to instead of the issuer's host (repeatable: each new connection goes to the next node, as a round-robin balancer would; URLs and TLS names stay the issuer's)")
	fs.StringVar(&o.caFile, "ca-file", "", "PEM certificates to trust for the broker's TLS (a test CA)")
	fs.Var(&apps, "app", "a code flow client `ID:SECRET[:REDIRECT_URI]` (repeatable; default: the demo's clients)")
	fs.Var(&users, "user", "a password account `NAME:PASSWORD` (repeatable; default: the demo's users)")
	fs.StringVar(&ccClient, "cc-client", "", "client_credentials client `ID:SECRET` (default: a demo client with that grant, else the first)")
	fs.StringVar(&exchClient, "exchange-client", "", "token exchange client `ID:SECRET[:REDIRECT_URI]`; it also runs the code flow that gets the subject token")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: justiceconnect-load [--demo-json FILE|-] [--scenario %s] [--duration 10s] [--max-requests N] [--concurrency 32] [--pid PID] [--store-file FILE] [--json]\n\n", strings.Join(scenarios, "|"))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, exitOK
		}
		return nil, exitUsage
	}
	fail := func(format string, a ...any) (*options, int) {
		fmt.Fprintf(stderr, "justiceconnect-load: "+format+"\n", a...)
		return nil, exitUsage
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if !slices.Contains(scenarios, o.scenario) {
		return fail("--scenario %q: want one of %s", o.scenario, strings.Join(scenarios, ", "))
	}
	if o.duration <= 0 || o.concurrency <= 0 || o.maxRequests < 0 || o.burst <= 0 || o.ssoPerLogin < 0 || o.rate < 0 || o.sampleEvery < 0 {
		return fail("--duration, --concurrency and --burst must be positive, --max-requests, --sso-per-login, --rate and --sample-every not negative")
	}
	var err error
	if o.mix, err = parseMix(*mix); err != nil {
		return fail("--mix: %v", err)
	}

	var demo demoLine
	if *demoJSON != "" {
		var raw []byte
		if *demoJSON == "-" {
			raw, err = io.ReadAll(stdin)
		} else {
			raw, err = os.ReadFile(*demoJSON)
		}
		if err != nil {
			return fail("--demo-json: %v", err)
		}
		if demo, err = parseDemo(raw); err != nil {
			return fail("--demo-json %s: %v", *demoJSON, err)
		}
	}
	if o.issuer == "" {
		o.issuer = demo.Issuer
	}
	if o.issuer == "" {
		return fail("no issuer: give --demo-json or --issuer")
	}
	if u, err := url.Parse(o.issuer); err != nil || u.Host == "" {
		return fail("issuer %q is not a URL", o.issuer)
	} else if !o.allowNonLocal && !isLoopback(u.Hostname()) {
		return fail("issuer %q is not on the loopback interface (--allow-non-loopback to insist)", o.issuer)
	}

	for _, n := range nodes {
		host, _, err := net.SplitHostPort(n)
		if err != nil {
			return fail("--node %q: want HOST:PORT", n)
		}
		if !o.allowNonLocal && !isLoopback(host) {
			return fail("--node %q is not on the loopback interface (--allow-non-loopback to insist)", n)
		}
		o.nodes = append(o.nodes, n)
	}
	if o.caFile != "" {
		if _, err := os.ReadFile(o.caFile); err != nil {
			return fail("--ca-file: %v", err)
		}
	}
	for _, c := range cards {
		certFile, keyFile, ok := strings.Cut(c, ":")
		if !ok || certFile == "" || keyFile == "" {
			return fail("--card %q: want CERT.pem:KEY.pem", c)
		}
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return fail("--card %q: %v", c, err)
		}
		o.cards = append(o.cards, pair)
	}
	if o.cardOrigin != "" {
		u, err := url.Parse(o.cardOrigin)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fail("--card-origin %q: want an https URL", o.cardOrigin)
		}
		if !o.allowNonLocal && !isLoopback(u.Hostname()) {
			return fail("--card-origin %q is not on the loopback interface (--allow-non-loopback to insist)", o.cardOrigin)
		}
	}
	for _, a := range apps {
		c, err := parseClient(a, "")
		if err != nil {
			return fail("--app: %v", err)
		}
		o.apps = append(o.apps, c)
	}
	var ccDemo, exchDemo *demoClient
	for i := range demo.Clients {
		dc := &demo.Clients[i]
		if len(apps) == 0 && (dc.GrantTypes == nil || slices.Contains(dc.GrantTypes, "authorization_code")) {
			o.apps = append(o.apps, demoToClient(*dc))
		}
		if ccDemo == nil && slices.Contains(dc.GrantTypes, loadflow.GrantClientCredential) {
			ccDemo = dc
		}
		if exchDemo == nil && slices.Contains(dc.GrantTypes, loadflow.GrantTokenExchange) {
			exchDemo = dc
		}
	}
	switch {
	case ccClient != "":
		if o.cc, err = parseClient(ccClient, ""); err != nil {
			return fail("--cc-client: %v", err)
		}
		o.ccSet = true
	case ccDemo != nil:
		o.cc, o.ccSet = demoToClient(*ccDemo), true
	case len(demo.Clients) > 0:
		// The demo's line does not list grant types; its client allows
		// client_credentials.
		o.cc, o.ccSet = demoToClient(demo.Clients[0]), true
	}
	switch {
	case exchClient != "":
		if o.exchange, err = parseClient(exchClient, ""); err != nil {
			return fail("--exchange-client: %v", err)
		}
		o.exchSet = true
	case exchDemo != nil:
		o.exchange, o.exchSet = demoToClient(*exchDemo), true
		if o.exchAudience == "" && len(exchDemo.Audience) > 0 {
			o.exchAudience = exchDemo.Audience[0]
		}
	}
	for _, u := range users {
		name, pass, ok := strings.Cut(u, ":")
		if !ok || name == "" {
			return fail("--user %q: want NAME:PASSWORD", u)
		}
		o.users = append(o.users, loadflow.User{Username: name, Password: pass})
	}
	if len(users) == 0 {
		for _, u := range demo.Users {
			o.users = append(o.users, loadflow.User{Username: u.Username, Password: u.Password})
		}
	}
	return o, -1
}

func parseDemo(raw []byte) (demoLine, error) {
	// The file may hold the demo's whole stdout: take the line that is the object.
	var d demoLine
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "{") {
			continue
		}
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			return d, err
		}
		if d.Issuer != "" {
			return d, nil
		}
	}
	return d, errors.New("no JSON line with an issuer")
}

func demoToClient(d demoClient) loadflow.Client {
	c := loadflow.Client{ID: d.ClientID, Secret: d.ClientSecret}
	if len(d.RedirectURIs) > 0 {
		c.RedirectURI = d.RedirectURIs[0]
	}
	return c
}

// parseClient reads ID:SECRET[:REDIRECT_URI] (the redirect URI may contain colons).
func parseClient(s, defaultRedirect string) (loadflow.Client, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) < 2 || parts[0] == "" {
		return loadflow.Client{}, fmt.Errorf("%q: want ID:SECRET[:REDIRECT_URI]", s)
	}
	c := loadflow.Client{ID: parts[0], Secret: parts[1], RedirectURI: defaultRedirect}
	if len(parts) == 3 {
		c.RedirectURI = parts[2]
	}
	if c.RedirectURI == "" {
		c.RedirectURI = "http://127.0.0.1/callback"
	}
	return c, nil
}

func parseMix(s string) (map[string]int, error) {
	known := mixOrder
	m := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		name, w, ok := strings.Cut(strings.TrimSpace(part), "=")
		var n int
		if _, err := fmt.Sscanf(w, "%d", &n); !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("%q: want NAME=WEIGHT", part)
		}
		if !slices.Contains(known, name) {
			return nil, fmt.Errorf("unknown operation %q (%s)", name, strings.Join(known, ", "))
		}
		m[name] = n
	}
	return m, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
