package keys

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

// ErrUnknownKey is returned by PublicKey for a kid the store does not hold.
var ErrUnknownKey = errors.New("keys: unknown key")

// Options tune a Manager. Zero values take the documented defaults.
type Options struct {
	// Algorithms are the JWS algorithms (RFC 7518 §3.1) the broker signs with; each
	// has its own current and next key. Default ES256 and RS256 (OIDC Core 15.1
	// requires RS256 support; ES256 is our default ID token algorithm).
	Algorithms []string
	// MaxTokenLifetime is the longest lifetime of anything a key signs (ID tokens,
	// access tokens, logout tokens). A retired key stays published that long after
	// its retirement, plus twice RefreshInterval (see RetireUntil). Default 24h.
	MaxTokenLifetime time.Duration
	// RefreshInterval is how often the store is re-read so that several nodes
	// converge on the same keys after a rotation. Default 1 minute.
	RefreshInterval time.Duration
	// CookieKeyLifetime is how long a replaced cookie key pair still opens cookies:
	// the SSO session's absolute timeout. Default 24h.
	CookieKeyLifetime time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives key events (kid, alg, state; never key material). Default
	// slog.Default().
	Logger *slog.Logger
	// RSABits is the size of new RSA keys. Default 2048, the minimum RFC 7518 §3.3
	// allows; smaller values are refused.
	RSABits int
}

// Manager creates, seals, rotates and publishes the broker's keys. It is safe for
// concurrent use. Lookups (Signer, PublicKey, JWKS, JWKSJSON, CookieKeys) read an
// immutable in-memory snapshot through an atomic pointer and take no lock; the
// snapshot is rebuilt from the store every RefreshInterval and after every change
// this manager makes.
type Manager struct {
	store storage.KeyStore
	kek   []byte
	opts  Options
	log   *slog.Logger
	err   error // configuration problem found by NewManager, returned by every method

	snap       atomic.Pointer[snapshot]
	seq        atomic.Uint64 // orders reloads so an older read never replaces a newer one
	refreshing atomic.Bool   // one periodic refresh at a time; others use the old snapshot

	// missMu guards miss, the latest re-read caused by an unknown kid (see
	// reloadForMiss). It is taken only on a miss, never on the hot path.
	missMu sync.Mutex
	miss   *missReload

	// writeMu serialises this node's own writes (Ensure, Rotate, Prune, cookie key
	// changes) so they do not race each other; lookups never take it. Writes also
	// take the store's advisory lock when the store is shared (lockWrites); races
	// with a node that does not are resolved by the deterministic choice described
	// in the package documentation.
	writeMu sync.Mutex
}

// NewManager returns a manager for the keys in store, sealed with kek. Problems in
// kek or opts are reported by the first method called (Ensure at start).
func NewManager(store storage.KeyStore, kek []byte, opts Options) *Manager {
	if len(opts.Algorithms) == 0 {
		opts.Algorithms = []string{"ES256", "RS256"}
	} else {
		opts.Algorithms = slices.Clone(opts.Algorithms)
	}
	if opts.MaxTokenLifetime == 0 {
		opts.MaxTokenLifetime = 24 * time.Hour
	}
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = time.Minute
	}
	if opts.CookieKeyLifetime == 0 {
		opts.CookieKeyLifetime = 24 * time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RSABits == 0 {
		opts.RSABits = 2048
	}
	m := &Manager{store: store, kek: slices.Clone(kek), opts: opts, log: opts.Logger}
	var problems []string
	if store == nil {
		problems = append(problems, "no key store")
	}
	if len(kek) != KEKSize {
		problems = append(problems, fmt.Sprintf("key-encryption key is %d bytes, want %d", len(kek), KEKSize))
	}
	seen := map[string]bool{}
	for _, a := range opts.Algorithms {
		if !supported(a) {
			problems = append(problems, fmt.Sprintf("unsupported signing algorithm %q (supported: ES256, ES384, RS256, PS256, EdDSA)", a))
		}
		if seen[a] {
			problems = append(problems, fmt.Sprintf("signing algorithm %q listed twice", a))
		}
		seen[a] = true
	}
	if opts.MaxTokenLifetime < 0 || opts.RefreshInterval < 0 || opts.CookieKeyLifetime < 0 {
		problems = append(problems, "negative duration in options")
	}
	if opts.RSABits < 2048 {
		problems = append(problems, fmt.Sprintf("RSA keys of %d bits; RFC 7518 §3.3 requires 2048 or more", opts.RSABits))
	}
	if len(problems) > 0 {
		m.err = errors.New("keys: " + strings.Join(problems, "; "))
	}
	return m
}

