package proxy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
)

// redisPair starts one Redis, one provider and two gateways (replicas)
// sharing both, on a shared test clock. redisTimeout bounds each Redis call:
// short where a test waits for an outage to be noticed, generous where a
// burst of requests under the race detector on a loaded CI machine must not
// be mistaken for one.
func redisPair(t *testing.T, idpOpts devidp.Options, redisTimeout time.Duration) (a, b *testutil.Gateway, r *redistest.Redis, clk *clock) {
	t.Helper()
	r = redistest.StartRedis(t)
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
		Deps: gateway.Deps{Now: clk.Now},
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
	if resp := a.SignOut(t, "/bye"); resp.StatusCode != http.StatusFound {
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
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("Redis down (%s): status %d, want 503", accept, resp.StatusCode)
		}
		// An API gets a JSON error it can branch on, a browser a page
		// that says what happened.
		ct := resp.Header.Get("Content-Type")
		switch accept {
		case "application/json":
			var e struct{ Error string }
			if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(body, &e) != nil || e.Error != "session_store_unavailable" {
				t.Errorf("Redis down (API): %s %q, want JSON error session_store_unavailable", ct, body)
			}
		default:
			if !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(body), "temporarily unavailable") {
				t.Errorf("Redis down (browser): %s page does not say the service is temporarily unavailable:\n%s", ct, body)
			}
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

	// Signing out while Redis is down still signs this browser out (the
	// cookie held the only key to the stored copy) and says the server copy
	// could not be revoked, without offering a retry that could not work.
	out := a.SignOut(t, "")
	outBody, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if out.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("sign-out with Redis down: status %d, want 503", out.StatusCode)
	}
	expired := false
	for _, c := range out.Cookies() {
		if c.Name == a.Options.CookieName && c.MaxAge < 0 {
			expired = true
		}
	}
	if !expired {
		t.Errorf("sign-out with Redis down did not expire the session cookie: %q", out.Header.Values("Set-Cookie"))
	}
	if !strings.Contains(string(outBody), "signed out in this browser") || strings.Contains(string(outBody), "Try again") {
		t.Errorf("sign-out with Redis down: page should say this browser is signed out, without a retry:\n%s", outBody)
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

// redisSessionKeys returns the session keys in r under the default prefix.
func redisSessionKeys(t *testing.T, rdb *redis.Client) []string {
	t.Helper()
	keys, err := rdb.Keys(t.Context(), config.Defaults().RedisKeyPrefix+"session:*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	return keys
}

// TestRedisCorruptSessionValueMeansSignIn: a stored value the ticket cannot
// open (bit rot, a bad restore, tampering) is "not signed in" — 401 for an
// API, the sign-in redirect for a browser — not an error page, and the key
// is left alone while other sessions go on working.
func TestRedisCorruptSessionValueMeansSignIn(t *testing.T) {
	t.Parallel()
	a, b, r, _ := redisPair(t, devidp.Options{}, 5*time.Second)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()
	ctx := t.Context()

	a.Login(t, "alice", "/")
	alice := sessionCookies(t, a)
	keys := redisSessionKeys(t, rdb)
	if len(keys) != 1 {
		t.Fatalf("%d session keys after one login, want 1", len(keys))
	}
	b.Login(t, "bob", "/")
	bob := sessionCookies(t, b)

	v, err := rdb.Get(ctx, keys[0]).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	v[len(v)/2] ^= 0x40
	if err := rdb.Set(ctx, keys[0], v, redis.KeepTTL).Err(); err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		accept string
		status int
	}{{"application/json", http.StatusUnauthorized}, {"text/html", http.StatusFound}} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.Server.URL+"/", nil)
		req.Header.Set("Accept", tt.accept)
		for _, c := range alice {
			req.AddCookie(c)
		}
		resp, err := noRedirects.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("corrupt session value (%s): status %d, want %d", tt.accept, resp.StatusCode, tt.status)
		}
		if tt.status == http.StatusFound && !strings.HasPrefix(resp.Header.Get("Location"), "/oauth2/sign_in") {
			t.Errorf("corrupt session value: redirect to %q, want the sign-in page", resp.Header.Get("Location"))
		}
	}
	if got, err := rdb.Get(ctx, keys[0]).Bytes(); err != nil || string(got) != string(v) {
		t.Errorf("the unreadable key was changed or deleted (err %v)", err)
	}
	resp, err := getWith(t, a.Server.URL, bob)
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.DecodeEcho(t, resp).Header.Get("X-Forwarded-User"); got != devidp.Subject("bob") {
		t.Errorf("bob's request after alice's value broke: user %q", got)
	}
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// TestRedisHungAnswers503AndRecovers: a Redis that accepts connections but
// never answers (paused) must not hold requests hostage: a burst larger
// than the connection pool gets 503s, bounded by the Redis timeout and
// touching no cookie, and once Redis answers again every session is served
// — to its own user, on either replica — without a restart.
func TestRedisHungAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	const redisTimeout = time.Second
	a, b, r, _ := redisPair(t, devidp.Options{}, redisTimeout)
	a.Login(t, "alice", "/")
	b.Login(t, "bob", "/")
	users := []struct {
		name    string
		cookies []*http.Cookie
	}{{"alice", sessionCookies(t, a)}, {"bob", sessionCookies(t, b)}}

	type result struct {
		status  int
		user    string
		code    string
		cookies int
		took    time.Duration
		err     error
	}
	// sendOne sends request i: gateways alternate, and users every other one.
	sendOne := func(i int) result {
		gw := []*testutil.Gateway{a, b}[i%2]
		u := users[(i/2)%2]
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, gw.Server.URL+"/", nil)
		req.Header.Set("Accept", "application/json")
		for _, c := range u.cookies {
			req.AddCookie(c)
		}
		start := time.Now()
		resp, err := noRedirects.Do(req)
		if err != nil {
			return result{err: err}
		}
		defer resp.Body.Close()
		res := result{status: resp.StatusCode, cookies: len(resp.Header.Values("Set-Cookie")), took: time.Since(start)}
		if resp.StatusCode == http.StatusOK {
			var echo testutil.Echo
			res.err = json.NewDecoder(resp.Body).Decode(&echo)
			res.user = echo.Header.Get("X-Forwarded-User")
		} else {
			var body struct{ Error string }
			res.err = json.NewDecoder(resp.Body).Decode(&body)
			res.code = body.Error
		}
		return res
	}
	// burst sends n requests from workers concurrent clients.
	const n = 100
	burst := func(workers int) []result {
		results := make([]result, n)
		next := make(chan int, n)
		for i := range n {
			next <- i
		}
		close(next)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := range next {
					results[i] = sendOne(i)
				}
			})
		}
		wg.Wait()
		return results
	}

	r.Pause()
	// All at once: more than go-redis pools connections (10 per CPU), so
	// most requests wait for a connection rather than for Redis.
	var slowest time.Duration
	for i, res := range burst(n) {
		if res.err != nil {
			t.Fatalf("request %d with Redis hung: %v", i, res.err)
		}
		if res.status != http.StatusServiceUnavailable || res.code != "session_store_unavailable" || res.cookies != 0 {
			t.Fatalf("request %d with Redis hung: status %d, error %q, %d Set-Cookie; want 503 session_store_unavailable, no cookie",
				i, res.status, res.code, res.cookies)
		}
		slowest = max(slowest, res.took)
	}
	t.Logf("Redis hung, Redis timeout %v: the slowest of %d concurrent 503s took %v", redisTimeout, n, slowest)
	if resp := a.Get(t, "/ready"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/ready with Redis hung: %d, want 503", resp.StatusCode)
	}

	r.Resume()
	deadline := time.Now().Add(10 * time.Second)
	for a.Get(t, "/ready").StatusCode != http.StatusOK || b.Get(t, "/ready").StatusCode != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/ready did not recover after Redis resumed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Ten at a time: a hundred at once under the race detector on a loaded
	// machine can outlast the Redis timeout by itself, which is overload,
	// not the outage this test is about.
	for i, res := range burst(10) {
		want := devidp.Subject(users[(i/2)%2].name)
		if res.err != nil || res.status != http.StatusOK || res.user != want {
			t.Fatalf("request %d after Redis resumed: status %d, user %q, err %v; want 200 as %q", i, res.status, res.user, res.err, want)
		}
	}
}
