package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100 on
// every Linux architecture Go supports (sysconf(_SC_CLK_TCK) needs cgo).
const clockTicks = 100

// prober samples the broker's resident memory and CPU time, from /proc/PID or
// from its Prometheus /metrics.
type prober struct {
	pid        int
	metricsURL string
	client     *http.Client

	mu       sync.Mutex
	rss      int64   // last sample, bytes
	peakRSS  int64   // highest sample since resetPeaks
	hwm      int64   // VmHWM: the kernel's peak RSS since the process started (/proc only)
	cpu      float64 // CPU seconds (user + system) at the last sample
	lastCPU  float64
	lastT    time.Time
	peakCPU  float64 // highest CPU rate (cores) over a sampling interval of at least 1 s
	windowT  time.Time
	windowC  float64
	samples  int
	failures int
	lastErr  error
	quit     chan struct{}
	once     sync.Once
}

func newProber(pid int, metricsURL string) *prober {
	return &prober{pid: pid, metricsURL: metricsURL, client: &http.Client{Timeout: 2 * time.Second}, quit: make(chan struct{})}
}

func (p *prober) loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.quit:
			return
		case <-t.C:
			_ = p.sample()
		}
	}
}

func (p *prober) stop() { p.once.Do(func() { close(p.quit) }) }

// sample reads the memory and CPU once.
func (p *prober) sample() error {
	var rss, hwm int64
	var cpu float64
	var err error
	if p.pid > 0 {
		rss, hwm, cpu, err = readProc(p.pid)
	} else {
		rss, cpu, err = p.readMetrics()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.failures++
		p.lastErr = err
		if p.samples == 0 {
			return fmt.Errorf("broker resources: %w", err)
		}
		return err
	}
	now := time.Now()
	p.samples++
	p.rss, p.hwm, p.cpu = rss, hwm, cpu
	p.peakRSS = max(p.peakRSS, rss)
	if p.windowT.IsZero() {
		p.windowT, p.windowC = now, cpu
	} else if dt := now.Sub(p.windowT).Seconds(); dt >= 1 {
		p.peakCPU = max(p.peakCPU, (cpu-p.windowC)/dt)
		p.windowT, p.windowC = now, cpu
	}
	p.lastCPU, p.lastT = cpu, now
	return nil
}

func (p *prober) resetPeaks() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.peakRSS, p.peakCPU = p.rss, 0
	p.windowT, p.windowC = p.lastT, p.cpu
}

func (p *prober) cpuSeconds() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cpu
}

// current returns the last sample's RSS (bytes) and CPU time (seconds).
func (p *prober) current() (int64, float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rss, p.cpu
}

func (p *prober) progress() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf(", broker RSS %.1f MB", float64(p.rss)/(1<<20))
}

// procIO is /proc/PID/io: what the broker asked of the kernel (read and write
// calls and bytes, files and sockets alike) and what it made the kernel write to
// the disk (pages it dirtied, counted once until written back: on a store that
// is the real cost of scattered page writes). Linux's Documentation/filesystems/proc.rst.
type procIO struct {
	RChar      int64 `json:"read_bytes"`
	WChar      int64 `json:"written_bytes"`
	SyscR      int64 `json:"read_calls"`
	SyscW      int64 `json:"write_calls"`
	ReadBytes  int64 `json:"disk_read_bytes"`
	WriteBytes int64 `json:"disk_write_bytes"`
}

// readProcIO reads /proc/PID/io (readable by the broker's own user or root).
func readProcIO(pid int) (procIO, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return procIO{}, err
	}
	return parseProcIO(b)
}

func parseProcIO(b []byte) (procIO, error) {
	var io procIO
	fields := map[string]*int64{"rchar": &io.RChar, "wchar": &io.WChar, "syscr": &io.SyscR, "syscw": &io.SyscW,
		"read_bytes": &io.ReadBytes, "write_bytes": &io.WriteBytes}
	seen := 0
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		dst := fields[key]
		if !ok || dst == nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil {
			return io, fmt.Errorf("/proc io: %s: %q", key, val)
		}
		*dst = n
		seen++
	}
	if seen != len(fields) {
		return io, fmt.Errorf("/proc io: %d of the %d counters", seen, len(fields))
	}
	return io, nil
}

