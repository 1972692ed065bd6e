package peer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// BailiffsUser is one account of the bailiffs' IdP.
type BailiffsUser struct {
	// Sub is the stable subject the IdP asserts (defaults to Username).
	Sub      string
	Username string
	Password string
	// OTP, when set, must be typed at login too; the login then carries acr
	// "urn:cj:mfa" and amr ["pwd","otp"] instead of "urn:cj:pwd" and ["pwd"].
	OTP string
	// Claims are released per scope: profile (given_name, family_name, name,
	// preferred_username), email (email, email_verified), profession (profession,
	// office, professional_id).
	Claims map[string]any
}

// BailiffsClient is a static client of the bailiffs' IdP.
type BailiffsClient struct {
	ClientID               string
	ClientSecret           string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// Metadata adds client metadata (token_endpoint_auth_method, jwks,
	// userinfo_signed_response_alg, id_token_signed_response_alg, ...).
	Metadata map[string]any
}

// BailiffsIdPOptions shape a throwaway bailiffs' IdP.
type BailiffsIdPOptions struct {
	// Clients defaults to one client, DefaultBailiffsClientID with a random secret and
	// DefaultBailiffsRedirectURI.
	Clients []BailiffsClient
	// Users defaults to DefaultBailiffsUsers().
	Users []BailiffsUser
	// IDTokenClaims puts the scope claims in the ID token too. By default
	// oidc-provider conforms to OIDC Core §5.4: with response_type=code the ID token
	// carries only sub-level claims and the rest is at the userinfo endpoint.
	IDTokenClaims bool
	// ExtraCAFile is a PEM file of certificates Node.js trusts besides its own roots
	// (NODE_EXTRA_CA_CERTS), so that the IdP can reach a test broker over HTTPS to
	// send back-channel logout tokens.
	ExtraCAFile string
}

// Defaults of the bailiffs' IdP.
const (
	DefaultBailiffsClientID       = "justiceconnect"
	DefaultBailiffsRedirectURI    = "http://127.0.0.1:8443/login/callback/bailiffs"
	DefaultBailiffsPostLogoutURI  = "http://127.0.0.1:8443/logout/done"
	bailiffsIdPConfigEnv          = "BAILIFFS_IDP_CONFIG"
	bailiffsIdPDiscoveryMaxLength = 1 << 20
)

// DefaultBailiffsUsers are two bailiffs (commissaires de justice); the second one
// logs in with a one-time code.
func DefaultBailiffsUsers() []BailiffsUser {
	return []BailiffsUser{
		{Sub: "cj-75-0042", Username: "jdupont", Password: "motdepasse-cj-1", Claims: map[string]any{
			"given_name": "Jeanne", "family_name": "Dupont", "name": "Jeanne Dupont", "preferred_username": "jdupont",
			"email": "jeanne.dupont@etude-dupont.example", "email_verified": true,
			"profession": "commissaire_de_justice", "office": "Étude Dupont", "professional_id": "CJ-75-0042",
		}},
		{Sub: "cj-69-0117", Username: "pmartin", Password: "motdepasse-cj-2", OTP: "246810", Claims: map[string]any{
			"given_name": "Paul", "family_name": "Martin", "name": "Paul Martin", "preferred_username": "pmartin",
			"email": "paul.martin@etude-martin.example", "email_verified": true,
			"profession": "commissaire_de_justice", "office": "Étude Martin", "professional_id": "CJ-69-0117",
		}},
	}
}

// BailiffsIdP is a running oidc-provider 9.x (testsuite/node/bailiffs-idp.mjs) on
// 127.0.0.1, with in-memory storage and signing keys generated at each start.
type BailiffsIdP struct {
	// Issuer is http://127.0.0.1:PORT (no trailing slash); discovery lives under it.
	Issuer  string
	Port    int
	Clients []BailiffsClient
	Users   []BailiffsUser

	mu      sync.Mutex
	process *Process
	node    string
	script  string
	config  map[string]any
	extraCA string
}

// StartBailiffsIdP starts the bailiffs' IdP with node and waits until its discovery
// document names its issuer. A missing node or oidc-provider fails the test.
func StartBailiffsIdP(t testing.TB, opts BailiffsIdPOptions) *BailiffsIdP {
	t.Helper()
	node := RequireBinary(t, "node", "nodejs")
	dir := bailiffsNodeDir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		t.Fatalf("peer: oidc-provider is not installed in %s: run `npm ci` there (testsuite/scripts/install-peers.sh)", dir)
	}
	if len(opts.Clients) == 0 {
		opts.Clients = []BailiffsClient{{
			ClientID:               DefaultBailiffsClientID,
			ClientSecret:           bailiffsRandomHex(t, 24),
			RedirectURIs:           []string{DefaultBailiffsRedirectURI},
			PostLogoutRedirectURIs: []string{DefaultBailiffsPostLogoutURI},
		}}
	}
	if len(opts.Users) == 0 {
		opts.Users = DefaultBailiffsUsers()
	}
	port := FreePort(t)
	idp := &BailiffsIdP{
		Issuer:  "http://" + Addr(port),
		Port:    port,
		Clients: opts.Clients,
		Users:   opts.Users,
		node:    node,
		script:  filepath.Join(dir, "bailiffs-idp.mjs"),
		extraCA: opts.ExtraCAFile,
	}
	idp.config = idp.baseConfig(opts)
	idp.Start(t)
	return idp
}

