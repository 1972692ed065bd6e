package keys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/justiceconnect/justiceconnect/broker/storage"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newTestManager(t testing.TB, st *memStore, clk *clock, kek []byte, algs ...string) *Manager {
	t.Helper()
	if len(algs) == 0 {
		algs = []string{"ES256"}
	}
	return NewManager(st, kek, Options{Algorithms: algs, Now: clk.Now, Logger: quiet, RSABits: 2048})
}

// ensured returns a manager on a fresh store after Ensure.
func ensured(t testing.TB, algs ...string) (*Manager, *memStore, *clock, []byte) {
	t.Helper()
	st, clk, kek := newMemStore(), newClock(), GenerateKEK()
	m := newTestManager(t, st, clk, kek, algs...)
	if err := m.Ensure(context.Background()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	return m, st, clk, kek
}

// verifyWithJWKS verifies token against the manager's published JWKS only, the way a
// relying party does.
func verifyWithJWKS(t *testing.T, m *Manager, token string) error {
	t.Helper()
	raw, err := m.JWKSJSON(context.Background())
	if err != nil {
		t.Fatalf("JWKSJSON: %v", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		return err
	}
	kid := jws.Signatures[0].Protected.KeyID
	found := set.Key(kid)
	if len(found) != 1 {
		return errors.New("kid " + kid + " not in JWKS")
	}
	_, err = jws.Verify(found[0])
	return err
}

func TestEnsureCreatesCurrentAndNextPerAlgorithm(t *testing.T) {
	ctx := context.Background()
	m, st, clk, kek := ensured(t, "ES256", "RS256")
	for _, alg := range []string{"ES256", "RS256"} {
		cur := st.byState(useSig, alg, storage.KeyCurrent)
		next := st.byState(useSig, alg, storage.KeyNext)
		if len(cur) != 1 || len(next) != 1 {
			t.Fatalf("%s: %d current and %d next keys, want 1 and 1", alg, len(cur), len(next))
		}
		if cur[0].ActivatedAt == nil || next[0].ActivatedAt != nil {
			t.Errorf("%s: activation times: current %v, next %v", alg, cur[0].ActivatedAt, next[0].ActivatedAt)
		}
		sk, err := m.Signer(ctx, alg)
		if err != nil {
			t.Fatalf("Signer(%s): %v", alg, err)
		}
		if sk.ID != cur[0].ID || sk.Alg != alg {
			t.Errorf("Signer(%s) = %s/%s, want current %s", alg, sk.ID, sk.Alg, cur[0].ID)
		}
	}
	if n := st.len(); n != 4 {
		t.Fatalf("store holds %d keys, want 4", n)
	}

	// Idempotent: again on this node, and on a second node sharing the store.
	if err := m.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	other := newTestManager(t, st, clk, kek, "ES256", "RS256")
	if err := other.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if n := st.len(); n != 4 {
		t.Fatalf("after repeated Ensure the store holds %d keys, want 4", n)
	}
	a, _ := m.Signer(ctx, "ES256")
	b, _ := other.Signer(ctx, "ES256")
	if a.ID != b.ID {
		t.Errorf("two nodes sign with %s and %s", a.ID, b.ID)
	}
}

func TestEnsureResolvesTwoNodesStartingTogether(t *testing.T) {
	ctx := context.Background()
	st, clk, kek := newMemStore(), newClock(), GenerateKEK()
	// Both nodes generate their keys before either writes: the store ends up with two
	// current and two next keys, as when two nodes start at the same moment.
	a := newTestManager(t, st, clk, kek)
	b := newTestManager(t, st, clk, kek)
	var created []*storage.Key
	for _, m := range []*Manager{a, b} {
		for _, state := range []string{storage.KeyCurrent, storage.KeyNext} {
			k, err := m.newSigKey("ES256", state, clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			created = append(created, k)
		}
		clk.Add(time.Millisecond)
	}
	for _, k := range created {
		if err := st.CreateKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	cur := st.byState(useSig, "ES256", storage.KeyCurrent)
	next := st.byState(useSig, "ES256", storage.KeyNext)
	retired := st.byState(useSig, "ES256", storage.KeyRetired)
	if len(cur) != 1 || len(next) != 1 || len(retired) != 2 {
		t.Fatalf("after Ensure: %d current, %d next, %d retired; want 1, 1, 2", len(cur), len(next), len(retired))
	}
	// The oldest keys win, so every node chooses the same without talking.
	if cur[0].ID != created[0].ID || next[0].ID != created[1].ID {
		t.Errorf("kept %s/%s, want the first node's %s/%s", cur[0].ID, next[0].ID, created[0].ID, created[1].ID)
	}
	for _, k := range retired {
		if k.RetireUntil == nil || k.RetireUntil.Before(clk.Now().Add(24*time.Hour)) {
			t.Errorf("duplicate %s retired until %v: it may have signed, it must stay published", k.ID, k.RetireUntil)
		}
	}
	sa, _ := a.Signer(ctx, "ES256")
	sb, _ := b.Signer(ctx, "ES256")
	if sa.ID != cur[0].ID || sb.ID != cur[0].ID {
		t.Errorf("nodes sign with %s and %s, want %s", sa.ID, sb.ID, cur[0].ID)
	}
}

func TestEnsureConcurrentNodesConverge(t *testing.T) {
	ctx := context.Background()
	st, clk, kek := newMemStore(), newClock(), GenerateKEK()
	nodes := make([]*Manager, 3)
	for i := range nodes {
		nodes[i] = newTestManager(t, st, clk, kek)
	}
	ensureTogether(t, nodes)
	if c, n := len(st.byState(useSig, "ES256", storage.KeyCurrent)), len(st.byState(useSig, "ES256", storage.KeyNext)); c != 1 || n != 1 {
		t.Fatalf("%d current and %d next keys, want 1 and 1", c, n)
	}
	clk.Add(time.Minute) // every node re-reads
	want := st.byState(useSig, "ES256", storage.KeyCurrent)[0].ID
	for i, m := range nodes {
		sk, err := m.Signer(ctx, "ES256")
		if err != nil || sk.ID != want {
			t.Errorf("node %d signs with %v (%v), want %s", i, sk, err, want)
		}
	}
}

// ensureTogether runs Ensure on every node at once, as nodes starting together.
func ensureTogether(t *testing.T, nodes []*Manager) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, m := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = m.Ensure(context.Background())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
}

func TestRotatePublishesBeforeSigning(t *testing.T) {
	ctx := context.Background()
	m, st, clk, _ := ensured(t, "ES256")
	before, err := m.Signer(ctx, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	nextBefore := st.byState(useSig, "ES256", storage.KeyNext)[0].ID
	jwksBefore, _ := m.JWKS(ctx)
	if len(jwksBefore.Key(nextBefore)) != 1 {
		t.Fatalf("next key %s is not published before rotation", nextBefore)
	}
	old, err := before.Sign([]byte(`{"sub":"before"}`), "JWT")
	if err != nil {
		t.Fatal(err)
	}

	clk.Add(time.Hour)
	st.resetCalls()
	if err := m.Rotate(ctx, "ES256"); err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if u, c := st.count("UpdateKeys"), st.count("CreateKey"); u != 1 || c != 1 {
		t.Errorf("Rotate made %d UpdateKeys and %d CreateKey calls, want 1 and 1", u, c)
	}

	after, err := m.Signer(ctx, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	if after.ID == before.ID {
		t.Fatal("Signer returns the retired key after Rotate")
	}
	if after.ID != nextBefore {
		t.Fatalf("signing with %s after Rotate, want %s, the key published as next before", after.ID, nextBefore)
	}
	if err := verifyWithJWKS(t, m, old); err != nil {
		t.Fatalf("token signed before rotation no longer verifies with the JWKS: %v", err)
	}
	fresh, err := after.Sign([]byte(`{"sub":"after"}`), "JWT")
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyWithJWKS(t, m, fresh); err != nil {
		t.Fatalf("token signed after rotation does not verify with the JWKS: %v", err)
	}

	row := st.row(before.ID)
	wantUntil := clk.Now().Add(24*time.Hour + 2*time.Minute)
	if row.State != storage.KeyRetired || row.RetireUntil == nil || !row.RetireUntil.Equal(wantUntil) {
		t.Errorf("old key: state %s, retire until %v; want retired until %v", row.State, row.RetireUntil, wantUntil)
	}
	newNext := st.byState(useSig, "ES256", storage.KeyNext)
	if len(newNext) != 1 || newNext[0].ID == nextBefore {
		t.Fatalf("no new next key after rotation: %+v", newNext)
	}
	set, _ := m.JWKS(ctx)
	for _, kid := range []string{before.ID, after.ID, newNext[0].ID} {
		if len(set.Key(kid)) != 1 {
			t.Errorf("JWKS lacks %s after rotation", kid)
		}
	}
	if len(set.Keys) != 3 {
		t.Errorf("JWKS has %d keys, want 3 (retired, current, next)", len(set.Keys))
	}
	// PublicKey still finds the retired key (id_token_hint, logout).
	if _, alg, err := m.PublicKey(ctx, before.ID); err != nil || alg != "ES256" {
		t.Errorf("PublicKey(retired) = %s, %v", alg, err)
	}
}

func TestRotateAllAndUnknownAlgorithm(t *testing.T) {
	ctx := context.Background()
	m, st, _, _ := ensured(t, "ES256", "RS256")
	st.resetCalls()
	if err := m.Rotate(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if u, c := st.count("UpdateKeys"), st.count("CreateKey"); u != 1 || c != 2 {
		t.Errorf("Rotate(all) made %d UpdateKeys and %d CreateKey calls, want 1 and 2", u, c)
	}
	for _, alg := range []string{"ES256", "RS256"} {
		if n := len(st.byState(useSig, alg, storage.KeyRetired)); n != 1 {
			t.Errorf("%s: %d retired keys, want 1", alg, n)
		}
	}
	if err := m.Rotate(ctx, "HS256"); err == nil {
		t.Error("Rotate(HS256) succeeded")
	}
}

func TestOtherNodeSeesRotationAfterRefresh(t *testing.T) {
	ctx := context.Background()
	a, st, clk, kek := ensured(t)
	b := newTestManager(t, st, clk, kek)
	old, _ := b.Signer(ctx, "ES256")
	if err := a.Rotate(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if k, _ := b.Signer(ctx, "ES256"); k.ID != old.ID {
		t.Fatalf("node b re-read before RefreshInterval")
	}
	clk.Add(time.Minute)
	want, _ := a.Signer(ctx, "ES256")
	if k, _ := b.Signer(ctx, "ES256"); k.ID != want.ID {
		t.Fatalf("node b signs with %s after RefreshInterval, want %s", k.ID, want.ID)
	}
}

func TestPruneOnlyAfterRetireUntil(t *testing.T) {
	ctx := context.Background()
	m, st, clk, _ := ensured(t)
	old, _ := m.Signer(ctx, "ES256")
	if err := m.Rotate(ctx, "ES256"); err != nil {
		t.Fatal(err)
	}
	until := *st.row(old.ID).RetireUntil

	clk.Add(until.Sub(clk.Now())) // exactly RetireUntil
	if err := m.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if st.row(old.ID) == nil {
		t.Fatal("retired key deleted at RetireUntil, before it was over")
	}
	if set, _ := m.JWKS(ctx); len(set.Key(old.ID)) != 1 {
		t.Fatal("retired key left the JWKS before RetireUntil passed")
	}

	clk.Add(time.Second)
	if err := m.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if st.row(old.ID) != nil {
		t.Fatal("retired key not deleted after RetireUntil")
	}
	if set, _ := m.JWKS(ctx); len(set.Key(old.ID)) != 0 || len(set.Keys) != 2 {
		t.Fatalf("JWKS after prune: %d keys, retired still there: %v", len(set.Keys), len(set.Key(old.ID)) != 0)
	}
	if _, _, err := m.PublicKey(ctx, old.ID); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("PublicKey(pruned) error = %v, want ErrUnknownKey", err)
	}
	// Current and next are never pruned.
	if c, n := len(st.byState(useSig, "ES256", storage.KeyCurrent)), len(st.byState(useSig, "ES256", storage.KeyNext)); c != 1 || n != 1 {
		t.Fatalf("prune touched live keys: %d current, %d next", c, n)
	}
}

func TestWrongKEKIsAClearError(t *testing.T) {
	ctx := context.Background()
	_, st, clk, _ := ensured(t)
	n := st.len()
	m := newTestManager(t, st, clk, GenerateKEK())
	err := m.Ensure(ctx)
	if !errors.Is(err, ErrKEKMismatch) {
		t.Fatalf("Ensure with another KEK: %v, want ErrKEKMismatch", err)
	}
	if !strings.Contains(err.Error(), "the key-encryption key does not open the stored keys") {
		t.Errorf("error does not say what is wrong: %v", err)
	}
	if st.len() != n || st.count("UpdateKeys") != 0 {
		t.Fatalf("Ensure with a wrong KEK changed the store")
	}
	if _, err := m.Signer(ctx, "ES256"); !errors.Is(err, ErrKEKMismatch) {
		t.Errorf("Signer with a wrong KEK: %v", err)
	}
	if err := m.Rotate(ctx, ""); !errors.Is(err, ErrKEKMismatch) {
		t.Errorf("Rotate with a wrong KEK: %v", err)
	}
	if _, err := m.CookieKeys(ctx); !errors.Is(err, ErrKEKMismatch) {
		t.Errorf("CookieKeys with a wrong KEK: %v", err)
	}
}

func TestSealedBlobBoundToItsRow(t *testing.T) {
	ctx := context.Background()
	_, st, clk, kek := ensured(t)
	cur := st.byState(useSig, "ES256", storage.KeyCurrent)[0]
	next := st.byState(useSig, "ES256", storage.KeyNext)[0]
	// Swap the sealed private keys of the two rows, as an attacker with write access
	// to the table (but not the KEK) could.
	st.mu.Lock()
	st.keys[cur.ID].PrivateSealed, st.keys[next.ID].PrivateSealed = next.PrivateSealed, cur.PrivateSealed
	st.mu.Unlock()
	m := newTestManager(t, st, clk, kek)
	if err := m.Ensure(ctx); !errors.Is(err, ErrKEKMismatch) {
		t.Fatalf("swapped blobs opened: %v", err)
	}

	// Same at the lowest level, for each part of the additional data.
	blob, err := seal(kek, []byte("secret"), "kid-a", useSig, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := open(kek, blob, "kid-a", useSig, "ES256"); err != nil || string(got) != "secret" {
		t.Fatalf("open own blob: %q, %v", got, err)
	}
	for _, c := range []struct{ kid, use, alg string }{{"kid-b", useSig, "ES256"}, {"kid-a", useCookie, "ES256"}, {"kid-a", useSig, "RS256"}} {
		if _, err := open(kek, blob, c.kid, c.use, c.alg); !errors.Is(err, ErrKEKMismatch) {
			t.Errorf("blob opened as %v: %v", c, err)
		}
	}
	blob[len(blob)-1] ^= 1
	if _, err := open(kek, blob, "kid-a", useSig, "ES256"); !errors.Is(err, ErrKEKMismatch) {
		t.Errorf("altered blob opened: %v", err)
	}
}

func TestPublicJWKMustMatchPrivateKey(t *testing.T) {
	ctx := context.Background()
	_, st, clk, kek := ensured(t)
	cur := st.byState(useSig, "ES256", storage.KeyCurrent)[0]
	next := st.byState(useSig, "ES256", storage.KeyNext)[0]
	// Publishing one key while signing with another would make every token fail.
	var j map[string]any
	_ = json.Unmarshal(next.PublicJWK, &j)
	j["kid"] = cur.ID
	b, _ := json.Marshal(j)
	st.mu.Lock()
	st.keys[cur.ID].PublicJWK = b
	st.mu.Unlock()
	m := newTestManager(t, st, clk, kek)
	if err := m.Ensure(ctx); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched public key accepted: %v", err)
	}
}

func TestJWKSHasOnlyPublicMembers(t *testing.T) {
	ctx := context.Background()
	m, _, clk, _ := ensured(t, "ES256", "RS256")
	clk.Add(time.Hour)
	if err := m.Rotate(ctx, "RS256"); err != nil {
		t.Fatal(err)
	}
	raw, err := m.JWKSJSON(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 5 { // ES256 current+next, RS256 retired+current+next
		t.Fatalf("JWKS has %d keys, want 5", len(doc.Keys))
	}
	seen := map[string]bool{}
	for _, k := range doc.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWK %v has private member %q (RFC 7518 §6.2.2, §6.3.2)", k["kid"], private)
			}
		}
		kid, _ := k["kid"].(string)
		if kid == "" {
			t.Errorf("JWK without kid: %v", k["kty"])
		}
		if seen[kid] {
			t.Errorf("kid %s twice in JWKS (RFC 7517 §4.5)", kid)
		}
		seen[kid] = true
		if k["use"] != "sig" {
			t.Errorf("%s: use = %v", kid, k["use"])
		}
		switch k["alg"] {
		case "ES256":
			if k["kty"] != "EC" || k["crv"] != "P-256" {
				t.Errorf("%s: ES256 key is %v %v", kid, k["kty"], k["crv"])
			}
		case "RS256":
			if k["kty"] != "RSA" {
				t.Errorf("%s: RS256 key is %v", kid, k["kty"])
			}
		default:
			t.Errorf("%s: alg = %v", kid, k["alg"])
		}
		if len(kid) != 16 || strings.ContainsAny(kid, "+/=") {
			t.Errorf("kid %q is not 16 URL-safe characters", kid)
		}
	}
	// JWKS (structured) and JWKSJSON agree.
	set, _ := m.JWKS(ctx)
	for _, k := range set.Keys {
		if !k.IsPublic() || !seen[k.KeyID] {
			t.Errorf("JWKS key %s: public %v, in JSON %v", k.KeyID, k.IsPublic(), seen[k.KeyID])
		}
	}
}

func TestSignHeader(t *testing.T) {
	ctx := context.Background()
	m, _, _, _ := ensured(t, "ES256", "RS256")
	for _, alg := range []string{"ES256", "RS256"} {
		sk, err := m.Signer(ctx, alg)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := sk.Sign([]byte(`{"iss":"https://jc.example"}`), "at+jwt")
		if err != nil {
			t.Fatal(err)
		}
		jws, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
		if err != nil {
			t.Fatal(err)
		}
		h := jws.Signatures[0].Protected
		if h.Algorithm != alg || h.KeyID != sk.ID || h.ExtraHeaders["typ"] != "at+jwt" {
			t.Errorf("%s header: alg %s kid %s typ %v", alg, h.Algorithm, h.KeyID, h.ExtraHeaders["typ"])
		}
		if h.JSONWebKey != nil {
			t.Errorf("%s: JWK embedded in header", alg)
		}
		pub, palg, err := m.PublicKey(ctx, sk.ID)
		if err != nil || palg != alg {
			t.Fatalf("PublicKey: %s %v", palg, err)
		}
		if _, err := jws.Verify(pub); err != nil {
			t.Errorf("%s: %v", alg, err)
		}
		// No typ when none is asked for.
		tok, _ = sk.Sign([]byte(`{}`), "")
		jws, _ = jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
		if _, ok := jws.Signatures[0].Protected.ExtraHeaders["typ"]; ok {
			t.Errorf("%s: typ set though none was asked", alg)
		}
	}
	if _, err := m.Signer(ctx, "PS256"); err == nil {
		t.Error("Signer for an algorithm not configured succeeded")
	}
}

func TestOptionsValidation(t *testing.T) {
	ctx := context.Background()
	cases := map[string]struct {
		kek  []byte
		opts Options
		want string
	}{
		"short kek":    {make([]byte, 16), Options{}, "key-encryption key is 16 bytes"},
		"hs256":        {GenerateKEK(), Options{Algorithms: []string{"HS256"}}, "unsupported signing algorithm"},
		"none":         {GenerateKEK(), Options{Algorithms: []string{"none"}}, "unsupported signing algorithm"},
		"twice":        {GenerateKEK(), Options{Algorithms: []string{"ES256", "ES256"}}, "listed twice"},
		"small rsa":    {GenerateKEK(), Options{RSABits: 1024}, "2048"},
		"negative ttl": {GenerateKEK(), Options{MaxTokenLifetime: -time.Hour}, "negative"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			c.opts.Logger = quiet
			m := NewManager(newMemStore(), c.kek, c.opts)
			if err := m.Ensure(ctx); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Ensure: %v, want %q", err, c.want)
			}
			if _, err := m.JWKSJSON(ctx); err == nil {
				t.Fatal("JWKSJSON works on a broken manager")
			}
		})
	}
}

func TestStoreOutageUsesSnapshotForAWhile(t *testing.T) {
	ctx := context.Background()
	m, st, clk, _ := ensured(t)
	want, _ := m.Signer(ctx, "ES256")
	st.fail(errors.New("database is down"))
	clk.Add(90 * time.Second) // stale, but within 2×RefreshInterval
	if k, err := m.Signer(ctx, "ES256"); err != nil || k.ID != want.ID {
		t.Fatalf("during a short outage: %v", err)
	}
	clk.Add(time.Minute)
	if _, err := m.Signer(ctx, "ES256"); err == nil {
		t.Fatal("still signing from a snapshot older than 2×RefreshInterval")
	}
	st.fail(nil)
	if _, err := m.Signer(ctx, "ES256"); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

func TestPublicKeyUnknownKidsShareRereads(t *testing.T) {
	ctx := context.Background()
	m, st, _, _ := ensured(t)
	st.resetCalls()
	start := time.Now()
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := m.PublicKey(ctx, "forged-kid"); !errors.Is(err, ErrUnknownKey) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// The first miss reads; those that arrived while it read need a read that
	// started after them, one interval later.
	if n := st.count("ListKeys"); n < 1 || n > 2 {
		t.Fatalf("100 concurrent unknown kids caused %d store reads, want 1 or 2", n)
	}
	if d := time.Since(start); d > 5*missInterval {
		t.Errorf("100 unknown kids took %v", d)
	}
}

// TestPublicKeyFindsKeyAnotherNodeJustCreated: node B creates a key just after node
// A re-read the store because of a forged kid; tokens signed with B's key, arriving
// at A at once and together, are all accepted (issue #7: they were refused until
// the rate limit on unknown kids expired).
func TestPublicKeyFindsKeyAnotherNodeJustCreated(t *testing.T) {
	ctx := context.Background()
	a, st, clk, kek := ensured(t)
	b := newTestManager(t, st, clk, kek)
	if _, _, err := a.PublicKey(ctx, "forged-kid"); !errors.Is(err, ErrUnknownKey) {
		t.Fatal(err)
	}
	if err := b.Rotate(ctx, "ES256"); err != nil {
		t.Fatal(err)
	}
	next := st.byState(useSig, "ES256", storage.KeyNext)
	if len(next) != 1 {
		t.Fatalf("%d next keys", len(next))
	}
	st.resetCalls()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := a.PublicKey(ctx, next[0].ID); err != nil {
				t.Errorf("PublicKey of the key node B just created: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := st.count("ListKeys"); n > 2 {
		t.Errorf("20 concurrent lookups caused %d store reads, want at most 2", n)
	}
	// A cancelled request does not wait for the interval.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := a.PublicKey(cctx, "forged-kid"); !errors.Is(err, context.Canceled) && !errors.Is(err, ErrUnknownKey) {
		t.Errorf("cancelled lookup: %v", err)
	}
}

// TestCookieKeysConcurrentCreationAgree: two nodes create a cookie pair at once,
// and the first reads its keys before the second pair is written (nodes read them
// once at start): both encode with the same pair, the oldest.
func TestCookieKeysConcurrentCreationAgree(t *testing.T) {
	ctx := context.Background()
	st, clk, kek := newMemStore(), newClock(), GenerateKEK()
	a := newTestManager(t, st, clk, kek)
	b := newTestManager(t, st, clk, kek)
	if err := a.createCookieKey(ctx); err != nil {
		t.Fatal(err)
	}
	ka, err := a.CookieKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Second)
	if err := b.createCookieKey(ctx); err != nil {
		t.Fatal(err)
	}
	kb, err := b.CookieKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ka) != 2 || len(kb) != 4 {
		t.Fatalf("%d and %d keys, want one pair then two", len(ka), len(kb))
	}
	if !bytes.Equal(ka[0], kb[0]) || !bytes.Equal(ka[1], kb[1]) {
		t.Fatal("the second node encodes with its own pair, which the first cannot open")
	}
}

func TestCookieKeys(t *testing.T) {
	ctx := context.Background()
	st, clk, kek := newMemStore(), newClock(), GenerateKEK()
	m := NewManager(st, kek, Options{Algorithms: []string{"ES256"}, Now: clk.Now, Logger: quiet, CookieKeyLifetime: 8 * time.Hour})
	first, err := m.CookieKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 2 || len(first[0]) != 64 || len(first[1]) != 32 {
		t.Fatalf("first call: %d keys", len(first))
	}
	again, _ := m.CookieKeys(ctx)
	other := NewManager(st, kek, Options{Algorithms: []string{"ES256"}, Now: clk.Now, Logger: quiet})
	shared, err := other.CookieKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again[0], first[0]) || !bytes.Equal(shared[0], first[0]) || !bytes.Equal(shared[1], first[1]) {
		t.Fatal("cookie keys differ between calls or nodes")
	}
	first[0][0] ^= 1 // callers get copies
	if again, _ := m.CookieKeys(ctx); bytes.Equal(again[0], first[0]) {
		t.Fatal("CookieKeys returns the manager's own slices")
	}
	first[0][0] ^= 1

	clk.Add(time.Hour)
	if err := m.RotateCookieKeys(ctx); err != nil {
		t.Fatal(err)
	}
	rotated, _ := m.CookieKeys(ctx)
	if len(rotated) != 4 {
		t.Fatalf("after rotation %d keys, want 4 (new pair, previous pair)", len(rotated))
	}
	if bytes.Equal(rotated[0], first[0]) || !bytes.Equal(rotated[2], first[0]) || !bytes.Equal(rotated[3], first[1]) {
		t.Fatal("after rotation the new pair is not first or the previous one is missing")
	}
	// The previous pair goes after the session absolute timeout.
	clk.Add(8*time.Hour + 2*time.Minute)
	if got, _ := m.CookieKeys(ctx); len(got) != 4 {
		t.Fatalf("previous pair dropped before its end: %d keys", len(got))
	}
	clk.Add(time.Minute)
	if got, _ := m.CookieKeys(ctx); len(got) != 2 || !bytes.Equal(got[0], rotated[0]) {
		t.Fatalf("previous pair still served after its end: %d keys", len(got))
	}
	if err := m.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if n := st.len(); n != 1 {
		t.Fatalf("after prune the store holds %d keys, want 1 cookie key", n)
	}
}

