package harness

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/justiceconnect/justiceconnect/broker"
	"github.com/justiceconnect/justiceconnect/broker/config"
	"github.com/justiceconnect/justiceconnect/providers/static"
)

// Users of every harness broker (password = username + "-pass").
const (
	Judge  = "juge.martin"
	Clerk  = "greffier.durand"
	Lawyer = "avocat.leroy"
)

// Password returns the test password of a harness user.
func Password(user string) string { return user + "-pass" }

// Client secrets of the harness clients.
const (
	PartnerID      = "partner"
	PartnerSecret  = "partner-secret-0123456789"
	MinistryID     = "ministry"
	MinistrySecret = "ministry-secret-0123456789"
	PostClientID   = "post-client"
	PostSecret     = "post-secret-0123456789"
	APIClientID    = "api-client"
	APISecret      = "api-secret-0123456789"
	APIAudience    = "https://api.justice.example/detenus"
	RedirectURI    = "https://rp.example/callback"
	PostLogoutURI  = "https://rp.example/logged-out"
)

// Env is a running broker.
type Env struct {
	T      testing.TB
	Server *httptest.Server
	Broker *broker.Broker
	Issuer string
	Dir    string
	// Now is the broker's clock; tests may move it with Advance.
	clock  *Clock
	once   sync.Once
	client *http.Client
}

// Clock is a settable clock shared by the broker.
type Clock struct{ offset atomic.Int64 } // read by the broker's background workers

// Now returns the current time plus the offset.
func (c *Clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Options adjust the broker.
type Options struct {
	// ExtraYAML is appended to the generated configuration (more clients...).
	ExtraYAML string
	// Tokens overrides the tokens block, e.g. "{access_token_lifetime: 2m}".
	Tokens string
	// Dir, when set, is the state directory (database, key-encryption key) instead
	// of a fresh one: a second Start with the same Dir is the broker restarted.
	Dir string
	// LogoutHTTPClient is the broker's client for back-channel logout notices
	// (tests give one that trusts their httptest servers).
	LogoutHTTPClient *http.Client
	// RateLimits overrides the rate_limits block. By default every limit is off:
	// tests and benchmarks drive many requests from one address and one client.
	RateLimits string
}

// Start runs a broker for the test and stops it at cleanup.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	issuer := srv.URL
	env := &Env{T: t, Server: srv, Issuer: issuer, Dir: dir, clock: &Clock{}}
	kek := filepath.Join(dir, "kek")
	if _, err := os.Stat(kek); err != nil {
		must(t, os.WriteFile(kek, []byte(randomKEK()), 0o600))
	}
	secretFile := func(name, v string) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(v+"\n"), 0o600))
		return p
	}
	tokens := opts.Tokens
	if tokens == "" {
		tokens = "{}"
	}
	limits := opts.RateLimits
	if limits == "" {
		limits = "{token_per_client: {disabled: true}, login_per_address: {disabled: true}, login_failures_per_account: {disabled: true}}"
	}
	var users strings.Builder
	for _, u := range []struct{ name, attrs string }{
		{Judge, `{givenName: [Camille], sn: [Martin], mail: [camille.martin@justice.example], employeeNumber: [PA-2011-0042], employeeType: [MAG], court: [TJ75101], memberOf: ["cn=juges-enfants"]}`},
		{Clerk, `{givenName: [Alex], sn: [Durand], mail: [alex.durand@justice.example], employeeNumber: [PA-2019-1187], employeeType: [GRF], court: [TJ01053, TJ75101, "TJ99999"], memberOf: ["cn=greffiers"]}`},
		{Lawyer, `{givenName: [Jeanne], sn: [Leroy], employeeType: [AVOCAT]}`},
	} {
		hash, err := bcrypt.GenerateFromPassword([]byte(Password(u.name)), bcrypt.MinCost)
		must(t, err)
		fmt.Fprintf(&users, "          - {username: %q, password_hash: %q, attributes: %s}\n", u.name, hash, u.attrs)
	}
	yaml := fmt.Sprintf(`issuer: %q
mode: development
store: {driver: sqlite, sqlite_path: %q}
keys: {kek: {file: %q}}
tokens: %s
rate_limits: %s
providers:
  - id: dev
    type: static
    label: "Comptes de test"
    max_acr: eidas1
    settings:
      users:
%s    mapping:
      given_name: givenName
      family_name: sn
      email: mail
      professional_id: employeeNumber
      organization: {value: "Ministère de la Justice"}
      profession: {attribute: employeeType, values: {MAG: magistrat, GRF: greffier, AVOCAT: avocat}}
      courts: {attribute: court}
      roles:
        - {attribute: memberOf, equals: "cn=juges-enfants", role: juge_enfants, scope: court}
        - {attribute: memberOf, equals: "cn=greffiers", role: greffier, scope: court}
api_scopes: [detenus:read]
clients:
  - client_id: %s
    name: "Plateforme partenaire"
    organization: "Médiation Exemple"
    kind: partner
    secret: {file: %q}
    redirect_uris: [%q, "https://rp.example/other"]
    post_logout_redirect_uris: [%q]
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, profile, email, uid, idp_id, profession, jurisdictions, justice_roles, offline_access]
  - client_id: %s
    name: "Application du ministère"
    kind: first_party
    secret: {file: %q}
    redirect_uris: [%q]
    post_logout_redirect_uris: [%q]
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, profile, email, uid, idp_id, profession, jurisdictions, justice_roles, offline_access]
    subject_type: public
  - client_id: %s
    name: "Client par POST"
    kind: first_party
    secret: {file: %q}
    token_endpoint_auth_method: client_secret_post
    redirect_uris: [%q]
    grant_types: [authorization_code, refresh_token]
    scopes: [openid, profile]
    id_token_signed_response_alg: RS256
    userinfo_signed_response_alg: RS256
  - client_id: %s
    name: "Client d'API"
    kind: first_party
    secret: {file: %q}
    grant_types: [client_credentials]
    scopes: ["detenus:read"]
    audience: [%q]
%s`, issuer, filepath.Join(dir, "broker.db"), kek, tokens, limits, users.String(),
		PartnerID, secretFile("partner", PartnerSecret), RedirectURI, PostLogoutURI,
		MinistryID, secretFile("ministry", MinistrySecret), RedirectURI, PostLogoutURI,
		PostClientID, secretFile("post", PostSecret), RedirectURI,
		APIClientID, secretFile("api", APISecret), APIAudience, opts.ExtraYAML)
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("harness: configuration: %v\n%s", err, yaml)
	}
	var sc static.Config
	must(t, config.DecodeSettings(cfg.Providers[0].Settings, &sc))
	dev, err := static.New(sc, env.clock.Now)
	must(t, err)
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := broker.New(context.Background(), cfg, broker.Deps{
		Upstreams: []broker.Upstream{{Config: cfg.Providers[0], Impl: dev}},
		Logger:    logger, Now: env.clock.Now, LogoutHTTPClient: opts.LogoutHTTPClient,
	})
	if err != nil {
		t.Fatalf("harness: broker: %v", err)
	}
	env.Broker = b
	srv.Config.Handler = b
	t.Cleanup(func() {
		srv.Close()
		b.Close()
	})
	return env
}

