package main

import (
	"time"
)

// sample is one point of the run's timeline (--sample-every): what the interval
// that ends at TS did, and the broker's memory then. A soak reads the RSS slope
// from it; a cleanup pause shows as one interval's p99 and max.
type sample struct {
	TS        float64 `json:"t_s"`        // seconds since the clock started
	IntervalS float64 `json:"interval_s"` // the last one may be shorter
	OK        uint64  `json:"ok"`
	Errors    int64   `json:"errors"`
	PerS      float64 `json:"per_s"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	RSSBytes  int64   `json:"rss_bytes,omitempty"`
	CPUCores  float64 `json:"cpu_cores,omitempty"` // the broker's average over the interval
}

// timeline takes a sample every period (none if period is 0).
type timeline struct {
	c       <-chan time.Time // nil when off: never ready in a select
	ticker  *time.Ticker
	start   time.Time
	last    time.Time
	st      *stats
	probe   *prober
	lastErr int64
	lastCPU float64
	samples []sample
}

func newTimeline(period time.Duration, start time.Time, st *stats, probe *prober) *timeline {
	tl := &timeline{start: start, last: start, st: st, probe: probe}
	if probe != nil {
		tl.lastCPU = probe.cpuSeconds()
	}
	tl.lastErr = st.failed.Load()
	if period > 0 {
		tl.ticker = time.NewTicker(period)
		tl.c = tl.ticker.C
	}
	return tl
}

func (tl *timeline) stop() {
	if tl.ticker != nil {
		tl.ticker.Stop()
	}
}

// sample closes the interval ending now.
func (tl *timeline) sample(now time.Time) {
	dt := now.Sub(tl.last).Seconds()
	if dt <= 0 {
		return
	}
	h := tl.st.takeInterval()
	failed := tl.st.failed.Load()
	s := sample{TS: now.Sub(tl.start).Seconds(), IntervalS: dt, OK: h.Count(), Errors: failed - tl.lastErr,
		PerS: float64(h.Count()) / dt, P50Ms: ms(h.Quantile(0.50)), P99Ms: ms(h.Quantile(0.99)), MaxMs: ms(h.Max())}
	if tl.probe != nil {
		_ = tl.probe.sample()
		rss, cpu := tl.probe.current()
		s.RSSBytes, s.CPUCores = rss, (cpu-tl.lastCPU)/dt
		tl.lastCPU = cpu
	}
	tl.last, tl.lastErr = now, failed
	tl.samples = append(tl.samples, s)
}

// rssSlope is the least-squares slope of the samples' RSS over time, in MB
// (2^20 bytes) per hour; 0 with fewer than two samples that carry an RSS.
func rssSlope(samples []sample) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, s := range samples {
		if s.RSSBytes <= 0 {
			continue
		}
		x, y := s.TS/3600, float64(s.RSSBytes)/(1<<20)
		n++
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	d := n*sxx - sx*sx
	if n < 2 || d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}
