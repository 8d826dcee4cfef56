package proxy_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
	"github.com/gatehouse-proxy/gatehouse/proxy"
)

// commandsProcessed reads Redis's total_commands_processed counter.
func commandsProcessed(tb testing.TB, rdb *redis.Client) int {
	tb.Helper()
	info, err := rdb.Info(context.Background(), "stats").Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	tb.Fatal("no total_commands_processed in INFO")
	return 0
}

// authedRequest returns a function building an authenticated request for g.
func authedRequest(tb testing.TB, g *testutil.Gateway) func() *http.Request {
	tb.Helper()
	g.Login(tb, "alice", "/")
	u, _ := url.Parse(g.Server.URL)
	cookies := g.Client.Jar.Cookies(u)
	return func() *http.Request {
		req := httptest.NewRequest(http.MethodGet, g.Server.URL+"/bench", nil)
		req.Header.Set("Accept", "application/json")
		for _, c := range cookies {
			req.AddCookie(c)
		}
		return req
	}
}

// TestRedisRoundTripsPerRequest: the steady path of an authenticated request
// with the Redis store costs exactly one Redis command (the GET; the TTL
// never slides, the key expires with the session).
func TestRedisRoundTripsPerRequest(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.SessionStore = "redis"
		o.RedisURL = r.URL()
	}})
	newReq := authedRequest(t, g)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()

	const n = 50
	before := commandsProcessed(t, rdb)
	for range n {
		rec := httptest.NewRecorder()
		g.Gateway.ServeHTTP(rec, newReq())
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
	}
	after := commandsProcessed(t, rdb)
	perRequest := float64(after-before-1) / n // -1: the first INFO itself
	if perRequest != 1 {
		t.Errorf("Redis commands per authenticated request = %.2f, want exactly 1", perRequest)
	}
}

// BenchmarkAuthenticatedRequest measures one authenticated GET through the
// gateway's handler to a loopback upstream, with each session store, next
// to a bare httputil.ReverseProxy forwarding the same request (same
// cookies) to the same kind of upstream: the baseline that every figure is
// a ratio to. The sub-benchmarks share their fixtures and, with -count, run
// interleaved, so load from elsewhere on the machine hits them alike.
//
// The redis case also reports redis-cmds/op, the commands Redis processed
// per request as counted by the server (INFO), which on this steady path
// (no refresh due) are its round trips.
//
//	go test -run '^$' -bench AuthenticatedRequest -benchmem -count 5 ./proxy
func BenchmarkAuthenticatedRequest(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	upstream := httptest.NewServer(ok)
	b.Cleanup(upstream.Close)
	target, _ := url.Parse(upstream.URL)

	r := redistest.StartRedis(b)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	b.Cleanup(func() { _ = rdb.Close() })
	gateway := func(store string) (*testutil.Gateway, func() *http.Request) {
		g := testutil.StartGateway(b, testutil.GatewayConfig{
			Upstream: ok,
			Options: func(o *config.Options) {
				if store == "redis" {
					o.SessionStore = "redis"
					o.RedisURL = r.URL()
				}
			},
		})
		return g, authedRequest(b, g)
	}
	cookieGW, cookieReq := gateway("cookie")
	redisGW, redisReq := gateway("redis")

	bare := &httputil.ReverseProxy{
		Transport: proxy.NewUpstreamTransport(proxy.UpstreamTransportConfig{}),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
		},
	}
	// The baseline forwards the request the cookie-store gateway gets, so
	// both parse the same headers.
	bareReq := func() *http.Request {
		req := cookieReq()
		req.URL.Host, req.Host = "gate.test", "gate.test"
		return req
	}

	// /oauth2/auth asks about the same session; it proxies nothing.
	authReq := func() *http.Request {
		req := cookieReq()
		req.URL.Path = "/oauth2/auth"
		return req
	}

	run := func(b *testing.B, h http.Handler, newReq func() *http.Request) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rec := httptest.NewRecorder()
				req := newReq()
				h.ServeHTTP(rec, req)
				want := http.StatusOK
				if req.URL.Path == "/oauth2/auth" {
					want = http.StatusAccepted
				}
				if rec.Code != want {
					b.Errorf("status %d", rec.Code)
					return
				}
			}
		})
	}
	b.Run("bare-reverseproxy", func(b *testing.B) { run(b, bare, bareReq) })
	b.Run("cookie", func(b *testing.B) { run(b, cookieGW.Gateway, cookieReq) })
	b.Run("auth", func(b *testing.B) { run(b, cookieGW.Gateway, authReq) })
	b.Run("redis", func(b *testing.B) {
		before := commandsProcessed(b, rdb)
		run(b, redisGW.Gateway, redisReq)
		b.StopTimer()
		// -1: the INFO that read the first figure.
		b.ReportMetric(float64(commandsProcessed(b, rdb)-before-1)/float64(b.N), "redis-cmds/op")
	})
}
