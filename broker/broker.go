package broker

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/justiceconnect/justiceconnect/broker/account"
	"github.com/justiceconnect/justiceconnect/broker/audit"
	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/flow"
	"github.com/justiceconnect/justiceconnect/broker/keys"
	"github.com/justiceconnect/justiceconnect/broker/login"
	"github.com/justiceconnect/justiceconnect/broker/logout"
	"github.com/justiceconnect/justiceconnect/broker/mapping"
	"github.com/justiceconnect/justiceconnect/broker/metrics"
	"github.com/justiceconnect/justiceconnect/broker/oidc"
	"github.com/justiceconnect/justiceconnect/broker/ratelimit"
	"github.com/justiceconnect/justiceconnect/broker/session"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/broker/storage/postgres"
	"github.com/justiceconnect/justiceconnect/broker/storage/sqlite"
	"github.com/justiceconnect/justiceconnect/broker/web"
	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/providers"
)

// Upstream is a provider built from configuration by the command's provider table
// (cmd/justiceconnect/providers.go, the one file that imports implementations).
type Upstream struct {
	Config config.ProviderConfig
	Impl   providers.Provider
}

// Deps are what the caller supplies beyond the configuration.
type Deps struct {
	Upstreams []Upstream
	Logger    *slog.Logger
	Now       func() time.Time
	// Store, when set, is used instead of opening the configured one. The broker
	// owns it from then on: it is closed by Close, or by New when New fails.
	Store storage.Store
	// LogoutHTTPClient posts back-channel logout notices to clients; nil uses a
	// default client (tests give one trusting their servers).
	LogoutHTTPClient *http.Client
}

// Broker is a running JusticeConnect.
type Broker struct {
	handler http.Handler
	card    http.Handler
	Store   storage.Store
	Keys    *keys.Manager
	OIDC    *oidc.Server
	// Logouts is the back-channel logout queue; its worker runs until Close.
	Logouts *logout.Queue
	Metrics *metrics.Metrics
	logger  *slog.Logger
	stop    context.CancelFunc
	wg      sync.WaitGroup
	// draining is set by Drain: the node is about to stop.
	draining atomic.Bool
}

// ErrDraining is Ready's answer once Drain was called.
var ErrDraining = errors.New("broker: draining before shutdown")

