package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"
)

// profileGateways serves, in this process, the handler of each gatehouse
// configuration on a loopback listener and drives it for d under the CPU
// profiler, then writes an allocation profile: dir/<name>.cpu.pprof and
// dir/<name>.allocs.pprof. The load generator shares the profile; look at
// the gateway's functions (go tool pprof -top -focus 'gatehouse|net/http').
func (s *setup) profileGateways(ctx context.Context, dir string, conns int, d time.Duration, log io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, t := range s.targets {
		file := s.files[t.name]
		if file == "" {
			continue
		}
		name := strings.ReplaceAll(strings.TrimPrefix(t.name, "gatehouse "), " ", "-")
		name = strings.ReplaceAll(name, "/", "")
		fmt.Fprintf(log, "bench: profiling %s in process\n", t.name)
		if err := profileOne(ctx, t, file, filepath.Join(dir, name), conns, d); err != nil {
			return err
		}
	}
	return nil
}

func profileOne(ctx context.Context, t target, file, prefix string, conns int, d time.Duration) error {
	h, closeGW, err := inProcessGateway(ctx, file)
	if err != nil {
		return err
	}
	defer closeGW()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	t.addr = ln.Addr().String()
	if _, err := drive(ctx, t, conns, d/4); err != nil { // warm up
		return err
	}
	cpu, err := os.Create(prefix + ".cpu.pprof")
	if err != nil {
		return err
	}
	defer cpu.Close()
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return err
	}
	res, err := drive(ctx, t, conns, d)
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	if res.errors > 0 {
		return fmt.Errorf("%s in process: %d wrong answers, first: %w", t.name, res.errors, res.firstErr)
	}
	allocs, err := os.Create(prefix + ".allocs.pprof")
	if err != nil {
		return err
	}
	defer allocs.Close()
	return pprof.Lookup("allocs").WriteTo(allocs, 0)
}
