package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one configuration's figures over the whole run.
type row struct {
	Name        string        `json:"name"`
	Requests    uint64        `json:"requests"`
	ReqPerSec   float64       `json:"req_per_sec"`
	Ratio       float64       `json:"ratio_to_bare"` // mean of the rounds' ratios
	RatioMin    float64       `json:"ratio_min"`
	RatioMax    float64       `json:"ratio_max"`
	RatioPooled float64       `json:"ratio_to_bare_pooled"` // mean of the rounds' ratios to bare + buffer pool
	P50         time.Duration `json:"p50_ns"`
	P99         time.Duration `json:"p99_ns"`
	P99Added    time.Duration `json:"p99_added_over_bare_ns"`
	CPUPerReq   time.Duration `json:"cpu_per_request_ns"`
	CPURatio    float64       `json:"cpu_ratio_to_bare"`
	Allocs      allocs        `json:"allocs"`
	AllocsRatio float64       `json:"allocs_ratio_to_bare"`
	RSSIdle     uint64        `json:"rss_idle_bytes"`
	RSSFirst    uint64        `json:"rss_first_bytes"`
	RSSLast     uint64        `json:"rss_last_bytes"`
	RSSMax      uint64        `json:"rss_max_bytes"`

	rounds []roundStat
	hist   histogram
	proc   *process
}

// report is one run's result.
type report struct {
	Machine     string        `json:"machine"`
	CPUs        int           `json:"cpus"`
	GoVersion   string        `json:"go"`
	Connections int           `json:"connections"`
	Rounds      int           `json:"rounds"`
	Duration    time.Duration `json:"round_duration_ns"`
	Rows        []*row        `json:"rows"`
}

// harness runs the whole measurement.
func harness(ctx context.Context, o options, log io.Writer) (*report, error) {
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	s, err := start(ctx, dir, log)
	if err != nil {
		return nil, err
	}
	defer s.close()
	rep := &report{Machine: cpuModel(), CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		Connections: o.connections, Rounds: o.rounds, Duration: o.duration}
	mem := map[*process]*memTrack{}
	for _, t := range s.targets {
		r := &row{Name: t.name, proc: s.server[t.name]}
		if mem[r.proc] == nil {
			mem[r.proc] = &memTrack{}
			mem[r.proc].idle, _ = r.proc.rss()
		}
		if r.Allocs, err = s.allocsOf(ctx, t, o.allocOps); err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, r)
	}
	if o.warmup > 0 {
		fmt.Fprintln(log, "bench: warming up")
		for _, t := range s.targets {
			if _, err := drive(ctx, t, o.connections, o.warmup); err != nil {
				return nil, err
			}
		}
	}
	for i := range o.rounds {
		fmt.Fprintf(log, "bench: round %d of %d\n", i+1, o.rounds)
		for j, t := range s.targets {
			r := rep.Rows[j]
			res, st, err := measure(ctx, t, r.proc, o.connections, o.duration, mem[r.proc])
			if err != nil {
				return nil, err
			}
			r.rounds = append(r.rounds, st)
			r.hist.merge(&res.hist)
		}
	}
	rep.summarize(mem)
	if o.profileDir != "" {
		if err := s.profileGateways(ctx, o.profileDir, o.connections, o.duration, log); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// allocsOf counts t's allocations per request in process: the handler the
// gatehouse binary runs for its file, or the same bare proxy / upstream.
func (s *setup) allocsOf(ctx context.Context, t target, n int) (allocs, error) {
	switch file := s.files[t.name]; {
	case file != "":
		h, closeGW, err := inProcessGateway(ctx, file)
		if err != nil {
			return allocs{}, err
		}
		defer closeGW()
		return measureAllocs(h, t, n)
	case t.name == nameBare || t.name == nameBarePool:
		up := s.targets[0]
		return measureAllocs(bareProxy(mustURL("http://"+up.addr), t.name == nameBarePool), t, n)
	default:
		return measureAllocs(upstreamHandler(), t, n)
	}
}

// summarize turns the rounds into figures and ratios to the bare proxy.
func (rep *report) summarize(mem map[*process]*memTrack) {
	var bare, pooled *row
	for _, r := range rep.Rows {
		switch r.Name {
		case nameBare:
			bare = r
		case nameBarePool:
			pooled = r
		}
	}
	for _, r := range rep.Rows {
		var elapsed, cpu time.Duration
		r.RatioMin = 1e9
		for i, st := range r.rounds {
			r.Requests += st.requests
			elapsed += st.elapsed
			cpu += st.cpu
			b := bare.rounds[i]
			ratio := rate(st) / rate(b)
			r.Ratio += ratio / float64(len(r.rounds))
			r.RatioPooled += rate(st) / rate(pooled.rounds[i]) / float64(len(r.rounds))
			r.RatioMin, r.RatioMax = min(r.RatioMin, ratio), max(r.RatioMax, ratio)
		}
		r.ReqPerSec = float64(r.Requests) / elapsed.Seconds()
		r.CPUPerReq = cpu / time.Duration(r.Requests)
		r.P50, r.P99 = r.hist.quantile(0.50), r.hist.quantile(0.99)
		m := mem[r.proc]
		r.RSSIdle, r.RSSFirst, r.RSSLast, r.RSSMax = m.idle, m.first, m.last, m.max
	}
	for _, r := range rep.Rows {
		r.P99Added = r.P99 - bare.P99
		r.CPURatio = float64(r.CPUPerReq) / float64(bare.CPUPerReq)
		r.AllocsRatio = r.Allocs.PerOp / bare.Allocs.PerOp
	}
}

func rate(st roundStat) float64 { return float64(st.requests) / st.elapsed.Seconds() }

func (rep *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// writeTable prints the run as one table; every ratio is to the bare
// reverse proxy of the same run.
func (rep *report) writeTable(w io.Writer) error {
	fmt.Fprintf(w, "%d connections, %d rounds of %v per configuration, %s (%d CPUs), %s\n",
		rep.Connections, rep.Rounds, rep.Duration, rep.Machine, rep.CPUs, rep.GoVersion)
	fmt.Fprintln(w, "ratios are to the bare reverse proxy of the same run; req/s ratio: mean (min–max of the rounds);")
	fmt.Fprintln(w, "× pooled: req/s ratio to the bare proxy with Gatehouse's copy-buffer pool (the stricter baseline)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "configuration\treq/s\t× bare\t× pooled\tp50\tp99\tp99 added\tCPU µs/req\t× bare\tallocs/req\tB/req\t× bare\tRSS MiB idle, load first→last (max)\t")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f (%.2f–%.2f)\t%.2f\t%v\t%v\t%v\t%.0f\t%.2f\t%.0f\t%.0f\t%.2f\t%.1f, %.1f→%.1f (%.1f)\t\n",
			r.Name, r.ReqPerSec, r.Ratio, r.RatioMin, r.RatioMax, r.RatioPooled, r.P50, r.P99, r.P99Added,
			float64(r.CPUPerReq)/float64(time.Microsecond), r.CPURatio,
			r.Allocs.PerOp, r.Allocs.BytesPerOp, r.AllocsRatio, mib(r.RSSIdle), mib(r.RSSFirst), mib(r.RSSLast), mib(r.RSSMax))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "CPU µs/req: the server process's user+system time over its rounds; the load generator runs on the same CPUs.")
	fmt.Fprintln(w, "allocs, B/req: the same request served in process with a recorder (go test -benchmem's count).")
	return nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// cpuModel names the machine's CPU, from /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
