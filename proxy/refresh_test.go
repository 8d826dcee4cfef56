package proxy_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
)

// logBuffer is a concurrency-safe log sink for slog.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count is how many lines contain s.
func (b *logBuffer) count(s string) int {
	n := 0
	for l := range strings.Lines(b.String()) {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

func newLogger(b *logBuffer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level}))
}

// accessToken is the upstream's view of one request's access token, with
// the status.
func accessToken(t *testing.T, g *testutil.Gateway) (int, string, bool) {
	t.Helper()
	resp := g.Get(t, "/", "Accept", "application/json")
	defer resp.Body.Close()
	newCookie := len(resp.Header.Values("Set-Cookie")) > 0
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, "", newCookie
	}
	var echo testutil.Echo
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, echo.Header.Get("X-Forwarded-Access-Token"), newCookie
}

// TestShortLivedTokensAreNotRefreshedOnEveryRequest: with 20 s access
// tokens and the default 1 m refresh window, a session is refreshed at half
// the token's lifetime, not on every request (which made 20 grants and 20
// new cookies for 20 requests), and the operator is warned once.
func TestShortLivedTokensAreNotRefreshedOnEveryRequest(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	var logs logBuffer
	g := testutil.StartGateway(t, testutil.GatewayConfig{
		IdP:     devidp.Options{AccessTokenTTL: 20 * time.Second, RefreshTokenRotation: true, Now: clk.Now},
		Options: func(o *config.Options) { o.PassAccessToken = true },
		Deps:    gateway.Deps{Now: clk.Now, Logger: newLogger(&logs, slog.LevelInfo)},
	})
	g.Login(t, "alice", "/")
	base := g.IdP.RefreshCalls()
	cookies := 0
	for i := range 20 {
		clk.Advance(time.Second)
		status, tok, fresh := accessToken(t, g)
		if status != http.StatusOK || tok == "" {
			t.Fatalf("request %d: status %d, token %q", i, status, tok)
		}
		if fresh {
			cookies++
		}
	}
	// Due at expiry − min(window, lifetime/2): after 10 s and 20 s.
	if got := g.IdP.RefreshCalls() - base; got != 2 {
		t.Errorf("20 requests over 20 s with 20 s tokens made %d refresh grants, want 2", got)
	}
	if cookies != 2 {
		t.Errorf("20 requests got %d new cookies, want 2", cookies)
	}
	if n := logs.count("live no longer than --refresh-window"); n != 1 {
		t.Errorf("short-lived token warning logged %d times, want once:\n%s", n, logs.String())
	}
}

// TestRefreshOutlivesProviderStall: the provider stalls a refresh (it
// keeps the request and processes it, rotating the refresh token, when it
// recovers). Requests meanwhile get 503 on both replicas, the token is sent
// once, and after the stall the same cookie works with the refreshed token
// — instead of a second attempt with the old refresh token ending the
// session ("claimed twice").
func TestRefreshOutlivesProviderStall(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	clk := &clock{}
	idp := testutil.StartIdP(t, devidp.Options{AccessTokenTTL: 10 * time.Minute, RefreshTokenRotation: true, Now: clk.Now})
	cfg := testutil.GatewayConfig{
		IdPServer: idp,
		Options: func(o *config.Options) {
			o.SessionStore, o.RedisURL, o.RedisTimeout = "redis", r.URL(), 5*time.Second
			o.PassAccessToken = true
			o.RefreshWait = 100 * time.Millisecond
			o.RefreshTimeout = time.Minute
		},
		Deps: gateway.Deps{Now: clk.Now},
	}
	a, b := testutil.StartGateway(t, cfg), testutil.StartGateway(t, cfg)
	first := testutil.DecodeEcho(t, a.Login(t, "alice", "/")).Header.Get("X-Forwarded-Access-Token")
	cookies := sessionCookies(t, a)
	base := idp.RefreshCalls()

	release := idp.HoldRefresh(t)
	clk.Advance(11 * time.Minute) // expired: every request needs the refresh
	for i := range 20 {
		g := []*testutil.Gateway{a, b}[i%2]
		resp, err := getWith(t, g.Server.URL, cookies)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("request %d during the stall: status %d, want 503", i, resp.StatusCode)
		}
	}
	if got := idp.RefreshCalls() - base; got != 1 {
		t.Fatalf("%d refresh grants sent during the stall, want 1", got)
	}
	release()

	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		g := []*testutil.Gateway{a, b}[i%2]
		resp, err := getWith(t, g.Server.URL, cookies)
		if err != nil {
			t.Fatal(err)
		}
		status := resp.StatusCode
		var echo testutil.Echo
		if status == http.StatusOK {
			_ = json.NewDecoder(resp.Body).Decode(&echo)
		}
		resp.Body.Close()
		if status == http.StatusOK {
			if tok := echo.Header.Get("X-Forwarded-Access-Token"); tok == "" || tok == first {
				t.Fatalf("after the stall: token %.8q…, want the refreshed one", tok)
			}
			break
		}
		if status != http.StatusServiceUnavailable {
			t.Fatalf("after the stall: status %d, want 503 then 200 (never signed out)", status)
		}
		if time.Now().After(deadline) {
			t.Fatal("the stalled refresh was never stored")
		}
		time.Sleep(20 * time.Millisecond) // poll for the stored result
	}
	if got := idp.RefreshCalls() - base; got != 1 {
		t.Errorf("%d refresh grants in all, want 1", got)
	}
}

