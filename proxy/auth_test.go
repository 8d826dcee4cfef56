package proxy_test

import (
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// authOnlyGateway is Gatehouse as a forward-auth backend: no upstream, and
// --reverse-proxy as given.
func authOnlyGateway(t *testing.T, reverseProxy bool) *testutil.Gateway {
	t.Helper()
	return testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.Upstream = ""
		o.ReverseProxy = reverseProxy
	}})
}

// forwardAuthHeaders are what Traefik's forwardAuth and Caddy's
// forward_auth send about the original request (always as a GET).
func forwardAuthHeaders(method string, extra ...string) []string {
	return append([]string{
		"X-Forwarded-Method", method,
		"X-Forwarded-Proto", "https",
		"X-Forwarded-Host", "app.example.test",
		"X-Forwarded-Uri", "/page?a=1&b=two%20words",
		"X-Forwarded-For", "203.0.113.7",
	}, extra...)
}

const originalURL = "https://app.example.test/page?a=1&b=two%20words"

func TestForwardAuthRedirectMode(t *testing.T) {
	t.Parallel()
	g := authOnlyGateway(t, true)
	signIn := "/oauth2/start?rd=" + url.QueryEscape(originalURL)

	tests := []struct {
		name       string
		path       string
		header     []string
		wantStatus int
		wantJSON   bool
	}{
		{"browser navigation", "/oauth2/auth?redirect=true",
			forwardAuthHeaders("GET", "Accept", browserAccept), http.StatusFound, false},
		{"HEAD navigation", "/oauth2/auth?redirect=1",
			forwardAuthHeaders("HEAD", "Accept", browserAccept), http.StatusFound, false},
		{"curl", "/oauth2/auth?redirect=true",
			forwardAuthHeaders("GET", "Accept", "*/*"), http.StatusFound, false},
		{"form POST", "/oauth2/auth?redirect=true",
			forwardAuthHeaders("POST", "Accept", browserAccept), http.StatusUnauthorized, false},
		{"XHR", "/oauth2/auth?redirect=true",
			forwardAuthHeaders("GET", "Accept", "*/*", "X-Requested-With", "XMLHttpRequest"), http.StatusUnauthorized, true},
		{"JSON API", "/oauth2/auth?redirect=true",
			forwardAuthHeaders("GET", "Accept", "application/json"), http.StatusUnauthorized, true},
		{"WebSocket", "/oauth2/auth?redirect=true",
			forwardAuthHeaders("GET", "Accept", "*/*", "Upgrade", "websocket", "Connection", "Upgrade"), http.StatusUnauthorized, true},
		{"without redirect=true", "/oauth2/auth",
			forwardAuthHeaders("GET", "Accept", browserAccept), http.StatusUnauthorized, false},
		{"redirect=false", "/oauth2/auth?redirect=false",
			forwardAuthHeaders("GET", "Accept", browserAccept), http.StatusUnauthorized, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := send(t, testutil.NewBrowser(t), http.MethodGet, g.Server.URL+tt.path, nil, tt.header...)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			loc := resp.Header.Get("Location")
			if tt.wantStatus == http.StatusFound && loc != signIn {
				t.Errorf("Location = %q, want %q", loc, signIn)
			}
			if tt.wantStatus != http.StatusFound && loc != "" {
				t.Errorf("Location = %q on a %d", loc, tt.wantStatus)
			}
			if isJSON := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"); isJSON != tt.wantJSON {
				t.Errorf("Content-Type = %q, want JSON: %v", resp.Header.Get("Content-Type"), tt.wantJSON)
			}
		})
	}

	t.Run("signed in", func(t *testing.T) {
		b := testutil.NewBrowser(t)
		gb := *g
		gb.Client = b
		gb.Login(t, "alice", "/")
		nav := forwardAuthHeaders("GET", "Accept", browserAccept)
		resp := send(t, b, http.MethodGet, g.Server.URL+"/oauth2/auth?redirect=true", nil, nav...)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("status = %d, want 202", resp.StatusCode)
		}
		if got := resp.Header.Get("X-Auth-Request-Email"); got != "alice@example.com" {
			t.Errorf("X-Auth-Request-Email = %q", got)
		}
		resp = send(t, b, http.MethodGet, g.Server.URL+"/oauth2/auth?redirect=true&allowed_groups=ops", nil, nav...)
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
			t.Errorf("refused by allowed_groups: status %d, Location %q; want 403 without redirect",
				resp.StatusCode, resp.Header.Get("Location"))
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("403 for a browser: Content-Type %q, want the HTML page the proxy shows", ct)
		}
	})
}

