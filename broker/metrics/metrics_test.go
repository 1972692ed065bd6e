package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// value returns the value of the series name{labels...} (counter, gauge, or a
// histogram's sample count), or 0 when there is none; series counts how many
// series name has. They read the registry the way a scrape does (testutil needs
// a module the repository does not require).
func value(t *testing.T, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	for _, s := range gather(t, m, name) {
		if matches(s, labels) {
			switch {
			case s.Counter != nil:
				return s.Counter.GetValue()
			case s.Gauge != nil:
				return s.Gauge.GetValue()
			case s.Histogram != nil:
				return float64(s.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

func series(t *testing.T, m *Metrics, name string) int { return len(gather(t, m, name)) }

func gather(t *testing.T, m *Metrics, name string) []*dto.Metric {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.Metric
		}
	}
	return nil
}

// matches reports whether s has the labels given as name, value pairs.
func matches(s *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range s.Label {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// brokerLikeMux has the shapes of the broker's routes: a method pattern, a path
// wildcard, a handler that sets its own status, one that writes nothing.
func brokerLikeMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
	})
	mux.HandleFunc("GET /login/callback/{provider}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /silent", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	return mux
}

func serve(t *testing.T, h http.Handler, method, target string) int {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w.Code
}

func TestMiddlewareCounts(t *testing.T) {
	m := New()
	h := m.Middleware(brokerLikeMux())

	serve(t, h, "GET", "/authorize?client_id=x")
	serve(t, h, "GET", "/authorize?client_id=y")
	serve(t, h, "POST", "/token")
	serve(t, h, "GET", "/login/callback/annuaire")
	serve(t, h, "GET", "/login/callback/barreau")
	serve(t, h, "GET", "/silent")
	serve(t, h, "GET", "/wp-admin/../etc/passwd")
	serve(t, h, "GET", "/random-1")
	serve(t, h, "DELETE", "/token") // 405: no pattern matched

	tests := []struct {
		route, code string
		want        float64
	}{
		{"GET /authorize", "303", 2},
		{"POST /token", "400", 1},
		{"GET /login/callback/{provider}", "200", 2},
		{"GET /silent", "200", 1},
		{OtherRoute, "307", 1}, // ServeMux redirects to the cleaned path
		{OtherRoute, "404", 1},
		{OtherRoute, "405", 1},
	}
	for _, tt := range tests {
		if got := value(t, m, "jc_http_requests_total", "route", tt.route, "code", tt.code); got != tt.want {
			t.Errorf("requests{route=%q,code=%s} = %v, want %v", tt.route, tt.code, got, tt.want)
		}
	}
	// Raw paths never become labels.
	if n := series(t, m, "jc_http_requests_total"); n != len(tests) {
		t.Errorf("%d request series, want %d", n, len(tests))
	}
	if n := series(t, m, "jc_http_request_duration_seconds"); n != 5 {
		t.Errorf("%d duration series, want 5 (4 routes and other)", n)
	}
}

func TestMiddlewarePanicCountedAndPropagated(t *testing.T) {
	m := New()
	h := m.Middleware(brokerLikeMux())
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want the handler's panic", v)
			}
		}()
		serve(t, h, "GET", "/panic")
	}()
	if got := value(t, m, "jc_http_requests_total", "route", "GET /panic", "code", "500"); got != 1 {
		t.Errorf("panicking request counted %v times as 500", got)
	}
}

func TestMiddlewareKeepsFlusher(t *testing.T) {
	m := New()
	var flushed bool
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, flushed = w.(http.Flusher)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
	}))
	serve(t, h, "GET", "/")
	if !flushed {
		t.Error("the wrapped writer hides http.Flusher")
	}
}

func TestLoginAndToken(t *testing.T) {
	m := New()
	m.Login("annuaire", "success")
	m.Login("annuaire", "success")
	m.Login("barreau", "failure")
	m.Token("authorization_code")
	m.Token("refresh_token")
	m.Token("refresh_token")
	m.Token("urn:ietf:params:oauth:grant-type:token-exchange")
	m.Token("x-made-up-" + strings.Repeat("a", 50))
	m.Token("another-made-up")

	for _, tt := range []struct {
		got, want float64
		what      string
	}{
		{value(t, m, "jc_logins_total", "provider", "annuaire", "outcome", "success"), 2, "annuaire success"},
		{value(t, m, "jc_logins_total", "provider", "barreau", "outcome", "failure"), 1, "barreau failure"},
		{value(t, m, "jc_tokens_issued_total", "grant_type", "authorization_code"), 1, "authorization_code"},
		{value(t, m, "jc_tokens_issued_total", "grant_type", "refresh_token"), 2, "refresh_token"},
		{value(t, m, "jc_tokens_issued_total", "grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"), 1, "token exchange"},
		{value(t, m, "jc_tokens_issued_total", "grant_type", "other"), 2, "unknown grant types"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.what, tt.got, tt.want)
		}
	}
}

