//go:build pprof

package main

import (
	"net/http"
	"strings"
	"testing"
)

// Run by testsuite/run.sh with -tags pprof.
func TestStartPprof(t *testing.T) {
	for _, bad := range []string{"0.0.0.0:6060", ":6060", "localhost:6060", "192.0.2.1:6060", "127.0.0.1"} {
		if _, err := startPprof(bad); err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("startPprof(%q) = %v, want a loopback error", bad, err)
		}
	}
	if addr, err := startPprof(""); addr != nil || err != nil {
		t.Errorf("startPprof(\"\") = %v, %v: want nothing served", addr, err)
	}
	addr, err := startPprof("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("goroutine profile: %s", resp.Status)
	}
}
