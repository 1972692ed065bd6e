package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker"
	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/providers"
	x509prov "github.com/justiceconnect/justiceconnect/providers/x509"
	"github.com/justiceconnect/justiceconnect/testsuite/harness"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// cardEnv is the broker of startUpstreams with an agent card provider ("carte",
// looking card holders up in the real slapd by e-mail) and its card origin: a
// second TLS listener built with broker.CardTLSConfig, as `serve` does.
type cardEnv struct {
	*upstreams
	ca      *peer.CA
	card    *httptest.Server
	crlURL  string
	mu      sync.Mutex
	revoked []*x509.Certificate
}

func startCardEnv(t testing.TB, more ...upstreamOption) *cardEnv {
	t.Helper()
	c := &cardEnv{ca: peer.NewCA(t, "AC Cartes Agents (test)")}
	crl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		revoked := slices.Clone(c.revoked)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(c.ca.CRL(t, revoked...))
	}))
	t.Cleanup(crl.Close)
	c.crlURL = crl.URL + "/agents.crl"

	dir := t.TempDir()
	caFile := c.ca.WriteCert(t, dir, "card-ca")
	certPEM, keyPEM, _, _ := c.ca.Issue(t, peer.WithCommonName("carte.justiceconnect.test"), peer.WithServerAuth())
	certFile, keyFile := peer.WritePair(t, dir, "card-origin", certPEM, keyPEM)
	c.card = httptest.NewUnstartedServer(nil)
	cardURL := "https://" + c.card.Listener.Addr().String()
	listen := config.CardListen{Address: c.card.Listener.Addr().String(), PublicURL: cardURL,
		TLSCertFile: certFile, TLSKeyFile: keyFile, ClientCAFiles: []string{caFile}}

	c.upstreams = startUpstreams(t, append([]upstreamOption{
		func(s *upstreamSetup) {
			s.config = func(string) string {
				// Every test login comes from 127.0.0.1, and the benchmark makes thousands.
				return fmt.Sprintf("card_listen: {address: %q, public_url: %q, tls_cert_file: %q, tls_key_file: %q, client_ca_files: [%q]}\n",
					listen.Address, listen.PublicURL, certFile, keyFile, caFile) +
					"rate_limits: {login_per_address: {disabled: true}}\n"
			}
			s.providers = func(string) string {
				return fmt.Sprintf(`  - id: carte
    type: x509
    label: "Carte agent"
    max_acr: eidas3
    subject_namespace: annuaire
    settings:
      trust_anchors: [%q]
      crl: {urls: [%q], timeout: 2s}
      ocsp: {disabled: true}
      mapping: {rule: email, lookup_key: mail}
      directory: annuaire
    mapping: *agents
`, caFile, c.crlURL)
			}
			s.x509 = func(p config.ProviderConfig, dir providers.AttributeSource) providers.Provider {
				var sc x509prov.Config
				decode(t, p, &sc)
				quiet := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
				impl, err := x509prov.New(sc, dir, x509prov.Options{Logger: quiet})
				if err != nil {
					t.Fatalf("card provider: %v", err)
				}
				return impl
			}
		}}, more...)...)
	tc, err := broker.CardTLSConfig(listen)
	if err != nil {
		t.Fatal(err)
	}
	c.card.TLS = tc
	c.card.Config.Handler = c.Broker.CardHandler()
	c.card.StartTLS()
	t.Cleanup(c.card.Close)
	return c
}

// issueCard makes an agent card certificate for mail, with the options' changes.
func (c *cardEnv) issueCard(t testing.TB, mail string, opts ...peer.CertOption) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	return issueFrom(t, c.ca, mail, opts...)
}

func issueFrom(t testing.TB, ca *peer.CA, mail string, opts ...peer.CertOption) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	base := []peer.CertOption{peer.WithCommonName(mail), peer.WithEmails(mail), peer.WithClientAuth()}
	certPEM, keyPEM, cert, _ := ca.Issue(t, append(base, opts...)...)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, cert
}

// cardBrowser is a browser that trusts both origins, keeps TLS sessions (so that a
// resumed handshake would be seen) and presents card when it is not nil.
func (c *cardEnv) cardBrowser(card *tls.Certificate) *http.Client {
	b := c.Browser()
	tr := b.Transport.(*http.Transport).Clone()
	roots := tr.TLSClientConfig.RootCAs.Clone()
	roots.AddCert(c.ca.Cert)
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, ClientSessionCache: tls.NewLRUClientSessionCache(16)}
	if card != nil {
		// Present the card whatever CAs the server names, as a forger would.
		tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return card, nil }
	}
	b.Transport = tr
	return b
}

