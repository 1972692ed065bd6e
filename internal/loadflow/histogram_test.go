package loadflow

import (
	"errors"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.95, 950 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.Quantile(c.q)
		if got > c.want || float64(c.want-got) > 0.02*float64(c.want) {
			t.Errorf("p%v = %v, want %v within 2%%", c.q*100, got, c.want)
		}
	}
	if h.Count() != 1000 || h.Max() != time.Second {
		t.Errorf("count %d max %v", h.Count(), h.Max())
	}
	var o Histogram
	o.Record(5 * time.Second)
	h.Merge(&o)
	if h.Count() != 1001 || h.Max() != 5*time.Second || h.Quantile(0.5) > 501*time.Millisecond {
		t.Errorf("after merge: count %d max %v p50 %v", h.Count(), h.Max(), h.Quantile(0.5))
	}
	var small Histogram
	small.Record(3)
	if small.Quantile(0.99) != 3 {
		t.Errorf("small p99 = %v", small.Quantile(0.99))
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram")
	}
}

func TestBucketMonotonic(t *testing.T) {
	prev := -1
	for d := time.Duration(0); d < time.Hour; d = d*11/10 + 1 {
		b := bucket(d)
		if b < prev {
			t.Fatalf("bucket(%v) = %d < %d", d, b, prev)
		}
		if lo := lowest(b); lo > d || float64(d-lo) > float64(d)/subBuckets+1 {
			t.Fatalf("lowest(bucket(%v)) = %v", d, lo)
		}
		prev = b
	}
}

func TestKind(t *testing.T) {
	if k := Kind(httpErr(401, []byte(`{"error":"invalid_client","error_description":"x"}`))); k != "oauth invalid_client" {
		t.Errorf("kind %q", k)
	}
	if k := Kind(httpErr(502, []byte(`<html>bad gateway</html>`))); k != "http 502" {
		t.Errorf("kind %q", k)
	}
	if k := Kind(errors.New("dial tcp 127.0.0.1:1: connect: connection refused")); k != "transport: connection refused" {
		t.Errorf("kind %q", k)
	}
}