// TestForwardAuthEnvoyPathPrefix mimics Envoy's ext_authz HTTP service with
// path_prefix: /oauth2/auth: the original method and path are forwarded,
// the original Host kept.
func TestForwardAuthEnvoyPathPrefix(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.Upstream = ""
		o.ReverseProxy = true
		o.ForwardAuthPrefixRoute = true
	}})
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodPatch} {
		resp := send(t, testutil.NewBrowser(t), method, g.Server.URL+"/oauth2/auth/page?a=1&b=two%20words", nil,
			"Host", "app.example.test", "X-Forwarded-Proto", "https", "Accept", browserAccept)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status = %d, want 401", method, resp.StatusCode)
		}
		if got, want := resp.Header.Get("X-Auth-Request-Sign-In"), "/oauth2/start?rd="+url.QueryEscape(originalURL); got != want {
			t.Errorf("%s: X-Auth-Request-Sign-In = %q, want %q", method, got, want)
		}
	}
	b := testutil.NewBrowser(t)
	gb := *g
	gb.Client = b
	gb.Login(t, "bob", "/")
	// Envoy passes the browser's Cookie header on (the jar would not send
	// it under another Host).
	resp := send(t, testutil.NewBrowser(t), http.MethodPut, g.Server.URL+"/oauth2/auth/api/items/7", nil,
		"Host", "app.example.test", "Cookie", cookieHeader(t, b, g.Server.URL))
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Auth-Request-User") != devidp.Subject("bob") {
		t.Errorf("PUT with a session: status %d, user %q; want 202 for bob", resp.StatusCode, resp.Header.Get("X-Auth-Request-User"))
	}
}

// TestForwardedHeadersNeedReverseProxy checks that without --reverse-proxy
// a client cannot choose the return address (or the method the redirect
// decision uses) with X-Forwarded-* or X-Original-* headers.
func TestForwardedHeadersNeedReverseProxy(t *testing.T) {
	t.Parallel()
	g := authOnlyGateway(t, false)
	spoof := []string{
		"Accept", browserAccept,
		"X-Forwarded-Method", "POST",
		"X-Forwarded-Proto", "https",
		"X-Forwarded-Host", "evil.test",
		"X-Forwarded-Uri", "/steal?x=1",
		"X-Original-URI", "/steal?x=1",
		"X-Original-URL", "https://evil.test/steal",
	}
	resp := send(t, testutil.NewBrowser(t), http.MethodGet, g.Server.URL+"/oauth2/auth", nil, spoof...)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401", resp.StatusCode)
	}
	if got := resp.Header.Get("X-Auth-Request-Sign-In"); got != "/oauth2/start?rd=%2F" {
		t.Errorf("X-Auth-Request-Sign-In = %q, want rd=/ (nothing forwarded is trusted)", got)
	}
	// The method is the request's own: GET, so a navigation.
	resp = send(t, testutil.NewBrowser(t), http.MethodGet, g.Server.URL+"/oauth2/auth?redirect=true", nil, spoof...)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/oauth2/start?rd=%2F" {
		t.Errorf("redirect mode: status %d, Location %q; want 302 to /oauth2/start?rd=%%2F", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The same on Gatehouse's own pages and protected paths.
	if got := signInReturn(t, g, "/oauth2/sign_in", spoof...); got != "/" {
		t.Errorf("sign-in page rd = %q, want /", got)
	}
	resp = send(t, testutil.NewBrowser(t), http.MethodGet, g.Server.URL+"/app?q=1", nil, spoof...)
	if loc := resp.Header.Get("Location"); loc != "/oauth2/sign_in?rd="+url.QueryEscape("/app?q=1") {
		t.Errorf("protected path: Location = %q, want the request's own URI as rd", loc)
	}
}

var rdInput = regexp.MustCompile(`name="rd" value="([^"]*)"`)