// bailiffsNodeDir is testsuite/node, where the Node peers and their node_modules live.
func bailiffsNodeDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("peer: cannot locate the testsuite sources")
	}
	return filepath.Join(filepath.Dir(file), "..", "node")
}

// baseConfig is the node script's configuration without the signing keys,
// which command adds at each start.
func (idp *BailiffsIdP) baseConfig(opts BailiffsIdPOptions) map[string]any {
	clients := make([]map[string]any, 0, len(opts.Clients))
	for _, c := range opts.Clients {
		m := map[string]any{
			"client_id":                 c.ClientID,
			"redirect_uris":             c.RedirectURIs,
			"post_logout_redirect_uris": c.PostLogoutRedirectURIs,
			"grant_types":               []string{"authorization_code", "refresh_token"},
		}
		if c.ClientSecret != "" {
			m["client_secret"] = c.ClientSecret
		}
		if c.PostLogoutRedirectURIs == nil {
			m["post_logout_redirect_uris"] = []string{}
		}
		for k, v := range c.Metadata {
			m[k] = v
		}
		clients = append(clients, m)
	}
	users := make([]map[string]any, 0, len(opts.Users))
	for _, u := range opts.Users {
		m := map[string]any{"username": u.Username, "password": u.Password, "claims": u.Claims}
		if u.Sub != "" {
			m["sub"] = u.Sub
		}
		if u.OTP != "" {
			m["otp"] = u.OTP
		}
		users = append(users, m)
	}
	return map[string]any{
		"port":                 idp.Port,
		"issuer":               idp.Issuer,
		"conformIdTokenClaims": !opts.IDTokenClaims,
		"clients":              clients,
		"users":                users,
	}
}

// bailiffsFirstStartWait bounds the first attempt to start the IdP. Alone, node
// listens in under a second; twice in CI (at 394a0bf and ca05397) it stayed alive
// without listening for more than 30 s and 90 s, with other packages' peers
// running beside it. The second attempt has the whole StartTimeout.
const bailiffsFirstStartWait = 30 * time.Second

// Start (re)starts the IdP on the same port with the same configuration. A restart
// forgets every session, code and token and generates new signing keys. A node
// process that is alive but not listening after bailiffsFirstStartWait is logged
// with its kernel-side state, stopped and started once more; one that exits, or a
// second one that does not listen either, fails the test.
func (idp *BailiffsIdP) Start(t testing.TB) {
	t.Helper()
	idp.mu.Lock()
	defer idp.mu.Unlock()
	if idp.process != nil && !idp.process.Exited() {
		t.Fatal("peer: bailiffs' IdP already running")
	}
	idp.process = Start(t, bailiffsIdPName, idp.command(t))
	err := idp.process.waitReady(idp.discoveryReady, bailiffsFirstStartWait)
	if err != nil && !idp.process.Exited() {
		t.Logf("%v\npeer: stopping it and starting the bailiffs' IdP once more", err)
		idp.process.Stop()
		idp.process = Start(t, bailiffsIdPName, idp.command(t))
		err = idp.process.waitReady(idp.discoveryReady, StartTimeout)
	}
	if err != nil {
		t.Fatal(err)
	}
}

const bailiffsIdPName = "bailiffs-idp (oidc-provider)"

// bailiffsSigningKeys makes the IdP's private signing JWKs, RS256 (oidc-provider's
// default ID token algorithm) and ES256. They are made here rather than by node:
// in the CI run at ca05397 where the IdP never listened, its output stopped
// before the warning oidc-provider's constructor prints, that is inside node's
// generateKeyPairSync (the run at 394a0bf kept no output).
func bailiffsSigningKeys(t testing.TB) []jose.JSONWebKey {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("peer: RSA key: %v", err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("peer: EC key: %v", err)
	}
	return []jose.JSONWebKey{
		{Key: rsaKey, KeyID: "rs256-" + bailiffsRandomHex(t, 6), Algorithm: "RS256", Use: "sig"},
		{Key: ecKey, KeyID: "es256-" + bailiffsRandomHex(t, 6), Algorithm: "ES256", Use: "sig"},
	}
}

