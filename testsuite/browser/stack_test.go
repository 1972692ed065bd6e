package browser

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/justiceconnect/justiceconnect/broker"
	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/providers"
	"github.com/justiceconnect/justiceconnect/providers/ldap"
	"github.com/justiceconnect/justiceconnect/providers/oidc"
	"github.com/justiceconnect/justiceconnect/providers/saml"
	"github.com/justiceconnect/justiceconnect/providers/static"
	x509prov "github.com/justiceconnect/justiceconnect/providers/x509"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// What the pages say (broker/web/i18n.go, French).
const (
	labelAnnuaire = "Annuaire du ministère"
	labelDev      = "Comptes de test"
	chooserTitle  = "Choisissez comment vous identifier"
	loginTitle    = "Se connecter"
	consentTitle  = "Partage de vos informations"
	logoutConfirm = "Voulez-vous vous déconnecter"
	loggedOut     = "Vous êtes déconnecté"
)

// The clerk of the throwaway directory (peer.DefaultLDAPUsers).
const (
	clerkUID      = "pmartin"
	clerkPassword = "Motdepasse-greffier-2"
	clerkCourt    = "TJ69383" // TJ-LYON, mapped
)

// Clients of the broker.
const (
	rpAID      = "ministere-a"
	rpASecret  = "rp-a-secret-0123456789abcdef"
	apacheID   = "plateforme-b"
	apacheSec  = "rp-b-secret-0123456789abcdef"
	scopesWant = "openid profile email profession jurisdictions justice_roles"
	// bailiffsOnlyID is client D, open to bailiffs and judges only (population
	// policy): a clerk is refused there. Its redirect URI is A's.
	bailiffsOnlyID = "plateforme-huissiers"
)

// stack is a broker over HTTPS with two login choices (the agents' LDAP directory,
// development accounts), relying party A (Go) and B (Apache mod_auth_openidc),
// and a Chromium that trusts the broker's certificate.
type stack struct {
	t       *testing.T
	issuer  string
	broker  *broker.Broker
	slapd   *peer.Slapd
	a       *goRP
	b       *peer.ApacheRP
	browser *peer.Browser
	// ssp (the bar's SAML IdP) and cj (the bailiffs' OIDC IdP) run with
	// stackOptions.upstreams only.
	ssp *peer.SAMLIdP
	cj  *peer.BailiffsIdP
	// cjSkew moves the cj provider's clock forward (past its discovery cache).
	cjSkew atomic.Int64
	// card is the card origin, with stackOptions.card only.
	card *httptest.Server
	// brokerPEM is a file with the broker's TLS certificate, for peers that
	// must trust it.
	brokerPEM string
}

type stackOptions struct {
	// apacheKind is the kind of client B is (first_party, or partner: consent).
	apacheKind string
	// upstreams adds the bar's SimpleSAMLphp (provider barreau) and the bailiffs'
	// oidc-provider (provider cj), and a client C allowed the cj provider only.
	upstreams bool
	// brokerConfig is appended to the broker's configuration (top-level keys).
	brokerConfig string
	// card adds the agent card provider (carte, x509 over the directory) and the
	// broker's card origin, a TLS listener asking for a client certificate.
	card bool
}

// Upstream providers of stackOptions.upstreams, and client C.
const (
	labelBarreau = "Avocats du barreau"
	labelCJ      = "Commissaires de justice"
	cjOnlyID     = "plateforme-cj"
	samlEntityID = "https://justiceconnect.test/saml/barreau"
)

