package timekey

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestPrefix(t *testing.T) {
	at := time.UnixMilli(0x19ae_1234_5678)
	if got, want := Prefix(at), "19ae12345678"; got != want {
		t.Fatalf("Prefix = %q, want %q", got, want)
	}
	if got := Prefix(time.UnixMilli(1)); got != "000000000001" {
		t.Fatalf("Prefix(1 ms) = %q", got)
	}
	if !IsPrefix(Prefix(time.Now())) {
		t.Fatal("a prefix is not IsPrefix")
	}
	for _, bad := range []string{"", "19ae1234567", "19ae123456789", "19AE12345678", "19ae1234567g", "19ae-2345678"} {
		if IsPrefix(bad) {
			t.Errorf("IsPrefix(%q) = true", bad)
		}
	}
	if Key(at, "") != "" {
		t.Error("Key of an empty signature is not empty")
	}
	if got := Key(at, "sig"); got != "19ae12345678~sig" {
		t.Errorf("Key = %q", got)
	}
}

// Keys of tokens issued later sort after earlier ones whatever their random
// signatures, which is the point of the package.
func TestKeysSortByTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	var keys []string
	for i := range 2000 {
		sig := make([]byte, 20)
		for j := range sig {
			sig[j] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[rng.IntN(64)]
		}
		keys = append(keys, Key(base.Add(time.Duration(i)*time.Millisecond), string(sig)))
	}
	if !slices.IsSorted(keys) {
		t.Fatal("keys issued in time order do not sort in time order")
	}
}

func TestUUIDv7(t *testing.T) {
	at := time.Date(2026, 12, 3, 21, 30, 0, 123_000_000, time.UTC)
	var r [16]byte
	for i := range r {
		r[i] = 0xff
	}
	s := UUIDv7(at, r)
	id, err := uuid.Parse(s)
	if err != nil || id.Version() != 7 || id.Variant() != uuid.RFC4122 {
		t.Fatalf("UUIDv7 = %q: version %d variant %v err %v", s, id.Version(), id.Variant(), err)
	}
	if got := time.Unix(id.Time().UnixTime()); !got.Equal(at) {
		t.Errorf("UUID time = %v, want %v", got, at)
	}
	p, ok := PrefixOfUUIDv7(s)
	if !ok || p != Prefix(at) {
		t.Errorf("PrefixOfUUIDv7(%q) = %q, %v; want %q", s, p, ok, Prefix(at))
	}
	if s != strings.ToLower(s) {
		t.Errorf("UUIDv7 = %q, not lowercase", s)
	}
	// google/uuid's own v7 parses the same way.
	if _, ok := PrefixOfUUIDv7(uuid.Must(uuid.NewV7()).String()); !ok {
		t.Error("a google/uuid v7 is not recognised")
	}
	for _, bad := range []string{"", "Y3Jhc2gK-random-jti-22c", uuid.NewString(), strings.ToUpper(NewUUIDv7(at)), NewUUIDv7(at)[:35]} {
		if _, ok := PrefixOfUUIDv7(bad); ok {
			t.Errorf("PrefixOfUUIDv7(%q) = ok", bad)
		}
	}
	if NewUUIDv7(at) == NewUUIDv7(at) {
		t.Error("two NewUUIDv7 at the same time are equal")
	}
}

func TestOf(t *testing.T) {
	p := Prefix(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	tests := []struct{ in, want string }{
		{Key(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC), "signature"), p},
		{CodeTag + p + "key.hmac", p},
		{RefreshTag + p + "key.hmac", p},
		// A bare signature that happens to start with 12 hex digits.
		{p + "signature", ""},
		{p + "~", ""},
		{p, ""},
		// Keys from before time keys, and anything else.
		{"ory_rt_" + p + "key.hmac", ""},
		{"jc_xx_" + p + "key.hmac", ""},
		{"Zm9vYmFyYmF6cXV4cXV1eA", ""},
		{CodeTag + "0123456789AB", ""},
		{p[:11], ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := Of(tc.in); got != tc.want {
			t.Errorf("Of(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
