// Command bench is Gatehouse's load harness: in one bounded run on
// loopback it starts a fast upstream, a tuned bare httputil.ReverseProxy in
// front of it, and the gatehouse binary (built from this tree) with the
// cookie store and with the Redis store (a redis-server it starts), signs a
// user in through the in-repo development provider, and drives every
// configuration with the same closed-loop load in alternating rounds. It
// prints one table whose figures are ratios to the bare proxy of the same
// run (see docs/performance.md).
//
//	go run ./bench                      # the full run (about 90 s)
//	go run ./bench --smoke              # a few seconds: every configuration answers correctly
//	go run ./bench --json               # the same figures for machines
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// options are the harness's flags.
type options struct {
	duration    time.Duration
	warmup      time.Duration
	connections int
	rounds      int
	allocOps    int
	json        bool
	smoke       bool
	profileDir  string
}

func main() {
	if ran, err := runRole(); ran {
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	rep, err := harness(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if o.json {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeTable(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.duration, "duration", 4*time.Second, "length of one configuration's load in one round")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load before the first round, per configuration, not measured")
	fs.IntVar(&o.connections, "connections", 50, "concurrent keep-alive connections (closed loop: one request in flight on each)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every configuration once, in turn")
	fs.IntVar(&o.allocOps, "alloc-requests", 2000, "requests served in process to count allocations per request")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of the table")
	fs.StringVar(&o.profileDir, "profile", "", "also profile each gatehouse configuration in process under the same load (CPU and allocations, pprof files in this directory)")
	fs.BoolVar(&o.smoke, "smoke", false, "a few seconds: check every configuration answers correctly, no figures asserted")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.smoke {
		o.duration, o.warmup, o.connections, o.rounds, o.allocOps = 300*time.Millisecond, 0, 4, 1, 20
	}
	if o.duration <= 0 || o.connections < 1 || o.rounds < 1 || o.rounds > 20 || o.connections > 1000 {
		fmt.Fprintln(stderr, "bench: --duration > 0, 1 ≤ --connections ≤ 1000, 1 ≤ --rounds ≤ 20")
		return o, flag.ErrHelp
	}
	return o, nil
}
