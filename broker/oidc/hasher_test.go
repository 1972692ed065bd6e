package oidc

import (
	"context"
	"errors"
	"testing"
)

type countingHasher struct{ compares int }

func (c *countingHasher) Compare(_ context.Context, hash, data []byte) error {
	c.compares++
	if string(hash) != "hash-of-"+string(data) {
		return errors.New("mismatch")
	}
	return nil
}
func (c *countingHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	return []byte("hash-of-" + string(data)), nil
}

func TestCachingHasher(t *testing.T) {
	inner := &countingHasher{}
	h := newCachingHasher(inner, 2)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := h.Compare(ctx, []byte("hash-of-s1"), []byte("s1")); err != nil {
			t.Fatal(err)
		}
	}
	if inner.compares != 1 {
		t.Fatalf("right secret compared %d times, want 1 (cached)", inner.compares)
	}
	for i := 0; i < 3; i++ {
		if err := h.Compare(ctx, []byte("hash-of-s1"), []byte("wrong")); err == nil {
			t.Fatal("wrong secret accepted")
		}
	}
	if inner.compares != 4 {
		t.Fatalf("wrong secrets compared %d times, want every time", inner.compares-1)
	}
	// A rotated secret has another stored hash: the old cache entry does not apply.
	if err := h.Compare(ctx, []byte("hash-of-s2"), []byte("s1")); err == nil {
		t.Fatal("old secret accepted against a new hash")
	}
	_ = h.Compare(ctx, []byte("hash-of-a"), []byte("a"))
	_ = h.Compare(ctx, []byte("hash-of-b"), []byte("b")) // cache full: reset
	if len(h.ok) > 2 {
		t.Fatalf("cache grew to %d", len(h.ok))
	}
}
