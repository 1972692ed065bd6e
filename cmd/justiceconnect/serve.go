package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/justiceconnect/justiceconnect/broker"
	"github.com/justiceconnect/justiceconnect/broker/config"
)

// runServe is the production command: justiceconnect serve --config FILE.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" {
		fmt.Fprintln(stderr, "justiceconnect serve: --config is required")
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect serve: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", cfg.Listen.Address)
	if err != nil {
		fmt.Fprintf(stderr, "justiceconnect serve: listen.address: %v\n", err)
		return 1
	}
	b, err := start(ctx, cfg, logger)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "justiceconnect serve: %v\n", err)
		return 1
	}
	defer b.Close()
	dr := drain(ctx, b, time.Duration(cfg.Listen.DrainDelay), logger)
	if addr := cfg.AdminListen.Address; addr != "" {
		admin, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintf(stderr, "justiceconnect serve: admin_listen.address: %v\n", err)
			return 1
		}
		go func() {
			if err := serveDraining(dr, admin, b.AdminHandler(), "", ""); err != nil {
				logger.Error("admin listener", "err", err)
			}
		}()
		logger.Info("admin listener (metrics, health)", "address", admin.Addr().String())
	}
	if addr := cfg.CardListen.Address; addr != "" {
		card, err := listenCard(cfg.CardListen)
		if err != nil {
			fmt.Fprintf(stderr, "justiceconnect serve: %v\n", err)
			return 1
		}
		go func() {
			if err := serveDraining(dr, card, b.CardHandler(), "", ""); err != nil {
				logger.Error("card listener", "err", err)
			}
		}()
		logger.Info("card origin", "address", card.Addr().String(), "public_url", cfg.CardListen.PublicURL)
	}
	logger.Info("serving", "issuer", cfg.Issuer, "address", ln.Addr().String())
	if err := serveDraining(dr, ln, b, cfg.Listen.TLSCertFile, cfg.Listen.TLSKeyFile); err != nil {
		logger.Error("serve", "err", err)
		return 1
	}
	return 0
}

// start opens the store, builds the upstream providers (some keep state in the
// store) and the broker, which then owns the store.
func start(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*broker.Broker, error) {
	store, err := broker.OpenStore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	upstreams, err := buildUpstreams(cfg, buildDeps{Store: store, Logger: logger})
	if err != nil {
		store.Close()
		return nil, err
	}
	return broker.New(ctx, cfg, broker.Deps{Upstreams: upstreams, Logger: logger, Store: store})
}

// shutdownTimeout is how long in-flight requests may take to finish once the
// listeners are closed; the server's WriteTimeout bounds them anyway.
const shutdownTimeout = 15 * time.Second

// drainer tells the listeners when a drain starts and when it ends.
type drainer struct {
	// started is closed when the drain starts (the end of ctx), before /readyz
	// answers 503, so that a client that saw the 503 is told to close its
	// connection on its next request.
	started chan struct{}
	stop    chan struct{} // closed when the listeners must stop accepting
}

// draining reports whether the drain has started.
func (d *drainer) draining() bool {
	select {
	case <-d.started:
		return true
	default:
		return false
	}
}

// drain starts the drain when ctx ends (SIGTERM): for delay, /readyz answers 503
// while every endpoint keeps serving, so that the load balancer takes the node out
// of rotation first (listen.drain_delay); then the listeners close. A second
// SIGTERM or SIGINT ends the delay early. b is nil when there is no /readyz to
// turn (the demo).
func drain(ctx context.Context, b interface{ Drain() }, delay time.Duration, logger *slog.Logger) *drainer {
	d := &drainer{started: make(chan struct{}), stop: make(chan struct{})}
	go func() {
		defer close(d.stop)
		<-ctx.Done()
		close(d.started)
		if b == nil {
			return
		}
		b.Drain()
		if delay <= 0 {
			return
		}
		logger.Info("draining: /readyz answers 503, still serving", "drain_delay", delay.String())
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(again)
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-again:
			logger.Warn("draining cut short by a second signal")
		}
	}()
	return d
}

// closingConnections answers with Connection: close once the drain has started,
// so that clients reconnect through the balancer (RFC 9112 §9.6; Go's HTTP/2
// server turns the header into a GOAWAY). The server's own switch,
// SetKeepAlivesEnabled, is flipped in another goroutine and may come a little
// later; this check is made for every request.
func (d *drainer) closingConnections(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.draining() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// serveUntilDone serves until ctx ends, then lets in-flight requests finish (no
// drain delay: the demo).
func serveUntilDone(ctx context.Context, ln net.Listener, h http.Handler, certFile, keyFile string) error {
	return serveDraining(drain(ctx, nil, 0, nil), ln, h, certFile, keyFile)
}

// serveDraining serves until the drain ends, then closes the listener and lets
// in-flight requests finish. During the drain, responses close their connections.
func serveDraining(d *drainer, ln net.Listener, h http.Handler, certFile, keyFile string) error {
	srv := &http.Server{
		Handler:           d.closingConnections(h),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	errc := make(chan error, 1)
	go func() {
		if certFile != "" {
			errc <- srv.ServeTLS(ln, certFile, keyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-d.started:
	}
	// Also closes the connections idle now.
	srv.SetKeepAlivesEnabled(false)
	select {
	case err := <-errc:
		return err
	case <-d.stop:
	}
	shutdown, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listenCard opens the card listener: TLS asking for a client certificate when the
// broker ends TLS, plain TCP when a trusted proxy does (and sends Client-Cert).
func listenCard(cl config.CardListen) (net.Listener, error) {
	ln, err := net.Listen("tcp", cl.Address)
	if err != nil {
		return nil, fmt.Errorf("card_listen.address: %w", err)
	}
	if cl.TLSCertFile == "" {
		return ln, nil
	}
	tc, err := broker.CardTLSConfig(cl)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return tls.NewListener(ln, tc), nil
}