func startStack(t *testing.T, opts stackOptions) *stack {
	t.Helper()
	if opts.apacheKind == "" {
		opts.apacheKind = "first_party"
	}
	s := &stack{t: t}
	s.slapd = peer.StartSlapd(t, peer.SlapdOptions{})
	dir := t.TempDir()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.issuer = srv.URL
	s.a = newGoRP(t)
	s.b = peer.NewApacheRP(t)
	if opts.upstreams {
		s.startUpstreams(t, dir, srv.Certificate())
	}

	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	devHash, err := bcrypt.GenerateFromPassword([]byte("dev-pass-0123"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	groups := s.slapd.GroupsDN
	yaml := fmt.Sprintf(`issuer: %q
mode: development
store: {driver: sqlite, sqlite_path: %q}
keys: {kek: {file: %q}}
providers:
  - id: annuaire
    type: ldap
    label: %q
    settings:
      urls: [%q]
      ca_file: %q
      bind_dn: %q
      bind_password_file: %q
      base_dn: %q
      disabled_filter: %q
      timeout: 3s
      lookup_attributes: {mail: mail}
    mapping: &agents
      given_name: givenName
      family_name: sn
      email: mail
      professional_id: employeeNumber
      organization: {value: "Ministère de la Justice"}
      profession: {attribute: employeeType}
      courts: {attribute: departmentNumber, values: {TJ-PARIS: TJ75101, TJ-LYON: %s}}
      roles:
        - {attribute: memberOf, equals: %q, role: juge, scope: court}
        - {attribute: memberOf, equals: %q, role: greffier, scope: court}
  - id: dev
    type: static
    label: %q
    max_acr: eidas1
    settings:
      users:
        - {username: "dev.user", password_hash: %q, attributes: {givenName: [Dev], sn: [User], employeeType: [magistrat]}}
    mapping:
      given_name: givenName
      family_name: sn
      profession: {attribute: employeeType}
clients:
  - client_id: %s
    name: "Application du ministère (A)"
    kind: first_party
    secret: {file: %q}
    redirect_uris: [%q]
    post_logout_redirect_uris: [%q]
    grant_types: [authorization_code]
    scopes: [openid, profile, email, profession, jurisdictions, justice_roles]
    subject_type: public
  - client_id: %s
    name: "Plateforme partenaire (B)"
    organization: "Médiation Exemple"
    kind: %s
    secret: {file: %q}
    redirect_uris: [%q]
    post_logout_redirect_uris: [%q]
    backchannel_logout_uri: %q
    grant_types: [authorization_code]
    scopes: [openid, profile, email, profession, jurisdictions, justice_roles]
    subject_type: public
  - client_id: %s
    name: "Plateforme des commissaires de justice (D)"
    kind: first_party
    secret: {file: %q}
    redirect_uris: [%q]
    grant_types: [authorization_code]
    scopes: [openid, profile, profession]
    allowed_professions: [commissaire_de_justice, magistrat]
%s%s`, s.issuer, filepath.Join(dir, "broker.db"), write("kek", base64.StdEncoding.EncodeToString(kek)+"\n"),
		labelAnnuaire, s.slapd.LDAPSURL, s.slapd.CAFile, s.slapd.ServiceDN, s.slapd.ServicePasswordFile, s.slapd.PeopleDN,
		peer.SlapdDisabledFilter, clerkCourt, "cn=magistrats,"+groups, "cn=greffiers,"+groups,
		labelDev, devHash,
		rpAID, write("rp-a", rpASecret+"\n"), s.a.URL+"/callback", s.a.URL+"/logged-out",
		apacheID, opts.apacheKind, write("rp-b", apacheSec+"\n"), s.b.RedirectURI, s.b.PostLogoutRedirectURI, s.b.BackchannelLogoutURI,
		bailiffsOnlyID, write("rp-d", random()+"\n"), s.a.URL+"/callback",
		s.upstreamClients(write), opts.brokerConfig)
	if opts.upstreams {
		yaml = strings.Replace(yaml, "\nclients:\n", "\n"+s.upstreamProviders(write)+"clients:\n", 1)
	}
	var cardListen config.CardListen
	if opts.card {
		var providers string
		cardListen, providers = s.cardSetup(t, dir)
		yaml = strings.Replace(yaml, "\nclients:\n", "\n"+providers+"clients:\n", 1)
		yaml += fmt.Sprintf("card_listen: {address: %q, public_url: %q, tls_cert_file: %q, tls_key_file: %q, client_ca_files: [%q]}\n",
			cardListen.Address, cardListen.PublicURL, cardListen.TLSCertFile, cardListen.TLSKeyFile, cardListen.ClientCAFiles[0])
	}
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("configuration: %v\n%s", err, yaml)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := broker.OpenStore(context.Background(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	var ups []broker.Upstream
	var directory providers.AttributeSource
	for _, p := range cfg.Providers {
		switch p.Type {
		case "ldap":
			var sc ldap.Config
			decode(t, p, &sc)
			impl, err := ldap.New(sc, ldap.Options{Logger: logger.With("provider", p.ID)})
			if err != nil {
				t.Fatalf("ldap provider: %v", err)
			}
			directory = impl
			ups = append(ups, broker.Upstream{Config: p, Impl: impl})
		case "x509":
			var sc x509prov.Config
			decode(t, p, &sc)
			impl, err := x509prov.New(sc, directory, x509prov.Options{Logger: logger.With("provider", p.ID)})
			if err != nil {
				t.Fatalf("card provider: %v", err)
			}
			ups = append(ups, broker.Upstream{Config: p, Impl: impl})
		case "static":
			var sc static.Config
			decode(t, p, &sc)
			impl, err := static.New(sc, time.Now)
			if err != nil {
				t.Fatalf("static provider: %v", err)
			}
			ups = append(ups, broker.Upstream{Config: p, Impl: impl})
		case "saml":
			var sc saml.Config
			decode(t, p, &sc)
			impl, err := saml.New(sc, saml.Options{Logger: logger.With("provider", p.ID), ReplayCache: store})
			if err != nil {
				t.Fatalf("saml provider: %v", err)
			}
			md, err := impl.Metadata()
			if err != nil {
				t.Fatalf("saml metadata: %v", err)
			}
			s.ssp.SetSPMetadata(t, md)
			ups = append(ups, broker.Upstream{Config: p, Impl: impl})
		case "oidc":
			var sc oidc.Config
			decode(t, p, &sc)
			impl, err := oidc.New(sc, oidc.Options{Logger: logger.With("provider", p.ID), Now: s.cjNow})
			if err != nil {
				t.Fatalf("oidc provider: %v", err)
			}
			ups = append(ups, broker.Upstream{Config: p, Impl: impl})
		}
	}
	b, err := broker.New(context.Background(), cfg, broker.Deps{Upstreams: ups, Logger: logger, Now: time.Now, Store: store})
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	t.Cleanup(func() { b.Close() }) // after srv.Close (LIFO)
	srv.Config.Handler = b
	s.broker = b

	s.brokerPEM = write("broker.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	s.a.start(t, s.issuer, srv.Client())
	s.b.Start(t, peer.ApacheRPOptions{
		MetadataURL: s.issuer + "/.well-known/openid-configuration", CAFile: s.brokerPEM,
		ClientID: apacheID, ClientSecret: apacheSec, Scopes: strings.Fields(scopesWant),
	})
	trust := []*x509.Certificate{srv.Certificate()}
	if opts.card {
		tc, err := broker.CardTLSConfig(cardListen)
		if err != nil {
			t.Fatal(err)
		}
		s.card.TLS = tc
		s.card.Config.Handler = b.CardHandler()
		s.card.StartTLS()
		t.Cleanup(s.card.Close)
		trust = append(trust, s.card.Certificate())
	}
	s.browser = peer.StartBrowser(t, peer.BrowserOptions{TrustCertificates: trust})
	return s
}

// Label of the agent card provider (stackOptions.card).
const labelCard = "Carte agent"

// cardSetup makes the card CA (with its CRL served over HTTP), the card origin's
// server certificate and unstarted listener, and returns the card_listen settings
// and the providers entry of the card provider.
func (s *stack) cardSetup(t *testing.T, dir string) (config.CardListen, string) {
	t.Helper()
	ca := peer.NewCA(t, "AC Cartes Agents (test)")
	crl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(ca.CRL(t))
	}))
	t.Cleanup(crl.Close)
	caFile := ca.WriteCert(t, dir, "card-ca")
	certPEM, keyPEM, _, _ := ca.Issue(t, peer.WithCommonName("carte.justiceconnect.test"), peer.WithIPs(net.IPv4(127, 0, 0, 1)), peer.WithServerAuth())
	certFile, keyFile := peer.WritePair(t, dir, "card-origin", certPEM, keyPEM)
	s.card = httptest.NewUnstartedServer(nil)
	addr := s.card.Listener.Addr().String()
	listen := config.CardListen{Address: addr, PublicURL: "https://" + addr,
		TLSCertFile: certFile, TLSKeyFile: keyFile, ClientCAFiles: []string{caFile}}
	return listen, fmt.Sprintf(`  - id: carte
    type: x509
    label: %q
    max_acr: eidas3
    subject_namespace: annuaire
    settings:
      trust_anchors: [%q]
      crl: {urls: [%q], timeout: 2s}
      ocsp: {disabled: true}
      mapping: {rule: email, lookup_key: mail}
      directory: annuaire
    mapping: *agents
`, labelCard, caFile, crl.URL+"/agents.crl")
}

func (s *stack) cjNow() time.Time { return time.Now().Add(time.Duration(s.cjSkew.Load())) }

// startUpstreams starts SimpleSAMLphp (with single logout) and the bailiffs'
// oidc-provider, which knows the broker as its client: callback, post-logout
// return and back-channel logout URI, and trusts the broker's TLS certificate.
func (s *stack) startUpstreams(t *testing.T, dir string, brokerCert *x509.Certificate) {
	t.Helper()
	s.ssp = peer.StartSimpleSAMLphp(t, peer.SAMLIdPOptions{SLO: true})
	ca := filepath.Join(dir, "broker-server.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: brokerCert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cj = peer.StartBailiffsIdP(t, peer.BailiffsIdPOptions{ExtraCAFile: ca, Clients: []peer.BailiffsClient{{
		ClientID:               "justiceconnect",
		ClientSecret:           random(),
		RedirectURIs:           []string{s.issuer + "/login/callback/cj"},
		PostLogoutRedirectURIs: []string{s.issuer + "/session/end/return"},
		Metadata: map[string]any{"backchannel_logout_uri": s.issuer + "/login/backchannel/cj",
			"backchannel_logout_session_required": true},
	}}})
}