// staleLimit is how long a node may keep signing from an old snapshot when the store
// cannot be re-read. It bounds how long after a rotation another node may still sign
// with the key that was just retired, so it is added to RetireUntil.
func (m *Manager) staleLimit() time.Duration { return 2 * m.opts.RefreshInterval }

// retention is how long a retired signing key stays published: every token signed
// with it, including by a node that has not yet seen the rotation, expires before.
func (m *Manager) retention() time.Duration { return m.opts.MaxTokenLifetime + m.staleLimit() }

func (m *Manager) configured(alg string) bool { return slices.Contains(m.opts.Algorithms, alg) }

// Ensure makes sure every configured algorithm has a current key and a next key, so
// the broker can sign from its first request and the next key is published before
// it ever signs. It first opens the keys already stored: with a wrong KEK it fails
// with ErrKEKMismatch and creates nothing. It is idempotent. Nodes starting together
// on a shared database take its key lock in turn, so one creates the keys and the
// others find them; against a node that writes without the lock (a previous release)
// it converges by re-reading the store after writing and retiring duplicates.
func (m *Manager) Ensure(ctx context.Context) error {
	if m.err != nil {
		return m.err
	}
	unlock, err := m.lockWrites(ctx)
	if err != nil {
		return fmt.Errorf("keys: ensure: %w", err)
	}
	defer unlock()
	if _, err := m.reload(ctx); err != nil {
		return fmt.Errorf("keys: ensure: %w", err)
	}
	const attempts = 4
	for i := 0; ; i++ {
		ks, err := m.store.ListKeys(ctx)
		if err != nil {
			return fmt.Errorf("keys: ensure: list keys: %w", err)
		}
		changed, err := m.repair(ctx, ks)
		if errors.Is(err, storage.ErrConflict) && i < attempts {
			continue // another node wrote at the same moment: read again
		}
		if err != nil {
			return fmt.Errorf("keys: ensure: %w", err)
		}
		if !changed {
			break
		}
		if i == attempts {
			return errors.New("keys: ensure: keys keep changing; another node is writing them")
		}
	}
	if _, err := m.reload(ctx); err != nil {
		return fmt.Errorf("keys: ensure: %w", err)
	}
	return nil
}