// command is the node process with the configuration and fresh signing keys.
func (idp *BailiffsIdP) command(t testing.TB) *exec.Cmd {
	t.Helper()
	config := map[string]any{"keys": bailiffsSigningKeys(t)}
	for k, v := range idp.config {
		config[k] = v
	}
	b, err := json.Marshal(config)
	if err != nil {
		t.Fatalf("peer: bailiffs' IdP config: %v", err)
	}
	cmd := exec.Command(idp.node, idp.script)
	cmd.Dir = filepath.Dir(idp.script)
	cmd.Env = append(os.Environ(), bailiffsIdPConfigEnv+"="+string(b))
	if idp.extraCA != "" {
		cmd.Env = append(cmd.Env, "NODE_EXTRA_CA_CERTS="+idp.extraCA)
	}
	return cmd
}

// Stop ends the IdP (idempotent); Start brings it back.
func (idp *BailiffsIdP) Stop() {
	idp.mu.Lock()
	p := idp.process
	idp.mu.Unlock()
	if p != nil {
		p.Stop()
	}
}

// Process is the running node process.
func (idp *BailiffsIdP) Process() *Process {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return idp.process
}

// Client returns the first configured client.
func (idp *BailiffsIdP) Client() BailiffsClient { return idp.Clients[0] }

// User returns the configured user with that username, or fails the test.
func (idp *BailiffsIdP) User(t testing.TB, username string) BailiffsUser {
	t.Helper()
	for _, u := range idp.Users {
		if u.Username == username {
			return u
		}
	}
	t.Fatalf("peer: bailiffs' IdP has no user %q", username)
	return BailiffsUser{}
}

// ErrBailiffsLoginRefused is returned by Login when the IdP shows its login page again
// (unknown user, wrong password or wrong one-time code).
var ErrBailiffsLoginRefused = errors.New("peer: the bailiffs' IdP refused the login")

// Login plays the browser from authorizeURL (an authorization request to this IdP):
// it follows the IdP's redirects, fills its login form with username, password and
// otp, and stops at the first redirect that leaves the IdP, which it returns (the
// client's callback with code, state and iss, or an error). browser keeps the
// cookies between calls (nil: a fresh cookie jar); its redirects are handled here.
func (idp *BailiffsIdP) Login(ctx context.Context, browser *http.Client, authorizeURL, username, password, otp string) (*url.URL, error) {
	if browser == nil {
		jar, _ := cookiejar.New(nil)
		browser = &http.Client{Jar: jar, Timeout: 10 * time.Second}
	}
	noFollow := *browser
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	issuer, err := url.Parse(idp.Issuer)
	if err != nil {
		return nil, err
	}
	next, form, submitted := authorizeURL, url.Values(nil), false
	for range 10 {
		method, body := http.MethodGet, io.Reader(nil)
		if form != nil {
			method, body = http.MethodPost, strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, next, body)
		if err != nil {
			return nil, err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			return nil, err
		}
		page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		form = nil
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				return nil, fmt.Errorf("peer: bad redirect: %w", err)
			}
			if loc.Host != issuer.Host {
				return loc, nil
			}
			next = loc.String()
		case resp.StatusCode == http.StatusOK && bailiffsLoginForm.Match(page):
			if submitted {
				return nil, ErrBailiffsLoginRefused
			}
			action := bailiffsLoginForm.FindSubmatch(page)[1]
			target, err := req.URL.Parse(html.UnescapeString(string(action)))
			if err != nil {
				return nil, err
			}
			next, submitted = target.String(), true
			form = url.Values{"login": {username}, "password": {password}, "otp": {otp}}
		default:
			return nil, fmt.Errorf("peer: bailiffs' IdP answered HTTP %d at %s: %.300s", resp.StatusCode, req.URL.Path, page)
		}
	}
	return nil, errors.New("peer: too many redirects at the bailiffs' IdP")
}

var bailiffsLoginForm = regexp.MustCompile(`<form method="post" action="([^"]+)">`)

func (idp *BailiffsIdP) discoveryReady(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, idp.Issuer+"/.well-known/openid-configuration", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("discovery: HTTP %d", resp.StatusCode)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, bailiffsIdPDiscoveryMaxLength)).Decode(&doc); err != nil {
		return fmt.Errorf("discovery: %w", err)
	}
	if doc.Issuer != idp.Issuer {
		return fmt.Errorf("discovery names issuer %q, want %q", doc.Issuer, idp.Issuer)
	}
	return nil
}

func bailiffsRandomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("peer: %v", err)
	}
	return hex.EncodeToString(b)
}

// BailiffsMapping is the "mapping:" block of a broker's OIDC provider entry for
// this IdP's accounts (its profession, office and professional_id claims),
// indented for an entry of the providers list.
const BailiffsMapping = `    mapping:
      given_name: given_name
      family_name: family_name
      email: email
      professional_id: professional_id
      profession: {attribute: profession}
      organization: {attribute: office}
`
