package browser

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// goRP is relying party A: a web application written with golang.org/x/oauth2 and
// go-oidc, as a ministry application would be. It binds each login to the browser
// with its own cookie (rpa_flow), verifies the ID token (signature, iss, aud, exp,
// nonce), reads userinfo, and shows the claims on /me. /logout is RP-initiated
// logout with id_token_hint.
type goRP struct {
	URL string
	srv *httptest.Server

	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
	conf     oauth2.Config
	ctx      context.Context
	endSess  string

	mu       sync.Mutex
	flows    map[string]rpFlow     // by flow cookie
	sessions map[string]*rpSession // by session cookie
	last     *rpSession
	errors   []string
}

type rpFlow struct{ state, nonce, verifier string }

type rpSession struct {
	IDToken string
	Claims  map[string]any // ID token
	Info    map[string]any // userinfo
}

// Cookie names of A: peers share 127.0.0.1 and cookies ignore ports.
const (
	rpaFlowCookie    = "rpa_flow"
	rpaSessionCookie = "rpa_session"
)

func newGoRP(t *testing.T) *goRP {
	rp := &goRP{flows: map[string]rpFlow{}, sessions: map[string]*rpSession{}}
	rp.srv = httptest.NewServer(http.HandlerFunc(rp.serve))
	t.Cleanup(rp.srv.Close)
	rp.URL = rp.srv.URL
	return rp
}

// start discovers the broker (with a client that trusts its certificate).
func (rp *goRP) start(t *testing.T, issuer string, client *http.Client) {
	t.Helper()
	rp.ctx = oidc.ClientContext(context.Background(), client)
	p, err := oidc.NewProvider(rp.ctx, issuer)
	if err != nil {
		t.Fatalf("RP A: discovery: %v", err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := p.Claims(&meta); err != nil || meta.EndSession == "" {
		t.Fatalf("RP A: no end_session_endpoint (%v)", err)
	}
	rp.provider, rp.endSess = p, meta.EndSession
	rp.verifier = p.Verifier(&oidc.Config{ClientID: rpAID, SupportedSigningAlgs: []string{"ES256", "RS256"}})
	rp.conf = oauth2.Config{ClientID: rpAID, ClientSecret: rpASecret, Endpoint: p.Endpoint(),
		RedirectURL: rp.URL + "/callback", Scopes: strings.Fields(scopesWant)}
}

// Last returns the latest session A opened.
func (rp *goRP) Last() *rpSession {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.last
}

// Errors returns the errors A showed.
func (rp *goRP) Errors() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return slices.Clone(rp.errors)
}

func (rp *goRP) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case "/":
		page(w, "Application A", `<p><a id="login" href="/login">Se connecter avec JusticeConnect</a></p>`)
	case "/login":
		f := rpFlow{state: random(), nonce: random(), verifier: oauth2.GenerateVerifier()}
		id := random()
		rp.mu.Lock()
		rp.flows[id] = f
		rp.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: rpaFlowCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		opts := []oauth2.AuthCodeOption{oidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)}
		// Passed through to the authorization request when set.
		for _, name := range []string{"prompt", "ui_locales", "idp_hint"} {
			if v := r.URL.Query().Get(name); v != "" {
				opts = append(opts, oauth2.SetAuthURLParam(name, v))
			}
		}
		http.Redirect(w, r, rp.conf.AuthCodeURL(f.state, opts...), http.StatusFound)
	case "/callback":
		rp.callback(w, r)
	case "/me":
		c, err := r.Cookie(rpaSessionCookie)
		rp.mu.Lock()
		var s *rpSession
		if err == nil {
			s = rp.sessions[c.Value]
		}
		rp.mu.Unlock()
		if s == nil {
			page(w, "Application A", `<p id="anonymous">Vous n'êtes pas connecté.</p>`)
			return
		}
		var b strings.Builder
		b.WriteString(`<h2 id="welcome">Connecté</h2><dl id="claims">`)
		merged := map[string]any{}
		for k, v := range s.Claims {
			merged[k] = v
		}
		for k, v := range s.Info {
			merged[k] = v
		}
		keys := make([]string, 0, len(merged))
		for k := range merged {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			v, _ := json.Marshal(merged[k])
			fmt.Fprintf(&b, "<dt>%s</dt><dd id=\"claim-%s\">%s</dd>\n", html.EscapeString(k), html.EscapeString(k), html.EscapeString(strings.Trim(string(v), `"`)))
		}
		b.WriteString(`</dl><p><a id="logout" href="/logout">Se déconnecter</a></p>`)
		page(w, "Application A", b.String())
	case "/logout":
		c, err := r.Cookie(rpaSessionCookie)
		rp.mu.Lock()
		var s *rpSession
		if err == nil {
			s = rp.sessions[c.Value]
			delete(rp.sessions, c.Value)
		}
		rp.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: rpaSessionCookie, Path: "/", MaxAge: -1})
		q := url.Values{"post_logout_redirect_uri": {rp.URL + "/logged-out"}, "state": {"logout-state"}, "client_id": {rpAID}}
		if s != nil {
			q.Set("id_token_hint", s.IDToken)
		}
		http.Redirect(w, r, rp.endSess+"?"+q.Encode(), http.StatusFound)
	case "/logged-out":
		page(w, "Application A", fmt.Sprintf(`<p id="logged-out">Vous êtes déconnecté de l'application A (state %s).</p>`, html.EscapeString(r.URL.Query().Get("state"))))
	default:
		http.NotFound(w, r)
	}
}

func (rp *goRP) callback(w http.ResponseWriter, r *http.Request) {
	fail := func(msg string) {
		rp.mu.Lock()
		rp.errors = append(rp.errors, msg)
		rp.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		page(w, "Application A", `<p id="error">`+html.EscapeString(msg)+`</p>`)
	}
	c, err := r.Cookie(rpaFlowCookie)
	if err != nil {
		fail("no flow cookie")
		return
	}
	rp.mu.Lock()
	f, ok := rp.flows[c.Value]
	delete(rp.flows, c.Value)
	rp.mu.Unlock()
	q := r.URL.Query()
	switch {
	case !ok:
		fail("unknown flow")
		return
	case q.Get("state") != f.state:
		fail("state mismatch")
		return
	case q.Get("error") != "":
		fail(q.Get("error"))
		return
	}
	tok, err := rp.conf.Exchange(rp.ctx, q.Get("code"), oauth2.VerifierOption(f.verifier))
	if err != nil {
		fail("token: " + err.Error())
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(rp.ctx, raw)
	if err != nil {
		fail("id token: " + err.Error())
		return
	}
	if idt.Nonce != f.nonce {
		fail("nonce mismatch")
		return
	}
	s := &rpSession{IDToken: raw}
	if err := idt.Claims(&s.Claims); err != nil {
		fail(err.Error())
		return
	}
	ui, err := rp.provider.UserInfo(rp.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		fail("userinfo: " + err.Error())
		return
	}
	if err := ui.Claims(&s.Info); err != nil || ui.Subject != idt.Subject {
		fail("userinfo subject")
		return
	}
	id := random()
	rp.mu.Lock()
	rp.sessions[id] = s
	rp.last = s
	rp.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: rpaSessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/me", http.StatusSeeOther)
}

func page(w http.ResponseWriter, title, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>%s</title></head><body><h1>%s</h1>%s</body></html>`,
		html.EscapeString(title), html.EscapeString(title), body)
}

func random() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
