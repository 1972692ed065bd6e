package loadflow

import (
	"math/bits"
	"time"
)

// Histogram records durations in constant memory with a relative error under
// 1/subBuckets (about 1.6%): log-linear buckets over nanoseconds, like HDR
// histograms. The zero value is ready; it is not safe for concurrent use.
type Histogram struct {
	counts [64 * subBuckets]uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

const (
	subBits    = 6
	subBuckets = 1 << subBits
)

func bucket(d time.Duration) int {
	v := uint64(max(d, 0))
	if v < subBuckets {
		return int(v)
	}
	exp := bits.Len64(v) - subBits // >= 1
	return exp*subBuckets + int(v>>(exp-1)) - subBuckets
}

// lowest returns the smallest value of bucket i (its representative).
func lowest(i int) time.Duration {
	if i < subBuckets {
		return time.Duration(i)
	}
	exp, sub := i/subBuckets, i%subBuckets
	return time.Duration(uint64(sub+subBuckets) << (exp - 1))
}

// Record adds one duration.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucket(d)]++
	h.n++
	h.sum += d
	h.max = max(h.max, d)
}

// Merge adds o's records into h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Count is the number of records.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest record.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the average record.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the q-quantile (0 < q <= 1), within the bucket precision; 0
// when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(lowest(i), h.max)
		}
	}
	return h.max
}
