package proxy_test

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/proxy"
)

// nginxSetup is a real nginx running the shipped deploy/nginx/gatehouse.conf
// in front of an echo application, asking a real Gatehouse (auth_request
// only, --reverse-proxy) about every request.
type nginxSetup struct {
	nginx    *testutil.Nginx
	gw       *testutil.Gateway
	appHits  *atomic.Int64
	appURL   string
	pageURL  string // a protected page, as the browser addresses it
	pagePath string
}

// startNginxSetup starts the gateway (with options adjusted by opts, and the
// clock now for the gateway and the provider; both may be nil), the echo
// application and nginx.
func startNginxSetup(t *testing.T, opts func(*config.Options), now func() time.Time) *nginxSetup {
	t.Helper()
	hits := new(atomic.Int64)
	echo := testutil.EchoUpstream()
	gw := testutil.StartGateway(t, testutil.GatewayConfig{
		// Long-lived tokens: a test moving now forward by hours exercises
		// --cookie-refresh, not token expiry.
		IdP: devidp.Options{AutoLogin: "alice", Now: now, AccessTokenTTL: 24 * time.Hour, IDTokenTTL: 24 * time.Hour},
		Upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			echo.ServeHTTP(w, r)
		}),
		Options: func(o *config.Options) {
			// auth_request deployment: nginx proxies to the application
			// itself and Gatehouse only answers /oauth2/*.
			o.Upstream = ""
			o.ReverseProxy = true
			if opts != nil {
				opts(o)
			}
		},
		Build: proxy.BuildOptions{Now: now},
	})
	n := testutil.StartNginx(t, shippedNginxConf(t, hostPort(t, gw.Server.URL), hostPort(t, gw.Upstream.URL)))
	s := &nginxSetup{nginx: n, gw: gw, appHits: hits, appURL: gw.Upstream.URL, pagePath: "/app/page?x=1&y=two%20words"}
	s.pageURL = n.URL() + s.pagePath
	return s
}

// shippedNginxConf returns deploy/nginx/gatehouse.conf with only its marked
// addresses replaced, so the test exercises the file users copy.
func shippedNginxConf(t *testing.T, gatehouse, app string) string {
	t.Helper()
	b, err := os.ReadFile("../deploy/nginx/gatehouse.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, r := range []struct{ old, new string }{
		{"server 127.0.0.1:4180;", "server " + gatehouse + ";"},
		{"server 127.0.0.1:8080;", "server " + app + ";"},
		{"listen 80;", "listen 127.0.0.1:" + testutil.NginxPortPlaceholder + ";"},
	} {
		if n := strings.Count(conf, r.old); n != 1 {
			t.Fatalf("deploy/nginx/gatehouse.conf has %q %d times, want once (update this test with the example)", r.old, n)
		}
		conf = strings.Replace(conf, r.old, r.new, 1)
	}
	return conf
}

