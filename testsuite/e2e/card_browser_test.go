package e2e

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/justiceconnect/justiceconnect/testsuite/harness"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// cardAppID is an application requiring eidas3 whose redirect URI is on loopback,
// so that a real browser can arrive there (RFC 8252 §7.3: any port).
const cardAppID = "application-penale"

// Issue #4: a magistrate presents her agent card, in a real Chromium, to an
// application that requires eidas3. The card's certificate and key sit in
// Chromium's NSS database (as a card's PKCS#11 module would expose them), and a
// managed policy lets headless Chromium present it without a dialog.
func TestAgentCardInChromium(t *testing.T) {
	codes := make(chan url.Values, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case codes <- r.URL.Query():
		default:
		}
		fmt.Fprintln(w, "application pénale")
	}))
	t.Cleanup(app.Close)

	c := startCardEnv(t, func(s *upstreamSetup) {
		s.clients = func(string) string {
			return fmt.Sprintf(`  - client_id: %s
    name: "Application pénale"
    kind: first_party
    secret: {file: %q}
    redirect_uris: ["http://127.0.0.1/callback"]
    scopes: [openid, profile, profession, justice_roles]
`, cardAppID, writeSecret(t, harness.MinistrySecret))
		}
	})
	judge := c.slapd.User(t, "jdupont")
	certPEM, keyPEM, _, _ := c.ca.Issue(t, peer.WithCommonName(judge.Mail), peer.WithEmails(judge.Mail), peer.WithClientAuth())
	t.Setenv("HOME", peer.CardHome(t, certPEM, keyPEM))
	peer.AutoSelectClientCertificate(t, c.card.URL, c.ca.Cert.Subject.CommonName)

	cardServer, err := x509.ParseCertificate(c.card.TLS.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	br := peer.StartBrowser(t, peer.BrowserOptions{TrustCertificates: []*x509.Certificate{c.Server.Certificate(), cardServer}})

	p := harness.NewPKCE()
	redirect := app.URL + "/callback"
	auth := c.Issuer + "/authorize?" + url.Values{"client_id": {cardAppID}, "response_type": {"code"}, "scope": {"openid profession justice_roles"},
		"redirect_uri": {redirect}, "state": {"etat-carte-0123456789"}, "nonce": {"nonce-carte-0123456789"}, "acr_values": {"eidas3"},
		"code_challenge": {p.Challenge}, "code_challenge_method": {"S256"}}.Encode()
	if err := chromedp.Do(br.Ctx, chromedp.Navigate(auth)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	var q url.Values
	select {
	case q = <-codes:
	case <-time.After(30 * time.Second):
		br.Screenshot("card-login-stuck")
		t.Fatalf("the browser never reached the application; it is at %s: %.600s", br.Location(), br.Text())
	}
	br.Screenshot("card-login-done")
	if q.Get("state") != "etat-carte-0123456789" || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {redirect}, "code_verifier": {p.Verifier}}
	tok := c.Token(t, cardAppID, harness.MinistrySecret, form)
	if tok.Status != http.StatusOK {
		t.Fatalf("token: %d %s", tok.Status, tok.Error)
	}
	idt := idTokenClaims(t, tok.IDToken)
	amr, _ := idt["amr"].([]any)
	if idt["acr"] != "eidas3" || !slices.Contains(amr, any("sc")) {
		t.Errorf("ID token acr %v amr %v, want eidas3 with sc", idt["acr"], idt["amr"])
	}
	var at map[string]any
	parts := strings.Split(tok.AccessToken, ".")
	if raw, err := base64URL(parts[1]); err == nil {
		_ = json.Unmarshal(raw, &at)
	}
	if at["profession"] != "magistrat" {
		t.Errorf("access token profession %v", at["profession"])
	}
}

// writeSecret writes a client secret to a file of the test.
func writeSecret(t testing.TB, secret string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func base64URL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