// toCard starts an authorization request that must end at the card origin.
func (c *cardEnv) toCard(t testing.TB, f *flow, extra url.Values) *url.URL {
	t.Helper()
	p := f.start(t, extra)
	if p.Location == nil || "https://"+p.Location.Host != c.card.URL || p.Location.Path != "/card/login" {
		t.Fatalf("the broker did not send the browser to the card origin %s: %d %v %.800s", c.card.URL, p.Status, p.Location, p.Body)
	}
	return p.Location
}

// atCard visits the card origin and returns its answer.
func atCard(t testing.TB, b *http.Client, target *url.URL) *page {
	t.Helper()
	return last(walk(t, b, http.MethodGet, target.String(), nil))
}

// cardLogin is a whole card login for client; it returns the userinfo claims and
// the ID token's.
func (c *cardEnv) cardLogin(t testing.TB, b *http.Client, client string, extra url.Values) (map[string]any, map[string]any) {
	t.Helper()
	f := c.newFlow(b, client)
	back := atCard(t, b, c.toCard(t, f, extra))
	if back.Location == nil || !strings.HasPrefix(back.Location.String(), c.Issuer+"/login/card/done?") {
		t.Fatalf("the card origin did not send the browser back: %d %v %.1500s", back.Status, back.Location, back.Body)
	}
	claims := f.redeem(t, f.finish(t, f.broker(t, http.MethodGet, back.Location.String(), nil)))
	return claims, idTokenClaims(t, f.Tokens.IDToken)
}

var smartCardLogon = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 20, 2, 2}

