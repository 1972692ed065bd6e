package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
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
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker"
	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/providers"
	"github.com/justiceconnect/justiceconnect/providers/ldap"
	"github.com/justiceconnect/justiceconnect/providers/oidc"
	"github.com/justiceconnect/justiceconnect/providers/saml"
	"github.com/justiceconnect/justiceconnect/testsuite/harness"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// Labels shown on the chooser.
const (
	labelAnnuaire = "Annuaire du ministère"
	labelBarreau  = "Avocats du barreau"
	labelCJ       = "Commissaires de justice"
	badPassword   = "Identifiant ou mot de passe incorrect."
	unavailable   = "momentanément indisponible"
	scopes        = "openid profile email idp_id profession jurisdictions justice_roles"
	samlEntityID  = "https://justiceconnect.test/saml/barreau"
)

// upstreams is a broker with its three real upstream peers.
type upstreams struct {
	*harness.Env
	slapd *peer.Slapd
	ssp   *peer.SAMLIdP
	cj    *peer.BailiffsIdP
	// impls are the built providers by ID (benchmarks time them alone).
	impls map[string]providers.Provider
	// cjSkew moves the oidc provider's clock (its discovery cache) forward.
	cjSkew atomic.Int64
}

func (u *upstreams) cjNow() time.Time { return time.Now().Add(time.Duration(u.cjSkew.Load())) }

// startUpstreams starts slapd, SimpleSAMLphp and oidc-provider, then a broker over
// HTTPS with the providers annuaire (ldap), barreau (saml) and cj (oidc).
// upstreamSetup is what options of startUpstreams may change.
type upstreamSetup struct {
	// cj is the bailiffs' IdP's configuration.
	cj peer.BailiffsIdPOptions
	// config is appended to the broker's configuration (top-level keys), providers
	// to its providers list and clients to its clients list; all see the issuer.
	config, providers, clients func(issuer string) string
	// x509 builds a card provider over the directory (the ldap provider).
	x509 func(p config.ProviderConfig, dir providers.AttributeSource) providers.Provider
	// logoutHTTPClient is the broker's client for back-channel logout notices to
	// its applications (nil: the default, which trusts no test server).
	logoutHTTPClient *http.Client
}

type upstreamOption func(*upstreamSetup)

// withCJ edits the bailiffs' IdP before it starts.
func withCJ(edit func(*peer.BailiffsIdPOptions)) upstreamOption {
	return func(s *upstreamSetup) { edit(&s.cj) }
}