// repair brings the stored keys of each configured algorithm to exactly one current
// and one next key, and reports whether it wrote anything.
func (m *Manager) repair(ctx context.Context, ks []*storage.Key) (bool, error) {
	now := m.opts.Now()
	var updates, creates []*storage.Key
	for _, alg := range m.opts.Algorithms {
		cur, next := classify(ks, alg)
		if len(cur) == 0 && len(next) > 0 {
			// Promote the published next key rather than creating a current key
			// nobody has seen yet (an interrupted rotation leaves this state).
			n := next[0]
			n.State, n.ActivatedAt = storage.KeyCurrent, &now
			updates = append(updates, n)
			cur, next = []*storage.Key{n}, next[1:]
			m.log.Info("keys: next key promoted to current", "kid", n.ID, "alg", alg)
		}
		if len(cur) == 0 {
			// First start: nothing was published before, so this key signs at once.
			k, err := m.newSigKey(alg, storage.KeyCurrent, now)
			if err != nil {
				return false, err
			}
			creates = append(creates, k)
		}
		if len(next) == 0 {
			k, err := m.newSigKey(alg, storage.KeyNext, now)
			if err != nil {
				return false, err
			}
			creates = append(creates, k)
		}
		updates = append(updates, m.retireExtras(cur, next, now)...)
	}
	if len(updates) > 0 {
		if err := m.store.UpdateKeys(ctx, updates); err != nil {
			return false, fmt.Errorf("update keys: %w", err)
		}
	}
	for _, k := range creates {
		stampCreated(k, m.opts.Now())
		if err := m.store.CreateKey(ctx, k); err != nil {
			return false, fmt.Errorf("create key: %w", err)
		}
		m.log.Info("keys: signing key created", "kid", k.ID, "alg", k.Alg, "state", k.State)
	}
	return len(updates)+len(creates) > 0, nil
}

// retireExtras retires every current and next key but the chosen one (index 0):
// they appear when two nodes wrote at once. They stay published for the full
// retention, because a node may already have signed with an extra current key.
func (m *Manager) retireExtras(cur, next []*storage.Key, now time.Time) []*storage.Key {
	var out []*storage.Key
	for _, list := range [][]*storage.Key{cur, next} {
		for _, k := range list[min(1, len(list)):] {
			m.retire(k, now, m.retention())
			m.log.Warn("keys: duplicate key retired (two nodes wrote at once)", "kid", k.ID, "alg", k.Alg)
			out = append(out, k)
		}
	}
	return out
}

func (m *Manager) retire(k *storage.Key, now time.Time, keep time.Duration) {
	until := now.Add(keep)
	k.State, k.RetiredAt, k.RetireUntil = storage.KeyRetired, &now, &until
}

// Rotate rotates the keys of alg ("" for every configured algorithm): the next key,
// published since the previous rotation, becomes current; the current key is retired
// and stays published until RetireUntil = now + MaxTokenLifetime + 2×RefreshInterval
// (the second term covers nodes that still sign with it until they re-read the
// store); a new next key is created and published. Publishing before signing is what
// OIDC Core 10.1.1 asks of signing key rotation.
//
// The state changes are written in one UpdateKeys call (one transaction), then the
// new next keys are created; new keys are generated before any write so a slow RSA
// generation does not widen the window between the two.
func (m *Manager) Rotate(ctx context.Context, alg string) error {
	if m.err != nil {
		return m.err
	}
	algs := m.opts.Algorithms
	if alg != "" {
		if !m.configured(alg) {
			return fmt.Errorf("keys: rotate: algorithm %q is not configured (configured: %s)", alg, strings.Join(m.opts.Algorithms, ", "))
		}
		algs = []string{alg}
	}
	unlock, err := m.lockWrites(ctx)
	if err != nil {
		return fmt.Errorf("keys: rotate: %w", err)
	}
	defer unlock()
	// Refuse to rotate keys this KEK cannot open: the promoted key would not sign.
	if _, err := m.reload(ctx); err != nil {
		return fmt.Errorf("keys: rotate: %w", err)
	}
	ks, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: rotate: list keys: %w", err)
	}
	now := m.opts.Now()
	var updates, creates []*storage.Key
	for _, a := range algs {
		cur, next := classify(ks, a)
		if len(next) == 0 {
			return fmt.Errorf("keys: rotate %s: no next key to promote (run the broker once, or Ensure, first)", a)
		}
		n := next[0]
		if age := now.Sub(n.CreatedAt); age < m.staleLimit() {
			// Other nodes may not publish it yet, and relying parties that cached the
			// JWKS do not know it: tokens it signs may fail until they refetch.
			m.log.Warn("keys: promoting a next key published only recently", "kid", n.ID, "alg", a, "published_for", age.String())
		}
		for _, c := range cur {
			m.retire(c, now, m.retention())
			updates = append(updates, c)
		}
		updates = append(updates, m.retireExtras(nil, next, now)...)
		n.State, n.ActivatedAt = storage.KeyCurrent, &now
		updates = append(updates, n)
		k, err := m.newSigKey(a, storage.KeyNext, now)
		if err != nil {
			return fmt.Errorf("keys: rotate %s: %w", a, err)
		}
		creates = append(creates, k)
	}
	if err := m.store.UpdateKeys(ctx, updates); err != nil {
		return fmt.Errorf("keys: rotate: update keys: %w", err)
	}
	for _, k := range creates {
		stampCreated(k, m.opts.Now())
		if err := m.store.CreateKey(ctx, k); err != nil {
			return fmt.Errorf("keys: rotate %s: create next key: %w", k.Alg, err)
		}
	}
	for _, u := range updates {
		m.log.Info("keys: key rotated", "kid", u.ID, "alg", u.Alg, "state", u.State)
	}
	for _, k := range creates {
		m.log.Info("keys: signing key created", "kid", k.ID, "alg", k.Alg, "state", k.State)
	}
	if _, err := m.reload(ctx); err != nil {
		return fmt.Errorf("keys: rotate: %w", err)
	}
	return nil
}

