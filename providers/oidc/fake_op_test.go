package oidc

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/providers"
)

// The fake OP is a Go OpenID Provider for the crafted, hostile answers a certified
// OP never sends (SECURITY.md §3.F and §3.K). Its token endpoint checks the client
// secret and PKCE like a real one, so a test that passes proves the provider sent
// them.

const (
	fakeClientID     = "justiceconnect"
	fakeClientSecret = "secret-0123456789-0123456789-0123456789"
	fakeCallback     = "https://broker.justice.example/login/callback/bailiffs"
	fakeCode         = "good-code"
	fakeSub          = "cj-75-0042"
)

// testClock is a settable clock shared by the provider and the fake OP.
type testClock struct{ ns atomic.Int64 }

func newClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *testClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type fakeOP struct {
	t     testing.TB
	srv   *httptest.Server
	clock *testClock
	key   *rsa.PrivateKey
	kid   string

	mu              sync.Mutex
	jwks            []jose.JSONWebKey
	jwksHits        int
	jwksStatus      int // when set, /jwks answers this status instead
	issSupported    bool
	discoveryIssuer string
	challenge       string
	idToken         string
	refreshIDToken  string
	tokenHandler    http.HandlerFunc
	userinfoHandler http.HandlerFunc
}

func newFakeOP(t testing.TB, clock *testClock) *fakeOP {
	t.Helper()
	op := &fakeOP{t: t, clock: clock, key: rsaKey(t), kid: "k1", issSupported: true}
	op.jwks = []jose.JSONWebKey{{Key: &op.key.PublicKey, KeyID: op.kid, Algorithm: "RS256", Use: "sig"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		defer op.mu.Unlock()
		iss := op.discoveryIssuer
		if iss == "" {
			iss = op.srv.URL
		}
		writeJSON(w, map[string]any{
			"issuer":                 iss,
			"authorization_endpoint": op.srv.URL + "/auth",
			"token_endpoint":         op.srv.URL + "/token",
			"userinfo_endpoint":      op.srv.URL + "/userinfo",
			"jwks_uri":               op.srv.URL + "/jwks",
			"end_session_endpoint":   op.srv.URL + "/session/end",
			"authorization_response_iss_parameter_supported": op.issSupported,
			"code_challenge_methods_supported":               []string{"S256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		defer op.mu.Unlock()
		op.jwksHits++
		if op.jwksStatus != 0 {
			http.Error(w, "unavailable", op.jwksStatus)
			return
		}
		writeJSON(w, jose.JSONWebKeySet{Keys: op.jwks})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		h := op.tokenHandler
		op.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		op.token(w, r)
	})
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		h := op.userinfoHandler
		op.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer at-1" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if h != nil {
			h(w, r)
			return
		}
		writeJSON(w, map[string]any{"sub": fakeSub, "office": "Étude Dupont", "professional_id": "CJ-75-0042"})
	})
	op.srv = httptest.NewServer(mux)
	t.Cleanup(op.srv.Close)
	return op
}

// token is a strict token endpoint: client_secret_basic, the code, the redirect URI
// and the PKCE verifier must all be right (RFC 6749 §4.1.3, RFC 7636 §4.6).
func (op *fakeOP) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok || id != fakeClientID || secret != fakeClientSecret {
		w.WriteHeader(http.StatusUnauthorized)
		writeJSON(w, map[string]string{"error": "invalid_client"})
		return
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	switch r.PostFormValue("grant_type") {
	case "authorization_code":
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if r.PostFormValue("code") != fakeCode || r.PostFormValue("redirect_uri") != fakeCallback ||
			base64.RawURLEncoding.EncodeToString(sum[:]) != op.challenge {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]string{"error": "invalid_grant"})
			return
		}
		writeJSON(w, map[string]any{"access_token": "at-1", "token_type": "Bearer", "id_token": op.idToken, "refresh_token": "rt-1", "expires_in": 300})
	case "refresh_token":
		if r.PostFormValue("refresh_token") != "rt-1" {
			w.WriteHeader(http.StatusBadRequest)
			writeJSON(w, map[string]string{"error": "invalid_grant"})
			return
		}
		resp := map[string]any{"access_token": "at-1", "token_type": "bearer", "refresh_token": "rt-2"}
		if op.refreshIDToken != "" {
			resp["id_token"] = op.refreshIDToken
		}
		writeJSON(w, resp)
	default:
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]string{"error": "unsupported_grant_type"})
	}
}