func startUpstreams(t testing.TB, opts ...upstreamOption) *upstreams {
	t.Helper()
	dir := t.TempDir()
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	issuer := srv.URL
	u := &upstreams{}

	u.slapd = peer.StartSlapd(t, peer.SlapdOptions{})
	u.ssp = peer.StartSimpleSAMLphp(t, peer.SAMLIdPOptions{SLO: true})
	// The bailiffs' IdP sends back-channel logout tokens to the broker (over HTTPS:
	// Node trusts the test server's certificate).
	serverCA := filepath.Join(dir, "broker-server.pem")
	if err := os.WriteFile(serverCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	setup := upstreamSetup{cj: peer.BailiffsIdPOptions{ExtraCAFile: serverCA, Clients: []peer.BailiffsClient{{
		ClientID:               "justiceconnect",
		ClientSecret:           randomString(32),
		RedirectURIs:           []string{issuer + "/login/callback/cj"},
		PostLogoutRedirectURIs: []string{issuer + "/session/end/return"},
		Metadata: map[string]any{"backchannel_logout_uri": issuer + "/login/backchannel/cj",
			"backchannel_logout_session_required": true},
	}}}}
	for _, o := range opts {
		o(&setup)
	}
	u.cj = peer.StartBailiffsIdP(t, setup.cj)

	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	idpMetadata := filepath.Join(dir, "idp-metadata.xml")
	u.ssp.WriteMetadataFile(t, idpMetadata)
	groups := u.slapd.GroupsDN

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
      profession: {attribute: employeeType}
      courts: {attribute: departmentNumber, values: {TJ-PARIS: TJ75101, TJ-LYON: TJ69383}}
      roles:
        - {attribute: memberOf, equals: %q, role: juge, scope: court}
        - {attribute: memberOf, equals: %q, role: greffier, scope: court}
  - id: barreau
    type: saml
    label: %q
    email_domains: [avocats-paris.example]
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
%sclients:
  - client_id: %s
    name: "Plateforme partenaire"
    organization: "Médiation Exemple"
    kind: partner
    secret: {file: %q}
    redirect_uris: [%q]
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, profile, email, uid, idp_id, profession, jurisdictions, justice_roles]
  - client_id: %s
    name: "Application du ministère"
    kind: first_party
    secret: {file: %q}
    redirect_uris: [%q]
    post_logout_redirect_uris: [%q]
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, profile, email, uid, idp_id, profession, jurisdictions, justice_roles]
  - client_id: %s
    name: "Plateforme des commissaires de justice"
    kind: first_party
    secret: {file: %q}
    grant_types: ["urn:ietf:params:oauth:grant-type:token-exchange"]
    scopes: [openid, profile, profession]
    audience: [%q]
    exchange_subject_tokens: ["upstream:cj"]
    allowed_professions: [commissaire_de_justice]
  - client_id: %s
    name: "Plateforme des commissaires de justice"
    organization: "Chambre nationale"
    kind: partner
    secret: {file: %q}
    redirect_uris: [%q]
    scopes: [openid, profile, email, uid, idp_id, profession, jurisdictions, justice_roles]
    allowed_professions: [commissaire_de_justice, magistrat]
`, issuer, filepath.Join(dir, "broker.db"), write("kek", base64.StdEncoding.EncodeToString(kek)+"\n"),
		labelAnnuaire, u.slapd.LDAPSURL, u.slapd.CAFile, u.slapd.ServiceDN, u.slapd.ServicePasswordFile, u.slapd.PeopleDN,
		peer.SlapdDisabledFilter, "cn=magistrats,"+groups, "cn=greffiers,"+groups,
		labelBarreau, samlEntityID, issuer+"/login/callback/barreau", issuer+"/session/end/return", idpMetadata, peer.BarreauMapping,
		labelCJ, u.cj.Issuer, u.cj.Client().ClientID, write("cj-secret", u.cj.Client().ClientSecret+"\n"), peer.BailiffsMapping,
		harness.PartnerID, write("partner", harness.PartnerSecret+"\n"), harness.RedirectURI,
		harness.MinistryID, write("ministry", harness.MinistrySecret+"\n"), harness.RedirectURI, harness.PostLogoutURI,
		cjExchangerID, write("cj-exchanger", cjExchangerSecret+"\n"), harness.APIAudience,
		bailiffsPlatformID, write("bailiffs-platform", harness.PartnerSecret+"\n"), harness.RedirectURI)
	if setup.providers != nil {
		yaml = strings.Replace(yaml, "\nclients:\n", "\n"+setup.providers(issuer)+"clients:\n", 1)
	}
	if setup.clients != nil {
		yaml += setup.clients(issuer)
	}
	if setup.config != nil {
		yaml += setup.config(issuer)
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
	u.impls = map[string]providers.Provider{}
	for _, p := range cfg.Providers {
		var up broker.Upstream
		up.Config = p
		plog := logger.With("provider", p.ID)
		switch p.Type {
		case "ldap":
			var sc ldap.Config
			decode(t, p, &sc)
			impl, err := ldap.New(sc, ldap.Options{Logger: plog})
			if err != nil {
				t.Fatalf("ldap provider: %v", err)
			}
			up.Impl, directory = impl, impl
		case "x509":
			up.Impl = setup.x509(p, directory)
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
			u.ssp.SetSPMetadata(t, md)
			up.Impl = impl
		case "oidc":
			var sc oidc.Config
			decode(t, p, &sc)
			impl, err := oidc.New(sc, oidc.Options{Logger: plog, Now: u.cjNow})
			if err != nil {
				t.Fatalf("oidc provider: %v", err)
			}
			up.Impl = impl
		}
		ups = append(ups, up)
		u.impls[p.ID] = up.Impl
	}
	b, err := broker.New(context.Background(), cfg, broker.Deps{Upstreams: ups, Logger: logger, Now: time.Now, Store: store,
		LogoutHTTPClient: setup.logoutHTTPClient})
	if err != nil {
		t.Fatalf("broker: %v", err)
	}
	t.Cleanup(func() { b.Close() }) // runs after srv.Close (LIFO)
	srv.Config.Handler = b
	u.Env = &harness.Env{T: t, Server: srv, Broker: b, Issuer: issuer, Dir: dir}
	return u
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
}

// do sends one request without following redirects.
func do(t testing.TB, b *http.Client, method, target string, form url.Values) *page {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 2<<20))
	p := &page{URL: req.URL, Status: resp.StatusCode, Body: string(raw)}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if p.Location, err = resp.Location(); err != nil {
			t.Fatalf("%s %s: redirect without Location: %v", method, target, err)
		}
	}
	return p
}

// walk sends the request and follows redirects while they stay on the same host,
// returning every response (the last is a page, or a redirect elsewhere).
func walk(t testing.TB, b *http.Client, method, target string, form url.Values) []*page {
	t.Helper()
	var out []*page
	for range 12 {
		p := do(t, b, method, target, form)
		out = append(out, p)
		if p.Location == nil || p.Location.Host != p.URL.Host {
			return out
		}
		method, target, form = http.MethodGet, p.Location.String(), nil
	}
	t.Fatalf("too many redirects from %s", target)
	return nil
}

func last(ps []*page) *page { return ps[len(ps)-1] }

// form is one HTML form of a page.
type form struct {
	Action string
	Fields url.Values
}

var (
	formRe   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRe  = regexp.MustCompile(`<input[^>]*>`)
	nameRe   = regexp.MustCompile(`name="([^"]*)"`)
	valueRe  = regexp.MustCompile(`value="([^"]*)"`)
	hiddenRe = regexp.MustCompile(`type="hidden"`)
)