// Advance moves the broker's clock forward.
func (e *Env) Advance(d time.Duration) { e.clock.offset.Add(int64(d)) }

// Browser returns an HTTP client with its own cookie jar that trusts the test
// server and does not follow redirects (tests look at every step).
func (e *Env) Browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	tr := e.Server.Client().Transport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: e.Server.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
	return &http.Client{Jar: jar, Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// HTTPClient returns a plain client (server to server) trusting the test server,
// keeping enough idle connections for concurrent benchmarks.
func (e *Env) HTTPClient() *http.Client {
	e.once.Do(func() {
		tr := e.Server.Client().Transport.(*http.Transport).Clone()
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 256, 256
		e.client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	})
	return e.client
}

// PKCE is a verifier and its S256 challenge.
type PKCE struct{ Verifier, Challenge string }

// NewPKCE makes a fresh PKCE pair.
func NewPKCE() PKCE {
	v := randomString(48)
	h := sha256.Sum256([]byte(v))
	return PKCE{Verifier: v, Challenge: base64.RawURLEncoding.EncodeToString(h[:])}
}

// AuthURL builds an authorization request; extra values override the defaults.
func (e *Env) AuthURL(clientID string, p PKCE, extra url.Values) string {
	q := url.Values{
		"client_id": {clientID}, "response_type": {"code"}, "scope": {"openid profile"},
		"redirect_uri": {RedirectURI}, "state": {"state-" + randomString(12)}, "nonce": {"nonce-" + randomString(12)},
		"code_challenge": {p.Challenge}, "code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		if len(v) == 1 && v[0] == "" {
			q.Del(k)
			continue
		}
		q[k] = v
	}
	return e.Issuer + "/authorize?" + q.Encode()
}

// Result is where a browser walk ended.
type Result struct {
	// Callback is the redirect to the client (nil if the walk ended on a page).
	Callback *url.URL
	// Status and Body are those of the last response.
	Status int
	Body   string
	// Pages lists the broker paths visited.
	Pages []string
}

// Code returns the authorization code of a successful walk, failing the test otherwise.
func (r *Result) Code(t testing.TB) string {
	t.Helper()
	if r.Callback == nil {
		t.Fatalf("no redirect to the client; last page %d: %s", r.Status, excerpt(r.Body))
	}
	if e := r.Callback.Query().Get("error"); e != "" {
		t.Fatalf("client got error %s: %s", e, r.Callback.Query().Get("error_description"))
	}
	code := r.Callback.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", r.Callback)
	}
	return code
}

