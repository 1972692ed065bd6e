package main

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// report is the result of a run; its JSON form is the --json output.
type report struct {
	Scenario     string           `json:"scenario"`
	Issuer       string           `json:"issuer"`
	Concurrency  int              `json:"concurrency"`
	DurationS    float64          `json:"duration_s"`
	Budget       int64            `json:"max_requests,omitempty"`
	Requests     int64            `json:"requests"`
	RequestsPerS float64          `json:"requests_per_s"`
	OK           int64            `json:"ok"`
	OpsPerS      float64          `json:"ops_per_s"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	Ops          []opReport       `json:"ops"`
	Broker       *brokerReport    `json:"broker,omitempty"`
	Store        *storeReport     `json:"store,omitempty"`
	TargetRate   float64          `json:"target_rate,omitempty"`
	// Samples is the timeline (--sample-every); RSSSlopeMBPerHour is the
	// least-squares slope of its RSS, the soak's growth figure.
	SampleEveryS      float64  `json:"sample_every_s,omitempty"`
	Samples           []sample `json:"samples,omitempty"`
	RSSSlopeMBPerHour float64  `json:"rss_slope_mb_per_hour,omitempty"`
}

// opReport is one operation kind. Setup (the logins that give workers their
// session before the clock starts) is reported but not counted in throughput.
type opReport struct {
	Op           string            `json:"op"`
	OK           int64             `json:"ok"`
	Errors       int64             `json:"errors"`
	PerS         float64           `json:"per_s"`
	MeanMs       float64           `json:"mean_ms"`
	P50Ms        float64           `json:"p50_ms"`
	P95Ms        float64           `json:"p95_ms"`
	P99Ms        float64           `json:"p99_ms"`
	MaxMs        float64           `json:"max_ms"`
	ErrorsByKind map[string]int64  `json:"errors_by_kind,omitempty"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
}

type brokerReport struct {
	PID            int     `json:"pid,omitempty"`
	MetricsURL     string  `json:"metrics_url,omitempty"`
	PeakRSSBytes   int64   `json:"peak_rss_bytes"`
	LastRSSBytes   int64   `json:"last_rss_bytes"`
	VmHWMBytes     int64   `json:"vm_hwm_bytes,omitempty"`
	CPUSeconds     float64 `json:"cpu_seconds"`
	AvgCPUCores    float64 `json:"avg_cpu_cores"`
	PeakCPUCores   float64 `json:"peak_cpu_cores"`
	Samples        int     `json:"samples"`
	SampleFailures int     `json:"sample_failures,omitempty"`
	LastError      string  `json:"last_error,omitempty"`
	// IO is the broker's I/O during the run (--pid only).
	IO *ioReport `json:"io,omitempty"`
}

type ioReport struct {
	Total procIO   `json:"total"`
	PerOp *ioPerOp `json:"per_op,omitempty"`
}

type ioPerOp struct {
	ReadBytes      float64 `json:"read_bytes"`
	WrittenBytes   float64 `json:"written_bytes"`
	ReadCalls      float64 `json:"read_calls"`
	WriteCalls     float64 `json:"write_calls"`
	DiskReadBytes  float64 `json:"disk_read_bytes"`
	DiskWriteBytes float64 `json:"disk_write_bytes"`
}

type storeReport struct {
	Path        string `json:"path"`
	BeforeBytes int64  `json:"before_bytes"`
	AfterBytes  int64  `json:"after_bytes"`
	GrowthBytes int64  `json:"growth_bytes"`
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// table prints the report for people.
func (r *report) table(w io.Writer) {
	fmt.Fprintf(w, "scenario %s against %s: concurrency %d, %.1f s, %d requests (%.0f/s), %d operations (%.0f/s), %d errors\n\n",
		r.Scenario, r.Issuer, r.Concurrency, r.DurationS, r.Requests, r.RequestsPerS, r.OK, r.OpsPerS, r.Errors)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "operation\tok\terrors\tper s\tmean ms\tp50 ms\tp95 ms\tp99 ms\tmax ms\t")
	for _, o := range r.Ops {
		perS := fmt.Sprintf("%.1f", o.PerS)
		if o.Op == "setup" {
			perS = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", o.Op, o.OK, o.Errors, perS, o.MeanMs, o.P50Ms, o.P95Ms, o.P99Ms, o.MaxMs)
	}
	tw.Flush()
	if len(r.ErrorsByKind) > 0 {
		fmt.Fprintln(w, "\nerrors by kind:")
		kinds := make([]string, 0, len(r.ErrorsByKind))
		for k := range r.ErrorsByKind {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			fmt.Fprintf(w, "  %8d  %s\n", r.ErrorsByKind[k], k)
		}
		for _, o := range r.Ops {
			for _, k := range sortedKeys(o.ErrorSamples) {
				fmt.Fprintf(w, "  e.g. %s: %s\n", o.Op, truncate(o.ErrorSamples[k], 200))
			}
		}
	}
	if b := r.Broker; b != nil {
		src := fmt.Sprintf("pid %d", b.PID)
		if b.PID == 0 {
			src = b.MetricsURL
		}
		fmt.Fprintf(w, "\nbroker (%s): peak RSS %s during the run", src, mb(b.PeakRSSBytes))
		if b.VmHWMBytes > 0 {
			fmt.Fprintf(w, " (VmHWM %s since start)", mb(b.VmHWMBytes))
		}
		fmt.Fprintf(w, ", CPU %.1f s = %.2f cores on average, %.2f at peak\n", b.CPUSeconds, b.AvgCPUCores, b.PeakCPUCores)
		if b.IO != nil && b.IO.PerOp != nil {
			o := b.IO.PerOp
			fmt.Fprintf(w, "  I/O per operation: %.1f read and %.1f write calls, %.1f KB read and %.1f KB written; %.1f KB dirtied for the disk\n",
				o.ReadCalls, o.WriteCalls, o.ReadBytes/1024, o.WrittenBytes/1024, o.DiskWriteBytes/1024)
		}
		if b.SampleFailures > 0 {
			fmt.Fprintf(w, "  %d samples failed, last: %s\n", b.SampleFailures, b.LastError)
		}
	}
	if len(r.Samples) > 0 {
		fmt.Fprintf(w, "\ntimeline (every %gs):\n", r.SampleEveryS)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "t s\tok\terrors\tper s\tp50 ms\tp99 ms\tmax ms\tRSS MB\tCPU cores\t")
		for _, s := range r.Samples {
			fmt.Fprintf(tw, "%.0f\t%d\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.1f\t%.2f\t\n", s.TS, s.OK, s.Errors, s.PerS, s.P50Ms, s.P99Ms, s.MaxMs, float64(s.RSSBytes)/(1<<20), s.CPUCores)
		}
		tw.Flush()
		if r.Broker != nil {
			fmt.Fprintf(w, "RSS slope: %+.2f MB/hour (least squares over %d samples)\n", r.RSSSlopeMBPerHour, len(r.Samples))
		}
	}
	if s := r.Store; s != nil {
		if s.BeforeBytes < 0 || s.AfterBytes < 0 {
			fmt.Fprintf(w, "store %s: not found\n", s.Path)
		} else {
			fmt.Fprintf(w, "store %s: %s before, %s after (%+.1f MB)\n", s.Path, mb(s.BeforeBytes), mb(s.AfterBytes), float64(s.GrowthBytes)/(1<<20))
		}
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
