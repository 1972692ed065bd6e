package oidc

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
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

	jose "github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/providers"
	"github.com/justiceconnect/justiceconnect/testsuite/peer"
)

// These tests run the provider against the real bailiffs' IdP: oidc-provider 9.x
// (a certified OpenID Provider) started by testsuite/peer. A missing node or npm
// package fails them.

type peerEnv struct {
	idp     *peer.BailiffsIdP
	keyFile string // private_key_jwt key of the "jc-pkjwt" client
	offset  atomic.Int64
}

// now is the real time plus an offset tests can move forward (the real OP signs
// with the real clock).
func (e *peerEnv) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

func startPeer(t *testing.T) *peerEnv {
	t.Helper()
	env := &peerEnv{}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	env.keyFile = filepath.Join(t.TempDir(), "client.key")
	if err := os.WriteFile(env.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pub := jose.JSONWebKey{Key: &key.PublicKey, Algorithm: "RS256", Use: "sig"}
	thumb, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	var pubJSON map[string]any
	raw, _ := json.Marshal(pub)
	_ = json.Unmarshal(raw, &pubJSON)

	client := func(id string, metadata map[string]any) peer.BailiffsClient {
		secret := ""
		if metadata["token_endpoint_auth_method"] != "private_key_jwt" {
			secret = randomString()
		}
		return peer.BailiffsClient{
			ClientID: id, ClientSecret: secret, Metadata: metadata,
			RedirectURIs:           []string{peer.DefaultBailiffsRedirectURI},
			PostLogoutRedirectURIs: []string{peer.DefaultBailiffsPostLogoutURI},
		}
	}
	env.idp = peer.StartBailiffsIdP(t, peer.BailiffsIdPOptions{Clients: []peer.BailiffsClient{
		client("justiceconnect", nil),
		client("jc-post", map[string]any{
			"token_endpoint_auth_method":   "client_secret_post",
			"id_token_signed_response_alg": "ES256",
			"userinfo_signed_response_alg": "RS256",
		}),
		client("jc-pkjwt", map[string]any{
			"token_endpoint_auth_method": "private_key_jwt",
			"jwks":                       map[string]any{"keys": []any{pubJSON}},
		}),
	}})
	return env
}

func (e *peerEnv) client(t testing.TB, id string) peer.BailiffsClient {
	t.Helper()
	for _, c := range e.idp.Clients {
		if c.ClientID == id {
			return c
		}
	}
	t.Fatalf("no client %s", id)
	return peer.BailiffsClient{}
}

// provider makes a provider for the named client of the IdP.
func (e *peerEnv) provider(t testing.TB, clientID string, mutate func(*Config)) *Provider {
	t.Helper()
	c := e.client(t, clientID)
	cfg := Config{
		Issuer:            e.idp.Issuer,
		ClientID:          c.ClientID,
		Scopes:            []string{"openid", "profile", "email", "profession"},
		InsecureAllowHTTP: true,
		Timeout:           3 * time.Second,
	}
	switch c.Metadata["token_endpoint_auth_method"] {
	case "private_key_jwt":
		cfg.AuthMethod, cfg.PrivateKeyFile = AuthPrivateKeyJWT, e.keyFile
	case "client_secret_post":
		cfg.AuthMethod = AuthClientSecretPost
	}
	if c.ClientSecret != "" {
		cfg.ClientSecretFile = filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(cfg.ClientSecretFile, []byte(c.ClientSecret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(cfg, Options{Now: e.now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

// login runs Begin, the browser at the IdP, and Complete on the callback request.
func (e *peerEnv) login(t testing.TB, p *Provider, browser *http.Client, req providers.LoginRequest, username, password, otp string) (providers.Identity, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req.CallbackURL = peer.DefaultBailiffsRedirectURI
	if req.State == "" {
		req.State = "flow-" + randomString()[:8] + "." + randomString()
	}
	step, err := p.Begin(ctx, req)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	cb, err := e.idp.Login(ctx, browser, step.RedirectURL, username, password, otp)
	if err != nil {
		return providers.Identity{}, err
	}
	if !strings.HasPrefix(cb.String(), peer.DefaultBailiffsRedirectURI+"?") {
		t.Fatalf("left the IdP for %s", cb)
	}
	return p.Complete(ctx, httptest.NewRequest(http.MethodGet, cb.String(), nil), step.Pending)
}

func TestPeerLogin(t *testing.T) {
	env := startPeer(t)
	jdupont, pmartin := env.idp.User(t, "jdupont"), env.idp.User(t, "pmartin")
	profession := map[string]string{"profession": "commissaire_de_justice", "office": "Étude Dupont", "professional_id": "CJ-75-0042",
		"given_name": "Jeanne", "family_name": "Dupont", "email": "jeanne.dupont@etude-dupont.example"}
	tests := []struct {
		name      string
		client    string
		config    func(*Config)
		user      peer.BailiffsUser
		otp       string
		wantAttrs map[string]string
		absent    []string
		wantACR   string
		wantAMR   []string
		wantErr   error
	}{
		{name: "password, claims from both", client: "justiceconnect", user: jdupont, wantAttrs: profession, wantACR: "urn:cj:pwd", wantAMR: []string{"pwd"}},
		{name: "one-time code", client: "justiceconnect", user: pmartin, otp: pmartin.OTP, wantACR: "urn:cj:mfa", wantAMR: []string{"pwd", "otp"},
			wantAttrs: map[string]string{"profession": "commissaire_de_justice", "office": "Étude Martin", "professional_id": "CJ-69-0117"}},
		{name: "claims from the ID token only", client: "justiceconnect", user: jdupont, config: func(c *Config) { c.ClaimsSource = ClaimsIDToken },
			// oidc-provider conforms to OIDC Core §5.4: scope claims are at userinfo only (PEERS.md).
			wantAttrs: map[string]string{"sub": "cj-75-0042"}, absent: []string{"profession"}, wantACR: "urn:cj:pwd", wantAMR: []string{"pwd"}},
		{name: "client_secret_post, ES256, signed userinfo", client: "jc-post", user: jdupont, config: func(c *Config) { c.ClaimsSource = ClaimsUserinfo },
			wantAttrs: profession, wantACR: "urn:cj:pwd", wantAMR: []string{"pwd"}},
		{name: "signed userinfo outside allowed_algs", client: "jc-post", user: jdupont, config: func(c *Config) { c.AllowedAlgs = []string{"ES256"} },
			wantErr: providers.ErrInvalidResponse},
		{name: "ID token outside allowed_algs", client: "justiceconnect", user: jdupont, config: func(c *Config) { c.AllowedAlgs = []string{"ES256"} },
			wantErr: providers.ErrInvalidResponse},
		{name: "private_key_jwt", client: "jc-pkjwt", user: pmartin, otp: pmartin.OTP, wantAttrs: map[string]string{"professional_id": "CJ-69-0117"},
			wantACR: "urn:cj:mfa", wantAMR: []string{"pwd", "otp"}},
		{name: "client_secret_basic with the wrong secret", client: "justiceconnect", user: jdupont, config: func(c *Config) {
			c.ClientSecretFile = ""
			c.ClientSecretEnv = "JC_TEST_WRONG_SECRET"
		}, wantErr: providers.ErrInvalidResponse},
	}
	t.Setenv("JC_TEST_WRONG_SECRET", "not-the-secret")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := env.provider(t, tt.client, tt.config)
			start := time.Now().Add(-2 * time.Second).Truncate(time.Second)
			id, err := env.login(t, p, newBrowser(), providers.LoginRequest{}, tt.user.Username, tt.user.Password, tt.otp)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("login = %v; want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			if id.Subject != tt.user.Sub || (tt.client != "jc-pkjwt" && tt.config == nil && id.Username != tt.user.Username) {
				t.Errorf("subject %q username %q", id.Subject, id.Username)
			}
			for k, v := range tt.wantAttrs {
				if got := id.Attributes[k]; !slices.Equal(got, []string{v}) {
					t.Errorf("attribute %s = %q, want %q", k, got, v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := id.Attributes[k]; ok {
					t.Errorf("attribute %s present", k)
				}
			}
			if id.Authn.UpstreamACR != tt.wantACR || !slices.Equal(id.Authn.Methods, tt.wantAMR) {
				t.Errorf("acr %q amr %q; want %q %q", id.Authn.UpstreamACR, id.Authn.Methods, tt.wantACR, tt.wantAMR)
			}
			if id.Authn.Time.Before(start) || id.Authn.Time.After(time.Now().Add(time.Second)) {
				t.Errorf("auth time %v", id.Authn.Time)
			}
			var up upstream
			if err := json.Unmarshal(id.Upstream, &up); err != nil || up.RefreshToken == "" || up.IDToken == "" {
				t.Errorf("upstream data incomplete: %v", err)
			}
		})
	}

	t.Run("refused at the IdP", func(t *testing.T) {
		p := env.provider(t, "justiceconnect", nil)
		for _, c := range []struct{ user, password, otp string }{
			{jdupont.Username, "wrong-password", ""},
			{"inconnu", jdupont.Password, ""},
			{pmartin.Username, pmartin.Password, ""},
			{pmartin.Username, pmartin.Password, "000000"},
		} {
			if _, err := env.login(t, p, newBrowser(), providers.LoginRequest{}, c.user, c.password, c.otp); !errors.Is(err, peer.ErrBailiffsLoginRefused) {
				t.Errorf("%s: %v; want the login page again, no code", c.user, err)
			}
		}
	})

	t.Run("cancelled at the IdP", func(t *testing.T) {
		p := env.provider(t, "justiceconnect", nil)
		ctx := context.Background()
		step, err := p.Begin(ctx, providers.LoginRequest{CallbackURL: peer.DefaultBailiffsRedirectURI, State: "flow.cancel"})
		if err != nil {
			t.Fatal(err)
		}
		cb := cancelAtIdP(t, env.idp, step.RedirectURL)
		_, err = p.Complete(ctx, httptest.NewRequest(http.MethodGet, cb.String(), nil), step.Pending)
		if !errors.Is(err, providers.ErrCancelled) {
			t.Fatalf("Complete = %v; want ErrCancelled", err)
		}
	})

	t.Run("single sign-on and forced authentication", func(t *testing.T) {
		p := env.provider(t, "justiceconnect", nil)
		browser := newBrowser()
		if _, err := env.login(t, p, browser, providers.LoginRequest{}, jdupont.Username, jdupont.Password, ""); err != nil {
			t.Fatal(err)
		}
		// The IdP session answers without a form: the wrong password is never typed.
		if id, err := env.login(t, p, browser, providers.LoginRequest{}, jdupont.Username, "wrong", ""); err != nil || id.Subject != jdupont.Sub {
			t.Fatalf("SSO: %v", err)
		}
		// ForceAuthn (prompt=login, max_age=0) shows the form again.
		if _, err := env.login(t, p, browser, providers.LoginRequest{ForceAuthn: true}, jdupont.Username, "wrong", ""); !errors.Is(err, peer.ErrBailiffsLoginRefused) {
			t.Fatalf("ForceAuthn with a wrong password: %v", err)
		}
		id, err := env.login(t, p, browser, providers.LoginRequest{ForceAuthn: true, LoginHint: "jdupont"}, jdupont.Username, jdupont.Password, "")
		if err != nil || id.Subject != jdupont.Sub {
			t.Fatalf("ForceAuthn: %v", err)
		}
	})
}

// cancelAtIdP follows the authorization request to the login page, clicks
// "Annuler", and returns the callback URL the IdP redirects to.
func cancelAtIdP(t *testing.T, idp *peer.BailiffsIdP, authorizeURL string) *url.URL {
	t.Helper()
	browser := newBrowser()
	browser.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	next := authorizeURL
	for range 10 {
		resp, err := browser.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); loc != "" {
			u, _ := resp.Request.URL.Parse(loc)
			if !strings.HasPrefix(u.String(), idp.Issuer+"/") {
				return u
			}
			next = u.String()
			continue
		}
		m := regexp.MustCompile(`href="([^"]*/abort)"`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("no cancel link at %s: %s", next, body)
		}
		u, _ := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
		next = u.String()
	}
	t.Fatal("too many redirects")
	return nil
}

func TestPeerRefreshAndLogout(t *testing.T) {
	env := startPeer(t)
	user := env.idp.User(t, "jdupont")
	p := env.provider(t, "justiceconnect", nil)
	ctx := context.Background()
	browser := newBrowser()
	id, err := env.login(t, p, browser, providers.LoginRequest{}, user.Username, user.Password, "")
	if err != nil {
		t.Fatal(err)
	}

	next, err := p.Refresh(ctx, id)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if next.Subject != id.Subject || next.Attribute("professional_id") != "CJ-75-0042" || next.Authn.UpstreamACR != "urn:cj:pwd" || !next.Authn.Time.Equal(id.Authn.Time) {
		t.Errorf("refreshed identity %+v", next)
	}
	var before, after upstream
	_ = json.Unmarshal(id.Upstream, &before)
	_ = json.Unmarshal(next.Upstream, &after)
	if after.RefreshToken == "" || after.IDToken == "" || after.SID != before.SID {
		t.Errorf("refresh should keep a refresh token, an ID token and the sid")
	}

	// RP-Initiated Logout at the real OP: the step carries the hint; the OP asks for
	// confirmation, then sends the browser to the registered return URL.
	step, err := p.Logout(ctx, next, peer.DefaultBailiffsPostLogoutURI)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(step.RedirectURL)
	if u.Scheme+"://"+u.Host != env.idp.Issuer || u.Path != "/session/end" || u.Query().Get("id_token_hint") != after.IDToken ||
		u.Query().Get("post_logout_redirect_uri") != peer.DefaultBailiffsPostLogoutURI || u.Query().Get("client_id") != "justiceconnect" {
		t.Fatalf("logout step %s", u.Redacted())
	}
	if dest := confirmLogout(t, browser, step.RedirectURL); dest != peer.DefaultBailiffsPostLogoutURI {
		t.Fatalf("after logout the IdP sent the browser to %q", dest)
	}
	// The upstream session is over: its refresh tokens died with it.
	if _, err := p.Refresh(ctx, next); !errors.Is(err, providers.ErrAccountDisabled) {
		t.Fatalf("Refresh after upstream logout = %v; want ErrAccountDisabled", err)
	}

	// A refresh token revoked at the upstream (RFC 7009) is refused the same way.
	id2, err := env.login(t, p, newBrowser(), providers.LoginRequest{}, user.Username, user.Password, "")
	if err != nil {
		t.Fatal(err)
	}
	var up upstream
	_ = json.Unmarshal(id2.Upstream, &up)
	revoke(t, env.idp, env.client(t, "justiceconnect"), up.RefreshToken)
	if _, err := p.Refresh(ctx, id2); !errors.Is(err, providers.ErrAccountDisabled) {
		t.Fatalf("Refresh after revocation = %v; want ErrAccountDisabled", err)
	}

	// VerifyToken accepts the upstream's ID token (token exchange), not another client's.
	if vid, err := p.VerifyToken(ctx, up.IDToken, TokenTypeIDToken); err != nil || vid.Subject != user.Sub {
		t.Fatalf("VerifyToken: %v", err)
	}
	other := env.provider(t, "jc-post", nil)
	if _, err := other.VerifyToken(ctx, up.IDToken, TokenTypeIDToken); !errors.Is(err, providers.ErrInvalidResponse) {
		t.Fatalf("VerifyToken for another client = %v", err)
	}
}

func confirmLogout(t *testing.T, browser *http.Client, endSession string) string {
	t.Helper()
	noFollow := *browser
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(endSession)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := regexp.MustCompile(`<form id="op.logoutForm" method="post" action="([^"]+)"><input type="hidden" name="xsrf" value="([^"]+)"/>`).FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || form == nil {
		t.Fatalf("end_session answered %d: %.500s", resp.StatusCode, body)
	}
	resp, err = noFollow.PostForm(html.UnescapeString(string(form[1])), url.Values{"xsrf": {html.UnescapeString(string(form[2]))}, "logout": {"yes"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	loc.RawQuery = ""
	return loc.String()
}

func revoke(t *testing.T, idp *peer.BailiffsIdP, c peer.BailiffsClient, token string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, idp.Issuer+"/token/revocation",
		strings.NewReader(url.Values{"token": {token}, "token_type_hint": {"refresh_token"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ClientID, c.ClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation: HTTP %d", resp.StatusCode)
	}
}

func TestPeerUpstreamDown(t *testing.T) {
	env := startPeer(t)
	user := env.idp.User(t, "jdupont")
	p := env.provider(t, "justiceconnect", func(c *Config) { c.Timeout = time.Second })
	ctx := context.Background()
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	id, err := env.login(t, p, newBrowser(), providers.LoginRequest{}, user.Username, user.Password, "")
	if err != nil {
		t.Fatal(err)
	}
	// A code obtained, then the IdP goes down before the exchange.
	step, err := p.Begin(ctx, providers.LoginRequest{CallbackURL: peer.DefaultBailiffsRedirectURI, State: "flow.down"})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := env.idp.Login(ctx, nil, step.RedirectURL, user.Username, user.Password, "")
	if err != nil {
		t.Fatal(err)
	}
	env.idp.Stop()
	start := time.Now()
	if _, err := p.Complete(ctx, httptest.NewRequest(http.MethodGet, cb.String(), nil), step.Pending); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Complete with the IdP down = %v; want ErrUnavailable", err)
	}
	if _, err := p.Refresh(ctx, id); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Refresh with the IdP down = %v; want ErrUnavailable", err)
	}
	env.offset.Add(int64(checkTTL))
	if err := p.Check(ctx); !errors.Is(err, providers.ErrUnavailable) {
		t.Fatalf("Check with the IdP down = %v; want ErrUnavailable", err)
	}
	// Three calls, each bounded by the 1 s timeout, and slack for a loaded machine
	// (a call without the bound would hang far longer).
	if d := time.Since(start); d > 3*time.Second+3*time.Second {
		t.Fatalf("answers with the IdP down took %v (timeout 1s each)", d)
	}

	// Back with new signing keys: the unknown kid refetches the key set.
	env.idp.Start(t)
	env.offset.Add(int64(minJWKSRefetch))
	if err := p.Check(ctx); err != nil {
		t.Fatalf("Check after restart: %v", err)
	}
	if id, err := env.login(t, p, newBrowser(), providers.LoginRequest{}, user.Username, user.Password, ""); err != nil || id.Subject != user.Sub {
		t.Fatalf("login after the IdP restarted with new keys: %v", err)
	}
}
