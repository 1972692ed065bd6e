package session

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/justiceconnect/justiceconnect/broker/timekey"
)

// TestNewSessionID: an SSO session ID starts with the time it began (so that its
// rows go at the right edge of the indexes keyed by session) and keeps 24
// random bytes after it.
func TestNewSessionID(t *testing.T) {
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	a, b := newSessionID(now), newSessionID(now)
	if a == b {
		t.Fatalf("two session IDs are equal: %q", a)
	}
	if got := timekey.Of(a); got != timekey.Prefix(now) {
		t.Errorf("newSessionID(%v) = %q: time prefix %q, want %q", now, a, got, timekey.Prefix(now))
	}
	random := a[timekey.PrefixLen+1:]
	if raw, err := base64.RawURLEncoding.DecodeString(random); err != nil || len(raw) != 24 {
		t.Errorf("random part %q: %d bytes (%v), want 24", random, len(raw), err)
	}
	if later := newSessionID(now.Add(time.Millisecond)); later <= a {
		t.Errorf("a later session's ID %q does not sort after %q", later, a)
	}
}