// TestConcurrentUseDuringRotation is meant for -race: lookups and signatures from
// many goroutines while another rotates and prunes. Every token must verify against
// the JWKS read just after it was signed.
func TestConcurrentUseDuringRotation(t *testing.T) {
	ctx := context.Background()
	m, _, clk, _ := ensured(t, "ES256", "RS256")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			alg := []string{"ES256", "RS256"}[i%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				sk, err := m.Signer(ctx, alg)
				if err != nil {
					errc <- err
					return
				}
				tok, err := sk.Sign([]byte(`{"n":1}`), "JWT")
				if err != nil {
					errc <- err
					return
				}
				set, err := m.JWKS(ctx)
				if err != nil {
					errc <- err
					return
				}
				if len(set.Key(sk.ID)) != 1 {
					errc <- errors.New("signing key " + sk.ID + " not in JWKS")
					return
				}
				if _, _, err := m.PublicKey(ctx, sk.ID); err != nil {
					errc <- err
					return
				}
				if _, err := m.JWKSJSON(ctx); err != nil {
					errc <- err
					return
				}
				_ = tok
			}
		}()
	}
	for range 3 {
		clk.Add(time.Minute)
		if err := m.Rotate(ctx, "ES256"); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Rotate(ctx, "RS256"); err != nil {
		t.Fatal(err)
	}
	if err := m.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}