// OpenStore opens the configured store.
func OpenStore(ctx context.Context, cfg *config.Config, logger *slog.Logger) (storage.Store, error) {
	opts := storage.Options{NewSession: session.NewFosite, Now: time.Now, Logger: logger}
	switch cfg.Store.Driver {
	case "postgres":
		dsn, err := cfg.Store.PostgresDSN.Read()
		if err != nil {
			return nil, fmt.Errorf("broker: store.postgres_dsn: %w", err)
		}
		s, err := postgres.Open(ctx, string(dsn), opts)
		if err != nil {
			return nil, err // never a nil *Store inside a non-nil interface
		}
		return s, nil
	default:
		s, err := sqlite.Open(ctx, cfg.Store.SQLitePath, opts)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

// New builds the broker from a validated configuration.
func New(ctx context.Context, cfg *config.Config, deps Deps) (*Broker, error) {
	logger := deps.Logger
	if logger == nil {
		logger = slog.Default()
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	for _, w := range cfg.Warnings() {
		logger.Warn("configuration: " + w)
	}
	kek, err := cfg.Keys.KEK.Read()
	if err != nil {
		return nil, fmt.Errorf("broker: keys.kek: %w", err)
	}
	kek, err = keys.ParseKEK(kek)
	if err != nil {
		return nil, fmt.Errorf("broker: keys.kek: %w", err)
	}
	store := deps.Store
	if store == nil {
		if store, err = OpenStore(ctx, cfg, logger); err != nil {
			return nil, err
		}
	}
	b := &Broker{Store: store, logger: logger}
	ok := false
	defer func() {
		if !ok {
			store.Close()
		}
	}()

	km := keys.NewManager(store, kek, keys.Options{Algorithms: cfg.Keys.Algorithms,
		MaxTokenLifetime: time.Duration(cfg.Keys.MaxTokenLifetime), CookieKeyLifetime: time.Duration(cfg.Sessions.AbsoluteTimeout),
		Now: now, Logger: logger})
	if err := km.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("broker: signing keys: %w", err)
	}
	b.Keys = km
	cookieKeys, err := km.CookieKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("broker: cookie keys: %w", err)
	}
	var salt []byte
	if cfg.PairwiseSalt.IsSet() {
		if salt, err = cfg.PairwiseSalt.Read(); err != nil {
			return nil, fmt.Errorf("broker: pairwise_salt: %w", err)
		}
	} else {
		salt = derive(kek, "pairwise-salt")
	}

	courts := claims.DefaultCourts()
	if cfg.CourtsFile != "" {
		f, err := os.Open(cfg.CourtsFile)
		if err != nil {
			return nil, fmt.Errorf("broker: courts_file: %w", err)
		}
		courts, err = claims.LoadCourts(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("broker: courts_file: %w", err)
		}
	}

	if err := syncClients(ctx, store, cfg, now); err != nil {
		return nil, err
	}

	pages, err := web.New(web.Options{})
	if err != nil {
		return nil, fmt.Errorf("broker: pages: %w", err)
	}
	auditLog := &audit.Log{Store: store, Logger: logger, Now: now}
	logoutReceivers := upstreamLogoutReceivers(deps.Upstreams)
	sso := &session.SSO{Store: store, Cookies: session.NewCookieStore(time.Duration(cfg.Sessions.AbsoluteTimeout), cookieKeys...),
		IdleTimeout: time.Duration(cfg.Sessions.IdleTimeout), AbsoluteTimeout: time.Duration(cfg.Sessions.AbsoluteTimeout), Now: now,
		UpstreamLogout: map[string]session.UpstreamSessionNamer{}}
	for id, rc := range logoutReceivers {
		sso.UpstreamLogout[id] = rc
	}
	flows := &flow.Store{Store: store, Lifetime: time.Duration(cfg.Sessions.FlowLifetime), Now: now}

	var entries []*login.Provider
	for _, u := range deps.Upstreams {
		ceiling, _ := claims.ParseACR(u.Config.MaxACR)
		e := &login.Provider{ID: u.Config.ID, Label: u.Config.Label, Description: u.Config.Description,
			EmailDomains: u.Config.EmailDomains, Ceiling: ceiling,
			Mapper: &mapping.Mapper{Provider: u.Config.ID, SubjectNamespace: u.Config.SubjectNamespace, Ceiling: ceiling, Rules: u.Config.Mapping, Courts: courts, Logger: logger}}
		switch impl := u.Impl.(type) {
		case providers.PasswordProvider:
			e.Password = impl
		case providers.RedirectProvider:
			e.Redirect = impl
		case providers.CertificateProvider:
			e.Certificate = impl
		default:
			return nil, fmt.Errorf("broker: provider %s: %T serves no login style", u.Config.ID, u.Impl)
		}
		entries = append(entries, e)
	}
	proxies, err := login.ParseTrustedProxies(cfg.CardListen.TrustedProxies)
	if err != nil {
		return nil, err
	}
	loginHandler := login.New(login.Config{Issuer: cfg.Issuer, Store: store, Flows: flows, SSO: sso, Pages: pages,
		Audit: auditLog, Providers: entries, Logger: logger, Now: now,
		Card:           login.CardOrigin{PublicURL: cfg.CardListen.PublicURL, TrustedProxies: proxies},
		AddressLimiter: limiter(cfg.RateLimits.LoginPerAddress, now), AccountFailures: limiter(cfg.RateLimits.LoginFailuresPerAccount, now),
		// The OIDC server is built below (it needs the login handler's policies).
		Cancelled: func(w http.ResponseWriter, r *http.Request, f *flow.Flow) { b.OIDC.CancelledAtProvider(w, r, f) }})

	logouts := logout.New(logout.Config{Issuer: cfg.Issuer, Store: store, Keys: km, PairwiseSalt: salt, Audit: auditLog,
		HTTPClient: deps.LogoutHTTPClient, Logger: logger, Now: now})
	b.Logouts = logouts
	srv, err := oidc.New(oidc.Config{
		Logouts: logouts, UpstreamLogout: upstreamLogout(deps.Upstreams),
		Issuer: cfg.Issuer, Store: store, Keys: km, Pages: pages, SSO: sso, Flows: flows, Audit: auditLog,
		HMACSecret: derive(kek, "fosite-hmac"), PairwiseSalt: salt,
		CodeLifetime: time.Duration(cfg.Tokens.CodeLifetime), AccessTokenLifetime: time.Duration(cfg.Tokens.AccessTokenLifetime),
		IDTokenLifetime: time.Duration(cfg.Tokens.IDTokenLifetime), RefreshTokenLifetime: time.Duration(cfg.Tokens.RefreshTokenLifetime),
		MaxACR: loginHandler.MaxACR, Refresh: loginHandler.Refresh, UpstreamToken: loginHandler.UpstreamToken,
		TokenLimiter: limiter(cfg.RateLimits.TokenPerClient, now), ExtraScopes: cfg.APIScopes, Delegations: delegations{store}, Logger: logger, Now: now,
	})
	if err != nil {
		return nil, err
	}
	b.OIDC = srv

	mux := http.NewServeMux()
	srv.Register(mux)
	srv.RegisterUpstreamLogout(mux, logoutReceivers)
	loginHandler.Register(mux)
	mux.Handle("GET /static/", pages.StaticHandler())
	if err := pages.RegisterKit(mux, cfg.Issuer); err != nil { // /partner-kit/, /a-propos
		return nil, fmt.Errorf("broker: partner kit: %w", err)
	}
	account.New(account.Config{Store: store, SSO: sso, Pages: pages, Audit: auditLog, PairwiseSalt: salt, Logger: logger, Now: now}).Register(mux)
	for _, u := range deps.Upstreams {
		// SAML service provider metadata, at a stable URL per provider.
		if md, ok := u.Impl.(interface{ Metadata() ([]byte, error) }); ok {
			mux.HandleFunc("GET /saml/"+u.Config.ID+"/metadata", func(w http.ResponseWriter, r *http.Request) {
				b, err := md.Metadata()
				if err != nil {
					logger.Error("saml metadata", "provider", u.Config.ID, "err", err)
					http.Error(w, "metadata unavailable", http.StatusServiceUnavailable)
					return
				}
				w.Header().Set("Content-Type", "application/samlmetadata+xml")
				_, _ = w.Write(b)
			})
		}
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", b.readyz)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		lang := pages.Lang(r, "")
		pages.Render(w, r, http.StatusOK, web.MessagePage{Lang: lang, CorrelationID: oidc.CorrelationID(r), Title: "JusticeConnect",
			Message: "Service d'identification des professionnels de la justice."})
	})
	// Any other path: the French (or English) 404 page with its incident
	// reference, not net/http's plain text.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		pages.Render(w, r, http.StatusNotFound, web.ErrorPage{Lang: pages.Lang(r, ""), CorrelationID: oidc.CorrelationID(r),
			Status: http.StatusNotFound, Message: web.KeyNotFound})
	})
	b.card = b.cardHandler(pages, loginHandler)
	m := metrics.New()
	b.Metrics = m
	// The metrics middleware sits directly around the mux, so it can read the
	// matched route pattern (never raw paths) as its label.
	b.handler = b.middleware(pages, m.Middleware(mux))

	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.stop = cancel
	b.wg.Add(1)
	go b.cleanup(bg, store, now)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		runExclusive(bg, store, logger, "keys-prune", time.Hour, func(ctx context.Context) { pruneKeys(ctx, km, auditLog, logger) })
	}()
	b.wg.Add(1)
	go func() { defer b.wg.Done(); m.WatchStore(bg, store.Ping, 15*time.Second) }()
	depth := prometheus.NewGauge(prometheus.GaugeOpts{Name: "justiceconnect_logout_queue_depth",
		Help: "Back-channel logout notices waiting to be delivered."})
	if err := m.Register(depth); err != nil {
		logger.Warn("metrics: logout queue depth", "err", err)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		logouts.Run(bg, func(n int64) { depth.Set(float64(n)) })
	}()
	ok = true
	return b, nil
}