func (op *fakeOP) set(f func(op *fakeOP)) {
	op.mu.Lock()
	defer op.mu.Unlock()
	f(op)
}

// signer describes how a test token is signed.
type signer struct {
	alg     jose.SignatureAlgorithm
	key     any // *rsa.PrivateKey, *ecdsa.PrivateKey or []byte (HMAC)
	kid     string
	typ     string
	headers map[jose.HeaderKey]any
	none    bool // alg "none", unsigned
}

func (op *fakeOP) defaultSigner() signer {
	return signer{alg: jose.RS256, key: op.key, kid: op.kid}
}

func mint(t testing.TB, s signer, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	if s.none {
		header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"` + s.kid + `"}`))
		return header + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	}
	opts := &jose.SignerOptions{}
	if s.typ != "" {
		opts = opts.WithType(jose.ContentType(s.typ))
	}
	for k, v := range s.headers {
		opts = opts.WithHeader(k, v)
	}
	key := s.key
	if s.kid != "" {
		key = jose.JSONWebKey{Key: s.key, KeyID: s.kid}
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// idClaims are a valid ID token's claims for nonce.
func (op *fakeOP) idClaims(nonce string) map[string]any {
	now := op.clock.Now()
	return map[string]any{
		"iss": op.srv.URL, "aud": fakeClientID, "sub": fakeSub, "nonce": nonce,
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "auth_time": now.Add(-10 * time.Second).Unix(),
		"acr": "urn:cj:mfa", "amr": []string{"pwd", "otp"}, "sid": "sid-1",
		"given_name": "Jeanne", "family_name": "Dupont", "preferred_username": "jdupont",
		"profession": "commissaire_de_justice", "groups": []any{"cj", []string{"idf", "paris"}}, "email_verified": true,
	}
}

func newFakeProvider(t testing.TB, op *fakeOP, mutate func(*Config)) *Provider {
	t.Helper()
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(fakeClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Issuer:            op.srv.URL,
		ClientID:          fakeClientID,
		ClientSecretFile:  secretFile,
		InsecureAllowHTTP: true,
		Timeout:           2 * time.Second,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(cfg, Options{Now: op.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// loginCase is one authorization response and token the fake OP will give.
type loginCase struct {
	op      *fakeOP
	pending pending
	claims  map[string]any
	signer  signer
	query   url.Values
	raw     []byte // pending bytes handed to Complete
	token   string // when set, the ID token instead of mint(signer, claims)
	req     providers.LoginRequest
}

// begin runs Begin and prepares a valid answer that mutate can spoil.
func (op *fakeOP) begin(t testing.TB, p *Provider, req providers.LoginRequest) *loginCase {
	t.Helper()
	if req.State == "" {
		req.State = "flow-1.secret-0123456789"
	}
	if req.CallbackURL == "" {
		req.CallbackURL = fakeCallback
	}
	step, err := p.Begin(context.Background(), req)
	if err != nil {
		t.Fatalf("Begin: %v", err)
	}
	u, err := url.Parse(step.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	c := &loginCase{op: op, raw: step.Pending, signer: op.defaultSigner(), req: req}
	if err := json.Unmarshal(step.Pending, &c.pending); err != nil {
		t.Fatal(err)
	}
	op.set(func(op *fakeOP) { op.challenge = u.Query().Get("code_challenge") })
	c.claims = op.idClaims(c.pending.Nonce)
	c.query = url.Values{"code": {fakeCode}, "state": {c.pending.State}, "iss": {op.srv.URL}}
	return c
}

func (c *loginCase) complete(t testing.TB, p *Provider) (providers.Identity, error) {
	t.Helper()
	tok := c.token
	if tok == "" {
		tok = mint(t, c.signer, c.claims)
	}
	c.op.set(func(op *fakeOP) { op.idToken = tok })
	r := httptest.NewRequest(http.MethodGet, fakeCallback+"?"+c.query.Encode(), nil)
	return p.Complete(context.Background(), r, c.raw)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
