// Command example-api is a small justice API, "API des mesures de protection de
// l'enfance", showing how a resource server checks JusticeConnect access tokens
// with the claims package (github.com/justiceconnect/justiceconnect/claims).
//
// Routes:
//
//	GET /dossiers           any professional of the justice vocabulary whose
//	                        token carries the profession scope
//	GET /dossiers/urgents   a magistrat holding juge_enfants@TJ75101, at acr
//	                        eidas1 or more
//
// Both answer JSON naming who called (sub, profession, and act when a client
// acts for the subject after a token exchange). Tokens must be access tokens
// (typ at+jwt) issued by --issuer for --audience: a user's token for another API
// must first be exchanged (RFC 8693) for one aimed at this API.
//
// The urgent-cases route accepts eidas1 so that it works with the demo and test
// brokers, whose users log in with a password. In production it must require
// eidas3 (smart card): change enfance.MinACR to claims.EIDAS3.
//
// The routes are built by package enfance (enfance.NewAPI), so that tests,
// which cannot import a main package, serve the very same handler.
//
// Usage:
//
//	example-api --issuer https://connect.justice.example --audience https://api.justice.example/enfance [--addr 127.0.0.1:8081]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/justiceconnect/justiceconnect/claims"
	"github.com/justiceconnect/justiceconnect/cmd/example-api/enfance"
)

// Defaults of the flags.
const (
	defaultAudience = "https://api.justice.example/enfance"
	defaultAddr     = "127.0.0.1:8081"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("example-api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	issuer := fs.String("issuer", "", "JusticeConnect issuer URL (required)")
	audience := fs.String("audience", defaultAudience, "this API's identifier (the aud of accepted tokens)")
	addr := fs.String("addr", defaultAddr, "listen address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "example-api: unexpected arguments %q\n", fs.Args())
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	v, err := claims.NewVerifier(claims.VerifierConfig{Issuer: *issuer, Audience: *audience})
	if err != nil {
		fmt.Fprintln(stderr, "example-api:", err)
		return 2
	}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           enfance.NewAPI(v),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("example-api listening", "addr", *addr, "issuer", *issuer, "audience", *audience)
	select {
	case err := <-errc:
		fmt.Fprintln(stderr, "example-api:", err)
		return 1
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "example-api:", err)
		return 1
	}
	return 0
}