// ServeHTTP serves every endpoint.
func (b *Broker) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.handler.ServeHTTP(w, r) }

// Close stops background work and closes the store.
func (b *Broker) Close() error {
	b.stop()
	b.wg.Wait()
	return b.Store.Close()
}

// Drain makes /readyz (on the main and admin listeners) answer 503 from now on,
// while every other endpoint keeps serving: the load balancer stops sending new
// requests before the listener closes (listen.drain_delay).
func (b *Broker) Drain() { b.draining.Store(true) }

// Ready reports whether the broker can serve: its store answers and it is not
// draining.
func (b *Broker) Ready(ctx context.Context) error {
	if b.draining.Load() {
		return ErrDraining
	}
	if err := b.Store.Ping(ctx); err != nil {
		b.logger.Warn("readyz: store", "err", err)
		return err
	}
	return nil
}

// AdminHandler serves /metrics, /healthz and /readyz for the admin listener.
func (b *Broker) AdminHandler() http.Handler { return metrics.AdminMux(b.Metrics, b.Ready) }

func (b *Broker) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := b.Ready(ctx); errors.Is(err, ErrDraining) {
		http.Error(w, "draining\n", http.StatusServiceUnavailable)
		return
	} else if err != nil {
		http.Error(w, "store unavailable\n", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// pruneKeys deletes the retired keys whose publication period is over, as
// `justiceconnect keys prune` does, and audits what it deleted. It runs on one node
// at a time; Prune tolerates a key another node deleted first anyway.
func pruneKeys(ctx context.Context, km *keys.Manager, trail *audit.Log, logger *slog.Logger) {
	before, err := km.List(ctx)
	if err != nil {
		logger.Warn("keys: background prune: list keys", "err", err)
		return
	}
	n, err := km.PruneCount(ctx)
	if err != nil {
		logger.Warn("keys: background prune", "err", err)
	}
	if n == 0 {
		return
	}
	after, err := km.List(ctx)
	if err != nil {
		logger.Warn("keys: background prune: list keys", "err", err)
		return
	}
	left := map[string]bool{}
	for _, k := range after {
		left[k.ID] = true
	}
	var gone []string
	for _, k := range before {
		if !left[k.ID] {
			gone = append(gone, k.ID)
		}
	}
	trail.Record(ctx, storage.AuditEvent{Type: audit.KeyAdmin, Outcome: audit.OutcomeOK, Details: map[string]string{
		"action": "prune", "operator": "broker", "via": "background", "deleted": strconv.Itoa(len(gone)), "deleted_kids": strings.Join(gone, " ")}})
}

// cleanup deletes expired rows in the background (DESIGN.md, Storage), on one
// node at a time.
func (b *Broker) cleanup(ctx context.Context, store storage.Store, now func() time.Time) {
	defer b.wg.Done()
	runExclusive(ctx, store, b.logger, "cleanup", time.Minute, func(ctx context.Context) {
		start := time.Now()
		n, err := store.DeleteExpired(ctx, now())
		took := time.Since(start)
		b.Metrics.Cleanup(n, logCleanup(b.logger, n, err, took), took)
	})
}

// logCleanup reports one cleanup run and returns its outcome for the metrics:
// at most one line a minute, on one node, where how far behind its expiries the
// store is shows first (a run that takes most of the minute). A run cut short
// by the node stopping says so: its count is not what a whole run would have
// deleted.
func logCleanup(logger *slog.Logger, rows int64, err error, took time.Duration) (outcome string) {
	took = took.Round(time.Millisecond)
	switch {
	case errors.Is(err, context.Canceled):
		if rows > 0 {
			logger.Info("cleanup: stopped with the node before the end", "rows", rows, "took", took)
		}
		return metrics.CleanupStopped
	case err != nil:
		logger.Warn("cleanup: delete expired rows", "err", err, "rows", rows, "took", took)
		return metrics.CleanupFailed
	case rows > 0:
		logger.Info("cleanup: expired rows deleted", "rows", rows, "took", took)
	}
	return metrics.CleanupDone
}

// middleware wraps every request: a request ID (also shown on error pages), panic
// recovery with a French error page, a body size limit, CSRF protection for
// browser form posts (net/http.CrossOriginProtection, SECURITY.md D3), and the
// security headers (D1, D2).
func (b *Broker) middleware(pages *web.Pages, next http.Handler) http.Handler {
	csrf := http.NewCrossOriginProtection()
	// Upstream IdPs post back cross-site by design (SAML POST binding); those
	// callbacks are protected by the flow's state secret instead.
	csrf.AddInsecureBypassPattern("POST /login/callback/{provider}")
	protected := csrf.Handler(next)
	headers := web.SecurityHeadersWith(web.HeaderOptions{FormActionAny: true}, protected)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := flow.RandomToken(12)
		r.Header.Set("X-Request-Id", id)
		w.Header().Set("X-Request-Id", id)
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				b.logger.Error("panic", "correlation_id", id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				oidc.ShowError(pages, b.logger, w, r, http.StatusInternalServerError, "error.generic", fmt.Errorf("panic: %v", v))
			}
		}()
		headers.ServeHTTP(w, r)
	})
}

// derive makes a purpose-bound secret from the key-encryption key, so every node
// sharing the KEK agrees on it without storing another secret.
func derive(kek []byte, purpose string) []byte {
	m := hmac.New(sha256.New, kek)
	m.Write([]byte("justiceconnect:" + purpose))
	return m.Sum(nil)
}

// limiter builds the limiter of a configured rate; nil when it is disabled.
func limiter(r config.Rate, now func() time.Time) *ratelimit.Limiter {
	if r.Disabled {
		return nil
	}
	return ratelimit.New(r.Requests, time.Duration(r.Per), r.Burst, now)
}
