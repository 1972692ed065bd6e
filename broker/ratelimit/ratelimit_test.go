package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestBucket(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(10, time.Second, 3, c.now) // 10/s, burst 3
	for i := range 3 {
		if ok, _ := l.Allow("rp"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.Allow("rp")
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("4th request: ok=%v wait=%v, want refused for about 100ms", ok, wait)
	}
	if ok, _ := l.Allow("other"); !ok {
		t.Error("another key shares the bucket")
	}
	c.t = c.t.Add(100 * time.Millisecond)
	if ok, _ := l.Allow("rp"); !ok {
		t.Error("no token after the refill time")
	}
	c.t = c.t.Add(time.Hour)
	for i := range 3 {
		if ok, _ := l.Allow("rp"); !ok {
			t.Fatalf("after an hour, request %d refused: the bucket exceeds nothing but its burst", i)
		}
	}
	if ok, _ := l.Allow("rp"); ok {
		t.Error("the bucket refilled beyond its burst")
	}
}

func TestFailures(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(1, time.Minute, 2, c.now)
	if b, _ := l.Blocked("alice"); b {
		t.Fatal("blocked before any failure")
	}
	l.Fail("alice")
	l.Fail("alice")
	l.Fail("alice") // stays at empty, does not dig a debt
	b, wait := l.Blocked("alice")
	if !b || wait != time.Minute {
		t.Fatalf("after the burst of failures: blocked=%v wait=%v, want a minute", b, wait)
	}
	c.t = c.t.Add(time.Minute)
	if b, _ := l.Blocked("alice"); b {
		t.Error("still blocked after the refill")
	}
}

func TestDisabledAndBounded(t *testing.T) {
	var off *Limiter = New(0, time.Second, 5, nil)
	if ok, _ := off.Allow("x"); !ok || off != nil {
		t.Fatal("a zero limit must be nil and allow everything")
	}
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(1000, time.Second, 1, c.now)
	for i := range 50_000 {
		l.Allow(fmt.Sprint(i))
	}
	c.t = c.t.Add(time.Second)
	l.Allow("last")
	if n := len(l.buckets); n > 1 {
		t.Errorf("%d idle buckets kept after they refilled", n)
	}
	if RetryAfter(10*time.Millisecond) != 1 || RetryAfter(1500*time.Millisecond) != 2 {
		t.Error("Retry-After is not rounded up to whole seconds")
	}
}