// Prune deletes retired keys (signing and cookie keys) whose RetireUntil has passed:
// every token or cookie they protected has expired. A key another node deleted first
// is not an error, so several nodes may prune on a timer.
func (m *Manager) Prune(ctx context.Context) error {
	_, err := m.prune(ctx)
	return err
}

// PruneCount is Prune that also reports how many keys were deleted (for the CLI).
func (m *Manager) PruneCount(ctx context.Context) (int, error) { return m.prune(ctx) }

func (m *Manager) prune(ctx context.Context) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	unlock, err := m.lockWrites(ctx)
	if err != nil {
		return 0, fmt.Errorf("keys: prune: %w", err)
	}
	defer unlock()
	ks, err := m.store.ListKeys(ctx)
	if err != nil {
		return 0, fmt.Errorf("keys: prune: list keys: %w", err)
	}
	now := m.opts.Now()
	n := 0
	for _, k := range ks {
		if k.State != storage.KeyRetired || !m.pastRetirement(k, now) {
			continue
		}
		if err := m.store.DeleteKey(ctx, k.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return n, fmt.Errorf("keys: prune: delete key %s: %w", k.ID, err)
		}
		n++
		m.log.Info("keys: retired key deleted", "kid", k.ID, "use", k.Use, "alg", k.Alg)
	}
	if _, err := m.reload(ctx); err != nil {
		return n, fmt.Errorf("keys: prune: %w", err)
	}
	return n, nil
}

// pastRetirement reports whether a retired key may go: strictly after RetireUntil.
// A retired key without RetireUntil (written by hand) is kept for the full retention
// after RetiredAt, or forever if that is unknown too.
func (m *Manager) pastRetirement(k *storage.Key, now time.Time) bool {
	switch {
	case k.RetireUntil != nil:
		return now.After(*k.RetireUntil)
	case k.RetiredAt != nil:
		return now.After(k.RetiredAt.Add(m.retention()))
	}
	return false
}

// Signer returns the current signing key for alg.
func (m *Manager) Signer(ctx context.Context, alg string) (*SigningKey, error) {
	if !m.configured(alg) {
		return nil, fmt.Errorf("keys: algorithm %q is not configured", alg)
	}
	s, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	k := s.signers[alg]
	if k == nil {
		return nil, fmt.Errorf("keys: no current key for %s (Ensure was not run)", alg)
	}
	return k, nil
}

