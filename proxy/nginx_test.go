package proxy_test

import (
	"crypto/sha256"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// nginxSetup is a real nginx in front of an echo application, asking a
// real Gatehouse (auth_request only, no --upstream) about every request.
type nginxSetup struct {
	nginx    *testutil.Nginx
	gw       *testutil.Gateway
	appHits  *atomic.Int64
	appURL   string
	pageURL  string // a protected page, as the browser addresses it
	pagePath string
}

// nginxSetupConfig adjusts startNginx; the zero value runs the shipped
// deploy/nginx/gatehouse.conf with --reverse-proxy and the default users.
type nginxSetupConfig struct {
	// Options adjusts the gateway's options.
	Options func(*config.Options)
	// Now is the clock of the gateway and the provider; nil is time.Now.
	Now func() time.Time
	// Users replaces the provider's users.
	Users []devidp.User
	// Conf returns nginx's configuration for the gateway and application
	// addresses (host:port); nil is the shipped example.
	Conf func(t *testing.T, gatehouse, app string) string
	// PagePath is the protected page; "" is a path with a query string.
	PagePath string
}

// startNginxSetup starts the shipped example with options adjusted by opts
// and the clock now (both may be nil).
func startNginxSetup(t *testing.T, opts func(*config.Options), now func() time.Time) *nginxSetup {
	t.Helper()
	return startNginx(t, nginxSetupConfig{Options: opts, Now: now})
}

// startNginx starts the provider, the gateway, the echo application and
// nginx as c says.
func startNginx(t *testing.T, c nginxSetupConfig) *nginxSetup {
	t.Helper()
	hits := new(atomic.Int64)
	echo := testutil.EchoUpstream()
	gw := testutil.StartGateway(t, testutil.GatewayConfig{
		// Long-lived tokens: a test moving now forward by hours exercises
		// --cookie-refresh, not token expiry.
		IdP: devidp.Options{Users: c.Users, Now: c.Now, AccessTokenTTL: 24 * time.Hour, IDTokenTTL: 24 * time.Hour},
		Upstream: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			echo.ServeHTTP(w, r)
		}),
		Options: func(o *config.Options) {
			// auth_request deployment: nginx proxies to the application
			// itself and Gatehouse only answers /oauth2/*.
			o.Upstream = ""
			o.ReverseProxy = true
			if c.Options != nil {
				c.Options(o)
			}
		},
		Deps: gateway.Deps{Now: c.Now},
	})
	conf := c.Conf
	if conf == nil {
		conf = shippedNginxConf
	}
	n := testutil.StartNginx(t, conf(t, hostPort(t, gw.Server.URL), hostPort(t, gw.Upstream.URL)))
	s := &nginxSetup{nginx: n, gw: gw, appHits: hits, appURL: gw.Upstream.URL, pagePath: c.PagePath}
	if s.pagePath == "" {
		// Encoded data in the query must survive the trip through the login.
		s.pagePath = "/app/page?x=1&y=two%20words&next=%2Fother%3Fa%3Db%26c%3Dd"
	}
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
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
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

// login signs alice in through nginx like a browser; see loginAs.
func (s *nginxSetup) login(t *testing.T, c *http.Client) (*http.Response, []string) {
	t.Helper()
	return s.loginAs(t, c, "alice", s.pageURL)
}

// loginAs signs user in through nginx like a browser, starting at page:
// protected page → nginx's redirect to /oauth2/start (or Gatehouse's
// sign-in page, whose form it submits) → provider (its login form is
// submitted for user) → /oauth2/callback → the original page. It returns
// the final response and the URLs visited.
func (s *nginxSetup) loginAs(t *testing.T, c *http.Client, user, page string) (*http.Response, []string) {
	t.Helper()
	next := page
	var visited []string
	for range 10 {
		visited = append(visited, next)
		if strings.HasPrefix(next, s.gw.IdP.Issuer()) {
			next = s.gw.IdP.Authorize(t, c, next, user)
			continue
		}
		resp := send(t, c, http.MethodGet, next, nil, "Accept", browserAccept)
		if start := signInFormTarget(t, resp); start != "" {
			next = s.nginx.URL() + start
			continue
		}
		if resp.StatusCode < 300 || resp.StatusCode > 399 {
			return resp, visited
		}
		loc, err := resp.Location()
		if err != nil {
			t.Fatalf("GET %s: %d without Location", next, resp.StatusCode)
		}
		next = loc.String()
	}
	t.Fatalf("login did not finish after 10 steps: %v", visited)
	return nil, nil
}