// signInReturn fetches a sign-in page and returns the rd its form carries.
func signInReturn(t *testing.T, g *testutil.Gateway, path string, header ...string) string {
	t.Helper()
	resp := send(t, testutil.NewBrowser(t), http.MethodGet, g.Server.URL+path, nil, header...)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	m := rdInput.FindSubmatch(body)
	if m == nil {
		t.Fatalf("GET %s: no rd in the sign-in form:\n%s", path, body)
	}
	return html.UnescapeString(string(m[1]))
}

// TestSignInReturnAddress covers how the sign-in page and /oauth2/start
// learn where to go back to from the proxy setups nginx users write.
func TestSignInReturnAddress(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) { o.ReverseProxy = true }})
	host := hostPort(t, g.Server.URL)
	tests := []struct {
		name   string
		path   string
		header []string
		want   string
	}{
		{"encoded rd", "/oauth2/sign_in?rd=" + url.QueryEscape("/app/page?x=1&y=two%20words"), nil, "/app/page?x=1&y=two%20words"},
		{"unencoded rd (nginx ?rd=$request_uri)", "/oauth2/sign_in?rd=/app/page?x=1&y=two%20words", nil, "/app/page?x=1&y=two%20words"},
		{"unencoded absolute rd", "/oauth2/sign_in?rd=http://" + host + "/app/page?x=1&y=2", nil, "http://" + host + "/app/page?x=1&y=2"},
		{"X-Auth-Request-Redirect", "/oauth2/sign_in", []string{"X-Auth-Request-Redirect", "/app/page?x=1&y=2"}, "/app/page?x=1&y=2"},
		{"rd wins over the header", "/oauth2/sign_in?rd=%2Fa", []string{"X-Auth-Request-Redirect", "/b"}, "/a"},
		{"X-Forwarded-Uri after error_page 401 = /oauth2/sign_in", "/oauth2/sign_in",
			[]string{"X-Forwarded-Uri", "/app/page?x=1", "X-Forwarded-Host", "app.example.test", "X-Forwarded-Proto", "https"},
			"https://app.example.test/app/page?x=1"},
		{"own page in the header", "/oauth2/sign_in", []string{"X-Auth-Request-Redirect", "/oauth2/sign_out"}, "/"},
		{"own page forwarded", "/oauth2/sign_in", []string{"X-Forwarded-Uri", "/oauth2/sign_in"}, "/"},
		{"foreign host in the header", "/oauth2/sign_in", []string{"X-Auth-Request-Redirect", "https://evil.test/"}, "/"},
		{"scheme-relative header", "/oauth2/sign_in", []string{"X-Auth-Request-Redirect", "//evil.test/"}, "/"},
		{"unencoded rd to a foreign host", "/oauth2/sign_in?rd=https://evil.test/?a=1&b=2", nil, "/"},
		{"unencoded rd smuggling a second rd", "/oauth2/sign_in?rd=/ok?a=1&rd=https://evil.test/", nil, "/ok?a=1"},
		{"nothing", "/oauth2/sign_in", nil, "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := signInReturn(t, g, tt.path, tt.header...); got != tt.want {
				t.Errorf("rd = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("unencoded rd survives the login", func(t *testing.T) {
		t.Parallel()
		b := testutil.NewBrowser(t)
		start := g.Server.URL + "/oauth2/start?rd=/app/page?x=1&y=two%20words&next=%2Fz%3Fq%3D1"
		resp := send(t, b, http.MethodGet, start, nil)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("start: status %d", resp.StatusCode)
		}
		callback := g.IdP.Authorize(t, b, testutil.Location(t, resp), "alice")
		gb := *g
		gb.Client = b
		echo := testutil.DecodeEcho(t, gb.FinishLogin(t, callback))
		if want := "/app/page?x=1&y=two%20words&next=%2Fz%3Fq%3D1"; echo.Path != want {
			t.Errorf("landed on %q, want %q", echo.Path, want)
		}
	})

	t.Run("X-Auth-Request-Redirect never reaches the upstream", func(t *testing.T) {
		t.Parallel()
		b := testutil.NewBrowser(t)
		gb := *g
		gb.Client = b
		gb.Login(t, "alice", "/")
		echo := testutil.DecodeEcho(t, testutil.Do(t, b, g.Server.URL+"/app", "X-Auth-Request-Redirect", "/x"))
		if v := echo.Header.Get("X-Auth-Request-Redirect"); v != "" {
			t.Errorf("upstream got X-Auth-Request-Redirect %q", v)
		}
	})
}
