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
// with the Redis store costs at most one Redis command.
func TestRedisRoundTripsPerRequest(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
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
	if perRequest > 1 {
		t.Errorf("Redis commands per authenticated request = %.2f, want ≤ 1", perRequest)
	}
}

// BenchmarkAuthenticatedRequest measures an authenticated proxied request
// through the gateway with each store, against a bare httputil.ReverseProxy
// to the same upstream as the baseline. Compare with benchstat; report ratios.
func BenchmarkAuthenticatedRequest(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	defer upstream.Close()
	target, _ := url.Parse(upstream.URL)

	b.Run("bare-reverseproxy", func(b *testing.B) {
		rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rec := httptest.NewRecorder()
				rp.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://gate.test/bench", nil))
				if rec.Code != http.StatusOK {
					b.Errorf("status %d", rec.Code)
				}
			}
		})
	})

	var rdb *redis.Client
	for _, store := range []string{"cookie", "redis"} {
		b.Run(store, func(b *testing.B) {
			var redisURL string
			if store == "redis" {
				r := testutil.StartRedis(b)
				redisURL = r.URL()
				rdb = redis.NewClient(&redis.Options{Addr: r.Addr()})
				defer rdb.Close()
			}
			g := testutil.StartGateway(b, testutil.GatewayConfig{
				Upstream: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }),
				Options: func(o *config.Options) {
					if redisURL != "" {
						o.SessionStore = "redis"
						o.RedisURL = redisURL
					}
				},
			})
			newReq := authedRequest(b, g)
			before := 0
			if rdb != nil {
				before = commandsProcessed(b, rdb)
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := httptest.NewRecorder()
					g.Gateway.ServeHTTP(rec, newReq())
					if rec.Code != http.StatusOK {
						b.Errorf("status %d", rec.Code)
					}
				}
			})
			b.StopTimer()
			if rdb != nil {
				b.ReportMetric(float64(commandsProcessed(b, rdb)-before-1)/float64(b.N), "redis-cmds/op")
			}
		})
	}
}