var signInForm = regexp.MustCompile(`(?s)<form method="get" action="/oauth2/start">.*?name="provider" value="([^"]*)".*?name="rd" value="([^"]*)"`)

// signInFormTarget returns the /oauth2/start URL the first button of
// Gatehouse's sign-in page in resp submits, or "" if resp is not that page.
func signInFormTarget(t *testing.T, resp *http.Response) string {
	t.Helper()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		return ""
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := signInForm.FindSubmatch(body)
	if m == nil {
		return ""
	}
	q := url.Values{"provider": {html.UnescapeString(string(m[1]))}, "rd": {html.UnescapeString(string(m[2]))}}
	return "/oauth2/start?" + q.Encode()
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

	t.Run("HEAD navigation is sent to sign in", func(t *testing.T) {
		resp := send(t, testutil.NewBrowser(t), http.MethodHead, s.pageURL, nil, "Accept", browserAccept)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status = %d, want 302", resp.StatusCode)
		}
		if loc, _ := resp.Location(); loc == nil || loc.Query().Get("rd") != s.pageURL {
			t.Errorf("Location = %v, want /oauth2/start with rd %q", loc, s.pageURL)
		}
	})

	t.Run("client's forwarding headers do not steer the return address", func(t *testing.T) {
		resp := send(t, testutil.NewBrowser(t), http.MethodGet, s.pageURL, nil,
			"Accept", browserAccept,
			"X-Forwarded-Host", "evil.test",
			"X-Forwarded-Proto", "https",
			"X-Forwarded-Uri", "//evil.test/steal",
			"X-Original-URI", "//evil.test/steal",
			"X-Original-URL", "https://evil.test/steal",
			"X-Auth-Request-Redirect", "https://evil.test/steal",
		)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status = %d, want 302", resp.StatusCode)
		}
		loc := resp.Header.Get("Location")
		if !strings.HasPrefix(loc, "/oauth2/start?") {
			t.Errorf("Location = %q, want a relative /oauth2/start (absolute_redirect off)", loc)
		}
		u, _ := url.Parse(loc)
		if got := u.Query().Get("rd"); got != s.pageURL {
			t.Errorf("rd = %q, want the URL nginx really served %q", got, s.pageURL)
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

		// Last: it ends the session.
		t.Run("sign-out through nginx", func(t *testing.T) {
			// The link shows the confirmation form; its button POSTs it.
			resp := send(t, browser, http.MethodGet, s.nginx.URL()+"/oauth2/sign_out?rd=%2Fbye", nil, "Accept", browserAccept)
			form := signOutForm(t, resp)
			if form.Get("rd") != "/bye" || form.Get("csrf") == "" {
				t.Fatalf("sign-out form = %v, want rd /bye and a token", form)
			}
			resp = send(t, browser, http.MethodPost, s.nginx.URL()+"/oauth2/sign_out", strings.NewReader(form.Encode()),
				"Content-Type", "application/x-www-form-urlencoded", "Origin", s.nginx.URL(), "Sec-Fetch-Site", "same-origin")
			// RP-initiated logout (--provider-sign-out, on by default)
			// comes back to rd on the site the browser used.
			loc, _ := resp.Location()
			if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("post_logout_redirect_uri") != s.nginx.URL()+"/bye" {
				t.Fatalf("sign_out: status %d to %v, want 302 to the provider's logout and back to /bye", resp.StatusCode, loc)
			}
			for _, c := range browser.Jar.Cookies(mustURL(t, s.nginx.URL())) {
				if strings.HasPrefix(c.Name, "_gatehouse") {
					t.Errorf("cookie %s still in the browser after sign-out", c.Name)
				}
			}
			before := s.appHits.Load()
			resp = send(t, browser, http.MethodGet, s.pageURL, nil, "Accept", browserAccept)
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/oauth2/start?") {
				t.Errorf("after sign-out: status %d, Location %q; want 302 to sign in", resp.StatusCode, resp.Header.Get("Location"))
			}
			if s.appHits.Load() != before {
				t.Error("application reached after sign-out")
			}
		})
	})
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
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