// Walk follows an authorization request in browser b: it logs in with user and
// password when the password form shows up (user "" stops there), accepts consent
// when consent is "allow" (or refuses with "deny"), and stops at the redirect to the
// client or at any other page.
func (e *Env) Walk(t testing.TB, b *http.Client, authURL, user, consent string) *Result {
	t.Helper()
	res := &Result{}
	next, method, form := authURL, http.MethodGet, url.Values(nil)
	for i := 0; i < 15; i++ {
		var req *http.Request
		var err error
		if method == http.MethodPost {
			req, err = http.NewRequest(method, next, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", e.Issuer)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		} else {
			req, err = http.NewRequest(method, next, nil)
		}
		must(t, err)
		resp, err := b.Do(req)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res.Status, res.Body = resp.StatusCode, string(body)
		u, _ := url.Parse(next)
		res.Pages = append(res.Pages, u.Path)
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc, err := resp.Location()
			must(t, err)
			if !strings.HasPrefix(loc.String(), e.Issuer) {
				res.Callback = loc
				return res
			}
			next, method, form = loc.String(), http.MethodGet, nil
			continue
		}
		page := string(body)
		switch {
		case strings.Contains(page, `name="password"`) && user != "":
			form = hiddenFields(page)
			form.Set("username", user)
			form.Set("password", Password(user))
			next, method = e.Issuer+formAction(page), http.MethodPost
			user = "" // one attempt
		case strings.Contains(page, `name="decision"`) && consent != "":
			form = hiddenFields(page)
			form.Set("decision", consent)
			next, method = e.Issuer+formAction(page), http.MethodPost
			consent = ""
		default:
			return res
		}
	}
	t.Fatalf("walk did not end: %v", res.Pages)
	return nil
}

// Tokens is a token endpoint response.
type Tokens struct {
	AccessToken  string      `json:"access_token"`
	IDToken      string      `json:"id_token"`
	RefreshToken string      `json:"refresh_token"`
	TokenType    string      `json:"token_type"`
	ExpiresIn    int         `json:"expires_in"`
	Scope        string      `json:"scope"`
	Error        string      `json:"error"`
	Description  string      `json:"error_description"`
	Status       int         `json:"-"`
	Header       http.Header `json:"-"`
}

// Token posts form to the token endpoint with client_secret_basic (id, secret) or
// no authentication when id is "".
func (e *Env) Token(t testing.TB, id, secret string, form url.Values) *Tokens {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.Issuer+"/token", strings.NewReader(form.Encode()))
	must(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := e.HTTPClient().Do(req)
	must(t, err)
	defer resp.Body.Close()
	out := &Tokens{Status: resp.StatusCode, Header: resp.Header}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("token endpoint answered %d with non-JSON: %s", resp.StatusCode, excerpt(string(body)))
	}
	return out
}

// Redeem exchanges a code for tokens.
func (e *Env) Redeem(t testing.TB, id, secret, code string, p PKCE) *Tokens {
	t.Helper()
	return e.Token(t, id, secret, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {RedirectURI}, "code_verifier": {p.Verifier}})
}

// Login runs a whole code flow for user at clientID and returns the tokens.
func (e *Env) Login(t testing.TB, b *http.Client, clientID, secret, user string, extra url.Values) *Tokens {
	t.Helper()
	p := NewPKCE()
	res := e.Walk(t, b, e.AuthURL(clientID, p, extra), user, "allow")
	tok := e.Redeem(t, clientID, secret, res.Code(t), p)
	if tok.Status != http.StatusOK {
		t.Fatalf("token endpoint: %d %s %s", tok.Status, tok.Error, tok.Description)
	}
	return tok
}

var (
	hiddenRe = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*>`)
	nameRe   = regexp.MustCompile(`name="([^"]*)"`)
	valueRe  = regexp.MustCompile(`value="([^"]*)"`)
	actionRe = regexp.MustCompile(`<form[^>]*action="([^"]*)"`)
)

func hiddenFields(page string) url.Values {
	v := url.Values{}
	for _, in := range hiddenRe.FindAllString(page, -1) {
		n, val := nameRe.FindStringSubmatch(in), valueRe.FindStringSubmatch(in)
		if n != nil && val != nil {
			v.Set(htmlUnescape(n[1]), htmlUnescape(val[1]))
		}
	}
	return v
}

func formAction(page string) string {
	m := actionRe.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return htmlUnescape(m[1])
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&#34;", `"`, "&quot;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#43;", "+", "&#x2F;", "/")
	return r.Replace(s)
}

func excerpt(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