func get(t *testing.T, h http.Handler, target string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
	b, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(b)
}

func TestMetricsEndpoint(t *testing.T) {
	m := New()
	serve(t, m.Middleware(brokerLikeMux()), "GET", "/authorize")
	m.Login("annuaire", "success")
	m.Token("authorization_code")
	m.SetStoreUp(true)

	code, body := get(t, AdminMux(m, nil), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics answered %d", code)
	}
	for _, want := range []string{
		`jc_http_requests_total{code="303",route="GET /authorize"} 1`,
		`jc_http_request_duration_seconds_bucket{route="GET /authorize",le="+Inf"} 1`,
		`jc_http_request_duration_seconds_count{route="GET /authorize"} 1`,
		`jc_logins_total{outcome="success",provider="annuaire"} 1`,
		`jc_tokens_issued_total{grant_type="authorization_code"} 1`,
		"jc_store_up 1",
		"go_goroutines ",
		"go_memstats_alloc_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The process collector reads /proc: Linux only.
	if runtime.GOOS == "linux" && !strings.Contains(body, "process_cpu_seconds_total ") {
		t.Error("/metrics lacks the process collector")
	}
}

func TestOwnRegistry(t *testing.T) {
	// Two brokers in one process must not collide (New panics on duplicate
	// registration in a shared registry).
	a, b := New(), New()
	a.Login("annuaire", "success")
	if got := value(t, b, "jc_logins_total", "provider", "annuaire"); got != 0 {
		t.Errorf("second Metrics sees the first one's logins: %v", got)
	}
}

func TestAdminMux(t *testing.T) {
	var fail atomic.Bool
	var gotDeadline atomic.Bool
	ready := func(ctx context.Context) error {
		_, ok := ctx.Deadline()
		gotDeadline.Store(ok)
		if fail.Load() {
			return errors.New("storage: ping db.internal:5432: connection refused")
		}
		return nil
	}
	mux := AdminMux(New(), ready)

	if code, body := get(t, mux, "/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, mux, "/readyz"); code != http.StatusOK || body != "ready\n" {
		t.Errorf("/readyz = %d %q", code, body)
	}
	if !gotDeadline.Load() {
		t.Error("ready was called without a deadline")
	}
	fail.Store(true)
	code, body := get(t, mux, "/readyz")
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with a failing store = %d, want 503", code)
	}
	if strings.Contains(body, "db.internal") {
		t.Errorf("/readyz shows the error: %q", body)
	}
	// /healthz does not depend on readiness.
	if code, _ := get(t, mux, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d while not ready", code)
	}
	if code, _ := get(t, mux, "/anything"); code != http.StatusNotFound {
		t.Errorf("/anything = %d", code)
	}
	if code, _ := get(t, AdminMux(New(), nil), "/readyz"); code != http.StatusOK {
		t.Errorf("nil ready: /readyz = %d", code)
	}
}

func TestWatchStore(t *testing.T) {
	m := New()
	var down atomic.Bool
	ping := func(ctx context.Context) error {
		if down.Load() {
			return errors.New("down")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.WatchStore(ctx, ping, 5*time.Millisecond); close(done) }()

	waitFor := func(want float64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for value(t, m, "jc_store_up") != want {
			if time.Now().After(deadline) {
				t.Fatalf("jc_store_up stayed %v, want %v", value(t, m, "jc_store_up"), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor(1)
	down.Store(true)
	waitFor(0)
	down.Store(false)
	waitFor(1)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WatchStore did not return after cancel")
	}
}

// Cleanup adds each run's rows to one counter, counts the runs by outcome and
// keeps the last run's duration.
func TestCleanup(t *testing.T) {
	m := New()
	m.Cleanup(1200, CleanupDone, 3*time.Second)
	m.Cleanup(300, CleanupStopped, 90*time.Second)
	m.Cleanup(0, CleanupFailed, 250*time.Millisecond)
	for _, c := range []struct {
		got, want float64
		what      string
	}{
		{value(t, m, "jc_cleanup_rows_deleted_total"), 1500, "rows deleted"},
		{value(t, m, "jc_cleanup_runs_total", "outcome", CleanupDone), 1, "done runs"},
		{value(t, m, "jc_cleanup_runs_total", "outcome", CleanupStopped), 1, "stopped runs"},
		{value(t, m, "jc_cleanup_runs_total", "outcome", CleanupFailed), 1, "failed runs"},
		{value(t, m, "jc_cleanup_last_run_seconds"), 0.25, "last run's duration"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v; want %v", c.what, c.got, c.want)
		}
	}
}
