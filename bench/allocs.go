package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
)

// allocs is the heap cost of one request through a handler.
type allocs struct {
	PerOp      float64 `json:"allocs_per_op"`
	BytesPerOp float64 `json:"bytes_per_op"`
}

// inProcessGateway builds, in this process, the handler the gatehouse
// binary serves for the configuration file, so that its allocations can
// be counted (the benchmarks' figure, on the harness's own setup).
func inProcessGateway(ctx context.Context, file string) (http.Handler, func(), error) {
	opts, err := config.Load([]string{"--config", file}, func(string) (string, bool) { return "", false }, io.Discard)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := opts.Validate()
	if err != nil {
		return nil, nil, err
	}
	gw, err := gateway.New(ctx, cfg, gateway.Deps{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, nil, err
	}
	return gw, func() { _ = gw.Close() }, nil
}

// measureAllocs serves t's request n times through h with a recorder, one
// after another, and counts the heap allocations (as go test -benchmem
// does: every goroutine's, so the upstream round trip's too).
func measureAllocs(h http.Handler, t target, n int) (allocs, error) {
	newReq := func() *http.Request {
		req := httptest.NewRequest(http.MethodGet, "http://"+t.addr+t.path, nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("User-Agent", "gatehouse-bench")
		req.Header.Set("Accept", "application/json")
		if t.cookie != "" {
			req.Header.Set("Cookie", t.cookie)
		}
		return req
	}
	serve := func() error {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, newReq())
		if rec.Code != t.status {
			return fmt.Errorf("%s in process: status %d, want %d", t.name, rec.Code, t.status)
		}
		return nil
	}
	for range 50 { // warm pools and connections
		if err := serve(); err != nil {
			return allocs{}, err
		}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range n {
		if err := serve(); err != nil {
			return allocs{}, err
		}
	}
	runtime.ReadMemStats(&after)
	return allocs{
		PerOp:      float64(after.Mallocs-before.Mallocs) / float64(n),
		BytesPerOp: float64(after.TotalAlloc-before.TotalAlloc) / float64(n),
	}, nil
}
