package sqlstore

import (
	"strings"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/timekey"
)

// A key's time prefix survives the hashing, so rows sort by issue time; a key
// without one (written before time keys) is stored under its bare hash as before.
func TestTokenKey(t *testing.T) {
	p := timekey.Prefix(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	sig := timekey.JoinKey(p, "c2lnbmF0dXJlLW9mLXRoZS10b2tlbg")
	if got := tokenKey(sig); got != p+hashKey(sig) {
		t.Errorf("tokenKey(time-keyed signature) = %q, want %s + its hash", got, p)
	}
	code := timekey.CodeTag + p + "a2V5.aG1hYw"
	if got := tokenKey(code); got != p+hashKey(code) {
		t.Errorf("tokenKey(raw code) = %q, want %s + its hash", got, p)
	}
	if strings.Contains(tokenKey(code), "a2V5") {
		t.Error("the stored key contains the code")
	}
	for _, legacy := range []string{"c2lnbmF0dXJlLW9mLXRoZS10b2tlbg", p + "c2lnbmF0dXJl"} {
		if got := tokenKey(legacy); got != hashKey(legacy) {
			t.Errorf("tokenKey(legacy %q) = %q, want the bare hash", legacy, got)
		}
	}
	later := timekey.Key(time.Date(2026, 12, 3, 9, 0, 0, 1_000_000, time.UTC), "AAAA")
	if tokenKey(later) <= tokenKey(sig) {
		t.Error("a key issued 1 ms later does not sort after")
	}
}