// commonNginxConf is what nginx users write from oauth2-proxy's and nginx's
// documentation rather than the shipped example, one way per location:
//
//	/signin-page/  error_page 401 = /oauth2/sign_in (Gatehouse's page
//	               learns the original URI from X-Auth-Request-Redirect)
//	/start-raw/    a named location redirecting to /oauth2/start with the
//	               original URL unencoded in rd
//	/signin-raw/   error_page 401 = /oauth2/sign_in?rd=$request_uri
//	/admins/ and /ops/  per-location group rules (?allowed_groups=)
//
// Gatehouse runs without --reverse-proxy, as those documents allow.
func commonNginxConf(t *testing.T, gatehouse, app string) string {
	t.Helper()
	return `
upstream gatehouse { server ` + gatehouse + `; }
upstream app { server ` + app + `; }
server {
    listen 127.0.0.1:` + testutil.NginxPortPlaceholder + `;
    large_client_header_buffers 4 32k;

    location /oauth2/ {
        proxy_pass http://gatehouse;
        proxy_set_header Host $http_host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Auth-Request-Redirect $request_uri;
    }
    location = /oauth2/auth {
        internal;
        proxy_pass http://gatehouse;
        proxy_set_header Host $http_host;
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header Content-Length "";
        proxy_pass_request_body off;
    }
    location @error401 {
        return 302 /oauth2/start?rd=$scheme://$http_host$request_uri;
    }

    location /signin-page/ {
        auth_request /oauth2/auth;
        error_page 401 = /oauth2/sign_in;
        auth_request_set $user  $upstream_http_x_auth_request_user;
        auth_request_set $email $upstream_http_x_auth_request_email;
        proxy_set_header X-User  $user;
        proxy_set_header X-Email $email;
        proxy_pass http://app;
    }
    location /start-raw/ {
        auth_request /oauth2/auth;
        error_page 401 = @error401;
        auth_request_set $user $upstream_http_x_auth_request_user;
        proxy_set_header X-User $user;
        proxy_pass http://app;
    }
    location /signin-raw/ {
        auth_request /oauth2/auth;
        error_page 401 = /oauth2/sign_in?rd=$request_uri;
        auth_request_set $user $upstream_http_x_auth_request_user;
        proxy_set_header X-User $user;
        proxy_pass http://app;
    }
    # auth_request cannot carry a query string ("auth_request
    # /oauth2/auth?allowed_groups=x" asks for a path of that name): one
    # internal location per rule.
    location = /oauth2/auth-admins {
        internal;
        proxy_pass http://gatehouse/oauth2/auth?allowed_groups=admins;
        proxy_set_header Host $http_host;
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header Content-Length "";
        proxy_pass_request_body off;
    }
    location = /oauth2/auth-ops {
        internal;
        proxy_pass http://gatehouse/oauth2/auth?allowed_groups=ops,sre;
        proxy_set_header Host $http_host;
        proxy_set_header X-Original-URI $request_uri;
        proxy_set_header Content-Length "";
        proxy_pass_request_body off;
    }
    location /admins/ {
        auth_request /oauth2/auth-admins;
        error_page 401 = @error401;
        proxy_pass http://app;
    }
    location /ops/ {
        auth_request /oauth2/auth-ops;
        error_page 401 = @error401;
        proxy_pass http://app;
    }
}
`
}

