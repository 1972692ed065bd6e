package peer

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Paths of an Apache RP, under its base URL.
const (
	// ApacheRedirectPath is the OIDCRedirectURI path; mod_auth_openidc answers the
	// authorization response, ?logout=URL and ?logout=backchannel there.
	ApacheRedirectPath = "/oidc/callback"
	// ApacheClaimsPath is protected: it shows the claims mod_auth_openidc passed on.
	ApacheClaimsPath = "/claims/"
	// ApacheSilentPath is protected too, but its authorization requests carry
	// prompt=none (OIDCPathAuthRequestParams): an SSO check with no login page.
	ApacheSilentPath = "/silent/"
	// ApacheLoggedOutPath is the post-logout page (public).
	ApacheLoggedOutPath = "/logged-out"
)

const apacheModules = "/usr/lib/apache2/modules"

// ApacheRP is Apache httpd with mod_auth_openidc acting as a partner platform's
// relying party, on http://127.0.0.1:PORT. Its protected pages are served by a small
// Go backend behind mod_proxy that shows the OIDC_CLAIM_* headers it receives, so
// what a page shows is exactly what mod_auth_openidc accepted from the broker.
//
// NewApacheRP reserves the port and names the URLs (so the broker can register them
// first); Start runs httpd once the broker serves its discovery document
// (mod_auth_openidc reads it at the first request).
type ApacheRP struct {
	Port int
	// URL is http://127.0.0.1:PORT.
	URL string
	// RedirectURI is the OIDCRedirectURI to register with the OP.
	RedirectURI string
	// BackchannelLogoutURI is RedirectURI?logout=backchannel (OIDC Back-Channel
	// Logout 1.0 §2.2 as mod_auth_openidc implements it).
	BackchannelLogoutURI string
	// PostLogoutRedirectURI is the page mod_auth_openidc returns to after a logout.
	PostLogoutRedirectURI string
	// CookieName is the session cookie (OIDCCookie): peers share 127.0.0.1 and
	// cookies ignore ports, so each instance names its own.
	CookieName string

	mu       sync.Mutex
	requests []ApacheRequest
	process  *Process
	dir      string
}

// ApacheRPOptions configure mod_auth_openidc.
type ApacheRPOptions struct {
	// MetadataURL is the OP's /.well-known/openid-configuration.
	MetadataURL string
	// CAFile is a PEM bundle that verifies the OP's TLS certificate
	// (OIDCCABundlePath; OIDCSSLValidateServer stays On).
	CAFile       string
	ClientID     string
	ClientSecret string
	// Scopes requested (OIDCScope); "openid" is added when missing.
	Scopes []string
	// TokenEndpointAuth is OIDCProviderTokenEndpointAuth (default client_secret_basic).
	TokenEndpointAuth string
	// LogLevel is Apache's LogLevel for mod_auth_openidc (default info; JC_APACHE_DEBUG=1 gives debug).
	LogLevel string
}

// ApacheRequest is one request the claims backend received through Apache.
type ApacheRequest struct {
	Path string
	// Claims are the OIDC_CLAIM_<name> headers (name as mod_auth_openidc wrote it;
	// arrays joined with ",").
	Claims map[string]string
	// RemoteUser is what mod_auth_openidc put in REMOTE_USER (the sub by default).
	RemoteUser string
}

// NewApacheRP reserves a port and computes the RP's URLs. It fails the test when
// Apache or mod_auth_openidc is missing.
func NewApacheRP(t testing.TB) *ApacheRP {
	t.Helper()
	RequireBinary(t, "/usr/sbin/apache2", "apache2")
	if _, err := os.Stat(filepath.Join(apacheModules, "mod_auth_openidc.so")); err != nil {
		t.Fatalf("peer: mod_auth_openidc is not installed (%v): install it with testsuite/scripts/install-peers.sh (Debian package libapache2-mod-auth-openidc)", err)
	}
	port := FreePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	return &ApacheRP{
		Port: port, URL: base,
		RedirectURI:           base + ApacheRedirectPath,
		BackchannelLogoutURI:  base + ApacheRedirectPath + "?logout=backchannel",
		PostLogoutRedirectURI: base + ApacheLoggedOutPath,
		CookieName:            fmt.Sprintf("jc_apache_rp_%d", port),
	}
}

