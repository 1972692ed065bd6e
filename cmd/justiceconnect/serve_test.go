package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// freeAddr returns a loopback address nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer is the serve command's stderr, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// get returns the status, the body and whether the server closes the connection.
func get(url string) (int, string, bool, error) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Close, nil
}

// TestServeDrains: at SIGTERM (the end of ctx) /readyz on both listeners answers
// 503 at once while every endpoint keeps serving, with Connection: close, for
// listen.drain_delay; then the listeners close and serve exits 0.
func TestServeDrains(t *testing.T) {
	// The drain delay leaves room for the three requests made during it on a loaded
	// machine (with 1.5 s, the discovery request could come after the listener
	// closed).
	for _, delay := range []time.Duration{0, 3 * time.Second} {
		t.Run(delay.String(), func(t *testing.T) {
			dir := t.TempDir()
			addr, admin := freeAddr(t), freeAddr(t)
			os.WriteFile(filepath.Join(dir, "kek"), []byte(strings.Repeat("ab", 32)+"\n"), 0o600)
			os.WriteFile(filepath.Join(dir, "salt"), []byte("salt\n"), 0o600)
			cfg := filepath.Join(dir, "justiceconnect.yaml")
			body := fmt.Sprintf(`issuer: https://connect.example.justice.fr
listen: {address: %q, drain_delay: %s}
admin_listen: {address: %q}
store: {driver: sqlite, sqlite_path: %q}
keys: {kek: {file: %q}}
pairwise_salt: {file: %q}
`, addr, delay, admin, filepath.Join(dir, "broker.db"), filepath.Join(dir, "kek"), filepath.Join(dir, "salt"))
			if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, sigterm := context.WithCancel(context.Background())
			defer sigterm()
			var stderr syncBuffer
			done := make(chan int, 1)
			go func() { done <- runServe(ctx, []string{"--config", cfg}, io.Discard, &stderr) }()

			ready := false
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				select {
				case code := <-done:
					t.Fatalf("serve exited %d before it was ready:\n%s", code, stderr.String())
				default:
				}
				if st, _, _, err := get("http://" + addr + "/readyz"); err == nil && st == http.StatusOK {
					ready = true
					break
				}
			}
			if !ready {
				t.Fatalf("serve not ready:\n%s", stderr.String())
			}

			sigterm()
			start := time.Now()
			for _, base := range []string{"http://" + addr, "http://" + admin} {
				var st int
				var text string
				// Within a second of SIGTERM; each listener is asked at least once
				// (a slow first request must not leave the second unasked).
				for first := true; first || time.Since(start) < time.Second; first = false {
					var err error
					if st, text, _, err = get(base + "/readyz"); err != nil || st == http.StatusServiceUnavailable {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
				if delay > 0 && st != http.StatusServiceUnavailable {
					t.Errorf("%s/readyz during the drain: %d %q, want 503", base, st, text)
				}
			}
			if delay > 0 {
				st, _, closes, err := get("http://" + addr + "/.well-known/openid-configuration")
				if err != nil || st != http.StatusOK {
					t.Errorf("discovery during the drain: %d %v, want 200", st, err)
				} else if !closes {
					t.Error("discovery during the drain kept the connection open; want Connection: close")
				}
			}
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("serve exited %d:\n%s", code, stderr.String())
				}
			case <-time.After(delay + 20*time.Second):
				t.Fatal("serve did not exit after the drain")
			}
			if took := time.Since(start); took < delay || took > delay+5*time.Second {
				t.Errorf("serve exited %v after SIGTERM, want about drain_delay %v", took, delay)
			}
			if _, _, _, err := get("http://" + addr + "/healthz"); err == nil {
				t.Error("the listener still accepts after serve returned")
			}
		})
	}
}

// readyFlag stands for the broker: it records whether the listeners already
// closed connections when /readyz was turned to 503.
type readyFlag struct {
	d       **drainer
	drained chan bool
}

func (r readyFlag) Drain() { r.drained <- (*r.d).draining() }

// TestDrainClosesConnectionsBeforeReadyzTurns: the drain marks responses
// Connection: close before /readyz answers 503, so a client that saw the 503 is
// never kept on the node (TestServeDrains saw one kept, about one run in three,
// when only the server's own keep-alive switch, flipped in another goroutine,
// did it).
func TestDrainClosesConnectionsBeforeReadyzTurns(t *testing.T) {
	ctx, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	var d *drainer
	b := readyFlag{d: &d, drained: make(chan bool, 1)}
	d = drain(ctx, b, 0, nil)
	h := d.closingConnections(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	serve := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec.Header().Get("Connection")
	}
	if got := serve(); got != "" {
		t.Fatalf("before the drain: Connection %q, want none", got)
	}
	sigterm()
	select {
	case closing := <-b.drained:
		if !closing {
			t.Error("/readyz turned to 503 before responses closed their connections")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the drain did not turn /readyz")
	}
	if got := serve(); got != "close" {
		t.Errorf("during the drain: Connection %q, want close", got)
	}
	select {
	case <-d.stop:
	case <-time.After(10 * time.Second):
		t.Fatal("the drain did not end (drain_delay 0)")
	}
}