// TestNginxCommonConfigs logs in through the nginx configurations users
// commonly write and checks each lands back on the original URL, query
// string intact.
func TestNginxCommonConfigs(t *testing.T) {
	t.Parallel()
	s := startNginx(t, nginxSetupConfig{
		Conf:    commonNginxConf,
		Options: func(o *config.Options) { o.ReverseProxy = false },
	})
	const query = "?x=1&y=two%20words&next=%2Fother%3Fa%3Db%26c%3Dd"
	for _, prefix := range []string{"/signin-page/", "/start-raw/", "/signin-raw/"} {
		t.Run(prefix, func(t *testing.T) {
			t.Parallel()
			page := s.nginx.URL() + prefix + "doc" + query
			resp, visited := s.loginAs(t, testutil.NewBrowser(t), "alice", page)
			echo := testutil.DecodeEcho(t, resp)
			if want := prefix + "doc" + query; echo.Path != want {
				t.Errorf("landed on %q, want %q (visited %q)", echo.Path, want, visited)
			}
			if echo.Header.Get("X-User") != devidp.Subject("alice") {
				t.Errorf("application got X-User %q, want alice's subject", echo.Header.Get("X-User"))
			}
		})
	}

	// Not parallel: it counts the application's hits, which the parallel
	// subtests above would add to (they wait until this test returns).
	t.Run("per-location group rules", func(t *testing.T) {
		b := testutil.NewBrowser(t)
		s.loginAs(t, b, "alice", s.nginx.URL()+"/start-raw/")
		for _, tt := range []struct {
			path string
			want int
		}{
			{"/admins/x", http.StatusOK},
			{"/ops/x", http.StatusForbidden},
		} {
			before := s.appHits.Load()
			resp := send(t, b, http.MethodGet, s.nginx.URL()+tt.path, nil, "Accept", browserAccept)
			if resp.StatusCode != tt.want {
				t.Errorf("%s: status %d, want %d", tt.path, resp.StatusCode, tt.want)
			}
			if reached := s.appHits.Load() != before; reached != (tt.want == http.StatusOK) {
				t.Errorf("%s: application reached: %v", tt.path, reached)
			}
		}
	})
}

// TestNginxPassesRefreshedChunkedSession is TestNginxPassesRefreshedCookie
// for a session too large for one cookie (a user in many groups): every
// chunk of the refreshed session must reach the browser, although nginx's
// $upstream_http_set_cookie holds only the first Set-Cookie.
func TestNginxPassesRefreshedChunkedSession(t *testing.T) {
	t.Parallel()
	// Sessions are compressed: group names that do not compress well.
	groups := make([]string, 100)
	for i := range groups {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		groups[i] = fmt.Sprintf("team-%x", sum[:10])
	}
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	s := startNginx(t, nginxSetupConfig{
		Options: func(o *config.Options) { o.CookieRefresh = time.Hour },
		Now:     now,
		Users:   []devidp.User{{Username: "carol", Email: "carol@example.com", EmailVerified: true, Groups: groups}},
	})
	browser := testutil.NewBrowser(t)
	resp, _ := s.loginAs(t, browser, "carol", s.pageURL)
	if got := testutil.DecodeEcho(t, resp).Header.Get("X-Groups"); got != strings.Join(groups, ",") {
		t.Fatalf("application got X-Groups of %d bytes, want all %d groups", len(got), len(groups))
	}
	chunks := 0
	for _, c := range browser.Jar.Cookies(mustURL(t, s.nginx.URL())) {
		if strings.HasPrefix(c.Name, "_gatehouse_") && !strings.Contains(c.Name, "flow") {
			chunks++
		}
	}
	if chunks < 2 {
		t.Fatalf("session is in %d chunk cookies; the test needs at least 2", chunks)
	}
	t.Logf("session in %d chunks", chunks)
	before := cookieHeader(t, browser, s.nginx.URL())
	refreshes := s.gw.IdP.RefreshCalls()

	offset.Store(int64(2 * time.Hour)) // past --cookie-refresh
	resp = send(t, browser, http.MethodGet, s.pageURL, nil, "Accept", "application/json")
	testutil.DecodeEcho(t, resp)
	if got := s.gw.IdP.RefreshCalls() - refreshes; got != 1 {
		t.Fatalf("provider saw %d refreshes, want 1", got)
	}
	if n := len(resp.Header.Values("Set-Cookie")); n < chunks {
		t.Fatalf("nginx passed %d Set-Cookie headers, want at least %d (one per chunk)", n, chunks)
	}
	if cookieHeader(t, browser, s.nginx.URL()) == before {
		t.Fatal("browser still holds the pre-refresh cookies")
	}
	for range 2 {
		resp = send(t, browser, http.MethodGet, s.pageURL, nil, "Accept", "application/json")
		if got := testutil.DecodeEcho(t, resp).Header.Get("X-Email"); got != "carol@example.com" {
			t.Errorf("with the refreshed cookies: X-Email %q", got)
		}
	}
	if got := s.gw.IdP.RefreshCalls() - refreshes; got != 1 {
		t.Errorf("provider saw %d refreshes, want still 1: the refreshed chunks did not all arrive", got)
	}
}

