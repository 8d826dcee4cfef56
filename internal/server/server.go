// Package server runs Gatehouse's HTTP listener: the listening socket with
// its connection limit, the http.Server with every timeout set, and the
// graceful shutdown. Per-request body deadlines live with the handler
// (package proxy), which knows which routes are Gatehouse's own.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/netutil"
)

// Limits are the server-wide bounds of one listener.
type Limits struct {
	// MaxConnections bounds the connections served at once; further ones
	// wait in the kernel's accept queue until one closes. 0 means
	// DefaultMaxConnections; it is also capped below the process's
	// open-file limit (see EffectiveMaxConnections).
	MaxConnections int
	// ReadHeaderTimeout bounds the wait for a request's headers; 0 means
	// DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long; 0 means
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// Defaults of Limits.
const (
	// DefaultMaxConnections is far above what one replica needs (a
	// request is a few milliseconds of work, so 4096 open connections are
	// thousands of users), yet keeps the per-connection state (buffers and
	// a goroutine, roughly 10-20 KiB each) under ~80 MiB and stays below
	// common open-file limits, so that a flood of slow or idle clients
	// cannot exhaust descriptors or memory.
	DefaultMaxConnections = 4096
	// DefaultReadHeaderTimeout bounds a client's request line and headers.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultIdleTimeout closes idle keep-alive connections.
	DefaultIdleTimeout = 120 * time.Second
	// MaxHeaderBytes bounds a request's headers (large session cookies
	// included: 16 chunks of 4 KiB fit).
	MaxHeaderBytes = 96 << 10
	// fdReserve are descriptors kept for everything but client
	// connections: the upstream, providers, Redis, logs.
	fdReserve = 256
)

func (l Limits) withDefaults() Limits {
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	return l
}

// EffectiveMaxConnections is n (DefaultMaxConnections for 0) capped so that
// the connections plus a reserve fit the process's open-file limit.
func EffectiveMaxConnections(n int) int {
	if n <= 0 {
		n = DefaultMaxConnections
	}
	if limit, ok := openFileLimit(); ok && limit > fdReserve*2 && uint64(n) > limit-fdReserve {
		n = int(limit - fdReserve)
	}
	return max(n, 1)
}

// Listen listens on address (host:port) with at most
// EffectiveMaxConnections(l.MaxConnections) connections served at once.
func Listen(address string, l Limits) (net.Listener, error) {
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return nil, err
	}
	return LimitListener(ln, l.MaxConnections), nil
}

// LimitListener wraps ln so that at most EffectiveMaxConnections(n)
// accepted connections are open at once.
func LimitListener(ln net.Listener, n int) net.Listener {
	return netutil.LimitListener(ln, EffectiveMaxConnections(n))
}

// New returns an http.Server for h with l's bounds. ReadTimeout and
// WriteTimeout stay 0 so that long uploads, downloads and WebSockets
// through the proxy work: the handler bounds request bodies itself,
// per request (proxy's --request-body-timeout and
// --upstream-body-idle-timeout).
func New(h http.Handler, l Limits, log *slog.Logger) *http.Server {
	l = l.withDefaults()
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Serve runs srv on ln until ctx ends, then shuts down gracefully: new
// connections are refused and in-flight requests get grace to finish.
// Requests still running after grace are cut (their connections closed)
// and counted in the log; that is a normal end of a shutdown, so Serve
// then returns nil.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, log *slog.Logger, grace time.Duration) error {
	conns := trackConns(srv)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded):
		cut := conns.active()
		if err := srv.Close(); err != nil {
			return fmt.Errorf("closing connections after the shutdown timeout: %w", err)
		}
		log.Warn("shutdown timeout passed; in-flight requests cut", "cut", cut, "grace", grace.String())
	default:
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// connTracker knows which of a server's connections are serving a request.
type connTracker struct {
	mu    sync.Mutex
	state map[net.Conn]http.ConnState
}

// trackConns hooks srv's ConnState (keeping any hook already set).
func trackConns(srv *http.Server) *connTracker {
	t := &connTracker{state: map[net.Conn]http.ConnState{}}
	prev := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		t.mu.Lock()
		if s == http.StateClosed || s == http.StateHijacked {
			delete(t.state, c)
		} else {
			t.state[c] = s
		}
		t.mu.Unlock()
		if prev != nil {
			prev(c, s)
		}
	}
	return t
}

// active is how many connections are serving a request.
func (t *connTracker) active() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, s := range t.state {
		if s == http.StateActive {
			n++
		}
	}
	return n
}