// upstreamProviders is the providers list entries of barreau and cj.
func (s *stack) upstreamProviders(write func(name, content string) string) string {
	md := filepath.Join(s.t.TempDir(), "idp-metadata.xml")
	s.ssp.WriteMetadataFile(s.t, md)
	return fmt.Sprintf(`  - id: barreau
    type: saml
    label: %q
    settings:
      entity_id: %q
      acs_url: %q
      slo_url: %q
      idp_metadata_file: %q
%s  - id: cj
    type: oidc
    label: %q
    settings:
      issuer: %q
      client_id: %q
      client_secret_file: %q
      scopes: [openid, profile, email, profession]
      insecure_allow_http: true
      timeout: 3s
%s`, labelBarreau, samlEntityID, s.issuer+"/login/callback/barreau", s.issuer+"/session/end/return", md, peer.BarreauMapping,
		labelCJ, s.cj.Issuer, s.cj.Client().ClientID, write("cj-secret", s.cj.Client().ClientSecret+"\n"), peer.BailiffsMapping)
}

// upstreamClients is client C, a bailiffs' platform that may use the cj
// provider only (its redirect URI is A's: C's logins are never completed).
func (s *stack) upstreamClients(write func(name, content string) string) string {
	if s.cj == nil {
		return ""
	}
	return fmt.Sprintf(`  - client_id: %s
    name: "Plateforme des commissaires de justice (C)"
    kind: first_party
    secret: {file: %q}
    redirect_uris: [%q]
    grant_types: [authorization_code]
    scopes: [openid, profile, profession]
    allowed_providers: [cj]
`, cjOnlyID, write("rp-c", random()+"\n"), s.a.URL+"/callback")
}

func decode(t *testing.T, p config.ProviderConfig, into any) {
	t.Helper()
	if err := config.DecodeSettings(p.Settings, into); err != nil {
		t.Fatalf("provider %s settings: %v", p.ID, err)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