// forms lists the page's forms with their hidden fields.
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

// onlyForm returns the page's single form.
func onlyForm(t testing.TB, p *page) form {
	t.Helper()
	fs := forms(p.Body)
	if len(fs) != 1 {
		t.Fatalf("%s: want one form, found %d: %.1500s", p.URL, len(fs), p.Body)
	}
	return fs[0]
}

// abs resolves a form action against the page.
func abs(p *page, action string) string {
	a, err := p.URL.Parse(action)
	if err != nil {
		return action
	}
	return a.String()
}

// flow is one authorization request in a browser.
type flow struct {
	u      *upstreams
	b      *http.Client
	client string
	secret string
	pkce   harness.PKCE
	// Pages are all responses seen at the broker, in order.
	Pages   []*page
	Consent bool
	// Tokens is the token response of redeem.
	Tokens *harness.Tokens
}

func (u *upstreams) newFlow(b *http.Client, client string) *flow {
	secret := harness.PartnerSecret
	if client == harness.MinistryID {
		secret = harness.MinistrySecret
	}
	return &flow{u: u, b: b, client: client, secret: secret, pkce: harness.NewPKCE()}
}

// start sends the authorization request with the extra parameters.
func (f *flow) start(t testing.TB, extra url.Values) *page {
	t.Helper()
	q := url.Values{"scope": {scopes}}
	for k, v := range extra {
		q[k] = v
	}
	ps := walk(t, f.b, http.MethodGet, f.u.AuthURL(f.client, f.pkce, q), nil)
	f.Pages = append(f.Pages, ps...)
	return last(ps)
}

// broker sends a request to the broker and follows it there.
func (f *flow) broker(t testing.TB, method, target string, values url.Values) *page {
	t.Helper()
	ps := walk(t, f.b, method, target, values)
	f.Pages = append(f.Pages, ps...)
	return last(ps)
}