func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// send issues one request through c without following redirects.
func send(t *testing.T, c *http.Client, method, u string, body io.Reader, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// login signs alice in through nginx like a browser: protected page →
// nginx's @signin redirect → /oauth2/start → provider (auto-login) →
// /oauth2/callback → the original page. It returns the final response and
// the URLs visited.
func (s *nginxSetup) login(t *testing.T, c *http.Client) (*http.Response, []string) {
	t.Helper()
	next := s.pageURL
	var visited []string
	for range 10 {
		visited = append(visited, next)
		resp := send(t, c, http.MethodGet, next, nil, "Accept", browserAccept)
		if resp.StatusCode < 300 || resp.StatusCode > 399 {
			return resp, visited
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("GET %s: %d without Location", next, resp.StatusCode)
		}
		next = loc.String()
	}
	t.Fatalf("login did not finish after 10 redirects: %v", visited)
	return nil, nil
}

func TestNginxAuthRequest(t *testing.T) {
	t.Parallel()
	s := startNginxSetup(t, nil, nil)

	t.Run("browser without session is sent to sign in with rd", func(t *testing.T) {
		before := s.appHits.Load()
		resp := send(t, testutil.NewBrowser(t), http.MethodGet, s.pageURL, nil, "Accept", browserAccept)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status = %d, want 302", resp.StatusCode)
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatal(err)
		}
		if loc.Path != "/oauth2/start" {
			t.Errorf("redirect path = %q, want /oauth2/start (Location %s)", loc.Path, loc)
		}
		if got := loc.Query().Get("rd"); got != s.pageURL {
			t.Errorf("rd = %q, want the original URL %q", got, s.pageURL)
		}
		if got := s.appHits.Load() - before; got != 0 {
			t.Errorf("application reached %d times without a session", got)
		}
	})

	t.Run("API clients without session get 401, not a redirect", func(t *testing.T) {
		tests := []struct {
			name   string
			method string
			header []string
		}{
			{"json", http.MethodGet, []string{"Accept", "application/json"}},
			{"xhr", http.MethodGet, []string{"Accept", "*/*", "X-Requested-With", "XMLHttpRequest"}},
			{"post", http.MethodPost, []string{"Accept", browserAccept}},
			{"spoofed identity", http.MethodGet, []string{"Accept", "application/json",
				"X-Auth-Request-User", "mallory", "X-Forwarded-User", "mallory", "X-User", "mallory"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := s.appHits.Load()
				resp := send(t, testutil.NewBrowser(t), tt.method, s.pageURL, strings.NewReader("a=b"), tt.header...)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("status = %d, want 401", resp.StatusCode)
				}
				if loc := resp.Header.Get("Location"); loc != "" {
					t.Errorf("Location = %q, want none", loc)
				}
				if got := s.appHits.Load() - before; got != 0 {
					t.Errorf("application reached %d times without a session", got)
				}
			})
		}
	})

	t.Run("auth endpoint", func(t *testing.T) {
		// Through nginx it is internal: browsers cannot probe it.
		resp := send(t, testutil.NewBrowser(t), http.MethodGet, s.nginx.URL()+"/oauth2/auth", nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("nginx /oauth2/auth: status = %d, want 404 (internal location)", resp.StatusCode)
		}
		// Gatehouse itself answers 401 without a session cookie.
		resp = send(t, testutil.NewBrowser(t), http.MethodGet, s.gw.Server.URL+"/oauth2/auth", nil,
			"X-Forwarded-Uri", "/app/page", "X-Auth-Request-User", "mallory")
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("gatehouse /oauth2/auth: status = %d, want 401", resp.StatusCode)
		}
		if v := resp.Header.Get("X-Auth-Request-User"); v != "" {
			t.Errorf("401 carries X-Auth-Request-User %q", v)
		}
	})

	t.Run("login through nginx", func(t *testing.T) {
		browser := testutil.NewBrowser(t)
		resp, visited := s.login(t, browser)
		echo := testutil.DecodeEcho(t, resp)

		wantHops := []string{
			s.pageURL,
			s.nginx.URL() + "/oauth2/start?",
			s.gw.IdP.Issuer(),
			s.nginx.URL() + "/oauth2/callback?",
			s.pageURL,
		}
		if len(visited) != len(wantHops) {
			t.Fatalf("visited %d URLs, want %d: %q", len(visited), len(wantHops), visited)
		}
		for i, want := range wantHops {
			if !strings.HasPrefix(visited[i], want) {
				t.Errorf("hop %d = %q, want prefix %q", i, visited[i], want)
			}
		}
		if echo.Path != s.pagePath {
			t.Errorf("application saw path %q, want %q", echo.Path, s.pagePath)
		}
		want := map[string]string{
			"X-Email":                  "alice@example.com",
			"X-Forwarded-Email":        "alice@example.com",
			"X-Groups":                 "admins,engineering",
			"X-Forwarded-Groups":       "admins,engineering",
			"X-Preferred-Username":     "alice",
			"X-Forwarded-Proto":        "http",
			"X-Forwarded-Access-Token": "", // only with --pass-access-token
		}
		for name, v := range want {
			if got := echo.Header.Get(name); got != v {
				t.Errorf("application got %s = %q, want %q", name, got, v)
			}
		}
		user := echo.Header.Get("X-User")
		if user == "" || echo.Header.Get("X-Forwarded-User") != user {
			t.Errorf("application got X-User %q, X-Forwarded-User %q: want the same non-empty user",
				user, echo.Header.Get("X-Forwarded-User"))
		}

		// Gatehouse's own answer for this browser's session is what nginx
		// passed on.
		direct := send(t, testutil.NewBrowser(t), http.MethodGet, s.gw.Server.URL+"/oauth2/auth", nil,
			"Cookie", cookieHeader(t, browser, s.nginx.URL()))
		if direct.StatusCode != http.StatusAccepted {
			t.Fatalf("gatehouse /oauth2/auth with the session: status %d, want 202", direct.StatusCode)
		}
		if got := direct.Header.Get("X-Auth-Request-User"); got != user {
			t.Errorf("X-Auth-Request-User = %q, application got X-User %q", got, user)
		}

		t.Run("spoofed identity headers do not reach the application", func(t *testing.T) {
			resp := send(t, browser, http.MethodGet, s.pageURL, nil,
				"Accept", "application/json",
				"X-User", "mallory",
				"X-Email", "mallory@evil.test",
				"X-Groups", "admins",
				"X-Forwarded-User", "mallory",
				"X-Forwarded-Groups", "admins",
				"X-Auth-Request-User", "mallory",
				"X-Auth-Request-Email", "mallory@evil.test",
				"X-Auth-Request-Groups", "admins",
				"X-Forwarded-Access-Token", "forged",
			)
			echo := testutil.DecodeEcho(t, resp)
			for name, want := range map[string]string{
				"X-User":                   user,
				"X-Forwarded-User":         user,
				"X-Email":                  "alice@example.com",
				"X-Groups":                 "admins,engineering",
				"X-Forwarded-Groups":       "admins,engineering",
				"X-Auth-Request-User":      "",
				"X-Auth-Request-Email":     "",
				"X-Auth-Request-Groups":    "",
				"X-Forwarded-Access-Token": "",
			} {
				if got := echo.Header.Values(name); strings.Join(got, ",") != want {
					t.Errorf("application got %s = %q, want %q", name, got, want)
				}
			}
		})

		t.Run("API and POST requests with the session pass", func(t *testing.T) {
			resp := send(t, browser, http.MethodGet, s.pageURL, nil, "Accept", "application/json")
			if echo := testutil.DecodeEcho(t, resp); echo.Header.Get("X-User") != user {
				t.Errorf("JSON request: application got X-User %q, want %q", echo.Header.Get("X-User"), user)
			}
			resp = send(t, browser, http.MethodPost, s.nginx.URL()+"/app/form", strings.NewReader("a=b"),
				"Content-Type", "application/x-www-form-urlencoded")
			echo := testutil.DecodeEcho(t, resp)
			if echo.Method != http.MethodPost || echo.Header.Get("X-User") != user {
				t.Errorf("POST: application got %s with X-User %q, want POST as %q", echo.Method, echo.Header.Get("X-User"), user)
			}
		})

		t.Run("a forged cookie is refused", func(t *testing.T) {
			resp := send(t, testutil.NewBrowser(t), http.MethodGet, s.pageURL, nil,
				"Accept", "application/json", "Cookie", "_gatehouse=forged-value")
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", resp.StatusCode)
			}
		})
	})
}