// TestNginxConcurrentUsers sends requests from a few hundred clients at
// once through nginx, each on connections of its own (signed in as one of
// several users, or anonymous): each signed-in request reaches the
// application as its own user, every anonymous one is refused, and nothing
// fails.
func TestNginxConcurrentUsers(t *testing.T) {
	t.Parallel()
	s := startNginxSetup(t, nil, nil)
	users := []string{"alice", "bob"}
	jars := make([]http.CookieJar, len(users))
	for i, u := range users {
		b := testutil.NewBrowser(t)
		s.loginAs(t, b, u, s.pageURL)
		jars[i] = b.Jar
	}
	const clients, perClient = 240, 3
	var wg sync.WaitGroup
	errs := make(chan string, clients*perClient)
	for w := range clients {
		wg.Go(func() {
			u := w % (len(users) + 1) // len(users): anonymous
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			if u < len(users) {
				c.Jar = jars[u]
			}
			for i := range perClient {
				path := fmt.Sprintf("%s/app/w%d/r%d?q=%d", s.nginx.URL(), w, i, i)
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, path, nil)
				req.Header.Set("Accept", "application/json")
				req.Header.Set("X-Forwarded-User", "mallory")
				resp, err := c.Do(req)
				if err != nil {
					errs <- err.Error()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if u == len(users) {
					if resp.StatusCode != http.StatusUnauthorized {
						errs <- fmt.Sprintf("anonymous %s: status %d", path, resp.StatusCode)
					}
					continue
				}
				want := `"X-Forwarded-User":["` + devidp.Subject(users[u]) + `"]`
				if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
					errs <- fmt.Sprintf("%s %s: status %d, body %.200s", users[u], path, resp.StatusCode, body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for e := range errs {
		if n++; n <= 5 {
			t.Error(e)
		}
	}
	if n > 5 {
		t.Errorf("... %d failures in all", n)
	}
}

// TestNginxLongURL sends a long URL through an nginx configuration with
// nginx's default buffer sizes: Gatehouse's 401 must still fit them (nginx
// would answer 500), and the browser is still sent to sign in.
func TestNginxLongURL(t *testing.T) {
	t.Parallel()
	s := startNginx(t, nginxSetupConfig{Conf: func(t *testing.T, gatehouse, app string) string {
		return `
server {
    listen 127.0.0.1:` + testutil.NginxPortPlaceholder + `;
    location /oauth2/ {
        proxy_pass http://` + gatehouse + `;
        proxy_set_header Host $http_host;
    }
    location = /oauth2/auth {
        internal;
        proxy_pass http://` + gatehouse + `;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-Host $http_host;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Uri $request_uri;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
    }
    location @signin {
        return 302 $gh_signin;
    }
    location / {
        auth_request /oauth2/auth;
        auth_request_set $gh_signin $upstream_http_x_auth_request_sign_in;
        error_page 401 = @signin;
        proxy_pass http://` + app + `;
    }
}`
	}})
	for _, n := range []int{100, 1500} {
		long := s.nginx.URL() + "/app/" + strings.Repeat("%C3%A9t%C3%A9-", n/12) + "?q=" + strings.Repeat("a%20b", n/5)
		resp := send(t, testutil.NewBrowser(t), http.MethodGet, long, nil, "Accept", browserAccept)
		if resp.StatusCode != http.StatusFound {
			t.Errorf("%d-byte URL: status %d, want 302 to sign in", len(long), resp.StatusCode)
			continue
		}
		loc, err := resp.Location()
		if err != nil || loc.Path != "/oauth2/start" {
			t.Errorf("%d-byte URL: Location %v, want /oauth2/start", len(long), loc)
			continue
		}
		if want := long; n > 1000 {
			if got := loc.Query().Get("rd"); got != "/" {
				t.Errorf("%d-byte URL: rd %q, want / (too long to carry)", len(long), got)
			}
		} else if got := loc.Query().Get("rd"); got != want {
			t.Errorf("%d-byte URL: rd %q, want the original URL", len(long), got)
		}
	}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

// signOutForm returns the hidden fields of the sign-out confirmation page
// in resp.
func signOutForm(t *testing.T, resp *http.Response) url.Values {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `<form method="post" action="/oauth2/sign_out">`) {
		t.Fatalf("GET /oauth2/sign_out: status %d, want the confirmation form:\n%s", resp.StatusCode, body)
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(body), -1) {
		form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return form
}
