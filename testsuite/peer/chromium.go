package peer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's Chromium.
const ChromiumPath = "/usr/bin/chromium"

// StepTimeout bounds one browser step: a navigation and its redirects, or
// reading the page. Alone a step takes well under a second; the margin is for a
// 2-core CI machine running several test packages side by side.
const StepTimeout = 60 * time.Second

// readAttempt bounds one try at reading the page. After a cross-site navigation
// (the relying party on http, the broker on https) Chromium swaps the renderer,
// and a read sent in that window can wait for an execution context that never
// comes; a fresh try reaches the new one.
const readAttempt = 5 * time.Second

// ArtifactsEnv names the directory where browser tests save screenshots; the
// default is testsuite/browser/artifacts (gitignored).
const ArtifactsEnv = "JC_ARTIFACTS"

// BrowserOptions shape a headless Chromium.
type BrowserOptions struct {
	// TrustCertificates are server certificates Chromium accepts although no root
	// it knows signed them (--ignore-certificate-errors-spki-list, by public key):
	// the broker's throwaway TLS certificate. Any other bad certificate still fails.
	TrustCertificates []*x509.Certificate
	// Width and Height of the window (default 1280x900).
	Width, Height int
	// Timeout bounds the whole browser session (default 5 min); each step
	// (Open, Submit, Text, Location) has its own shorter bound, StepTimeout.
	Timeout time.Duration
}

// Browser is a headless Chromium driven with chromedp, with a fresh profile.
// Ctx is the tab's context: pass it to chromedp.Do and chromedp.Run.
type Browser struct {
	Ctx context.Context

	t       testing.TB
	mu      sync.Mutex
	shots   int
	visited []string
	cancel  []context.CancelFunc
}

// StartBrowser launches Chromium with the flags that work on these machines
// (headless, as root without the sandbox, no background traffic), a fresh
// --user-data-dir, and opens one tab. A missing Chromium fails the test.
func StartBrowser(t testing.TB, opts BrowserOptions) *Browser {
	t.Helper()
	exe := RequireBinary(t, ChromiumPath, "chromium")
	if opts.Width == 0 {
		opts.Width, opts.Height = 1280, 900
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Minute
	}
	profile, err := os.MkdirTemp("", "jc-chromium-")
	if err != nil {
		t.Fatalf("peer: chromium: %v", err)
	}
	allocOpts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("lang", "fr-FR"),
		chromedp.Flag("accept-lang", "fr-FR,fr"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(opts.Width, opts.Height),
	}
	if len(opts.TrustCertificates) > 0 {
		var pins []string
		for _, c := range opts.TrustCertificates {
			sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
			pins = append(pins, base64.StdEncoding.EncodeToString(sum[:]))
		}
		allocOpts = append(allocOpts, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(pins, ",")))
	}
	base, cancelBase := context.WithTimeout(context.Background(), opts.Timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, allocOpts...)
	b := &Browser{t: t}
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf), chromedp.WithListener(b.listen))
	b.Ctx = ctx
	b.cancel = []context.CancelFunc{cancelCtx, cancelAlloc, cancelBase}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("peer: chromium: documents the tab requested: %v", b.Visited())
		}
		for _, c := range b.cancel {
			c()
		}
		_ = os.RemoveAll(profile)
	})
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("peer: chromium did not start: %v", err)
	}
	t.Logf("peer: chromium started in %v", time.Since(start).Round(time.Millisecond))
	return b
}

// listen records the URL of every document request of the tab, redirects included.
func (b *Browser) listen(ev any) {
	if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Type == network.ResourceTypeDocument && e.Request != nil {
		b.mu.Lock()
		b.visited = append(b.visited, e.Request.URL)
		b.mu.Unlock()
	}
}

// Visited returns the URLs of the documents the tab requested (every step of a
// redirect chain, frames included) since the last ForgetVisited.
func (b *Browser) Visited() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.visited...)
}

// ForgetVisited empties the list Visited returns.
func (b *Browser) ForgetVisited() {
	b.mu.Lock()
	b.visited = nil
	b.mu.Unlock()
}

// Open navigates to u and waits for the page that ends the redirects.
func (b *Browser) Open(u string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, StepTimeout)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Navigate(u)); err != nil {
		b.t.Fatalf("peer: open %s: %v (documents requested: %v)", u, err, b.Visited())
	}
}

// Submit runs actions that navigate (a click, an Enter key) and waits for the
// next page.
func (b *Browser) Submit(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.Ctx, StepTimeout)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, actions...); err != nil {
		b.t.Fatalf("peer: %s: %v (documents requested: %v)", what, err, b.Visited())
	}
}

// read evaluates a page read (the URL, the text) in tries of readAttempt until
// one answers or StepTimeout passes.
func read[T any](b *Browser, what string, action chromedp.Action[T]) T {
	b.t.Helper()
	deadline := time.Now().Add(StepTimeout)
	for {
		ctx, cancel := context.WithTimeout(b.Ctx, readAttempt)
		v, err := chromedp.Run(ctx, action)
		cancel()
		if err == nil {
			return v
		}
		if b.Ctx.Err() != nil || time.Now().After(deadline) {
			b.t.Fatalf("peer: %s: %v (documents requested: %v)", what, err, b.Visited())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ArtifactsDir returns where screenshots go: $JC_ARTIFACTS, or
// testsuite/browser/artifacts in the source tree.
func ArtifactsDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv(ArtifactsEnv); d != "" {
		return d
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("peer: no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "browser", "artifacts")
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Screenshot saves a full-page PNG of the current page as an artifact named after
// the test, a sequence number and name; it checks that the file decodes as a
// non-empty PNG, logs its path and returns it.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	buf, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("peer: screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		b.t.Fatalf("peer: screenshot %s is not a PNG: %v", name, err)
	}
	if r := img.Bounds(); r.Dx() < 100 || r.Dy() < 100 {
		b.t.Fatalf("peer: screenshot %s is %dx%d", name, r.Dx(), r.Dy())
	}
	dir := ArtifactsDir(b.t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatalf("peer: artifacts: %v", err)
	}
	b.mu.Lock()
	b.shots++
	n := b.shots
	b.mu.Unlock()
	file := filepath.Join(dir, fmt.Sprintf("%s-%02d-%s.png", unsafeName.ReplaceAllString(b.t.Name(), "_"), n, unsafeName.ReplaceAllString(name, "_")))
	if err := os.WriteFile(file, buf, 0o644); err != nil {
		b.t.Fatalf("peer: artifacts: %v", err)
	}
	b.t.Logf("screenshot %s: %s", name, file)
	return file
}

// Location returns the URL of the current page.
func (b *Browser) Location() string {
	b.t.Helper()
	return read(b, "location", chromedp.Location())
}

// Text returns the visible text of the page's body.
func (b *Browser) Text() string {
	b.t.Helper()
	return read(b, "page text", chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
}
