package faults

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker"
	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/broker/storage"
	"github.com/justiceconnect/justiceconnect/providers/ldap"
	"github.com/justiceconnect/justiceconnect/providers/oidc"
	"github.com/justiceconnect/justiceconnect/providers/saml"
	"github.com/justiceconnect/justiceconnect/testsuite/harness"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// French texts the tests look for.
const (
	unavailable   = "momentanément indisponible"
	labelAnnuaire = "Annuaire du ministère"
	labelBarreau  = "Avocats du barreau"
	labelCJ       = "Commissaires de justice"
	scopes        = "openid profile email idp_id profession"
)

// stackOptions chooses the peers of a stack and how the broker reaches them.
type stackOptions struct {
	ldap, saml, oidc bool
	// ldapTimeout is the directory provider's timeout (default 2s).
	ldapTimeout string
	// samlMetadataURL, when set, gives the SAML provider idp_metadata_url (it gets
	// the IdP's real metadata URL) instead of a metadata file, refreshed every
	// samlRefresh.
	samlMetadataURL func(real string) string
	samlRefresh     string
	// oidcTransport, when set, wraps the transport of the OIDC provider's client.
	oidcTransport func(http.RoundTripper) http.RoundTripper
}

// stack is a broker over HTTPS with some of its real upstream peers.
type stack struct {
	*harness.Env
	store storage.Store
	slapd *peer.Slapd
	ssp   *peer.SAMLIdP
	cj    *peer.BailiffsIdP

	mu       sync.Mutex
	browsers []*http.Client
}

// browser is a fresh cookie-jar browser; closeIdle closes the idle connections of
// every browser made so far (before counting goroutines).
func (s *stack) browser() *http.Client {
	b := s.Browser()
	s.mu.Lock()
	s.browsers = append(s.browsers, b)
	s.mu.Unlock()
	return b
}

func (s *stack) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.browsers {
		b.CloseIdleConnections()
	}
	s.HTTPClient().CloseIdleConnections()
}

func startStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	dir := t.TempDir()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	issuer := srv.URL
	s := &stack{}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	var provs strings.Builder
	if o.ldap {
		s.slapd = peer.StartSlapd(t, peer.SlapdOptions{})
		timeout := o.ldapTimeout
		if timeout == "" {
			timeout = "2s"
		}
		fmt.Fprintf(&provs, `  - id: annuaire
    type: ldap
    label: %q
    settings:
      urls: [%q]
      ca_file: %q
      bind_dn: %q
      bind_password_file: %q
      base_dn: %q
      disabled_filter: %q
      timeout: %s
    mapping:
      given_name: givenName
      family_name: sn
      email: mail
      professional_id: employeeNumber
      profession: {attribute: employeeType}
`, labelAnnuaire, s.slapd.LDAPSURL, s.slapd.CAFile, s.slapd.ServiceDN, s.slapd.ServicePasswordFile,
			s.slapd.PeopleDN, peer.SlapdDisabledFilter, timeout)
	}
	if o.saml {
		s.ssp = peer.StartSimpleSAMLphp(t, peer.SAMLIdPOptions{})
		source := ""
		if o.samlMetadataURL != nil {
			refresh := o.samlRefresh
			if refresh == "" {
				refresh = "1h"
			}
			source = fmt.Sprintf("idp_metadata_url: %q\n      metadata_refresh: %s", o.samlMetadataURL(s.ssp.MetadataURL), refresh)
		} else {
			md := filepath.Join(dir, "idp-metadata.xml")
			s.ssp.WriteMetadataFile(t, md)
			source = fmt.Sprintf("idp_metadata_file: %q", md)
		}
		fmt.Fprintf(&provs, `  - id: barreau
    type: saml
    label: %q
    settings:
      entity_id: "https://justiceconnect.test/saml/barreau"
      acs_url: %q
      %s
    mapping:
      given_name: givenName
      family_name: sn
      email: mail
      professional_id: numeroAvocat
      profession: {value: avocat}
`, labelBarreau, issuer+"/login/callback/barreau", source)
	}
	if o.oidc {
		s.cj = peer.StartBailiffsIdP(t, peer.BailiffsIdPOptions{Clients: []peer.BailiffsClient{{
			ClientID: "justiceconnect", ClientSecret: randomString(32),
			RedirectURIs: []string{issuer + "/login/callback/cj"},
		}}})
		fmt.Fprintf(&provs, `  - id: cj
    type: oidc
    label: %q
    settings:
      issuer: %q
      client_id: %q
      client_secret_file: %q
      scopes: [openid, profile, email, profession]
      insecure_allow_http: true
      timeout: 3s
    mapping:
      given_name: given_name
      family_name: family_name
      email: email
      professional_id: professional_id
      profession: {attribute: profession}
`, labelCJ, s.cj.Issuer, s.cj.Client().ClientID, write("cj-secret", s.cj.Client().ClientSecret+"\n"))
	}
	yaml := fmt.Sprintf(`issuer: %q
mode: development
store: {driver: sqlite, sqlite_path: %q}
keys: {kek: {file: %q}}
rate_limits: {token_per_client: {disabled: true}, login_per_address: {disabled: true}, login_failures_per_account: {disabled: true}}
providers:
%sclients:
  - client_id: %s
    name: "Application du ministère"
    kind: first_party
    secret: {file: %q}
    redirect_uris: [%q]
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, profile, email, idp_id, profession]
`, issuer, filepath.Join(dir, "broker.db"), write("kek", base64.StdEncoding.EncodeToString(kek)+"\n"),
		provs.String(), harness.MinistryID, write("ministry", harness.MinistrySecret+"\n"), harness.RedirectURI)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("configuration: %v\n%s", err, yaml)
	}
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := broker.OpenStore(context.Background(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	s.store = store
	var ups []broker.Upstream
	for _, p := range cfg.Providers {
		up := broker.Upstream{Config: p}
		plog := logger.With("provider", p.ID)
		switch p.Type {
		case "ldap":
			var sc ldap.Config
			decode(t, p, &sc)
			impl, err := ldap.New(sc, ldap.Options{Logger: plog})
			if err != nil {
				t.Fatalf("ldap provider: %v", err)
			}
			up.Impl = impl
		case "saml":
			var sc saml.Config
			decode(t, p, &sc)
			impl, err := saml.New(sc, saml.Options{Logger: plog, ReplayCache: store})
			if err != nil {
				t.Fatalf("saml provider: %v", err)
			}
			md, err := impl.Metadata()
			if err != nil {
				t.Fatalf("saml metadata: %v", err)
			}
			s.ssp.SetSPMetadata(t, md)
			up.Impl = impl
		case "oidc":
			var sc oidc.Config
			decode(t, p, &sc)
			opts := oidc.Options{Logger: plog}
			if o.oidcTransport != nil {
				opts.HTTPClient = &http.Client{Transport: o.oidcTransport(http.DefaultTransport.(*http.Transport).Clone())}
			}
			impl, err := oidc.New(sc, opts)
			if err != nil {
				t.Fatalf("oidc provider: %v", err)
			}
			up.Impl = impl
		}
		ups = append(ups, up)
	}
	b, err := broker.New(context.Background(), cfg, broker.Deps{Upstreams: ups, Logger: logger, Now: time.Now, Store: store})
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	t.Cleanup(func() { b.Close() }) // after srv.Close (LIFO)
	srv.Config.Handler = b
	s.Env = &harness.Env{T: t, Server: srv, Broker: b, Issuer: issuer, Dir: dir}
	return s
}

func decode(t testing.TB, p config.ProviderConfig, into any) {
	t.Helper()
	if err := config.DecodeSettings(p.Settings, into); err != nil {
		t.Fatalf("provider %s settings: %v", p.ID, err)
	}
}

// page is one response seen by the browser.
type page struct {
	URL      *url.URL
	Status   int
	Body     string
	Location *url.URL
	Header   http.Header
	Elapsed  time.Duration
}

// send sends one request without following redirects; it returns the transport
// error instead of failing, for requests sent from several goroutines.
func send(b *http.Client, method, target string, form url.Values) (*page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	start := time.Now()
	resp, err := b.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 2<<20))
	p := &page{URL: req.URL, Status: resp.StatusCode, Body: string(raw), Header: resp.Header, Elapsed: time.Since(start)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if p.Location, err = resp.Location(); err != nil {
			return nil, fmt.Errorf("%s %s: redirect without Location: %w", method, target, err)
		}
	}
	return p, nil
}

