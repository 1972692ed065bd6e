// Package loadflow drives the broker's OAuth and OpenID Connect flows over HTTP as a
// client and a browser would, returning errors classified by kind (transport, HTTP
// status, OAuth error code) instead of failing a test. The load tool
// (cmd/justiceconnect-load) uses it; benchmarks and tests may too.
//
// It knows nothing of the broker's code: only its endpoints (/authorize, /token,
// /token/introspection, /jwks, discovery) and the shape of its login and consent
// forms (hidden fields, a password field, a decision button).
package loadflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Grant type and token type identifiers.
const (
	GrantTokenExchange    = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	GrantClientCredential = "client_credentials"
)

// Client is a confidential OAuth client (client_secret_basic).
type Client struct {
	ID, Secret  string
	RedirectURI string
}

// User is a password account.
type User struct{ Username, Password string }

// Broker is the broker under load: its issuer and the HTTP clients that reach it.
type Broker struct {
	Issuer string
	// HTTP is the server-to-server client (token, introspection, JWKS).
	HTTP *http.Client
	// Transport is shared by browsers (NewBrowser), so that thousands of simulated
	// browsers reuse a bounded pool of connections.
	Transport http.RoundTripper
	// CardOrigin is the broker's agent card origin (scheme://host:port), its
	// second TLS listener that asks for a client certificate; Walk follows the
	// broker's redirects there as its own. Empty: no card logins.
	CardOrigin string
}

// NewTransport returns a transport keeping up to idle connections per host, with
// a dial and response timeout; wrap it to count or bound requests.
func NewTransport(idle int) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = idle, idle
	tr.ResponseHeaderTimeout = 30 * time.Second
	tr.DisableCompression = true
	return tr
}

// New returns a Broker whose clients use rt.
func New(issuer string, rt http.RoundTripper) *Broker {
	return &Broker{Issuer: strings.TrimRight(issuer, "/"), Transport: rt,
		HTTP: &http.Client{Transport: rt, Timeout: 60 * time.Second}}
}

// NewBrowser returns a client with its own cookie jar that does not follow
// redirects (the walk looks at every step).
func (b *Broker) NewBrowser() *http.Client { return b.NewBrowserVia(b.Transport) }

// NewBrowserVia is NewBrowser with its own transport (a browser holding an agent
// card reaches the card origin with its own TLS configuration).
func (b *Broker) NewBrowserVia(rt http.RoundTripper) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: rt, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Error is a failed step, classified.
type Error struct {
	// Kind is "transport: <what>", "http <status>", "oauth <code>" or "flow: <what>".
	Kind string
	// Detail is free text for people (a response excerpt, the underlying error).
	Detail string
	Err    error
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return e.Kind
	}
	return e.Kind + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

// Kind returns the kind of err: an *Error's Kind, or "transport: ..." for the
// errors an http.Client returns, or "other".
func Kind(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return transportKind(err)
}

func transportKind(err error) string {
	s := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(s, "Client.Timeout") || strings.Contains(s, "timeout"):
		return "transport: timeout"
	case errors.Is(err, context.Canceled):
		return "transport: canceled"
	case strings.Contains(s, "connection refused"):
		return "transport: connection refused"
	case strings.Contains(s, "connection reset"):
		return "transport: connection reset"
	case strings.Contains(s, "EOF"):
		return "transport: EOF"
	case strings.Contains(s, "address already in use") || strings.Contains(s, "cannot assign requested address"):
		return "transport: no local port"
	case strings.Contains(s, "too many open files"):
		return "transport: too many open files"
	default:
		return "transport: other"
	}
}

func transportErr(err error) error {
	return &Error{Kind: transportKind(err), Detail: err.Error(), Err: err}
}

// httpErr classifies a non-success response: an OAuth error body gives
// "oauth <code>", anything else "http <status>".
func httpErr(status int, body []byte) error {
	var o struct {
		Error string `json:"error"`
		Desc  string `json:"error_description"`
	}
	if json.Unmarshal(body, &o) == nil && o.Error != "" {
		return &Error{Kind: "oauth " + o.Error, Detail: fmt.Sprintf("%d %s", status, o.Desc)}
	}
	return &Error{Kind: fmt.Sprintf("http %d", status), Detail: excerpt(string(body))}
}

// PKCE is a verifier and its S256 challenge.
type PKCE struct{ Verifier, Challenge string }