// PublicKey returns the public key and algorithm of kid, in any state the store
// still holds, for verifying the broker's own tokens. Retired keys past RetireUntil
// but not yet pruned are returned too: an expired ID token is still a valid
// id_token_hint (OIDC Core 3.1.2.1), and the caller checks expiry where it matters.
func (m *Manager) PublicKey(ctx context.Context, kid string) (crypto.PublicKey, string, error) {
	s, err := m.snapshot(ctx)
	if err != nil {
		return nil, "", err
	}
	if e, ok := s.pub[kid]; ok {
		return e.key, e.alg, nil
	}
	// Another node may have created the key since our last read (two nodes started
	// together, or a node signing with a key this one has not re-read yet): only a
	// read of the store that starts after this request arrived can tell.
	found := func(s *snapshot) bool { _, ok := s.pub[kid]; return ok }
	if s, err = m.reloadForMiss(ctx, time.Now(), found); err != nil {
		return nil, "", err
	}
	if e, ok := s.pub[kid]; ok {
		return e.key, e.alg, nil
	}
	return nil, "", fmt.Errorf("%w %q", ErrUnknownKey, kid)
}

// missInterval is the least time between two re-reads caused by unknown kids, so
// that forged tokens with random kids cannot turn every request into a store query.
const missInterval = 500 * time.Millisecond

// missReload is one re-read of the store caused by an unknown kid; the requests
// that need it wait on done.
type missReload struct {
	started time.Time // wall clock, monotonic: only compared with other time.Now values
	done    chan struct{}
	snap    *snapshot
	err     error
}