// ioDelta is the broker's I/O between two readings, in total and per
// operation: counts that the machine's speed does not change, so two runs (or an
// empty and a filled store) compare even on a noisy machine.
func ioDelta(before, after procIO, ops int64) *ioReport {
	d := procIO{RChar: after.RChar - before.RChar, WChar: after.WChar - before.WChar, SyscR: after.SyscR - before.SyscR,
		SyscW: after.SyscW - before.SyscW, ReadBytes: after.ReadBytes - before.ReadBytes, WriteBytes: after.WriteBytes - before.WriteBytes}
	r := &ioReport{Total: d}
	if ops > 0 {
		per := func(n int64) float64 { return float64(n) / float64(ops) }
		r.PerOp = &ioPerOp{ReadBytes: per(d.RChar), WrittenBytes: per(d.WChar), ReadCalls: per(d.SyscR), WriteCalls: per(d.SyscW),
			DiskReadBytes: per(d.ReadBytes), DiskWriteBytes: per(d.WriteBytes)}
	}
	return r
}

func (p *prober) report(elapsed time.Duration, cpuBefore float64) *brokerReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &brokerReport{PID: p.pid, MetricsURL: p.metricsURL, PeakRSSBytes: p.peakRSS, LastRSSBytes: p.rss, VmHWMBytes: p.hwm,
		CPUSeconds: p.cpu - cpuBefore, PeakCPUCores: p.peakCPU, Samples: p.samples, SampleFailures: p.failures}
	r.AvgCPUCores = r.CPUSeconds / elapsed.Seconds()
	if p.lastErr != nil {
		r.LastError = p.lastErr.Error()
	}
	return r
}

// readProc reads VmRSS and VmHWM from /proc/PID/status and utime + stime from
// /proc/PID/stat.
func readProc(pid int) (rss, hwm int64, cpu float64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	rss, hwm, err = parseStatus(f)
	f.Close()
	if err != nil {
		return 0, 0, 0, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	cpu, err = parseStat(string(stat))
	return rss, hwm, cpu, err
}

func parseStatus(r io.Reader) (rss, hwm int64, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		f := strings.Fields(val)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc status: %s: %q", key, val)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("/proc status: no VmRSS (a zombie?)")
	}
	return rss, hwm, sc.Err()
}

// parseStat returns utime + stime in seconds. The command name (field 2) is in
// parentheses and may hold spaces, so fields are counted after the last ')'.
func parseStat(s string) (float64, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("/proc stat: too few fields")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return float64(ut+st) / clockTicks, nil
}

// readMetrics scrapes process_resident_memory_bytes and process_cpu_seconds_total.
func (p *prober) readMetrics() (rss int64, cpu float64, err error) {
	resp, err := p.client.Get(p.metricsURL)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("%s: %s", p.metricsURL, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (rss int64, cpu float64, err error) {
	var haveRSS, haveCPU bool
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch name {
		case "process_resident_memory_bytes":
			v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err != nil {
				return 0, 0, fmt.Errorf("process_resident_memory_bytes: %w", err)
			}
			rss, haveRSS = int64(v), true
		case "process_cpu_seconds_total":
			v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
			if err != nil {
				return 0, 0, fmt.Errorf("process_cpu_seconds_total: %w", err)
			}
			cpu, haveCPU = v, true
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !haveRSS || !haveCPU {
		return 0, 0, errors.New("metrics lack process_resident_memory_bytes or process_cpu_seconds_total")
	}
	return rss, cpu, nil
}

// storeSize is the size of the store file and its -wal journal (-1: no file given
// or not found).
func storeSize(path string) int64 {
	if path == "" {
		return -1
	}
	fi, err := os.Stat(path)
	if err != nil {
		return -1
	}
	n := fi.Size()
	if wal, err := os.Stat(path + "-wal"); err == nil {
		n += wal.Size()
	}
	return n
}