// TestRefreshFailureChecksExpiryAtFailure: a refresh that fails (not
// invalid_grant) after the access token expired while the provider was
// answering gives 503 — not the expired token upstream, not sign-in — and
// the same cookie works once the provider is back.
func TestRefreshFailureChecksExpiryAtFailure(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	g := testutil.StartGateway(t, testutil.GatewayConfig{
		IdP: devidp.Options{AccessTokenTTL: 10 * time.Minute, RefreshTokenRotation: true, Now: clk.Now},
		Options: func(o *config.Options) {
			o.PassAccessToken = true
			o.RefreshWait = 30 * time.Second
		},
		Deps: gateway.Deps{Now: clk.Now},
	})
	first := testutil.DecodeEcho(t, g.Login(t, "alice", "/")).Header.Get("X-Forwarded-Access-Token")
	base := g.IdP.RefreshCalls()
	release := g.IdP.HoldRefresh(t)
	clk.Advance(9*time.Minute + 30*time.Second) // due, still valid

	done := make(chan int, 1)
	go func() {
		resp, err := g.Client.Do(mustRequest(t, g.Server.URL+"/"))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	deadline := time.Now().Add(30 * time.Second)
	for g.IdP.RefreshCalls() == base {
		if time.Now().After(deadline) {
			t.Fatal("the refresh never reached the provider")
		}
		time.Sleep(5 * time.Millisecond) // poll for the refresh to arrive
	}
	clk.Advance(time.Minute) // the token expires while the provider answers
	g.IdP.SetDown(true)
	release()
	if status := <-done; status != http.StatusServiceUnavailable {
		t.Fatalf("refresh failed after the token expired: status %d, want 503", status)
	}

	g.IdP.SetDown(false)
	clk.Advance(3 * time.Second) // past the back-off
	status, tok, _ := accessToken(t, g)
	if status != http.StatusOK || tok == "" || tok == first {
		t.Fatalf("after the provider recovered: status %d, token changed %v; want 200 with a new token", status, tok != first)
	}
}

func mustRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	return req
}

// TestRefreshBackOffSharedByReplicas: after a refresh fails on one replica
// (the provider answers 503) the other replica does not resend the refresh
// token at its next request: it serves the still-valid token.
func TestRefreshBackOffSharedByReplicas(t *testing.T) {
	t.Parallel()
	a, b, _, clk := redisPair(t, devidp.Options{AccessTokenTTL: 10 * time.Minute, RefreshTokenRotation: true}, 5*time.Second)
	first := testutil.DecodeEcho(t, a.Login(t, "alice", "/")).Header.Get("X-Forwarded-Access-Token")
	cookies := sessionCookies(t, a)
	base := a.IdP.RefreshCalls()
	clk.Advance(9*time.Minute + 30*time.Second) // due, still valid
	a.IdP.SetDown(true)
	start := time.Now()
	for i, g := range []*testutil.Gateway{a, b, a, b} {
		resp, err := getWith(t, g.Server.URL, cookies)
		if err != nil {
			t.Fatal(err)
		}
		echo := testutil.DecodeEcho(t, resp)
		if tok := echo.Header.Get("X-Forwarded-Access-Token"); tok != first {
			t.Fatalf("request %d with the provider down: token changed or missing, want the still-valid one", i)
		}
	}
	// The back-off lives in Redis in real time (at least 1 s): on a
	// machine too loaded to send four requests within it, a second attempt
	// is right.
	if got := a.IdP.RefreshCalls() - base; got != 1 && time.Since(start) < time.Second {
		t.Errorf("%d refresh grants from two replicas during the back-off, want 1", got)
	}
}
