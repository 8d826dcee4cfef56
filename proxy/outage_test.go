package proxy_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
)

// TestRedisOutageIsLoggedOnceAndSummarised: during a real Redis outage the
// gateway logs the first failure, not one ERROR line per request (10,284
// lines for a 9 s outage before), and on recovery one line with how long
// it lasted and how many requests were answered 503.
func TestRedisOutageIsLoggedOnceAndSummarised(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	var logs logBuffer
	g := testutil.StartGateway(t, testutil.GatewayConfig{
		Options: func(o *config.Options) {
			o.SessionStore, o.RedisURL, o.RedisTimeout = "redis", r.URL(), 500*time.Millisecond
		},
		Deps: gateway.Deps{Logger: newLogger(&logs, slog.LevelInfo)},
	})
	g.Login(t, "alice", "/")
	cookies := sessionCookies(t, g)

	r.Stop()
	const n = 200
	for i := range n {
		resp, err := getWith(t, g.Server.URL, cookies)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("request %d with Redis down: status %d, want 503", i, resp.StatusCode)
		}
	}
	r.Restart() // an empty Redis: sessions are gone, logins work again
	deadline := time.Now().Add(30 * time.Second)
	for g.Get(t, "/ready").StatusCode != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/ready did not recover after Redis came back")
		}
		time.Sleep(50 * time.Millisecond) // poll for Redis to be back
	}
	g2 := *g
	g2.Client = testutil.NewBrowser(t)
	testutil.DecodeEcho(t, g2.Login(t, "bob", "/"))

	// One outage (a second, brief one is possible when the first
	// connections after the restart meet the pool's stale ones): each is
	// logged once at ERROR, summarised at most every 10 s (a few times at
	// most on a slow machine), and ends with a recovery line at INFO.
	out := logs.String()
	outages := logs.count("session store unavailable;")
	if outages < 1 || outages > 2 {
		t.Errorf("first-failure line logged %d times, want once per outage:\n%s", outages, out)
	}
	if errs := logs.count("level=ERROR"); errs > outages*4 {
		t.Errorf("%d ERROR lines for %d failed requests, want the first failure and a few summaries:\n%s", errs, n, out)
	}
	counted, recoveries := 0, 0
	for l := range strings.Lines(out) {
		if !strings.Contains(l, "session store available again") {
			continue
		}
		recoveries++
		if !strings.Contains(l, "level=INFO") || !strings.Contains(l, "unavailable_for=") {
			t.Errorf("recovery line without its level or duration: %s", l)
		}
		if i := strings.Index(l, "answered_503="); i >= 0 {
			var c int
			_, _ = fmt.Sscanf(l[i+len("answered_503="):], "%d", &c)
			counted += c
		}
	}
	if recoveries != outages {
		t.Fatalf("%d outages but %d recovery lines:\n%s", outages, recoveries, out)
	}
	if counted < n {
		t.Errorf("recovery lines count %d requests answered 503, want at least %d:\n%s", counted, n, out)
	}
}
