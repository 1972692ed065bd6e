package keys

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// Cookie key sizes for gorilla/securecookie: a 64-byte HMAC-SHA-256 hash key (the
// size securecookie recommends) and a 32-byte block key selecting AES-256.
const (
	cookieHashKeySize  = 64
	cookieBlockKeySize = 32
)

// CookieKeys returns the cookie key pairs every node shares, as the flat list
// gorilla/securecookie's CodecsFromPairs (and sessions.NewCookieStore) expect: hash
// key, block key, hash key, block key..., the encoding pair first. securecookie encodes with
// the first pair and decodes with any, so after RotateCookieKeys the previous pair
// still opens cookies until the session absolute timeout. The first call on an empty
// store creates a pair. The returned slices are copies.
func (m *Manager) CookieKeys(ctx context.Context) ([][]byte, error) {
	s, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	if len(s.cookies) == 0 {
		if err := m.ensureCookieKey(ctx); err != nil {
			return nil, err
		}
		if s, err = m.reload(ctx); err != nil {
			return nil, err
		}
		if len(s.cookies) == 0 {
			return nil, fmt.Errorf("keys: cookie key created but not found in the store")
		}
	}
	out := make([][]byte, len(s.cookies))
	for i, b := range s.cookies {
		out[i] = append([]byte(nil), b...)
	}
	return out, nil
}

// ensureCookieKey creates a cookie key pair unless the store has a current one. If
// two nodes create one at the same moment both pairs stay valid: every node lists
// both, and the oldest current pair encodes (build's order).
func (m *Manager) ensureCookieKey(ctx context.Context) error {
	unlock, err := m.lockWrites(ctx)
	if err != nil {
		return fmt.Errorf("keys: cookie keys: %w", err)
	}
	defer unlock()
	ks, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: cookie keys: list keys: %w", err)
	}
	for _, k := range ks {
		if k.Use == useCookie && k.State == storage.KeyCurrent {
			return nil
		}
	}
	return m.createCookieKey(ctx)
}

func (m *Manager) createCookieKey(ctx context.Context) error {
	raw := make([]byte, cookieHashKeySize+cookieBlockKeySize)
	rand.Read(raw)
	kid := newKID()
	sealed, err := seal(m.kek, raw, kid, useCookie, "")
	clear(raw)
	if err != nil {
		return err
	}
	now := m.opts.Now()
	k := &storage.Key{ID: kid, Use: useCookie, State: storage.KeyCurrent, PrivateSealed: sealed, CreatedAt: now, ActivatedAt: &now}
	if err := m.store.CreateKey(ctx, k); err != nil {
		return fmt.Errorf("keys: create cookie key: %w", err)
	}
	m.log.Info("keys: cookie key created", "kid", kid)
	return nil
}

// RotateCookieKeys creates a new cookie key pair that encodes from now on, and
// retires the previous ones; they keep opening cookies for CookieKeyLifetime (the
// session absolute timeout) plus twice RefreshInterval. The new pair is created
// before the old ones are retired, so there is never a moment without a current pair.
// Nodes that read the cookie keys once at start see the new pair after a restart.
func (m *Manager) RotateCookieKeys(ctx context.Context) error {
	if m.err != nil {
		return m.err
	}
	unlock, err := m.lockWrites(ctx)
	if err != nil {
		return fmt.Errorf("keys: rotate cookie keys: %w", err)
	}
	defer unlock()
	if _, err := m.reload(ctx); err != nil { // a wrong KEK must not lead to a new pair
		return fmt.Errorf("keys: rotate cookie keys: %w", err)
	}
	ks, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: rotate cookie keys: list keys: %w", err)
	}
	if err := m.createCookieKey(ctx); err != nil {
		return err
	}
	now := m.opts.Now()
	var old []*storage.Key
	for _, k := range ks {
		if k.Use == useCookie && k.State == storage.KeyCurrent {
			m.retire(k, now, m.opts.CookieKeyLifetime+m.staleLimit())
			old = append(old, k)
		}
	}
	if len(old) > 0 {
		if err := m.store.UpdateKeys(ctx, old); err != nil {
			return fmt.Errorf("keys: rotate cookie keys: update keys: %w", err)
		}
	}
	if _, err := m.reload(ctx); err != nil {
		return fmt.Errorf("keys: rotate cookie keys: %w", err)
	}
	return nil
}

func (m *Manager) openCookie(k *storage.Key, prev *snapshot, s *snapshot) ([][]byte, error) {
	if prev != nil {
		if o, ok := prev.opened[k.ID]; ok && o.pair != nil && string(o.sealed) == string(k.PrivateSealed) {
			s.opened[k.ID] = o
			return o.pair, nil
		}
	}
	raw, err := open(m.kek, k.PrivateSealed, k.ID, useCookie, "")
	if err != nil {
		return nil, err
	}
	if len(raw) != cookieHashKeySize+cookieBlockKeySize {
		return nil, fmt.Errorf("keys: cookie key %s has %d bytes, want %d", k.ID, len(raw), cookieHashKeySize+cookieBlockKeySize)
	}
	pair := [][]byte{raw[:cookieHashKeySize:cookieHashKeySize], raw[cookieHashKeySize:]}
	s.opened[k.ID] = openedKey{sealed: k.PrivateSealed, pair: pair}
	return pair, nil
}
