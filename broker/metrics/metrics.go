package metrics

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// OtherRoute labels requests that matched no route pattern (404, 405): raw paths
// are never labels, so a scanner cannot create series.
const OtherRoute = "other"

// grantTypes are the grant_type values that get their own series; anything else
// (an unknown or misspelt grant sent by a client) is counted as "other".
var grantTypes = map[string]bool{
	"authorization_code": true,
	"refresh_token":      true,
	"client_credentials": true,
	"urn:ietf:params:oauth:grant-type:token-exchange": true,
	"urn:ietf:params:oauth:grant-type:jwt-bearer":     true,
	"urn:ietf:params:oauth:grant-type:device_code":    true,
}

// Metrics holds the broker's collectors and their registry.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	logins   *prometheus.CounterVec
	tokens   *prometheus.CounterVec
	storeUp  prometheus.Gauge

	cleanupRows prometheus.Counter
	cleanupRuns *prometheus.CounterVec
	cleanupLast prometheus.Gauge
}

// Outcomes of a cleanup run (Metrics.Cleanup).
const (
	CleanupDone    = "done"    // every expired row deleted
	CleanupFailed  = "failed"  // a store error ended it
	CleanupStopped = "stopped" // the node stopped first
)

// New creates the metrics in a registry of their own, with the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jc_http_requests_total",
			Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jc_http_request_duration_seconds",
			Help:    "Time to serve HTTP requests, by route pattern (upstream round trips included).",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jc_logins_total",
			Help: "Finished logins, by upstream provider and outcome.",
		}, []string{"provider", "outcome"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jc_tokens_issued_total",
			Help: "Token endpoint responses that issued tokens, by grant type.",
		}, []string{"grant_type"}),
		storeUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jc_store_up",
			Help: "1 when the store answered its last ping, 0 otherwise.",
		}),
		cleanupRows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jc_cleanup_rows_deleted_total",
			Help: "Expired rows deleted by this node's background cleanup (counted when a run ends).",
		}),
		cleanupRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jc_cleanup_runs_total",
			Help: "Background cleanup runs on this node, by outcome (done, failed, stopped).",
		}, []string{"outcome"}),
		cleanupLast: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jc_cleanup_last_run_seconds",
			Help: "Duration of this node's last cleanup run; near or above its one-minute period, run after run, the store is falling behind its expiries.",
		}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.logins, m.tokens, m.storeUp,
		m.cleanupRows, m.cleanupRuns, m.cleanupLast,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Register adds another collector (for example collectors.NewDBStatsCollector for
// the store's *sql.DB) to the metrics' registry.
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// Handler serves the registry in the Prometheus exposition format (/metrics).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Login counts a finished login. provider must be a configured provider ID (not a
// value taken from the request before it was looked up) and outcome one of the
// audit outcomes (success, failure, denied), so that the series stay few.
func (m *Metrics) Login(provider, outcome string) {
	if provider == "" {
		provider = "unknown"
	}
	if outcome == "" {
		outcome = "unknown"
	}
	m.logins.WithLabelValues(provider, outcome).Inc()
}

// Token counts a token response for grantType. Grant types outside the known set
// are counted as "other", so a client cannot create series by sending made-up
// grant_type values.
func (m *Metrics) Token(grantType string) {
	if !grantTypes[grantType] {
		grantType = OtherRoute
	}
	m.tokens.WithLabelValues(grantType).Inc()
}

// SetStoreUp sets jc_store_up.
func (m *Metrics) SetStoreUp(up bool) {
	if up {
		m.storeUp.Set(1)
	} else {
		m.storeUp.Set(0)
	}
}

// Cleanup records one run of the background cleanup of expired rows: the rows
// it deleted, its outcome (CleanupDone, CleanupFailed, CleanupStopped) and how
// long it took. Only the node holding the cleanup's lock runs it, so on the
// others the series stay at zero.
func (m *Metrics) Cleanup(rows int64, outcome string, took time.Duration) {
	m.cleanupRows.Add(float64(max(rows, 0)))
	m.cleanupRuns.WithLabelValues(outcome).Inc()
	m.cleanupLast.Set(took.Seconds())
}

// WatchStore pings the store now and then every interval until ctx is done, and
// sets jc_store_up from the answer. Each ping gets at most the interval (and 5s).
func (m *Metrics) WatchStore(ctx context.Context, ping func(context.Context) error, every time.Duration) {
	timeout := min(every, 5*time.Second)
	check := func() {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		err := ping(pctx)
		if ctx.Err() == nil {
			m.SetStoreUp(err == nil)
		}
	}
	check()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check()
		}
	}
}

// Middleware counts and times every request by route pattern. It must wrap the
// http.ServeMux directly (or handlers that pass the same *http.Request on):
// ServeMux records the pattern it matched in r.Pattern of the request it was
// given, which is read here after next returns. A request that matched nothing,
// or went through a handler that copied the request, is labelled "other".
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		// No recover: a panic goes on to the broker's own recovery (with its stack
		// intact) and is counted here as a 500 unless a status was already sent.
		defer func() {
			route := r.Pattern
			if route == "" {
				route = OtherRoute
			}
			code := rec.code
			if code == 0 {
				code = http.StatusOK
				if !rec.done {
					code = http.StatusInternalServerError
				}
			}
			m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
			m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		}()
		next.ServeHTTP(rec, r)
		rec.done = true
	})
}

// recorder remembers the status code sent.
type recorder struct {
	http.ResponseWriter
	code int
	done bool // next returned without panicking
}

func (r *recorder) WriteHeader(code int) {
	// 1xx informational responses (103 Early Hints) are not the final status;
	// 101 Switching Protocols is.
	if r.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush keeps the http.Flusher of the underlying writer visible to handlers that
// assert it.
func (r *recorder) Flush() {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	_ = http.NewResponseController(r.ResponseWriter).Flush()
}

// AdminMux serves the administration listener: /metrics, /healthz (the process
// answers) and /readyz (ready reports nil: the store and what else the broker
// needs to serve logins). ready's error is not shown (it may name hosts); the
// caller logs it. A nil ready is always ready.
func AdminMux(m *Metrics, ready func(ctx context.Context) error) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("not ready\n"))
				return
			}
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	return mux
}