// finish takes the broker's answer after login: answers the consent page (allow)
// when it shows, and returns the code of the redirect to the client.
func (f *flow) finish(t testing.TB, p *page) string {
	t.Helper()
	if p.Location == nil && strings.Contains(p.Body, `name="decision"`) {
		f.Consent = true
		c := onlyForm(t, p)
		c.Fields.Set("decision", "allow")
		p = f.broker(t, http.MethodPost, abs(p, c.Action), c.Fields)
	}
	if p.Location == nil || !strings.HasPrefix(p.Location.String(), harness.RedirectURI) {
		t.Fatalf("no redirect to the client: %d at %s: %.1500s", p.Status, p.URL, p.Body)
	}
	q := p.Location.Query()
	if e := q.Get("error"); e != "" {
		t.Fatalf("client got error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("code") == "" {
		t.Fatalf("no code in %s", p.Location)
	}
	return q.Get("code")
}

// redeem exchanges the code and returns the userinfo claims.
func (f *flow) redeem(t testing.TB, code string) map[string]any {
	t.Helper()
	tok := f.u.Redeem(t, f.client, f.secret, code, f.pkce)
	f.Tokens = tok
	if tok.Status != http.StatusOK || tok.AccessToken == "" || tok.IDToken == "" {
		t.Fatalf("token endpoint: %d %s %s", tok.Status, tok.Error, tok.Description)
	}
	req, _ := http.NewRequest(http.MethodGet, f.u.Issuer+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := f.u.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("userinfo: %d %s", resp.StatusCode, raw)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatalf("userinfo: %v: %s", err, raw)
	}
	idt := idTokenClaims(t, tok.IDToken)
	if claims["sub"] == nil || claims["sub"] != idt["sub"] {
		t.Fatalf("userinfo sub %v, ID token sub %v", claims["sub"], idt["sub"])
	}
	return claims
}

// idTokenClaims reads the payload of an ID token, or of another JWT such as a
// logout token (its signature is the conformance suite's business).
func idTokenClaims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("ID token is not a JWS: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
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

// ldapLogin goes from the chooser (or password form) through the directory's
// password form.
func (f *flow) ldapLogin(t testing.TB, chooser *page, user, password string) *page {
	t.Helper()
	c := chooserForm(chooser, "annuaire")
	if c == nil {
		t.Fatalf("chooser has no annuaire choice: %.2000s", chooser.Body)
	}
	form := f.broker(t, http.MethodPost, abs(chooser, c.Action), c.Fields)
	if form.Status != http.StatusOK || !strings.Contains(form.Body, `name="password"`) {
		t.Fatalf("no password form after choosing annuaire: %d %.1500s", form.Status, form.Body)
	}
	return f.submitPassword(t, form, user, password)
}

func (f *flow) submitPassword(t testing.TB, form *page, user, password string) *page {
	t.Helper()
	pf := onlyForm(t, form)
	pf.Fields.Set("username", user)
	pf.Fields.Set("password", password)
	return f.broker(t, http.MethodPost, abs(form, pf.Action), pf.Fields)
}

// samlLogin is at the redirect to SimpleSAMLphp: it logs in there and posts the
// response back to the broker as the IdP's auto-POST page would.
func (f *flow) samlLogin(t testing.TB, toIdP *page, user, password string) *page {
	t.Helper()
	if toIdP.Location == nil || !strings.HasPrefix(toIdP.Location.String(), f.u.ssp.SSOURL+"?") {
		t.Fatalf("broker did not send the browser to SimpleSAMLphp: %d %v %.1000s", toIdP.Status, toIdP.Location, toIdP.Body)
	}
	login := last(walk(t, f.b, http.MethodGet, toIdP.Location.String(), nil))
	lf := onlyForm(t, login)
	if lf.Fields.Get("AuthState") == "" {
		t.Fatalf("no SimpleSAMLphp login form: %d %.1500s", login.Status, login.Body)
	}
	target := *login.URL
	target.RawQuery = ""
	post := last(walk(t, f.b, http.MethodPost, target.String(), url.Values{
		"username": {user}, "password": {password}, "AuthState": {lf.Fields.Get("AuthState")}}))
	ap := onlyForm(t, post)
	if want := f.u.Issuer + "/login/callback/barreau"; ap.Action != want || ap.Fields.Get("SAMLResponse") == "" {
		t.Fatalf("SimpleSAMLphp posts %v to %q, want a SAMLResponse to %q", ap.Fields, ap.Action, want)
	}
	back := url.Values{"SAMLResponse": {ap.Fields.Get("SAMLResponse")}, "RelayState": {ap.Fields.Get("RelayState")}}
	return f.broker(t, http.MethodPost, ap.Action, back)
}

// cjLogin is at the redirect to the bailiffs' IdP: it logs in there and follows
// the callback back into the broker.
func (f *flow) cjLogin(t testing.TB, toIdP *page, user string) *page {
	t.Helper()
	if toIdP.Location == nil || !strings.HasPrefix(toIdP.Location.String(), f.u.cj.Issuer+"/") {
		t.Fatalf("broker did not send the browser to the bailiffs' IdP: %d %v %.1000s", toIdP.Status, toIdP.Location, toIdP.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cb, err := f.u.cj.Login(ctx, f.b, toIdP.Location.String(), user, f.u.cj.User(t, user).Password, "")
	if err != nil {
		t.Fatalf("bailiffs' IdP login: %v", err)
	}
	if want := f.u.Issuer + "/login/callback/cj"; !strings.HasPrefix(cb.String(), want+"?") {
		t.Fatalf("bailiffs' IdP returns to %s, want %s", cb, want)
	}
	return f.broker(t, http.MethodGet, cb.String(), nil)
}

func ldapPassword(t testing.TB, u *upstreams, uid string) string {
	t.Helper()
	return u.slapd.User(t, uid).Password
}

func samlPassword(t testing.TB, u *upstreams, user string) string {
	t.Helper()
	for _, su := range u.ssp.Users {
		if su.Username == user {
			return su.Password
		}
	}
	t.Fatalf("SimpleSAMLphp has no user %q", user)
	return ""
}

// loginLDAP, loginSAML and loginCJ are whole flows, returning the userinfo claims.
func (u *upstreams) loginLDAP(t testing.TB, b *http.Client, client, uid string) (map[string]any, *flow) {
	t.Helper()
	f := u.newFlow(b, client)
	return f.redeem(t, f.finish(t, f.ldapLogin(t, f.start(t, nil), uid, ldapPassword(t, u, uid)))), f
}

func (u *upstreams) loginSAML(t testing.TB, b *http.Client, client, user string) (map[string]any, *flow) {
	t.Helper()
	f := u.newFlow(b, client)
	toIdP := f.start(t, url.Values{"idp_hint": {"barreau"}})
	return f.redeem(t, f.finish(t, f.samlLogin(t, toIdP, user, samlPassword(t, u, user)))), f
}

func (u *upstreams) loginCJ(t testing.TB, b *http.Client, client, user string) (map[string]any, *flow) {
	t.Helper()
	f := u.newFlow(b, client)
	toIdP := f.start(t, url.Values{"idp_hint": {"cj"}})
	return f.redeem(t, f.finish(t, f.cjLogin(t, toIdP, user))), f
}

func wantClaim(t testing.TB, claims map[string]any, name string, want any) {
	t.Helper()
	got := claims[name]
	if ws, ok := want.([]string); ok {
		var gs []string
		if list, ok := got.([]any); ok {
			for _, v := range list {
				s, _ := v.(string)
				gs = append(gs, s)
			}
		}
		slices.Sort(gs)
		ws = slices.Clone(ws)
		slices.Sort(ws)
		if !slices.Equal(gs, ws) {
			t.Errorf("claim %s = %v, want %v", name, got, want)
		}
		return
	}
	if got != want {
		t.Errorf("claim %s = %v, want %v", name, got, want)
	}
}

func TestUpstreams(t *testing.T) {
	u := startUpstreams(t)

	t.Run("LDAPAgentThroughChooser", func(t *testing.T) {
		b := u.Browser()
		f := u.newFlow(b, harness.PartnerID)
		chooser := f.start(t, nil)
		if chooser.Status != http.StatusOK || chooser.URL.Path != "/login" {
			t.Fatalf("want the chooser at /login, got %d at %s: %.1000s", chooser.Status, chooser.URL, chooser.Body)
		}
		for _, id := range []string{"annuaire", "barreau", "cj"} {
			if chooserForm(chooser, id) == nil {
				t.Errorf("chooser has no choice %s", id)
			}
		}
		for _, label := range []string{labelAnnuaire, labelBarreau, labelCJ} {
			if !strings.Contains(chooser.Body, html.EscapeString(label)) {
				t.Errorf("chooser does not show %q", label)
			}
		}
		if strings.Contains(chooser.Body, unavailable) {
			t.Errorf("chooser marks a provider unavailable while all peers run")
		}
		c := chooserForm(chooser, "annuaire")
		if c == nil {
			t.FailNow()
		}
		form := f.broker(t, http.MethodPost, abs(chooser, c.Action), c.Fields)
		if form.Status != http.StatusOK || !strings.Contains(form.Body, `name="password"`) {
			t.Fatalf("no password form: %d %.1000s", form.Status, form.Body)
		}

		// Wrong password: the form again, 401, the French message.
		again := f.submitPassword(t, form, "pmartin", "pas-le-bon-mot-de-passe")
		if again.Status != http.StatusUnauthorized || !strings.Contains(again.Body, `name="password"`) ||
			!strings.Contains(again.Body, badPassword) {
			t.Fatalf("wrong password: want the form again with 401 and %q, got %d: %.1500s", badPassword, again.Status, again.Body)
		}

		done := f.submitPassword(t, again, "pmartin", ldapPassword(t, u, "pmartin"))
		claims := f.redeem(t, f.finish(t, done))
		if !f.Consent {
			t.Errorf("the partner client's consent page did not show")
		}
		wantClaim(t, claims, "profession", "greffier")
		wantClaim(t, claims, "jurisdictions", []string{"TJ69383"})
		wantClaim(t, claims, "justice_roles", []string{"greffier@TJ69383"})
		wantClaim(t, claims, "professional_id", "G0002")
		wantClaim(t, claims, "given_name", "Paul")

		// A judge of two courts: one role per court.
		claims, _ = u.loginLDAP(t, u.Browser(), harness.MinistryID, "jdupont")
		wantClaim(t, claims, "profession", "magistrat")
		wantClaim(t, claims, "jurisdictions", []string{"TJ75101", "CA-PARIS"})
		wantClaim(t, claims, "justice_roles", []string{"juge@TJ75101", "juge@CA-PARIS"})
	})

	t.Run("SAMLLawyerWithIdPHint", func(t *testing.T) {
		claims, f := u.loginSAML(t, u.Browser(), harness.PartnerID, "adupont")
		for _, p := range f.Pages {
			if p.URL.Path == "/login" && p.Location == nil {
				t.Errorf("idp_hint=barreau showed the chooser")
			}
		}
		wantClaim(t, claims, "profession", "avocat")
		wantClaim(t, claims, "barreau", "Paris")
		wantClaim(t, claims, "professional_id", "P0042")
		wantClaim(t, claims, "family_name", "Dupont")
	})

	t.Run("OIDCBailiff", func(t *testing.T) {
		claims, _ := u.loginCJ(t, u.Browser(), harness.PartnerID, "jdupont")
		wantClaim(t, claims, "profession", "commissaire_de_justice")
		wantClaim(t, claims, "professional_id", "CJ-75-0042")
		wantClaim(t, claims, "organization", "Étude Dupont")
	})

	t.Run("Subjects", func(t *testing.T) {
		// "jdupont" is a judge in the directory and a bailiff at the CJ IdP.
		ldap1, _ := u.loginLDAP(t, u.Browser(), harness.PartnerID, "jdupont")
		ldap2, _ := u.loginLDAP(t, u.Browser(), harness.PartnerID, "jdupont")
		if ldap1["sub"] != ldap2["sub"] {
			t.Errorf("same directory user, two logins: sub %v then %v", ldap1["sub"], ldap2["sub"])
		}
		saml1, _ := u.loginSAML(t, u.Browser(), harness.PartnerID, "adupont")
		saml2, _ := u.loginSAML(t, u.Browser(), harness.PartnerID, "adupont")
		if saml1["sub"] != saml2["sub"] {
			t.Errorf("same lawyer, two logins: sub %v then %v", saml1["sub"], saml2["sub"])
		}
		cj, _ := u.loginCJ(t, u.Browser(), harness.PartnerID, "jdupont")
		subs := []any{ldap1["sub"], saml1["sub"], cj["sub"]}
		if subs[0] == subs[1] || subs[0] == subs[2] || subs[1] == subs[2] {
			t.Errorf("different providers gave equal subs: %v", subs)
		}
	})

	t.Run("SSO", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			login func(t *testing.T, b *http.Client) map[string]any
		}{
			{"ldap", func(t *testing.T, b *http.Client) map[string]any {
				c, _ := u.loginLDAP(t, b, harness.MinistryID, "jdupont")
				return c
			}},
			{"saml", func(t *testing.T, b *http.Client) map[string]any {
				c, _ := u.loginSAML(t, b, harness.MinistryID, "bmartin")
				return c
			}},
			{"oidc", func(t *testing.T, b *http.Client) map[string]any {
				c, _ := u.loginCJ(t, b, harness.MinistryID, "jdupont")
				return c
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := u.Browser()
				first := tc.login(t, b)
				f := u.newFlow(b, harness.PartnerID)
				p := f.start(t, nil)
				code := f.finish(t, p)
				for _, pg := range f.Pages {
					if strings.HasPrefix(pg.URL.Path, "/login") {
						t.Errorf("second client went through %s", pg.URL.Path)
					}
				}
				second := f.redeem(t, code)
				wantClaim(t, second, "profession", first["profession"])
				wantClaim(t, second, "idp_id", first["idp_id"])
			})
		}
	})

	// Last: it stops the bailiffs' IdP.
	t.Run("UpstreamDown", func(t *testing.T) {
		u.cj.Stop()
		// Past the oidc provider's discovery cache, so that Check asks again.
		u.cjSkew.Store(int64(time.Minute))
		f := u.newFlow(u.Browser(), harness.PartnerID)
		chooser := f.start(t, nil)
		if chooser.Status != http.StatusOK || chooser.URL.Path != "/login" {
			t.Fatalf("want the chooser, got %d at %s: %.1000s", chooser.Status, chooser.URL, chooser.Body)
		}
		if chooserForm(chooser, "cj") != nil {
			t.Errorf("the stopped provider can still be chosen")
		}
		if !strings.Contains(chooser.Body, html.EscapeString(labelCJ)) || !strings.Contains(chooser.Body, unavailable) {
			t.Errorf("chooser does not mark %q %q: %.3000s", labelCJ, unavailable, chooser.Body)
		}
		if chooserForm(chooser, "barreau") == nil {
			t.Errorf("chooser lost barreau")
		}
		claims := f.redeem(t, f.finish(t, f.ldapLogin(t, chooser, "pmartin", ldapPassword(t, u, "pmartin"))))
		wantClaim(t, claims, "profession", "greffier")

		// The SAML provider chosen from the same chooser.
		f = u.newFlow(u.Browser(), harness.PartnerID)
		chooser = f.start(t, nil)
		c := chooserForm(chooser, "barreau")
		if c == nil {
			t.Fatalf("chooser lost barreau: %.2000s", chooser.Body)
		}
		toIdP := f.broker(t, http.MethodPost, abs(chooser, c.Action), c.Fields)
		claims = f.redeem(t, f.finish(t, f.samlLogin(t, toIdP, "bmartin", samlPassword(t, u, "bmartin"))))
		wantClaim(t, claims, "barreau", "Lyon")
	})
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
