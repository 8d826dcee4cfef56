package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse-proxy/gatehouse/proxy"
)

// roleEnv names the role a re-executed copy of this program plays: the
// upstream and the bare reverse proxy run as processes of their own, so
// that their CPU time and memory are theirs alone.
const roleEnv = "GATEHOUSE_BENCH_ROLE"

// Roles. Each listens on the address in roleAddrEnv; the bare proxy
// forwards to roleTargetEnv.
const (
	roleUpstream  = "upstream"
	roleBare      = "bare"
	roleBarePool  = "bare-pooled"
	roleAddrEnv   = "GATEHOUSE_BENCH_ADDR"
	roleTargetEnv = "GATEHOUSE_BENCH_TARGET"
)

// headerSeenUser is the upstream's echo of the X-Forwarded-User it got, so
// that a check can tell a request Gatehouse authenticated.
const headerSeenUser = "X-Bench-Seen-User"

// runRole runs the role named in the environment, if any, and reports
// whether it did (the process then exits).
func runRole() (bool, error) {
	role := os.Getenv(roleEnv)
	if role == "" {
		return false, nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var h http.Handler
	switch role {
	case roleUpstream:
		h = upstreamHandler()
	case roleBare, roleBarePool:
		target, err := url.Parse(os.Getenv(roleTargetEnv))
		if err != nil {
			return true, fmt.Errorf("bare proxy target: %w", err)
		}
		h = bareProxy(target, role == roleBarePool)
	default:
		return true, fmt.Errorf("unknown role %q", role)
	}
	return true, serveUntil(ctx, os.Getenv(roleAddrEnv), h)
}

// upstreamHandler answers every request at once with a tiny body, echoing
// the identity Gatehouse sent.
func upstreamHandler() http.Handler {
	body := []byte("ok\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		if u := r.Header["X-Forwarded-User"]; len(u) > 0 {
			h[headerSeenUser] = u
		}
		_, _ = w.Write(body)
	})
}

// bareProxy is the baseline: httputil.ReverseProxy doing what any proxy
// does (host, X-Forwarded-*) with a transport whose idle pool fits the
// load, the same transport Gatehouse uses. pooled also gives it the copy
// buffer pool Gatehouse uses (a second, stricter baseline).
func bareProxy(target *url.URL, pooled bool) http.Handler {
	rp := &httputil.ReverseProxy{
		Transport: proxy.NewUpstreamTransport(proxy.UpstreamTransportConfig{}),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
	}
	if pooled {
		rp.BufferPool = proxy.NewBufferPool()
	}
	return rp
}

// serveUntil serves h on addr until ctx ends.
func serveUntil(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