// TestNginxPassesRefreshedCookie checks the add_header Set-Cookie line: when
// Gatehouse refreshes a session during the auth subrequest, the new cookie
// reaches the browser through nginx and is the one that works afterwards.
func TestNginxPassesRefreshedCookie(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64 // nanoseconds the shared clock is ahead
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	s := startNginxSetup(t, func(o *config.Options) { o.CookieRefresh = time.Hour }, now)

	browser := testutil.NewBrowser(t)
	resp, _ := s.login(t, browser)
	user := testutil.DecodeEcho(t, resp).Header.Get("X-User")
	before := cookieHeader(t, browser, s.nginx.URL())
	refreshes := s.gw.IdP.RefreshCalls()

	offset.Store(int64(2 * time.Hour)) // past --cookie-refresh
	resp = send(t, browser, http.MethodGet, s.pageURL, nil, "Accept", "application/json")
	if got := testutil.DecodeEcho(t, resp).Header.Get("X-User"); got != user {
		t.Fatalf("after refresh: application got X-User %q, want %q", got, user)
	}
	if got := s.gw.IdP.RefreshCalls() - refreshes; got != 1 {
		t.Fatalf("provider saw %d refreshes, want 1", got)
	}
	var sessionCookies int
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "_gatehouse") && !strings.Contains(c.Name, "flow") {
			sessionCookies++
		}
	}
	if sessionCookies == 0 {
		t.Fatalf("nginx passed no refreshed session cookie; Set-Cookie: %q", resp.Header.Values("Set-Cookie"))
	}
	if after := cookieHeader(t, browser, s.nginx.URL()); after == before {
		t.Fatal("browser still holds the pre-refresh cookie")
	}

	// The new cookie works and is fresh: no second refresh.
	resp = send(t, browser, http.MethodGet, s.pageURL, nil, "Accept", "application/json")
	if got := testutil.DecodeEcho(t, resp).Header.Get("X-User"); got != user {
		t.Errorf("with the refreshed cookie: application got X-User %q, want %q", got, user)
	}
	if got := s.gw.IdP.RefreshCalls() - refreshes; got != 1 {
		t.Errorf("provider saw %d refreshes after using the new cookie, want still 1", got)
	}
}

// cookieHeader renders c's cookies for u as a Cookie header value.
func cookieHeader(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, ck := range c.Jar.Cookies(parsed) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	if len(parts) == 0 {
		t.Fatalf("no cookies for %s", u)
	}
	return strings.Join(parts, "; ")
}