// reloadForMiss returns a snapshot in which found is true, or else one read from
// the store by a read that started after arrived. Concurrent misses share one read;
// a new read starts at most every missInterval, and a miss that comes sooner waits
// for it (bounded by ctx) rather than being refused: refusing would reject a token
// another node signed with a key it created a moment ago (issue #7, cross-node
// token refusal).
func (m *Manager) reloadForMiss(ctx context.Context, arrived time.Time, found func(*snapshot) bool) (*snapshot, error) {
	for {
		if s := m.snap.Load(); s != nil && found(s) {
			return s, nil // another read found it meanwhile
		}
		m.missMu.Lock()
		r := m.miss
		var wait time.Duration
		switch {
		case r != nil && !r.started.Before(arrived):
			// A read that started after we arrived: its answer is ours.
			m.missMu.Unlock()
			select {
			case <-r.done:
				return r.snap, r.err
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case r == nil || (r.finished() && time.Since(r.started) >= missInterval):
			r = &missReload{started: time.Now(), done: make(chan struct{})}
			m.miss = r
			m.missMu.Unlock()
			// The read is shared: it must not end with the request that started it.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			r.snap, r.err = m.reload(rctx)
			cancel()
			close(r.done)
			return r.snap, r.err
		case r.finished():
			wait = missInterval - time.Since(r.started)
		}
		m.missMu.Unlock()
		if wait <= 0 {
			// A read in progress started before we arrived: wait for it, then read
			// again if the interval allows.
			select {
			case <-r.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if r.err == nil && found(r.snap) {
				return r.snap, nil
			}
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

func (r *missReload) finished() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// JWKS returns the public keys to publish (RFC 7517 §5): next, current and retired
// keys not past RetireUntil, each with kid, alg and use "sig", no private member.
func (m *Manager) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	s, err := m.snapshot(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return jose.JSONWebKeySet{Keys: slices.Clone(s.jwks.Keys)}, nil
}

// JWKSJSON returns the JWKS as JSON, encoded once per snapshot for the jwks_uri
// endpoint. The returned slice is shared: callers must not modify it.
func (m *Manager) JWKSJSON(ctx context.Context) ([]byte, error) {
	s, err := m.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return s.jwksJSON, nil
}

// KeyInfo describes a stored key without any key material (for `keys list`).
type KeyInfo struct {
	ID          string     `json:"kid"`
	Use         string     `json:"use"`
	Alg         string     `json:"alg,omitempty"`
	State       string     `json:"state"`
	CreatedAt   time.Time  `json:"created"`
	ActivatedAt *time.Time `json:"activated,omitempty"`
	RetiredAt   *time.Time `json:"retired,omitempty"`
	RetireUntil *time.Time `json:"retire_until,omitempty"`
}

// List returns every stored key, read from the store now: signing keys first, by
// algorithm, state (current, next, retired) and creation time.
func (m *Manager) List(ctx context.Context) ([]KeyInfo, error) {
	if m.err != nil {
		return nil, m.err
	}
	ks, err := m.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list keys: %w", err)
	}
	out := make([]KeyInfo, 0, len(ks))
	for _, k := range ks {
		out = append(out, KeyInfo{ID: k.ID, Use: k.Use, Alg: k.Alg, State: k.State, CreatedAt: k.CreatedAt,
			ActivatedAt: k.ActivatedAt, RetiredAt: k.RetiredAt, RetireUntil: k.RetireUntil})
	}
	slices.SortStableFunc(out, func(a, b KeyInfo) int {
		if c := strings.Compare(useRank(a.Use), useRank(b.Use)); c != 0 {
			return c
		}
		if c := strings.Compare(a.Alg, b.Alg); c != 0 {
			return c
		}
		if c := stateRank(a.State) - stateRank(b.State); c != 0 {
			return c
		}
		return b.CreatedAt.Compare(a.CreatedAt)
	})
	return out, nil
}

func useRank(u string) string {
	if u == useSig {
		return ""
	}
	return u
}

func stateRank(s string) int {
	switch s {
	case storage.KeyCurrent:
		return 0
	case storage.KeyNext:
		return 1
	case storage.KeyRetired:
		return 2
	}
	return 3
}

// newSigKey generates a key for alg and returns its store row, private part sealed.
func (m *Manager) newSigKey(alg, state string, now time.Time) (*storage.Key, error) {
	priv, err := generate(alg, m.opts.RSABits)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	kid := newKID()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode %s key: %w", alg, err)
	}
	sealed, err := seal(m.kek, der, kid, useSig, alg)
	clear(der)
	if err != nil {
		return nil, err
	}
	pub, err := publicJWK(priv, kid, alg)
	if err != nil {
		return nil, err
	}
	k := &storage.Key{ID: kid, Use: useSig, Alg: alg, State: state, PrivateSealed: sealed, PublicJWK: pub, CreatedAt: now}
	if state == storage.KeyCurrent {
		k.ActivatedAt = &now
	}
	return k, nil
}

// stampCreated dates a new key at the moment it is written rather than when its
// generation started (an RSA key takes a while): when two nodes create keys at once,
// the one written first is then the oldest, which is the one every node chooses
// (classify), so the node that wrote first and already signs with it needs no
// correction.
func stampCreated(k *storage.Key, now time.Time) {
	k.CreatedAt = now
	if k.State == storage.KeyCurrent {
		k.ActivatedAt = &now
	}
}

// classify returns the current and next signing keys of alg, each sorted so that
// index 0 is the one every node chooses: earliest created, then smallest kid. The
// rule only depends on what the store returns, so nodes agree without talking.
func classify(ks []*storage.Key, alg string) (cur, next []*storage.Key) {
	for _, k := range ks {
		if k.Use != useSig || k.Alg != alg {
			continue
		}
		switch k.State {
		case storage.KeyCurrent:
			cur = append(cur, k)
		case storage.KeyNext:
			next = append(next, k)
		}
	}
	slices.SortFunc(cur, oldestFirst)
	slices.SortFunc(next, oldestFirst)
	return cur, next
}

func oldestFirst(a, b *storage.Key) int {
	if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// snapshot is an immutable view of the stored keys, with the private keys this node
// needs already opened.
type snapshot struct {
	seq      uint64
	loadedAt time.Time
	pub      map[string]pubEntry    // every signing key in the store, by kid
	signers  map[string]*SigningKey // current key by alg (configured algorithms only)
	opened   map[string]openedKey   // opened private keys by kid, reused by the next reload
	cookies  [][]byte               // hash, block, hash, block... newest first
	jwks     jose.JSONWebKeySet
	jwksJSON []byte
}

type pubEntry struct {
	key crypto.PublicKey
	alg string
}

// openedKey remembers a decrypted key with the blob it came from, so a reload only
// decrypts rows that changed.
type openedKey struct {
	sealed []byte
	signer *SigningKey // signing keys
	pair   [][]byte    // cookie keys: hash key, block key
}

// snapshot returns the current snapshot, re-reading the store when it is older than
// RefreshInterval. Only one caller re-reads at a time; the others keep using the old
// snapshot meanwhile, so the hot path never waits on the store. If the store cannot
// be read, the old snapshot serves until it is staleLimit old, then errors surface.
func (m *Manager) snapshot(ctx context.Context) (*snapshot, error) {
	if m.err != nil {
		return nil, m.err
	}
	s := m.snap.Load()
	var age time.Duration
	if s != nil {
		age = m.opts.Now().Sub(s.loadedAt)
		if age >= 0 && age < m.opts.RefreshInterval {
			return s, nil
		}
		if !m.refreshing.CompareAndSwap(false, true) {
			return s, nil
		}
		defer m.refreshing.Store(false)
	}
	ns, err := m.reload(ctx)
	if err != nil {
		if s != nil && age >= 0 && age < m.staleLimit() {
			m.log.Warn("keys: cannot re-read keys, using the previous ones", "error", err)
			return s, nil
		}
		return nil, err
	}
	return ns, nil
}

// reload reads the store, builds a snapshot and installs it unless a newer read
// already did.
func (m *Manager) reload(ctx context.Context) (*snapshot, error) {
	seq := m.seq.Add(1)
	ks, err := m.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: list keys: %w", err)
	}
	prev := m.snap.Load()
	s, err := m.build(ks, seq, prev)
	if err != nil {
		return nil, err
	}
	for {
		old := m.snap.Load()
		if old != nil && old.seq > seq {
			return s, nil
		}
		if m.snap.CompareAndSwap(old, s) {
			return s, nil
		}
	}
}

// build turns store rows into a snapshot. It fails on any row it cannot read rather
// than skipping it: a damaged key table must be noticed, not published half.
func (m *Manager) build(ks []*storage.Key, seq uint64, prev *snapshot) (*snapshot, error) {
	now := m.opts.Now()
	s := &snapshot{seq: seq, loadedAt: now, pub: map[string]pubEntry{}, signers: map[string]*SigningKey{}, opened: map[string]openedKey{}}
	type published struct {
		k   *storage.Key
		jwk jose.JSONWebKey
	}
	var pubs []published
	var cookies []*storage.Key
	for _, k := range ks {
		switch k.Use {
		case useSig:
			if _, dup := s.pub[k.ID]; dup {
				return nil, fmt.Errorf("keys: kid %s appears twice in the store", k.ID)
			}
			j, err := parsePublicJWK(k)
			if err != nil {
				return nil, err
			}
			s.pub[k.ID] = pubEntry{key: j.Key, alg: k.Alg}
			if k.State == storage.KeyNext || k.State == storage.KeyCurrent ||
				(k.State == storage.KeyRetired && !m.pastRetirement(k, now)) {
				pubs = append(pubs, published{k, j})
			}
		case useCookie:
			if k.State == storage.KeyCurrent || (k.State == storage.KeyRetired && !m.pastRetirement(k, now)) {
				cookies = append(cookies, k)
			}
		default:
			m.log.Warn("keys: stored key with unknown use ignored", "kid", k.ID, "use", k.Use)
		}
	}

	// Open the chosen current and next key of every configured algorithm. The next
	// key is opened too, so that a key this KEK cannot open is found a rotation
	// before it would have to sign.
	for _, alg := range m.opts.Algorithms {
		cur, next := classify(ks, alg)
		for i, list := range [][]*storage.Key{cur, next} {
			if len(list) == 0 {
				continue
			}
			sk, err := m.openSigner(list[0], prev, s)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				s.signers[alg] = sk
			}
		}
	}

	// Cookie keys: the current ones first, oldest first, so that every node encodes
	// with the same pair even when two nodes created one at once (the rule of
	// classify); then the retired ones, newest first.
	slices.SortFunc(cookies, func(a, b *storage.Key) int {
		if c := stateRank(a.State) - stateRank(b.State); c != 0 {
			return c
		}
		if a.State == storage.KeyCurrent {
			return oldestFirst(a, b)
		}
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for _, k := range cookies {
		pair, err := m.openCookie(k, prev, s)
		if err != nil {
			return nil, err
		}
		s.cookies = append(s.cookies, pair...)
	}

	// JWKS order: current, next, retired; then by alg and age. Order carries no
	// meaning for verifiers (RFC 7517 §5), it only keeps the document stable.
	slices.SortFunc(pubs, func(a, b published) int {
		if c := stateRank(a.k.State) - stateRank(b.k.State); c != 0 {
			return c
		}
		if c := strings.Compare(a.k.Alg, b.k.Alg); c != 0 {
			return c
		}
		return oldestFirst(a.k, b.k)
	})
	for _, p := range pubs {
		s.jwks.Keys = append(s.jwks.Keys, p.jwk)
	}
	b, err := json.Marshal(s.jwks)
	if err != nil {
		return nil, fmt.Errorf("keys: encode JWKS: %w", err)
	}
	s.jwksJSON = b
	return s, nil
}

// parsePublicJWK reads a row's public JWK and returns only its public part, with
// kid, alg and use taken from the row (RFC 7517 §4.2-4.5).
func parsePublicJWK(k *storage.Key) (jose.JSONWebKey, error) {
	var j jose.JSONWebKey
	if err := j.UnmarshalJSON(k.PublicJWK); err != nil {
		return j, fmt.Errorf("keys: key %s: public JWK: %w", k.ID, err)
	}
	if j.KeyID != "" && j.KeyID != k.ID {
		return j, fmt.Errorf("keys: key %s: public JWK has kid %q", k.ID, j.KeyID)
	}
	// Public() drops private members should a row ever hold some (SECURITY.md C3).
	p := j.Public()
	if !p.Valid() || !p.IsPublic() {
		return j, fmt.Errorf("keys: key %s: public JWK is not a valid public key", k.ID)
	}
	out := jose.JSONWebKey{Key: p.Key, KeyID: k.ID, Algorithm: k.Alg, Use: useSig}
	return out, nil
}

func (m *Manager) openSigner(k *storage.Key, prev *snapshot, s *snapshot) (*SigningKey, error) {
	if prev != nil {
		if o, ok := prev.opened[k.ID]; ok && o.signer != nil && o.signer.Alg == k.Alg && string(o.sealed) == string(k.PrivateSealed) {
			s.opened[k.ID] = o
			return o.signer, nil
		}
	}
	der, err := open(m.kek, k.PrivateSealed, k.ID, useSig, k.Alg)
	if err != nil {
		return nil, err
	}
	priv, err := parsePrivate(der, k.ID, k.Alg)
	clear(der)
	if err != nil {
		return nil, err
	}
	if !samePublic(priv, s.pub[k.ID].key) {
		return nil, fmt.Errorf("keys: key %s: private key does not match its published public key", k.ID)
	}
	sk := &SigningKey{ID: k.ID, Alg: k.Alg, Key: priv}
	s.opened[k.ID] = openedKey{sealed: k.PrivateSealed, signer: sk}
	return sk, nil
}
