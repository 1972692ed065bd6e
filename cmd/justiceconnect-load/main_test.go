package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestParseProc(t *testing.T) {
	rss, hwm, err := parseStatus(strings.NewReader("Name:\tjusticeconnect\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t9\n"))
	if err != nil || rss != 100<<20 || hwm != 200<<20 {
		t.Fatalf("status: rss %d hwm %d err %v", rss, hwm, err)
	}
	if _, _, err := parseStatus(strings.NewReader("Name:\tzombie\n")); err == nil {
		t.Fatal("status without VmRSS accepted")
	}
	// A command name with spaces and a parenthesis; utime 250, stime 50 ticks.
	stat := "4242 (just (ice) connect) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 1000000 2500 18446744073709551615"
	cpu, err := parseStat(stat)
	if err != nil || cpu != 3.0 {
		t.Fatalf("stat: cpu %v err %v", cpu, err)
	}
	// The real thing: this process.
	rss, _, cpu, err = readProc(os.Getpid())
	if err != nil || rss <= 0 || cpu < 0 {
		t.Fatalf("readProc(self): rss %d cpu %v err %v", rss, cpu, err)
	}
}

func TestProcIO(t *testing.T) {
	text := "rchar: 1000\nwchar: 2000\nsyscr: 10\nsyscw: 20\nread_bytes: 0\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n"
	got, err := parseProcIO([]byte(text))
	if want := (procIO{RChar: 1000, WChar: 2000, SyscR: 10, SyscW: 20, WriteBytes: 8192}); err != nil || got != want {
		t.Fatalf("parseProcIO = %+v, %v; want %+v", got, err, want)
	}
	if _, err := parseProcIO([]byte("rchar: 1\nwchar: x\n")); err == nil || !strings.Contains(err.Error(), "wchar") {
		t.Errorf("a garbled counter: %v", err)
	}
	if _, err := parseProcIO([]byte("rchar: 1\n")); err == nil {
		t.Error("missing counters accepted")
	}
	// The real thing: this process writes 1 MiB in 16 calls.
	before, err := readProcIO(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(t.TempDir() + "/w")
	if err != nil {
		t.Fatal(err)
	}
	for range 16 {
		if _, err := f.Write(make([]byte, 64<<10)); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	after, err := readProcIO(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	d := ioDelta(before, after, 4)
	if d.Total.WChar < 1<<20 || d.Total.SyscW < 16 || d.PerOp == nil || d.PerOp.WrittenBytes < 1<<18 || d.PerOp.WriteCalls < 4 {
		t.Errorf("1 MiB in 16 writes over 4 operations: %+v per op %+v", d.Total, d.PerOp)
	}
	if d := ioDelta(before, after, 0); d.PerOp != nil {
		t.Errorf("per operation with no operation: %+v", d.PerOp)
	}
}

func TestParseMetrics(t *testing.T) {
	text := "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 5.4525952e+07\nprocess_cpu_seconds_total 12.5\njc_tokens_total{grant=\"x\"} 3\n"
	rss, cpu, err := parseMetrics(strings.NewReader(text))
	if err != nil || rss != 54525952 || cpu != 12.5 {
		t.Fatalf("rss %d cpu %v err %v", rss, cpu, err)
	}
	if _, _, err := parseMetrics(strings.NewReader("go_goroutines 10\n")); err == nil {
		t.Fatal("metrics without process_* accepted")
	}
}

func TestParseFlags(t *testing.T) {
	demo := `time=... level=INFO msg=serving
{"issuer":"http://127.0.0.1:8088","clients":[{"client_id":"demo-partner","client_secret":"s3cret","redirect_uris":["http://127.0.0.1/callback"]},` +
		`{"client_id":"api","client_secret":"x","redirect_uris":["http://127.0.0.1/cb"],"grant_types":["authorization_code","urn:ietf:params:oauth:grant-type:token-exchange"],"audience":["https://api.example/a"]}],` +
		`"users":[{"username":"juge.martin","password":"pw"}]}`
	var stderr bytes.Buffer
	o, code := parseFlags([]string{"--demo-json", "-", "--scenario", "exchange"}, strings.NewReader(demo), &stderr)
	if code >= 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if o.issuer != "http://127.0.0.1:8088" || len(o.apps) != 2 || o.apps[0].ID != "demo-partner" || o.apps[0].RedirectURI != "http://127.0.0.1/callback" {
		t.Errorf("issuer %q apps %+v", o.issuer, o.apps)
	}
	if o.cc.ID != "demo-partner" || o.exchange.ID != "api" || o.exchAudience != "https://api.example/a" || len(o.users) != 1 {
		t.Errorf("cc %+v exchange %+v audience %q users %+v", o.cc, o.exchange, o.exchAudience, o.users)
	}
	if err := checkScenario(o); err != nil {
		t.Errorf("checkScenario: %v", err)
	}

	for _, bad := range [][]string{
		{"--issuer", "http://10.1.2.3:8080"},                          // not loopback
		{"--issuer", "http://127.0.0.1:1", "--scenario", "stampede"},  // unknown scenario
		{"--issuer", "http://127.0.0.1:1", "--mix", "sso=1,coffee=2"}, // unknown operation
		{"--issuer", "http://127.0.0.1:1", "--duration", "0s"},
		{"--scenario", "cc"}, // no issuer
	} {
		stderr.Reset()
		if _, code := parseFlags(bad, strings.NewReader(""), &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", bad, code, exitUsage, stderr.String())
		}
	}
	for _, bad := range [][]string{
		{"--issuer", "http://127.0.0.1:1", "--scenario", "card", "--card", "only-a-cert.pem"},                       // no key
		{"--issuer", "http://127.0.0.1:1", "--scenario", "card", "--card", "/nonexistent/c.pem:/nonexistent/k.pem"}, // unreadable
		{"--issuer", "http://127.0.0.1:1", "--scenario", "card", "--card-origin", "http://127.0.0.1:2"},             // not https
		{"--issuer", "http://127.0.0.1:1", "--scenario", "card", "--card-origin", "https://10.1.2.3:443"},           // not loopback
	} {
		stderr.Reset()
		if _, code := parseFlags(bad, strings.NewReader(""), &stderr); code != exitUsage || !strings.Contains(stderr.String(), "--card") {
			t.Errorf("%v: exit %d, want %d and the flag named (%s)", bad, code, exitUsage, stderr.String())
		}
	}
	// The card scenario without a card says what to give; the mix leaves card
	// logins out when there is none.
	o, _ = parseFlags([]string{"--issuer", "http://127.0.0.1:1", "--app", "a:b", "--user", "u:p", "--scenario", "card"}, strings.NewReader(""), &stderr)
	if err := checkScenario(o); err == nil || !strings.Contains(err.Error(), "--card CERT.pem:KEY.pem") {
		t.Errorf("checkScenario(card without a card) = %v", err)
	}
	o, _ = parseFlags([]string{"--issuer", "http://127.0.0.1:1", "--app", "a:b", "--user", "u:p", "--scenario", "mix", "--mix", "sso=1,card=5"}, strings.NewReader(""), &stderr)
	if err := checkScenario(o); err != nil || o.mix["card"] != 0 {
		t.Errorf("checkScenario(mix with card, no card) = %v, mix %v", err, o.mix)
	}
	// The exchange scenario without an exchange client says what to do.
	o, _ = parseFlags([]string{"--issuer", "http://127.0.0.1:1", "--app", "a:b", "--user", "u:p", "--scenario", "exchange"}, strings.NewReader(""), &stderr)
	if err := checkScenario(o); err == nil || !strings.Contains(err.Error(), "--exchange-client") {
		t.Errorf("checkScenario(exchange without client) = %v", err)
	}
}

// fakeBroker answers discovery, JWKS and client_credentials; a wrong secret
// gets invalid_client.
func fakeBroker(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/openid-configuration", "/jwks":
			_, _ = w.Write([]byte(`{"keys":[]}`))
		case "/token", "/token/introspection":
			if id, secret, ok := r.BasicAuth(); !ok || id != "svc" || secret != "good" {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"bad secret"}`))
				return
			}
			_, _ = w.Write([]byte(`{"access_token":"at","token_type":"bearer","expires_in":600,"active":false}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestRunInProcess runs the tool against a fake broker (with -race, this covers
// the workers, the counters and the prober).
func TestRunInProcess(t *testing.T) {
	srv, _ := fakeBroker(t)
	store := filepath.Join(t.TempDir(), "store.db")
	if err := os.WriteFile(store, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--issuer", srv.URL, "--scenario", "cc", "--cc-client", "svc:good", "--duration", "1500ms",
		"--concurrency", "8", "--pid", itoa(os.Getpid()), "--store-file", store, "--json"}, nil, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, stdout.String())
	}
	if rep.OK == 0 || rep.Errors != 0 || rep.OpsPerS <= 0 || len(rep.Ops) != 2 || rep.Ops[1].Op != "cc" || rep.Ops[1].P99Ms <= 0 {
		t.Errorf("report %+v", rep)
	}
	if rep.Broker == nil || rep.Broker.PeakRSSBytes <= 0 || rep.Broker.Samples < 2 || rep.Store == nil || rep.Store.BeforeBytes != 4096 {
		t.Errorf("broker %+v store %+v", rep.Broker, rep.Store)
	}
	if !strings.Contains(stderr.String(), "[  1.0s]") || !strings.Contains(stderr.String(), "operation") {
		t.Errorf("no progress line or table on stderr:\n%s", stderr.String())
	}

	// A wrong secret: errors counted by kind, exit code 3.
	stdout.Reset()
	stderr.Reset()
	code = run(context.Background(), []string{"--issuer", srv.URL, "--scenario", "cc", "--cc-client", "svc:bad", "--duration", "300ms",
		"--concurrency", "4", "--progress=false", "--json"}, nil, &stdout, &stderr)
	rep = report{}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || code != exitErrors {
		t.Fatalf("exit %d, JSON %v\n%s", code, err, stderr.String())
	}
	if rep.OK != 0 || rep.ErrorsByKind["cc: oauth invalid_client"] == 0 || rep.ErrorsByKind["cc: oauth invalid_client"] != rep.Errors-1 {
		t.Errorf("errors by kind %v (errors %d ok %d)", rep.ErrorsByKind, rep.Errors, rep.OK)
	}
}

// TestMaxRequests: the count bound is exact, and stops the run before its time.
func TestMaxRequests(t *testing.T) {
	srv, hits := fakeBroker(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--issuer", srv.URL, "--scenario", "jwks", "--duration", "30s", "--max-requests", "500",
		"--concurrency", "16", "--progress=false", "--json"}, nil, &stdout, &stderr)
	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || code != exitOK {
		t.Fatalf("exit %d, JSON %v\n%s", code, err, stderr.String())
	}
	// 500 in all, the discovery probe included.
	if hits.Load() != 500 || rep.Requests != 499 || rep.OK != 499 || rep.DurationS > 20 {
		t.Errorf("hits %d, report: %d requests, %d ok, %.1f s", hits.Load(), rep.Requests, rep.OK, rep.DurationS)
	}
}

// TestBrokerDown: an unreachable broker is a setup failure, not a storm of errors.
func TestBrokerDown(t *testing.T) {
	srv, _ := fakeBroker(t)
	url := srv.URL
	srv.Close()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--issuer", url, "--scenario", "jwks", "--duration", "1s"}, nil, &stdout, &stderr); code != exitSetup {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "does not answer") {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// A card browser's own transport counts against the same --max-requests budget
// as the shared pool, and the router sends only the card origin's requests to it.
func TestBudgetViaAndCardRouter(t *testing.T) {
	var shared, card atomic.Int64
	ok := func(n *atomic.Int64) http.RoundTripper {
		return roundTripFunc(func(*http.Request) (*http.Response, error) {
			n.Add(1)
			return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
		})
	}
	bud := &budget{next: ok(&shared), max: 3}
	viaCard := bud.via(cardRouter{host: "127.0.0.1:9443", card: ok(&card), rest: ok(&shared)})
	req := func(u string) *http.Request { r, _ := http.NewRequest(http.MethodGet, u, nil); return r }
	for _, u := range []string{"https://127.0.0.1:9443/card/login", "https://127.0.0.1:8443/authorize"} {
		if _, err := viaCard.RoundTrip(req(u)); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
	}
	if _, err := bud.RoundTrip(req("https://127.0.0.1:8443/token")); err != nil {
		t.Fatal(err)
	}
	if _, err := viaCard.RoundTrip(req("https://127.0.0.1:9443/card/login")); !errors.Is(err, errBudget) {
		t.Fatalf("fourth request: %v, want the budget spent", err)
	}
	if card.Load() != 1 || shared.Load() != 2 || bud.n.Load() != 3 {
		t.Errorf("card %d shared %d counted %d; want 1, 2, 3", card.Load(), shared.Load(), bud.n.Load())
	}
}