// LogoutURL starts a logout at this RP (mod_auth_openidc ends its session, then
// sends the browser to the OP's end_session_endpoint with id_token_hint).
func (a *ApacheRP) LogoutURL() string {
	return a.RedirectURI + "?logout=" + url.QueryEscape(a.PostLogoutRedirectURI)
}

// Requests returns what the claims backend received so far.
func (a *ApacheRP) Requests() []ApacheRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.requests)
}

// Output returns Apache's error log so far.
func (a *ApacheRP) Output() string {
	b, _ := os.ReadFile(filepath.Join(a.dir, "error.log"))
	out := string(b)
	if a.process != nil {
		out += a.process.Output()
	}
	return out
}

// Start writes the configuration, starts the claims backend and httpd in the
// foreground, and waits until httpd answers.
func (a *ApacheRP) Start(t testing.TB, opts ApacheRPOptions) {
	t.Helper()
	if opts.MetadataURL == "" || opts.ClientID == "" {
		t.Fatal("peer: apache: MetadataURL and ClientID are required")
	}
	backend := httptest.NewServer(http.HandlerFunc(a.serveBackend))
	t.Cleanup(backend.Close)

	// The workers run as www-data and read the CA bundle at each call to the OP: the
	// state directory lives outside t.TempDir (whose parent is 0700) and is
	// world-readable; only the configuration, read by root, holds secrets (0600).
	dir, err := os.MkdirTemp("", "jc-apache-rp-")
	if err != nil {
		t.Fatalf("peer: apache: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	a.dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("peer: apache: %v", err)
	}
	runAs := "www-data"
	if _, err := user.Lookup(runAs); err != nil {
		t.Fatalf("peer: apache: user %s: %v (Debian package apache2 creates it)", runAs, err)
	}
	caFile := ""
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			t.Fatalf("peer: apache: CA bundle: %v", err)
		}
		caFile = filepath.Join(dir, "op-ca.pem")
		if err := os.WriteFile(caFile, pem, 0o644); err != nil {
			t.Fatalf("peer: apache: %v", err)
		}
	}
	scopes := opts.Scopes
	if !slices.Contains(scopes, "openid") {
		scopes = append([]string{"openid"}, scopes...)
	}
	auth := opts.TokenEndpointAuth
	if auth == "" {
		auth = "client_secret_basic"
	}
	level := opts.LogLevel
	if level == "" {
		level = "info"
		if os.Getenv("JC_APACHE_DEBUG") != "" {
			level = "debug"
		}
	}
	passphrase := bailiffsRandomHex(t, 24)
	var conf strings.Builder
	fmt.Fprintf(&conf, `# mod_auth_openidc as a partner platform's relying party (generated by testsuite/peer).
ServerRoot "%[1]s"
ServerName 127.0.0.1
Listen 127.0.0.1:%[2]d
PidFile "%[1]s/httpd.pid"
DefaultRuntimeDir "%[1]s"
ErrorLog "%[1]s/error.log"
LogLevel warn auth_openidc:%[3]s
User %[4]s
Group %[4]s
Timeout 20
KeepAlive Off

LoadModule mpm_event_module %[5]s/mod_mpm_event.so
LoadModule authn_core_module %[5]s/mod_authn_core.so
LoadModule authz_core_module %[5]s/mod_authz_core.so
LoadModule authz_user_module %[5]s/mod_authz_user.so
LoadModule headers_module %[5]s/mod_headers.so
LoadModule proxy_module %[5]s/mod_proxy.so
LoadModule proxy_http_module %[5]s/mod_proxy_http.so
LoadModule auth_openidc_module %[5]s/mod_auth_openidc.so

StartServers 1
ServerLimit 1
ThreadsPerChild 16
MaxRequestWorkers 16
# The default MinSpareThreads (75) exceeds the 16 workers, so Apache would log
# "within MinSpareThreads of MaxRequestWorkers" at every start: a false lead
# when reading a failed test's log.
MinSpareThreads 1
MaxSpareThreads 16

OIDCProviderMetadataURL %[6]q
OIDCClientID %[7]q
OIDCClientSecret %[8]q
OIDCProviderTokenEndpointAuth %[9]s
OIDCRedirectURI %[10]q
OIDCCryptoPassphrase %[11]q
OIDCScope %[12]q
OIDCPKCEMethod S256
OIDCSSLValidateServer On
OIDCCookie %[13]s
OIDCCookieSameSite On
OIDCSessionType server-cache
OIDCPassClaimsAs headers
OIDCDefaultLoggedOutURL %[14]q
OIDCInfoHook iat id_token userinfo session
OIDCHTTPTimeoutShort 5
OIDCHTTPTimeoutLong 10
`, dir, a.Port, level, runAs, apacheModules,
		opts.MetadataURL, opts.ClientID, opts.ClientSecret, auth, a.RedirectURI, passphrase,
		strings.Join(scopes, " "), a.CookieName, a.PostLogoutRedirectURI)
	if caFile != "" {
		fmt.Fprintf(&conf, "OIDCCABundlePath %q\n", caFile)
	}
	fmt.Fprintf(&conf, `
<Location />
  Require all granted
</Location>
<Location /oidc>
  AuthType openid-connect
  Require valid-user
</Location>
<Location %[1]s>
  AuthType openid-connect
  Require valid-user
</Location>
<Location %[2]s>
  AuthType openid-connect
  OIDCPathAuthRequestParams prompt=none
  Require valid-user
</Location>
ProxyPass /oidc !
ProxyPass / %[3]s/
ProxyPassReverse / %[3]s/
`, ApacheClaimsPath, ApacheSilentPath, backend.URL)
	confFile := WriteFile(t, dir, "httpd.conf", conf.String())

	bin := RequireBinary(t, "/usr/sbin/apache2", "apache2")
	if out, err := exec.Command(bin, "-t", "-f", confFile).CombinedOutput(); err != nil {
		t.Fatalf("peer: apache: configuration test: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-DFOREGROUND", "-f", confFile)
	cmd.Env = append(os.Environ(), "APACHE_RUN_DIR="+dir, "APACHE_LOG_DIR="+dir)
	a.process = Start(t, "apache2 mod_auth_openidc", cmd)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("--- apache2 error.log ---\n%s", tail(string(b), 12000))
		}
	})
	a.process.WaitReady(t, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL+ApacheLoggedOutPath, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %d", ApacheLoggedOutPath, resp.StatusCode)
		}
		return nil
	})
}

