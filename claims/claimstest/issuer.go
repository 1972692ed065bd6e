package claimstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/claims"
)

// Default values Mint fills in.
const (
	DefaultAudience = "https://api.justice.test"
	DefaultClientID = "claimstest-client"
	DefaultSubject  = "claimstest-subject"
	DefaultLifetime = 5 * time.Minute
)

// Issuer is a fake JusticeConnect issuer: a signing key and a JWKS endpoint.
type Issuer struct {
	t      testing.TB
	srv    *httptest.Server
	now    func() time.Time
	mu     sync.Mutex
	key    *ecdsa.PrivateKey
	kid    string
	keys   []jose.JSONWebKey // published, newest first
	hits   atomic.Int64
	status atomic.Int64 // JWKS answer status override; 0 = 200
}

// Option configures NewIssuer.
type Option func(*Issuer)

// WithClock makes Mint use now for iat and exp defaults.
func WithClock(now func() time.Time) Option { return func(i *Issuer) { i.now = now } }

// NewIssuer starts an issuer with a fresh ES256 key; it stops with the test.
// Its issuer URL is the server's base URL; the JWKS is at Issuer()+"/jwks", as
// on the broker.
func NewIssuer(t testing.TB, opts ...Option) *Issuer {
	t.Helper()
	i := &Issuer{t: t, now: time.Now}
	for _, o := range opts {
		o(i)
	}
	i.Rotate()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks", i.serveJWKS)
	i.srv = httptest.NewServer(mux)
	t.Cleanup(i.srv.Close)
	return i
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	i.hits.Add(1)
	if s := i.status.Load(); s != 0 {
		http.Error(w, "unavailable", int(s))
		return
	}
	i.mu.Lock()
	set := jose.JSONWebKeySet{Keys: append([]jose.JSONWebKey(nil), i.keys...)}
	i.mu.Unlock()
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_ = json.NewEncoder(w).Encode(set)
}

// Issuer returns the issuer identifier (the server's URL).
func (i *Issuer) Issuer() string { return i.srv.URL }

// JWKSURL returns the JWKS endpoint.
func (i *Issuer) JWKSURL() string { return i.srv.URL + "/jwks" }

// Client returns an HTTP client for the issuer's server.
func (i *Issuer) Client() *http.Client { return i.srv.Client() }

// KeyID returns the kid of the current signing key.
func (i *Issuer) KeyID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.kid
}

// PublicKey returns the current signing key's public half.
func (i *Issuer) PublicKey() *ecdsa.PublicKey {
	i.mu.Lock()
	defer i.mu.Unlock()
	return &i.key.PublicKey
}

// JWKSRequests counts the JWKS requests served so far.
func (i *Issuer) JWKSRequests() int { return int(i.hits.Load()) }

// FailJWKS makes the JWKS endpoint answer status (e.g. 503); 0 restores it.
func (i *Issuer) FailJWKS(status int) { i.status.Store(int64(status)) }

// Rotate generates a new signing key, publishes it first in the JWKS, keeps the
// previous keys published (as a broker does during rotation, OpenID Connect Core
// §10.1.1) and returns the new kid.
func (i *Issuer) Rotate() string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		i.t.Fatalf("claimstest: generating key: %v", err)
	}
	pub := jose.JSONWebKey{Key: &k.PublicKey, Algorithm: string(jose.ES256), Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		i.t.Fatalf("claimstest: thumbprint: %v", err)
	}
	pub.KeyID = hex.EncodeToString(tp[:8])
	i.mu.Lock()
	defer i.mu.Unlock()
	i.key, i.kid = k, pub.KeyID
	i.keys = append([]jose.JSONWebKey{pub}, i.keys...)
	return pub.KeyID
}

// Unpublish removes the key kid from the JWKS (the end of a rotation).
func (i *Issuer) Unpublish(kid string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := i.keys[:0]
	for _, k := range i.keys {
		if k.KeyID != kid {
			out = append(out, k)
		}
	}
	i.keys = out
}

// Fill returns c with the defaults Mint applies: iss, aud, sub, client_id,
// iat (now), exp (iat + 5 min) and a random jti where they are empty.
func (i *Issuer) Fill(c claims.Claims) claims.Claims {
	now := i.now()
	if c.Issuer == "" {
		c.Issuer = i.Issuer()
	}
	if len(c.Audience) == 0 {
		c.Audience = []string{DefaultAudience}
	}
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.IssuedAt == nil {
		c.IssuedAt = claims.NewNumericDate(now)
	}
	if c.Expiry == nil {
		c.Expiry = claims.NewNumericDate(c.IssuedAt.Time().Add(DefaultLifetime))
	}
	if c.JTI == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		c.JTI = base64.RawURLEncoding.EncodeToString(b[:])
	}
	return c
}

// Mint returns an access token for c (defaults filled, see Fill) with header
// {"alg":"ES256","typ":"at+jwt","kid":<current>}, as the broker issues them.
func (i *Issuer) Mint(c claims.Claims) string {
	return i.MintWithHeader(nil, c)
}

// MintWithHeader is Mint with header members added or replaced: set "typ" to
// "JWT" for an ID-token look-alike, "jwk" to embed a key, or a member to nil to
// remove it (nil "kid" gives a token without kid). The signature is always
// ES256 with the current key, whatever "alg" says.
func (i *Issuer) MintWithHeader(header map[string]any, c claims.Claims) string {
	payload, err := json.Marshal(i.Fill(c))
	if err != nil {
		i.t.Fatalf("claimstest: encoding claims: %v", err)
	}
	return i.Sign(header, payload)
}

// Sign signs payload verbatim (no defaults: use it for claim sets missing exp,
// with duplicate names, or not JSON at all) under the default header merged
// with header, as MintWithHeader.
func (i *Issuer) Sign(header map[string]any, payload []byte) string {
	i.mu.Lock()
	key, kid := i.key, i.kid
	i.mu.Unlock()
	h := map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid}
	for k, v := range header {
		if v == nil {
			delete(h, k)
		} else {
			h[k] = v
		}
	}
	hb, err := json.Marshal(h)
	if err != nil {
		i.t.Fatalf("claimstest: encoding header: %v", err)
	}
	return SignES256(key, hb, payload)
}

// SignES256 builds a compact JWS from raw header and payload bytes with an
// ES256 signature (RFC 7518 §3.4: R and S as 32-byte big-endian integers).
func SignES256(key *ecdsa.PrivateKey, header, payload []byte) string {
	input := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		panic(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// Config returns a claims.VerifierConfig for this issuer with audience
// DefaultAudience and the issuer's HTTP client; adjust fields as needed.
func (i *Issuer) Config() claims.VerifierConfig {
	return claims.VerifierConfig{
		Issuer:     i.Issuer(),
		Audience:   DefaultAudience,
		HTTPClient: i.Client(),
		Now:        i.now,
	}
}

// Verifier returns a claims.Verifier for Config, failing the test on error.
func (i *Issuer) Verifier() *claims.Verifier {
	v, err := claims.NewVerifier(i.Config())
	if err != nil {
		i.t.Fatalf("claimstest: %v", err)
	}
	return v
}