func TestAgentCard(t *testing.T) {
	c := startCardEnv(t)
	judge := c.slapd.User(t, "jdupont")
	eidas3 := url.Values{"acr_values": {"eidas3"}}
	// Revoked before the provider first fetches the CRL (it caches it until its
	// refresh interval, like any relying party).
	revokedCard, revokedCert := c.issueCard(t, judge.Mail)
	c.mu.Lock()
	c.revoked = append(c.revoked, revokedCert)
	c.mu.Unlock()

	t.Run("valid card, same sub as the password", func(t *testing.T) {
		card, _ := c.issueCard(t, judge.Mail)
		claims, idt := c.cardLogin(t, c.cardBrowser(&card), harness.MinistryID, eidas3)
		if idt["acr"] != "eidas3" {
			t.Errorf("acr = %v, want eidas3", idt["acr"])
		}
		amr, _ := idt["amr"].([]any)
		if !slices.Contains(amr, any("sc")) || !slices.Contains(amr, any("hwk")) {
			t.Errorf("amr = %v, want sc and hwk", idt["amr"])
		}
		wantClaim(t, claims, "profession", "magistrat")
		wantClaim(t, claims, "justice_roles", []string{"juge@TJ75101", "juge@CA-PARIS"})
		byPassword, _ := c.loginLDAP(t, c.Browser(), harness.MinistryID, "jdupont")
		if claims["sub"] != byPassword["sub"] {
			t.Errorf("sub by card %v, by password %v: one person, one sub", claims["sub"], byPassword["sub"])
		}
	})

	t.Run("smart card logon EKU alone is accepted", func(t *testing.T) {
		card, _ := c.issueCard(t, judge.Mail, peer.WithExtKeyUsage(), peer.WithUnknownExtKeyUsage(smartCardLogon))
		if _, idt := c.cardLogin(t, c.cardBrowser(&card), harness.MinistryID, eidas3); idt["acr"] != "eidas3" {
			t.Errorf("acr = %v", idt["acr"])
		}
	})

	t.Run("step-up from a password session", func(t *testing.T) {
		card, _ := c.issueCard(t, judge.Mail)
		b := c.cardBrowser(&card)
		if _, f := c.loginLDAP(t, b, harness.MinistryID, "jdupont"); idTokenClaims(t, f.Tokens.IDToken)["acr"] != "eidas1" {
			t.Fatal("the password login is not eidas1")
		}
		// The SSO session is eidas1: an eidas3 request must go to the card.
		_, idt := c.cardLogin(t, b, harness.MinistryID, eidas3)
		if idt["acr"] != "eidas3" {
			t.Errorf("after step-up acr = %v", idt["acr"])
		}
		// And the stepped-up session now satisfies eidas3 without a new login.
		f := c.newFlow(b, harness.MinistryID)
		f.redeem(t, f.finish(t, f.start(t, eidas3)))
	})

	otherCA := peer.NewCA(t, "AC inconnue")
	now := time.Now()
	refusals := []struct {
		name, text string
		status     int
		card       func() tls.Certificate
	}{
		{"I4 expired", "a expiré", http.StatusForbidden, func() tls.Certificate {
			k, _ := c.issueCard(t, judge.Mail, peer.WithValidity(now.Add(-48*time.Hour), now.Add(-time.Hour)))
			return k
		}},
		{"I4 not yet valid", "pas encore valide", http.StatusForbidden, func() tls.Certificate {
			k, _ := c.issueCard(t, judge.Mail, peer.WithValidity(now.Add(time.Hour), now.Add(48*time.Hour)))
			return k
		}},
		{"I1 wrong CA", "autorité reconnue", http.StatusForbidden, func() tls.Certificate {
			k, _ := issueFrom(t, otherCA, judge.Mail)
			return k
		}},
		{"I3 no client-auth EKU", "ne permet pas de s", http.StatusForbidden, func() tls.Certificate {
			k, _ := c.issueCard(t, judge.Mail, peer.WithExtKeyUsage(x509.ExtKeyUsageEmailProtection))
			return k
		}},
		{"I2 revoked by CRL", "révoqué", http.StatusForbidden, func() tls.Certificate { return revokedCard }},
		{"card with no directory entry", "ne correspond à aucun agent", http.StatusForbidden, func() tls.Certificate {
			k, _ := c.issueCard(t, "personne.inconnue@justice.gouv.fr")
			return k
		}},
		{"I6 CN naming an agent maps nothing", "ne correspond à aucun agent", http.StatusForbidden, func() tls.Certificate {
			k, _ := c.issueCard(t, "autre.agent@justice.gouv.fr", peer.WithCommonName(judge.Mail+" jdupont"))
			return k
		}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			card := tc.card()
			b := c.cardBrowser(&card)
			f := c.newFlow(b, harness.MinistryID)
			p := atCard(t, b, c.toCard(t, f, eidas3))
			if p.Status != tc.status || p.Location != nil || !strings.Contains(p.Body, tc.text) {
				t.Fatalf("want %d with %q, got %d %v: %.1500s", tc.status, tc.text, p.Status, p.Location, p.Body)
			}
			if !strings.Contains(p.Body, c.Issuer+"/login?flow=") {
				t.Errorf("the refusal page offers no way back to the chooser")
			}
		})
	}

	t.Run("I1 no certificate", func(t *testing.T) {
		b := c.cardBrowser(nil)
		p := atCard(t, b, c.toCard(t, c.newFlow(b, harness.MinistryID), eidas3))
		if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, "Aucune carte agent") {
			t.Fatalf("%d %.1000s", p.Status, p.Body)
		}
	})

	t.Run("I5 forged Client-Cert header", func(t *testing.T) {
		_, cert := c.issueCard(t, judge.Mail)
		b := c.cardBrowser(nil)
		target := c.toCard(t, c.newFlow(b, harness.MinistryID), eidas3)
		req, _ := http.NewRequest(http.MethodGet, target.String(), nil)
		req.Header.Set("Client-Cert", ":"+base64Std(cert.Raw)+":")
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("a Client-Cert header from an untrusted address: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("the card link works once and only for the browser that started", func(t *testing.T) {
		card, _ := c.issueCard(t, judge.Mail)
		starter := c.cardBrowser(&card)
		f := c.newFlow(starter, harness.MinistryID)
		link := c.toCard(t, f, eidas3)
		// Someone else presents their card on the link and comes back: refused,
		// they lack the starter's binding cookie.
		other := c.cardBrowser(&card)
		back := atCard(t, other, link)
		if back.Location == nil {
			t.Fatalf("card step: %d %.800s", back.Status, back.Body)
		}
		if p := last(walk(t, other, http.MethodGet, back.Location.String(), nil)); p.Status != http.StatusBadRequest {
			t.Errorf("another browser finished the login: %d %v", p.Status, p.Location)
		}
		// The link is spent.
		if again := atCard(t, starter, link); again.Status != http.StatusBadRequest {
			t.Errorf("the card link was accepted twice: %d %v", again.Status, again.Location)
		}
	})

	t.Run("every card login is a fresh handshake", func(t *testing.T) {
		card, _ := c.issueCard(t, judge.Mail)
		cache := tls.NewLRUClientSessionCache(4)
		roots := x509.NewCertPool()
		roots.AddCert(c.ca.Cert)
		for i := range 2 {
			conn, err := tls.Dial("tcp", c.card.Listener.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1",
				Certificates: []tls.Certificate{card}, ClientSessionCache: cache})
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "GET /card/login HTTP/1.1\r\nHost: %s\r\n\r\n", c.card.Listener.Addr())
			buf := make([]byte, 4096)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, _ := conn.Read(buf)
			if i == 1 && conn.ConnectionState().DidResume {
				t.Errorf("the second handshake resumed a TLS session: the card's key was not used")
			}
			if !strings.Contains(strings.ToLower(string(buf[:n])), "connection: close") {
				t.Errorf("the card origin keeps the connection open: %.300s", buf[:n])
			}
			conn.Close()
		}
	})
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