// serveBackend is the application behind mod_auth_openidc: it shows the claims it
// was given, as a page a person (and a test) can read.
func (a *ApacheRP) serveBackend(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case r.URL.Path == ApacheLoggedOutPath:
		fmt.Fprint(w, `<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Plateforme partenaire — déconnecté</title></head>
<body><h1 id="logged-out">Vous êtes déconnecté de la plateforme partenaire.</h1></body></html>`)
		return
	case strings.HasPrefix(r.URL.Path, ApacheClaimsPath), strings.HasPrefix(r.URL.Path, ApacheSilentPath):
	default:
		http.NotFound(w, r)
		return
	}
	req := ApacheRequest{Path: r.URL.Path, Claims: map[string]string{}, RemoteUser: r.Header.Get("Remote-User")}
	for name, v := range r.Header {
		if n, ok := cutPrefixFold(name, "OIDC_CLAIM_"); ok && len(v) > 0 {
			req.Claims[strings.ToLower(n)] = v[0]
		}
	}
	a.mu.Lock()
	a.requests = append(a.requests, req)
	a.mu.Unlock()
	names := make([]string, 0, len(req.Claims))
	for n := range req.Claims {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Plateforme partenaire — vos informations</title></head>
<body><h1 id="welcome">Plateforme partenaire : connecté</h1><dl id="claims">`)
	for _, n := range names {
		fmt.Fprintf(&b, "<dt>%s</dt><dd id=\"claim-%s\">%s</dd>\n", html.EscapeString(n), html.EscapeString(n), html.EscapeString(req.Claims[n]))
	}
	b.WriteString("</dl></body></html>")
	fmt.Fprint(w, b.String())
}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case: Go canonicalises header
// names (OIDC_CLAIM_x arrives as Oidc_claim_x).
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}
