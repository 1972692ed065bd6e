//go:build pprof

package main

// Profiling for performance work (docs/PERFORMANCE.md, "Profiling a running
// broker"): built only with `-tags pprof`, so release binaries carry no
// profiling endpoint at all. JC_PPROF_ADDR names a loopback address on which
// net/http/pprof is served, apart from the broker's own listeners.

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

func init() {
	if _, err := startPprof(os.Getenv("JC_PPROF_ADDR")); err != nil {
		fmt.Fprintf(os.Stderr, "justiceconnect: %v\n", err)
		os.Exit(2)
	}
}

// startPprof serves the profiles on addr, which must be a loopback IP and port
// (profiles show secrets in memory and cost CPU: never on a shared interface).
// An empty addr serves nothing.
func startPprof(addr string) (net.Addr, error) {
	if addr == "" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("JC_PPROF_ADDR %q: must be a loopback IP address and port, such as 127.0.0.1:6060", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("JC_PPROF_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	go func() { _ = http.Serve(ln, mux) }()
	return ln.Addr(), nil
}
