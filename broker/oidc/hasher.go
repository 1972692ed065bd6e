package oidc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"

	"github.com/ory/fosite"
)

// cachingHasher wraps fosite's bcrypt client-secret hasher so that a client that
// authenticates on every token request pays bcrypt once, not every time: bcrypt
// (cost ≥ 10) costs tens of milliseconds, which would cap the token endpoint at a
// few dozen requests per second on two cores. Only successful comparisons are
// remembered, as an HMAC (per-process random key) of the stored hash and the
// presented secret, so a wrong secret always pays the full bcrypt cost and nothing
// in memory helps guess a secret. The cache is bounded and forgets everything when
// full; a rotated secret changes the stored hash and so misses.
type cachingHasher struct {
	inner fosite.Hasher
	key   []byte
	mu    sync.RWMutex
	ok    map[[32]byte]struct{}
	max   int
}

func newCachingHasher(inner fosite.Hasher, max int) *cachingHasher {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic("oidc: crypto/rand: " + err.Error())
	}
	return &cachingHasher{inner: inner, key: key, ok: map[[32]byte]struct{}{}, max: max}
}

func (h *cachingHasher) digest(hash, data []byte) [32]byte {
	m := hmac.New(sha256.New, h.key)
	m.Write(hash)
	m.Write([]byte{0})
	m.Write(data)
	var d [32]byte
	copy(d[:], m.Sum(nil))
	return d
}

func (h *cachingHasher) Compare(ctx context.Context, hash, data []byte) error {
	d := h.digest(hash, data)
	h.mu.RLock()
	_, hit := h.ok[d]
	h.mu.RUnlock()
	if hit {
		return nil
	}
	if err := h.inner.Compare(ctx, hash, data); err != nil {
		return err
	}
	h.mu.Lock()
	if len(h.ok) >= h.max {
		h.ok = map[[32]byte]struct{}{}
	}
	h.ok[d] = struct{}{}
	h.mu.Unlock()
	return nil
}

func (h *cachingHasher) Hash(ctx context.Context, data []byte) ([]byte, error) {
	return h.inner.Hash(ctx, data)
}
