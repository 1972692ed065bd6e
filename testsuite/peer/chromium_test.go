package peer

import (
	"crypto/tls"
	"crypto/x509"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowser: Chromium starts headless with a fresh profile, loads a page over
// TLS from a server whose certificate only its public key pin makes acceptable,
// refuses another untrusted server, and saves a decodable screenshot.
func TestBrowser(t *testing.T) {
	page := func(text string) *httptest.Server {
		return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(`<!DOCTYPE html><html lang="fr"><head><title>t</title></head><body><h1 style="color:#000091">` + text + `</h1></body></html>`))
		}))
	}
	trusted := page("Bonjour, Chromium")
	defer trusted.Close()
	other := httptest.NewUnstartedServer(trusted.Config.Handler)
	// A second server with its own key: Go's httptest shares one certificate, so
	// this one gets a fresh certificate from a throwaway CA.
	ca := NewCA(t, "other CA")
	certPEM, keyPEM, _, _ := ca.Issue(t, WithServerAuth())
	otherCert, err := tlsPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	other.TLS = otherCert
	other.StartTLS()
	defer other.Close()

	t.Setenv(ArtifactsEnv, t.TempDir())
	b := StartBrowser(t, BrowserOptions{TrustCertificates: []*x509.Certificate{trusted.Certificate()}})
	if err := chromedp.Do(b.Ctx, chromedp.Navigate(trusted.URL)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	if got := b.Text(); !strings.Contains(got, "Bonjour, Chromium") {
		t.Fatalf("page text %q", got)
	}
	file := b.Screenshot("hello")
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// The pin is for the first key only: the other server's page must not load.
	_ = chromedp.Do(b.Ctx, chromedp.Navigate(other.URL))
	if got := b.Text(); strings.Contains(got, "Bonjour, Chromium") {
		t.Fatalf("an untrusted certificate was accepted: %q at %s", got, b.Location())
	}
}

func tlsPair(certPEM, keyPEM []byte) (*tls.Config, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{c}}, nil
}
