package proxy_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/proxy"
)

// redisPair starts one Redis, one provider and two gateways (replicas)
// sharing both, on a shared test clock. redisTimeout bounds each Redis call:
// short where a test waits for an outage to be noticed, generous where a
// burst of requests under the race detector on a loaded CI machine must not
// be mistaken for one.
func redisPair(t *testing.T, idpOpts devidp.Options, redisTimeout time.Duration) (a, b *testutil.Gateway, r *testutil.Redis, clk *clock) {
	t.Helper()
	r = testutil.StartRedis(t)
	clk = &clock{}
	idpOpts.Now = clk.Now // provider and gateways share one clock
	idp := testutil.StartIdP(t, idpOpts)
	cfg := testutil.GatewayConfig{
		IdPServer: idp,
		Options: func(o *config.Options) {
			o.SessionStore = "redis"
			o.RedisURL = r.URL()
			o.RedisTimeout = redisTimeout
			o.PassAccessToken = true
		},
		Build: proxy.BuildOptions{Now: clk.Now},
	}
	a = testutil.StartGateway(t, cfg)
	b = testutil.StartGateway(t, cfg)
	return a, b, r, clk
}

// sessionCookies returns the gateway cookies the browser holds.
func sessionCookies(t *testing.T, g *testutil.Gateway) []*http.Cookie {
	t.Helper()
	u, _ := url.Parse(g.Server.URL)
	cs := g.Client.Jar.Cookies(u)
	if len(cs) == 0 {
		t.Fatal("no cookies after login")
	}
	return cs
}

func getWith(t *testing.T, base string, cookies []*http.Cookie) (*http.Response, error) {
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/", nil)
	req.Header.Set("Accept", "application/json")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	return http.DefaultClient.Do(req)
}

func TestRedisSessionsAcrossReplicas(t *testing.T) {
	t.Parallel()
	a, b, _, _ := redisPair(t, devidp.Options{}, 5*time.Second)
	a.Login(t, "alice", "/")
	cookies := sessionCookies(t, a)
	for _, c := range cookies {
		if strings.Contains(c.Value, "alice") || len(c.Value) > 400 {
			t.Errorf("Redis-store cookie %s should be a small opaque ticket (%d bytes)", c.Name, len(c.Value))
		}
	}
	resp, err := getWith(t, b.Server.URL, cookies)
	if err != nil {
		t.Fatal(err)
	}
	echo := testutil.DecodeEcho(t, resp)
	if echo.Header.Get("X-Forwarded-User") != devidp.Subject("alice") {
		t.Fatalf("replica B did not see the session made on replica A")
	}
	// Sign-out on A is seen by B.
	if resp := a.Get(t, "/oauth2/sign_out?rd=/bye"); resp.StatusCode != http.StatusFound {
		t.Fatalf("sign_out: %d", resp.StatusCode)
	}
	resp, err = getWith(t, b.Server.URL, cookies)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("replica B after sign-out on A: status %d, want 401", resp.StatusCode)
	}
}

// TestRedisConcurrentRefreshHappensOnce is the concurrency proof: two
// replicas, 100 concurrent requests on a session whose token has expired,
// one call to the token endpoint, 100 successes with the new token.
func TestRedisConcurrentRefreshHappensOnce(t *testing.T) {
	t.Parallel()
	a, b, _, clk := redisPair(t, devidp.Options{AccessTokenTTL: 10 * time.Minute, RefreshTokenRotation: true}, 10*time.Second)
	first := testutil.DecodeEcho(t, a.Login(t, "alice", "/")).Header.Get("X-Forwarded-Access-Token")
	cookies := sessionCookies(t, a)
	calls := a.IdP.TokenCalls()
	clk.Advance(11 * time.Minute) // the access token has expired

	const n = 100
	tokens := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := a.Server.URL
			if i%2 == 1 {
				base = b.Server.URL
			}
			resp, err := getWith(t, base, cookies)
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			var echo testutil.Echo
			if resp.StatusCode != http.StatusOK {
				errs[i] = &statusError{resp.StatusCode}
				return
			}
			errs[i] = json.NewDecoder(resp.Body).Decode(&echo)
			tokens[i] = echo.Header.Get("X-Forwarded-Access-Token")
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if tokens[i] == "" || tokens[i] == first || tokens[i] != tokens[0] {
			t.Fatalf("request %d got token %.8q…, want the one refreshed token (first %.8q…, old %.8q…)", i, tokens[i], tokens[0], first)
		}
	}
	if got := a.IdP.TokenCalls() - calls; got != 1 {
		t.Errorf("token endpoint called %d times for %d concurrent requests, want exactly 1", got, n)
	}
}

type statusError struct{ status int }

func (e *statusError) Error() string { return "status " + http.StatusText(e.status) }

func TestRedisOutageAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	a, _, r, _ := redisPair(t, devidp.Options{}, 500*time.Millisecond)
	a.Login(t, "alice", "/")
	cookies := sessionCookies(t, a)

	r.Stop()
	for _, accept := range []string{"application/json", "text/html"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, a.Server.URL+"/", nil)
		req.Header.Set("Accept", accept)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("Redis down (%s): status %d, want 503", accept, resp.StatusCode)
		}
		if len(resp.Header.Values("Set-Cookie")) != 0 {
			t.Errorf("Redis down: the gateway touched the session cookie")
		}
	}
	if resp := a.Get(t, "/ready"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/ready with Redis down: %d, want 503", resp.StatusCode)
	}
	if resp := a.Get(t, "/ping"); resp.StatusCode != http.StatusOK {
		t.Errorf("/ping with Redis down: %d, want 200 (liveness)", resp.StatusCode)
	}

	r.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for a.Get(t, "/ready").StatusCode != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/ready did not recover after Redis came back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A login works again once Redis is back.
	browser := testutil.NewBrowser(t)
	a2 := *a
	a2.Client = browser
	testutil.DecodeEcho(t, a2.Login(t, "bob", "/"))
}
