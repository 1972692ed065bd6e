package claims

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"
)

// TestKeyAfterFetchEndedMeanwhile replays an interleaving CI once hit with 64
// concurrent first verifications: a caller reads the empty cache, the shared
// fetch ends and stores the keys, then the caller's refresh is rate-limited.
// The caller must find the kid in the keys that fetch stored, not report it
// unknown because the cache it read first was empty.
func TestKeyAfterFetchEndedMeanwhile(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	ks := &keySet{now: func() time.Time { return now }, ttl: time.Hour, minInterval: time.Minute}
	// The state a fetch leaves when it has just ended: keys stored, attempt
	// recorded, nothing in flight.
	ks.snap.Store(&keySnapshot{fetchedAt: now, keys: map[string][]verificationKey{
		"k1": {{key: &priv.PublicKey}},
	}})
	ks.lastAttempt = now

	k, err := ks.keyAfter(context.Background(), "k1", "ES256", nil)
	if err != nil {
		t.Fatalf("key stored by the fetch that ended meanwhile not used: %v", err)
	}
	if k.key != &priv.PublicKey {
		t.Fatalf("got key %v, want the stored one", k.key)
	}
	if n := ks.fetches.Load(); n != 0 {
		t.Fatalf("%d fetches, want none (rate-limited)", n)
	}
	// A kid nobody published is still refused, rate-limited.
	if _, err := ks.keyAfter(context.Background(), "k2", "ES256", nil); err == nil {
		t.Fatal("unknown kid accepted")
	}
}