// NewPKCE makes a fresh PKCE pair.
func NewPKCE() PKCE {
	v := RandomString(48)
	h := sha256.Sum256([]byte(v))
	return PKCE{Verifier: v, Challenge: base64.RawURLEncoding.EncodeToString(h[:])}
}

// RandomString returns n URL-safe random characters.
func RandomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// AuthURL builds an authorization request (code flow, PKCE S256, state, nonce).
func (b *Broker) AuthURL(c Client, p PKCE, scope string) string {
	return b.AuthURLWith(c, p, scope, nil)
}

// AuthURLWith is AuthURL with more parameters (acr_values, idp_hint).
func (b *Broker) AuthURLWith(c Client, p PKCE, scope string, extra url.Values) string {
	q := url.Values{
		"client_id": {c.ID}, "response_type": {"code"}, "scope": {scope},
		"redirect_uri": {c.RedirectURI}, "state": {"state-" + RandomString(12)}, "nonce": {"nonce-" + RandomString(12)},
		"code_challenge": {p.Challenge}, "code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	return b.Issuer + "/authorize?" + q.Encode()
}

// ours reports a URL on the broker: the issuer's origin or the card origin.
func (b *Broker) ours(u *url.URL) bool {
	for _, origin := range []string{b.Issuer, b.CardOrigin} {
		if o, err := url.Parse(origin); err == nil && origin != "" && u.Scheme == o.Scheme && u.Host == o.Host {
			return true
		}
	}
	return false
}

// Walk follows an authorization request in browser br: it posts user's password
// when the password form shows up (a zero user stops there with an error), allows
// consent when asked, follows the broker's redirects, and returns the code from
// the redirect to the client.
func (b *Broker) Walk(ctx context.Context, br *http.Client, authURL string, user User) (code string, err error) {
	next, method, form := authURL, http.MethodGet, url.Values(nil)
	loggedIn, consented := false, false
	for range 15 {
		var req *http.Request
		if method == http.MethodPost {
			req, err = http.NewRequestWithContext(ctx, method, next, strings.NewReader(form.Encode()))
			if err != nil {
				return "", err
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", b.Issuer)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
		} else if req, err = http.NewRequestWithContext(ctx, method, next, nil); err != nil {
			return "", err
		}
		resp, err := br.Do(req)
		if err != nil {
			return "", transportErr(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return "", transportErr(err)
		}
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc, err := resp.Location()
			if err != nil {
				return "", &Error{Kind: "flow: bad redirect", Detail: err.Error()}
			}
			if !b.ours(loc) {
				q := loc.Query()
				if e := q.Get("error"); e != "" {
					return "", &Error{Kind: "oauth " + e, Detail: q.Get("error_description")}
				}
				if code := q.Get("code"); code != "" {
					return code, nil
				}
				return "", &Error{Kind: "flow: no code in callback", Detail: loc.String()}
			}
			next, method, form = loc.String(), http.MethodGet, nil
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return "", httpErr(resp.StatusCode, body)
		}
		page := string(body)
		switch {
		case strings.Contains(page, `name="password"`) && loggedIn:
			return "", &Error{Kind: "flow: login refused", Detail: "the password form came back"}
		case strings.Contains(page, `name="password"`):
			if user.Username == "" {
				return "", &Error{Kind: "flow: login needed", Detail: "the broker asked for a password (no SSO session)"}
			}
			form = hiddenFields(page)
			form.Set("username", user.Username)
			form.Set("password", user.Password)
			next, method, loggedIn = b.Issuer+formAction(page), http.MethodPost, true
		case strings.Contains(page, `name="decision"`) && !consented:
			form = hiddenFields(page)
			form.Set("decision", "allow")
			next, method, consented = b.Issuer+formAction(page), http.MethodPost, true
		default:
			return "", &Error{Kind: "flow: unexpected page", Detail: excerpt(page)}
		}
	}
	return "", &Error{Kind: "flow: too many steps"}
}

// Tokens is a token endpoint response.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
}

// Post posts form to path (relative to the issuer) with client_secret_basic
// when c.ID is set, and returns the body of a 200 response or a classified error.
func (b *Broker) Post(ctx context.Context, path string, c Client, form url.Values) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.ID != "" {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	}
	return b.do(req)
}

// Get fetches path (relative to the issuer) and returns the body of a 200.
func (b *Broker) Get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.Issuer+path, nil)
	if err != nil {
		return nil, err
	}
	return b.do(req)
}

