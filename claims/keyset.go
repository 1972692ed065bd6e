package claims

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// maxJWKSBytes bounds the JWKS document read from the issuer.
const maxJWKSBytes = 1 << 20

// minRSABits is the smallest RSA modulus accepted from a JWKS (RFC 7518 §3.3:
// "A key of size 2048 bits or larger MUST be used").
const minRSABits = 2048

// errRateLimited is returned by keySet.refresh when the last fetch attempt is
// more recent than RefreshMinInterval; the caller turns it into ErrUnknownKey.
var errRateLimited = errors.New("claims: JWKS refetch rate-limited")

// verificationKey is one public key from the issuer's JWKS.
type verificationKey struct {
	key any    // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
	alg string // the JWK "alg" member (RFC 7517 §4.4), "" when absent
}

// fits reports whether the key may check a signature made with alg: the key
// type must be the algorithm's (RFC 7518 §3.1) and, when the JWK names an
// algorithm, it must be this one. go-jose also refuses a mismatch; checking here
// keeps the rule independent of the library.
func (k verificationKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch key := k.key.(type) {
	case *ecdsa.PublicKey:
		switch alg {
		case string(jose.ES256):
			return key.Curve == elliptic.P256()
		case string(jose.ES384):
			return key.Curve == elliptic.P384()
		case string(jose.ES512):
			return key.Curve == elliptic.P521()
		}
	case *rsa.PublicKey:
		switch alg {
		case string(jose.RS256), string(jose.RS384), string(jose.RS512),
			string(jose.PS256), string(jose.PS384), string(jose.PS512):
			return true
		}
	case ed25519.PublicKey:
		return alg == string(jose.EdDSA)
	}
	return false
}

// keySnapshot is an immutable view of the JWKS, swapped atomically so the hot
// path reads keys without taking a lock.
type keySnapshot struct {
	keys      map[string][]verificationKey // by kid; RFC 7517 §4.5 allows a kid shared by keys of different types
	fetchedAt time.Time
}

func (s *keySnapshot) lookup(kid, alg string) (verificationKey, bool) {
	if s == nil {
		return verificationKey{}, false
	}
	for _, k := range s.keys[kid] {
		if k.fits(alg) {
			return k, true
		}
	}
	return verificationKey{}, false
}

// fetchCall is one JWKS fetch in flight; concurrent callers wait on done.
type fetchCall struct {
	done chan struct{}
	snap *keySnapshot
	err  error
}

// keySet caches the issuer's JWKS. It refetches when the cache is older than
// ttl or a token names a kid it does not know (key rotation: OpenID Connect
// Core §10.1.1 has the issuer publish a new key before using it), but never
// more often than once per minInterval, so tokens with random kids cannot make
// the resource server hammer the issuer. Concurrent callers share one fetch.
type keySet struct {
	url          string
	client       *http.Client
	now          func() time.Time
	ttl          time.Duration
	minInterval  time.Duration
	fetchTimeout time.Duration

	snap atomic.Pointer[keySnapshot]

	mu          sync.Mutex
	lastAttempt time.Time
	inflight    *fetchCall
	fetches     atomic.Int64
}

// key returns the key for kid that fits alg.
func (ks *keySet) key(ctx context.Context, kid, alg string) (verificationKey, error) {
	return ks.keyAfter(ctx, kid, alg, ks.snap.Load())
}

// keyAfter is key once the caller has read seen, the cached snapshot. A fetch
// may end between that read and the refresh below: the refresh is then
// rate-limited and the keys to fall back on are that fetch's, not seen's.
func (ks *keySet) keyAfter(ctx context.Context, kid, alg string, seen *keySnapshot) (verificationKey, error) {
	now := ks.now()
	if seen != nil && now.Sub(seen.fetchedAt) < ks.ttl {
		if k, ok := ks.snap.Load().lookup(kid, alg); ok {
			return k, nil
		}
	}
	fresh, err := ks.refresh(ctx, now)
	if err != nil {
		// A stale key the issuer published is better than refusing every token
		// while the JWKS endpoint is down or we are rate-limited. Snapshots
		// only move forward (one fetch at a time), so the latest is the best.
		if k, ok := ks.snap.Load().lookup(kid, alg); ok {
			return k, nil
		}
		if errors.Is(err, errRateLimited) {
			return verificationKey{}, invalid(ErrUnknownKey, fmt.Sprintf("kid %q for %s not in the issuer's key set (refetch rate-limited)", kid, alg))
		}
		return verificationKey{}, err
	}
	if k, ok := fresh.lookup(kid, alg); ok {
		return k, nil
	}
	return verificationKey{}, invalid(ErrUnknownKey, fmt.Sprintf("kid %q for %s not in the issuer's key set", kid, alg))
}

// refresh fetches the JWKS, or joins the fetch in flight.
func (ks *keySet) refresh(ctx context.Context, now time.Time) (*keySnapshot, error) {
	ks.mu.Lock()
	call := ks.inflight
	if call == nil {
		if !ks.lastAttempt.IsZero() && now.Sub(ks.lastAttempt) < ks.minInterval {
			ks.mu.Unlock()
			return nil, errRateLimited
		}
		ks.lastAttempt = now
		call = &fetchCall{done: make(chan struct{})}
		ks.inflight = call
		// The fetch outlives a caller that gives up: the others waiting on it,
		// and the next token, still want the result.
		go ks.run(context.WithoutCancel(ctx), call)
	}
	ks.mu.Unlock()
	select {
	case <-call.done:
		return call.snap, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (ks *keySet) run(ctx context.Context, call *fetchCall) {
	ctx, cancel := context.WithTimeout(ctx, ks.fetchTimeout)
	defer cancel()
	snap, err := ks.fetch(ctx)
	if err == nil {
		ks.snap.Store(snap)
	}
	call.snap, call.err = snap, err
	ks.mu.Lock()
	ks.inflight = nil
	ks.mu.Unlock()
	close(call.done)
}

func (ks *keySet) fetch(ctx context.Context) (*keySnapshot, error) {
	ks.fetches.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySetUnavailable, err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySetUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s: status %d", ErrKeySetUnavailable, ks.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySetUnavailable, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("%w: JWKS larger than %d bytes", ErrKeySetUnavailable, maxJWKSBytes)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeySetUnavailable, err)
	}
	return &keySnapshot{keys: keys, fetchedAt: ks.now()}, nil
}

// parseJWKS keeps the keys usable for verifying signatures: public (a JWKS
// carrying private parts is refused whole, since that key is compromised),
// asymmetric (a symmetric key is skipped), with a kid, "use" absent or "sig" (RFC 7517 §4.2), RSA of at least
// 2048 bits. Keys it cannot parse (unknown kty, say) are skipped, not fatal.
func parseJWKS(body []byte) (map[string][]verificationKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	out := map[string][]verificationKey{}
	for _, raw := range doc.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			continue
		}
		if jwk.KeyID == "" || (jwk.Use != "" && jwk.Use != "sig") {
			continue
		}
		switch key := jwk.Key.(type) {
		case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
			return nil, fmt.Errorf("JWKS: key %q carries private key material", jwk.KeyID)
		case *rsa.PublicKey:
			if key.N.BitLen() < minRSABits {
				continue
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			continue
		}
		out[jwk.KeyID] = append(out[jwk.KeyID], verificationKey{key: jwk.Key, alg: jwk.Algorithm})
	}
	if len(out) == 0 {
		return nil, errors.New("JWKS: no usable signing key")
	}
	return out, nil
}
