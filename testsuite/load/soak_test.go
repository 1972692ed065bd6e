package load

import (
	"testing"
)

// TestShortSoak runs the mix for 60 s at a modest paced rate against the demo
// broker, with the broker's RSS sampled every 5 s, and fails on runaway memory
// growth. The bounds are generous, so that a loaded machine does not make it
// flaky: the 200 MB peak, and under 40 MB of growth between the sample
// at 20 s (caches and pools warm by then) and the end. The 30-minute soak and
// its slope are testsuite/scripts/soak.sh's.
func TestShortSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("60 s soak; not in -short")
	}
	d := startDemo(t)
	rep, code, stderr := d.load(t, "--scenario", "mix", "--exchange-client", d.exchanger, "--exchange-audience", exchangeAudience,
		"--duration", "60s", "--rate", "40", "--sample-every", "5s", "--progress=false")
	if code != 0 || rep.Errors != 0 {
		t.Errorf("exit %d, %d errors: %v\n%s", code, rep.Errors, rep.ErrorsByKind, stderr)
	}
	if len(rep.Samples) < 10 {
		t.Fatalf("%d samples in 60 s every 5 s\n%s", len(rep.Samples), stderr)
	}
	var at20, last, peak int64
	for _, s := range rep.Samples {
		if s.RSSBytes <= 0 {
			t.Fatalf("sample without RSS: %+v", s)
		}
		if at20 == 0 && s.TS >= 20 {
			at20 = s.RSSBytes
		}
		last = s.RSSBytes
		peak = max(peak, s.RSSBytes)
	}
	const mb = 1 << 20
	t.Logf("%.0f ops/s; RSS at 20 s %.1f MB, at the end %.1f MB, peak %.1f MB; slope %+.1f MB/hour",
		rep.OpsPerS, float64(at20)/mb, float64(last)/mb, float64(peak)/mb, rep.RSSSlopeMBPerHour)
	if peak > 200*mb {
		t.Errorf("peak RSS %.1f MB, over 200 MB", float64(peak)/mb)
	}
	if last-at20 > 40*mb {
		t.Errorf("RSS grew %.1f MB between 20 s and 60 s of a steady mix", float64(last-at20)/mb)
	}
	if rep.OK < 600 {
		t.Errorf("%d operations in 60 s at 40/s: the load did not run", rep.OK)
	}
}
