// Package ratelimit keeps token buckets per key (a client ID, an address, an
// account) in memory, for the broker's request limits. Each node keeps its own
// buckets: with N nodes behind a load balancer the effective limit is up to N
// times the configured one, which is stated in the operator's guide.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Limiter is a set of token buckets, one per key, each refilled at Rate tokens per
// second up to Burst. Idle buckets are forgotten so memory stays bounded by the
// keys active within the last refill period.
type Limiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New returns a limiter allowing requests per period with the given burst. A nil
// Limiter allows everything, so a disabled limit is simply nil.
func New(requests int, period time.Duration, burst int, now func() time.Time) *Limiter {
	if requests <= 0 || period <= 0 {
		return nil
	}
	if burst < 1 {
		burst = 1
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: float64(requests) / period.Seconds(), burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// Allow takes a token from key's bucket. When none is left it returns false and
// how long until one is.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, l.wait(b)
}

// Blocked reports, without taking a token, whether key's bucket is empty: for
// limits on failures, checked before the attempt and charged (Fail) after.
func (l *Limiter) Blocked(key string) (bool, time.Duration) {
	if l == nil {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(key)
	if b.tokens >= 1 {
		return false, 0
	}
	return true, l.wait(b)
}

// Fail takes a token from key's bucket, going no lower than empty.
func (l *Limiter) Fail(key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.refill(key); b.tokens >= 1 {
		b.tokens--
	} else {
		b.tokens = 0
	}
}

// refill brings key's bucket up to now; the caller holds mu.
func (l *Limiter) refill(key string) *bucket {
	now := l.now()
	l.sweep(now)
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
		return b
	}
	if elapsed := now.Sub(b.at).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
		b.at = now
	}
	return b
}

// sweep forgets buckets that have refilled completely: they behave like new ones.
func (l *Limiter) sweep(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	if now.Sub(l.swept) < full && len(l.buckets) < 100_000 {
		return
	}
	l.swept = now
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

func (l *Limiter) wait(b *bucket) time.Duration {
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// RetryAfter renders a wait as the whole seconds of an HTTP Retry-After header
// (RFC 9110 §10.2.3), at least 1.
func RetryAfter(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