func (b *Broker) do(req *http.Request) ([]byte, error) {
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return nil, transportErr(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, transportErr(err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, httpErr(resp.StatusCode, body)
	}
	return body, nil
}

// Token posts form to the token endpoint and decodes the tokens.
func (b *Broker) Token(ctx context.Context, c Client, form url.Values) (*Tokens, error) {
	body, err := b.Post(ctx, "/token", c, form)
	if err != nil {
		return nil, err
	}
	var t Tokens
	if err := json.Unmarshal(body, &t); err != nil || t.AccessToken == "" {
		return nil, &Error{Kind: "flow: bad token response", Detail: excerpt(string(body))}
	}
	return &t, nil
}

// CodeFlow runs authorize (logging user in if the browser has no SSO session) ->
// code -> token for client c.
func (b *Broker) CodeFlow(ctx context.Context, br *http.Client, c Client, user User, scope string) (*Tokens, error) {
	return b.CodeFlowWith(ctx, br, c, user, scope, nil)
}

// CodeFlowWith is CodeFlow with more authorization parameters: acr_values=eidas3
// in a browser holding an agent card is a card login (the broker sends the
// browser to its card origin, which reads the card in the TLS handshake).
func (b *Broker) CodeFlowWith(ctx context.Context, br *http.Client, c Client, user User, scope string, extra url.Values) (*Tokens, error) {
	p := NewPKCE()
	code, err := b.Walk(ctx, br, b.AuthURLWith(c, p, scope, extra), user)
	if err != nil {
		return nil, err
	}
	return b.Token(ctx, c, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {c.RedirectURI}, "code_verifier": {p.Verifier}})
}

// ClientCredentials asks a token for c itself.
func (b *Broker) ClientCredentials(ctx context.Context, c Client, scope, audience string) (*Tokens, error) {
	form := url.Values{"grant_type": {GrantClientCredential}}
	if scope != "" {
		form.Set("scope", scope)
	}
	if audience != "" {
		form.Set("audience", audience)
	}
	return b.Token(ctx, c, form)
}

// Refresh rotates a refresh token.
func (b *Broker) Refresh(ctx context.Context, c Client, refreshToken string) (*Tokens, error) {
	t, err := b.Token(ctx, c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
	if err == nil && t.RefreshToken == "" {
		return nil, &Error{Kind: "flow: no refresh token"}
	}
	return t, err
}

// Exchange trades subjectToken (an access token issued to or aimed at c) for one
// aimed at audience (RFC 8693).
func (b *Broker) Exchange(ctx context.Context, c Client, subjectToken, audience, scope string) (*Tokens, error) {
	form := url.Values{"grant_type": {GrantTokenExchange}, "subject_token": {subjectToken},
		"subject_token_type": {TokenTypeAccessToken}, "audience": {audience}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return b.Token(ctx, c, form)
}

// Introspect checks that token is active (RFC 7662).
func (b *Broker) Introspect(ctx context.Context, c Client, token string) error {
	body, err := b.Post(ctx, "/token/introspection", c, url.Values{"token": {token}})
	if err != nil {
		return err
	}
	var r struct {
		Active bool `json:"active"`
	}
	if json.Unmarshal(body, &r) != nil || !r.Active {
		return &Error{Kind: "flow: token not active", Detail: excerpt(string(body))}
	}
	return nil
}

var (
	hiddenRe = regexp.MustCompile(`<input[^>]*type="hidden"[^>]*>`)
	nameRe   = regexp.MustCompile(`name="([^"]*)"`)
	valueRe  = regexp.MustCompile(`value="([^"]*)"`)
	actionRe = regexp.MustCompile(`<form[^>]*action="([^"]*)"`)
	unescape = strings.NewReplacer("&amp;", "&", "&#34;", `"`, "&quot;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#43;", "+", "&#x2F;", "/")
)

func hiddenFields(page string) url.Values {
	v := url.Values{}
	for _, in := range hiddenRe.FindAllString(page, -1) {
		n, val := nameRe.FindStringSubmatch(in), valueRe.FindStringSubmatch(in)
		if n != nil && val != nil {
			v.Set(unescape.Replace(n[1]), unescape.Replace(val[1]))
		}
	}
	return v
}

func formAction(page string) string {
	m := actionRe.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return unescape.Replace(m[1])
}

func excerpt(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