func do(t testing.TB, b *http.Client, method, target string, form url.Values) *page {
	t.Helper()
	p, err := send(b, method, target, form)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// walk follows redirects while they stay on the same host and returns the last
// response (a page, or a redirect elsewhere).
func walk(t testing.TB, b *http.Client, method, target string, form url.Values) *page {
	t.Helper()
	for range 12 {
		p := do(t, b, method, target, form)
		if p.Location == nil || p.Location.Host != p.URL.Host {
			return p
		}
		method, target, form = http.MethodGet, p.Location.String(), nil
	}
	t.Fatalf("too many redirects from %s", target)
	return nil
}

type form struct {
	Action string
	Fields url.Values
}

var (
	formRe      = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRe     = regexp.MustCompile(`<input[^>]*>`)
	nameRe      = regexp.MustCompile(`name="([^"]*)"`)
	valueRe     = regexp.MustCompile(`value="([^"]*)"`)
	hiddenRe    = regexp.MustCompile(`type="hidden"`)
	incidentRe  = regexp.MustCompile(`class="jc-incident"[^>]*>([^<]+)<`)
	refRe       = regexp.MustCompile(`class="jc-ref">[^<]*<span[^>]*>([^<]+)<`)
	passwordRe  = regexp.MustCompile(`name="password"`)
	chooserPath = "/login"
)

func forms(body string) []form {
	var out []form
	for _, m := range formRe.FindAllStringSubmatch(body, -1) {
		f := form{Action: html.UnescapeString(m[1]), Fields: url.Values{}}
		for _, in := range inputRe.FindAllString(m[2], -1) {
			n, v := nameRe.FindStringSubmatch(in), valueRe.FindStringSubmatch(in)
			if n != nil && v != nil && hiddenRe.MatchString(in) {
				f.Fields.Set(html.UnescapeString(n[1]), html.UnescapeString(v[1]))
			}
		}
		out = append(out, f)
	}
	return out
}

func abs(p *page, action string) string {
	a, err := p.URL.Parse(action)
	if err != nil {
		return action
	}
	return a.String()
}

// chooserForm returns the chooser's form for provider, or nil.
func chooserForm(p *page, provider string) *form {
	for _, f := range forms(p.Body) {
		if f.Fields.Get("provider") == provider {
			return &f
		}
	}
	return nil
}

// correlationID returns the incident reference shown on an error page (or, on
// other pages, the reference in the footer), or "".
func correlationID(p *page) string {
	m := incidentRe.FindStringSubmatch(p.Body)
	if m == nil {
		m = refRe.FindStringSubmatch(p.Body)
	}
	if m == nil {
		return ""
	}
	return strings.TrimSpace(m[1])
}

// wantErrorPage checks a French error page with status and a correlation ID, and
// that it contains the text want.
func wantErrorPage(t testing.TB, p *page, status int, want string) {
	t.Helper()
	if p.Status != status || !strings.Contains(p.Body, want) || correlationID(p) == "" ||
		!strings.Contains(p.Body, `lang="fr"`) {
		t.Errorf("want a French error page %d with %q and a correlation ID, got %d at %s: %.1500s",
			status, want, p.Status, p.URL, p.Body)
	}
}

// flow is one authorization request in a browser.
type flow struct {
	s    *stack
	b    *http.Client
	pkce harness.PKCE
}

func (s *stack) newFlow() *flow { return &flow{s: s, b: s.browser(), pkce: harness.NewPKCE()} }

// start sends the authorization request and follows it inside the broker.
func (f *flow) start(t testing.TB, extra url.Values) *page {
	t.Helper()
	q := url.Values{"scope": {scopes}}
	for k, v := range extra {
		q[k] = v
	}
	return walk(t, f.b, http.MethodGet, f.s.AuthURL(harness.MinistryID, f.pkce, q), nil)
}

// passwordForm goes from the chooser to the directory's password form.
func (f *flow) passwordForm(t testing.TB) (*page, form) {
	t.Helper()
	chooser := f.start(t, nil)
	c := chooserForm(chooser, "annuaire")
	if c == nil {
		t.Fatalf("chooser has no annuaire choice: %d %.2000s", chooser.Status, chooser.Body)
	}
	pf := walk(t, f.b, http.MethodPost, abs(chooser, c.Action), c.Fields)
	fs := forms(pf.Body)
	if pf.Status != http.StatusOK || !passwordRe.MatchString(pf.Body) || len(fs) != 1 {
		t.Fatalf("no password form: %d %.1500s", pf.Status, pf.Body)
	}
	return pf, fs[0]
}

// submitPassword posts the password form (safe from several goroutines) and
// follows the answer inside the broker.
func (f *flow) submitPassword(form *page, pf form, user, password string) (*page, error) {
	fields := url.Values{}
	for k, v := range pf.Fields {
		fields[k] = v
	}
	fields.Set("username", user)
	fields.Set("password", password)
	start := time.Now()
	p, err := send(f.b, http.MethodPost, abs(form, pf.Action), fields)
	for i := 0; err == nil && p.Location != nil && p.Location.Host == p.URL.Host && i < 10; i++ {
		p, err = send(f.b, http.MethodGet, p.Location.String(), nil)
	}
	if p != nil {
		p.Elapsed = time.Since(start)
	}
	return p, err
}

// redeem checks that p is the redirect to the client with a code and redeems it.
func (f *flow) redeem(t testing.TB, p *page) *harness.Tokens {
	t.Helper()
	if p.Location == nil || !strings.HasPrefix(p.Location.String(), harness.RedirectURI) || p.Location.Query().Get("code") == "" {
		t.Fatalf("no code for the client: %d at %s %v: %.1500s", p.Status, p.URL, p.Location, p.Body)
	}
	tok := f.s.Redeem(t, harness.MinistryID, harness.MinistrySecret, p.Location.Query().Get("code"), f.pkce)
	if tok.Status != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token endpoint: %d %s %s", tok.Status, tok.Error, tok.Description)
	}
	return tok
}

// loginLDAP is a whole directory login through the chooser.
func (s *stack) loginLDAP(t testing.TB, uid string) *harness.Tokens {
	t.Helper()
	f := s.newFlow()
	pf, fm := f.passwordForm(t)
	done, err := f.submitPassword(pf, fm, uid, s.slapd.User(t, uid).Password)
	if err != nil {
		t.Fatal(err)
	}
	return f.redeem(t, done)
}

// readyz returns the status of GET /readyz.
func (s *stack) readyz(t testing.TB) int {
	t.Helper()
	resp, err := s.HTTPClient().Get(s.Issuer + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// audit lists the store's audit events since from.
func (s *stack) audit(t testing.TB, from time.Time) []*storage.AuditEvent {
	t.Helper()
	evs, err := s.store.ListAudit(context.Background(), from, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
