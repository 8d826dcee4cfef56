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

	out := logs.String()
	if got := logs.count("session store unavailable;"); got != 1 {
		t.Errorf("first-failure line logged %d times, want once:\n%s", got, out)
	}
	// Summaries come at most every 10 s: a few at most on a slow machine.
	if errs := logs.count("level=ERROR"); errs > 1+3 {
		t.Errorf("%d ERROR lines for %d failed requests, want the first failure and a few summaries:\n%s", errs, n, out)
	}
	recovered := ""
	for l := range strings.Lines(out) {
		if strings.Contains(l, "session store available again") {
			recovered = l
		}
	}
	if recovered == "" || !strings.Contains(recovered, "level=INFO") || !strings.Contains(recovered, "unavailable_for=") {
		t.Fatalf("no recovery line at INFO with the outage's duration:\n%s", out)
	}
	// Every request answered 503 is counted.
	var counted int
	if i := strings.Index(recovered, "answered_503="); i >= 0 {
		_, _ = fmt.Sscanf(recovered[i+len("answered_503="):], "%d", &counted)
	}
	if counted < n {
		t.Errorf("recovery line counts %d requests answered 503, want at least %d: %s", counted, n, recovered)
	}
}
