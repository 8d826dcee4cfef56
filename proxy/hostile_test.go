package proxy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// request issues one request with the gateway's browser.
func request(t *testing.T, g *testutil.Gateway, method, path string, body io.Reader, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, g.Server.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := g.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

func TestOwnRoutesRejectOtherMethods(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	g.Login(t, "alice", "/")
	tests := []struct {
		method, path, allow string
	}{
		{http.MethodPut, "/ping", "GET, HEAD"},
		{http.MethodPost, "/ready", "GET, HEAD"},
		{http.MethodOptions, "/oauth2/sign_in", "GET, HEAD"},
		{http.MethodPost, "/oauth2/start", "GET, HEAD"},
		{http.MethodDelete, "/oauth2/callback", "GET, HEAD"},
		{http.MethodPatch, "/oauth2/userinfo", "GET, HEAD"},
		{http.MethodPut, "/oauth2/sign_out", "GET, HEAD, POST"},
	}
	for _, tt := range tests {
		resp, body := request(t, g, tt.method, tt.path, nil, "Accept", "application/json")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != tt.allow {
			t.Errorf("%s %s = %d Allow %q, want 405 Allow %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Allow"), tt.allow)
		}
		// The echo upstream answers with the request; a Gatehouse answer
		// is a JSON error.
		if !strings.Contains(body, `"error":"method_not_allowed"`) {
			t.Errorf("%s %s reached the upstream or answered %q", tt.method, tt.path, body)
		}
	}
	// The auth endpoint takes any method (Envoy forwards the original).
	if resp, _ := request(t, g, http.MethodPut, "/oauth2/auth", nil); resp.StatusCode != http.StatusAccepted {
		t.Errorf("PUT /oauth2/auth with a session = %d, want 202", resp.StatusCode)
	}
	// Other paths still reach the upstream with any method.
	if resp, body := request(t, g, http.MethodPut, "/api/item", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"Method":"PUT"`) {
		t.Errorf("PUT /api/item = %d %q, want the upstream's answer", resp.StatusCode, body)
	}
}

func TestSignOutForm(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.ProviderSignOut = false
	}})

	form := url.Values{"rd": {"/bye"}}.Encode()
	resp, _ := request(t, g, http.MethodPost, "/oauth2/sign_out", strings.NewReader(form), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/bye" {
		t.Errorf("POST rd=/bye: %d to %q, want 302 to /bye", resp.StatusCode, resp.Header.Get("Location"))
	}

	// A huge body is not read into memory: the sign-out still happens, to "/".
	huge := "rd=/x&pad=" + strings.Repeat("a", 1<<20)
	resp, _ = request(t, g, http.MethodPost, "/oauth2/sign_out", strings.NewReader(huge), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode >= 500 {
		t.Errorf("POST of 1 MiB: status %d", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc == "/x" {
		t.Errorf("POST of 1 MiB: the oversized form was parsed (Location %q)", loc)
	}

	// Multipart is not parsed (it would spill files to disk); the query
	// still counts.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", "big.bin")
	_, _ = fw.Write(bytes.Repeat([]byte("x"), 64<<10))
	_ = mw.WriteField("rd", "/from-multipart")
	_ = mw.Close()
	resp, _ = request(t, g, http.MethodPost, "/oauth2/sign_out?rd=/from-query", &mp, "Content-Type", mw.FormDataContentType())
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/from-query" {
		t.Errorf("multipart POST: %d to %q, want 302 to /from-query", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// liveFlowCookies counts the browser's login-flow cookies.
func liveFlowCookies(t *testing.T, g *testutil.Gateway) int {
	t.Helper()
	u, _ := url.Parse(g.Server.URL)
	n := 0
	for _, c := range g.Client.Jar.Cookies(u) {
		if strings.HasPrefix(c.Name, "_gatehouse_flow_") {
			n++
		}
	}
	return n
}

func TestAbandonedLoginsAreBounded(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	var authURLs []string
	for i := range 12 {
		resp := g.Get(t, "/oauth2/start?rd=/tab"+string(rune('a'+i)))
		authURLs = append(authURLs, testutil.Location(t, resp))
	}
	if n := liveFlowCookies(t, g); n > 5 {
		t.Errorf("%d login-flow cookies after 12 abandoned logins; want at most 5", n)
	}
	// The newest logins still finish; the oldest has been given up.
	callback := g.IdP.Authorize(t, g.Client, authURLs[len(authURLs)-1], "alice")
	if echo := testutil.DecodeEcho(t, g.FinishLogin(t, callback)); echo.Path != "/tabl" {
		t.Errorf("newest login landed on %q, want /tabl", echo.Path)
	}
	callback = g.IdP.Authorize(t, g.Client, authURLs[len(authURLs)-2], "alice")
	if echo := testutil.DecodeEcho(t, g.FinishLogin(t, callback)); echo.Path != "/tabk" {
		t.Errorf("second newest login landed on %q, want /tabk", echo.Path)
	}
	callback = g.IdP.Authorize(t, g.Client, authURLs[0], "alice")
	if resp := testutil.Do(t, g.Client, callback); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("oldest abandoned login: callback %d, want 400", resp.StatusCode)
	}
}

func TestLongReturnAddressKeepsLoginWorking(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	noise := make([]byte, 3000)
	_, _ = rand.Read(noise)
	rd := "/report?q=" + base64.RawURLEncoding.EncodeToString(noise) // incompressible, < 4096 bytes
	resp := g.Get(t, "/oauth2/start?rd="+url.QueryEscape(rd))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	for _, line := range resp.Header.Values("Set-Cookie") {
		if n := len("Set-Cookie: ") + len(line); n >= 4096 {
			t.Errorf("Set-Cookie line of %d bytes; browsers may drop it", n)
		}
	}
	callback := g.IdP.Authorize(t, g.Client, testutil.Location(t, resp), "alice")
	if echo := testutil.DecodeEcho(t, g.FinishLogin(t, callback)); echo.Path != "/" {
		t.Errorf("landed on %q, want / (the address did not fit)", echo.Path)
	}

	// An unauthenticated request for a huge URL is sent to sign in without
	// a Location header that would overflow a proxy's buffers.
	b := testutil.NewBrowser(t)
	resp = testutil.Do(t, b, g.Server.URL+"/"+strings.Repeat("p", 20000))
	if resp.StatusCode != http.StatusFound || len(resp.Header.Get("Location")) > 100 {
		t.Errorf("huge URL: %d with Location of %d bytes", resp.StatusCode, len(resp.Header.Get("Location")))
	}
}

func TestStrictSameSiteLogin(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.CookieSameSite = "strict"
	}})
	resp := g.Get(t, "/oauth2/start?rd=/docs")
	for _, line := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, "_gatehouse_flow_") && !strings.Contains(line, "SameSite=Lax") {
			t.Errorf("flow cookie %q: want SameSite=Lax so it survives the provider's cross-site redirect", line)
		}
	}
	callback := g.IdP.Authorize(t, g.Client, testutil.Location(t, resp), "alice")
	resp = testutil.Do(t, g.Client, callback)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Refresh") != "0;url=/docs" || !strings.Contains(string(body), `href="/docs"`) {
		t.Errorf("callback = %d Refresh %q; want 200 with a same-site navigation to /docs: %s", resp.StatusCode, resp.Header.Get("Refresh"), body)
	}
	strict := false
	for _, line := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(line, "_gatehouse=") && strings.Contains(line, "SameSite=Strict") {
			strict = true
		}
	}
	if !strict {
		t.Errorf("session cookie is not SameSite=Strict: %q", resp.Header.Values("Set-Cookie"))
	}
	if echo := testutil.DecodeEcho(t, g.Get(t, "/docs")); echo.Path != "/docs" {
		t.Errorf("after login: %q", echo.Path)
	}
}

func TestCallbackErrorIsNotReflected(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	for _, tt := range []struct{ sent, shown string }{
		{"access_denied", "access_denied"},
		{"<b>Call 555-0100 to unlock your account</b>", "provider_error"},
		{strings.Repeat("a", 5000), "provider_error"},
	} {
		u, _ := url.Parse(g.StartLogin(t, "/", "alice"))
		q := u.Query()
		q.Del("code")
		q.Set("error", tt.sent)
		u.RawQuery = q.Encode()
		resp := testutil.Do(t, g.Client, u.String(), "Accept", "application/json")
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode < 400 || resp.StatusCode >= 500 && resp.StatusCode != http.StatusBadGateway {
			t.Errorf("error %.20q: status %d", tt.sent, resp.StatusCode)
		}
		if !strings.Contains(string(body), `"error":"`+tt.shown+`"`) {
			t.Errorf("error %.20q: body %.200s, want error %q", tt.sent, body, tt.shown)
		}
		if tt.sent != tt.shown && strings.Contains(string(body), tt.sent[:10]) {
			t.Errorf("error %.20q reflected: %.200s", tt.sent, body)
		}
	}
}

// TestHostileRequests throws malformed and oversized input at every route:
// no answer may be a 5xx or show Go internals.
func TestHostileRequests(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	long := strings.Repeat("a", 30000)
	state := strings.Repeat("A", 43)
	tests := []struct {
		name, method, path string
		header             []string
	}{
		{"garbage state", "GET", "/oauth2/callback?state=%00%ff&code=x", nil},
		{"state-shaped, no cookie", "GET", "/oauth2/callback?code=x&state=" + state, nil},
		{"forged flow cookie", "GET", "/oauth2/callback?code=x&state=" + state, []string{"Cookie", "_gatehouse_flow_AAAAAAAAAAAAAAAA=garbage"}},
		{"duplicated params", "GET", "/oauth2/callback?state=a&state=b&code=1&code=2&error=x&error=y", nil},
		{"long code", "GET", "/oauth2/callback?code=" + long + "&state=" + state, nil},
		{"long rd on start", "GET", "/oauth2/start?rd=/" + long, nil},
		{"long rd on sign_in", "GET", "/oauth2/sign_in?rd=/" + long, nil},
		{"duplicated rd", "GET", "/oauth2/start?rd=/a&rd=//evil.com&provider=oidc&provider=nope", nil},
		{"unknown provider", "GET", "/oauth2/start?provider=%3Cscript%3E", nil},
		{"huge cookie", "GET", "/", []string{"Cookie", "_gatehouse=" + strings.Repeat("x", 50000)}},
		{"broken chunks", "GET", "/oauth2/userinfo", []string{"Cookie", "_gatehouse_0=a; _gatehouse_2=b; _gatehouse_15=c; _gatehouse_99=d"}},
		{"malformed cookie header", "GET", "/", []string{"Cookie", `_gatehouse="; ;;=; _gatehouse_0`}},
		{"NUL in path", "GET", "/a%00b", nil},
		{"bad X-Forwarded-Uri", "GET", "/oauth2/auth", []string{"X-Forwarded-Uri", "//evil.com/%00"}},
		{"sign_out with junk rd", "GET", "/oauth2/sign_out?rd=%zz", nil},
		{"userinfo wants JSON", "GET", "/oauth2/userinfo", []string{"Accept", "application/json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := request(t, g, tt.method, tt.path, nil, tt.header...)
			if resp.StatusCode >= 500 {
				t.Errorf("status %d: %.300s", resp.StatusCode, body)
			}
			for _, leak := range []string{"goroutine", "runtime.", "securecookie", ".go:", "panic"} {
				if strings.Contains(body, leak) {
					t.Errorf("answer shows internals (%q): %.300s", leak, body)
				}
			}
			if loc := resp.Header.Get("Location"); strings.Contains(loc, "evil.com") {
				t.Errorf("redirect to %q", loc)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	g := testutil.StartGateway(t, testutil.GatewayConfig{
		Options: func(o *config.Options) { o.PassAccessToken = true },
		Deps:    gateway.Deps{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))},
	})
	callback := g.StartLogin(t, "/", "alice")
	code, _ := url.Parse(callback)
	echo := testutil.DecodeEcho(t, g.FinishLogin(t, callback))
	accessToken := echo.Header.Get("X-Forwarded-Access-Token")
	u, _ := url.Parse(g.Server.URL)
	var sessionCookie string
	for _, c := range g.Client.Jar.Cookies(u) {
		if c.Name == "_gatehouse" {
			sessionCookie = c.Value
		}
	}
	if accessToken == "" || sessionCookie == "" {
		t.Fatalf("login left no access token (%q) or session cookie", accessToken)
	}
	// Failures log their causes: a replayed code, a tampered cookie, a
	// refused method, a sign-out.
	testutil.Do(t, g.Client, callback)
	tampered := sessionCookie[:len(sessionCookie)-4] + "AAAA"
	b := testutil.NewBrowser(t)
	testutil.Do(t, b, g.Server.URL+"/", "Cookie", "_gatehouse="+tampered, "Accept", "application/json")
	request(t, g, http.MethodPut, "/ping", nil)
	g.Get(t, "/oauth2/sign_out")

	out := logs.String()
	for _, want := range []string{"msg=login", "no usable session", "login callback without a valid flow"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q, so this test checks less than it claims; logs:\n%s", want, out)
		}
	}
	for name, secret := range map[string]string{
		"access token":   accessToken,
		"session cookie": sessionCookie[:40],
		"tampered value": tampered[:40],
		"client secret":  g.IdP.ClientSecret,
		"cookie secret":  testutil.TestCookieSecret,
		"code":           code.Query().Get("code"),
	} {
		if strings.Contains(out, secret) {
			t.Errorf("logs contain the %s", name)
		}
	}
}

func TestOnlyNavigationsAreRedirectedToSignIn(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	for _, tt := range []struct {
		mode, accept string
		want         int
	}{
		{"navigate", "text/html,application/xhtml+xml,*/*;q=0.8", http.StatusFound},
		{"", "*/*", http.StatusFound}, // a client that says nothing is treated as a browser
		{"cors", "*/*", http.StatusUnauthorized},
		{"same-origin", "*/*", http.StatusUnauthorized},
		{"no-cors", "image/avif,image/webp,*/*", http.StatusUnauthorized},
	} {
		b := testutil.NewBrowser(t)
		h := []string{"Accept", tt.accept}
		if tt.mode != "" {
			h = append(h, "Sec-Fetch-Mode", tt.mode)
		}
		if resp := testutil.Do(t, b, g.Server.URL+"/page", h...); resp.StatusCode != tt.want {
			t.Errorf("Sec-Fetch-Mode %q: status %d, want %d", tt.mode, resp.StatusCode, tt.want)
		}
	}
}

func TestCookieAttributesFollowConfiguration(t *testing.T) {
	t.Parallel()
	t.Run("defaults are Secure, HttpOnly, Lax", func(t *testing.T) {
		t.Parallel()
		g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
			o.CookieSecure = true // the default, which StartGateway turns off for plain HTTP
			o.CookieName = "_sso"
			o.CookieDomain = "example.test"
		}})
		resp := g.Get(t, "/oauth2/start?rd=/")
		lines := resp.Header.Values("Set-Cookie")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "_sso_flow_") {
			t.Fatalf("Set-Cookie = %q, want one _sso_flow_ cookie", lines)
		}
		for _, attr := range []string{"; Path=/;", "; Domain=example.test;", "; HttpOnly", "; Secure", "; SameSite=Lax", "; Max-Age=600"} {
			if !strings.Contains(lines[0]+";", attr) {
				t.Errorf("flow cookie %q lacks %q", lines[0], attr)
			}
		}
	})
	t.Run("session cookie", func(t *testing.T) {
		t.Parallel()
		g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
			o.CookieName = "_sso"
			o.CookieExpire = 2 * time.Hour
		}})
		callback := g.StartLogin(t, "/", "alice")
		resp := testutil.Do(t, g.Client, callback)
		var session string
		for _, line := range resp.Header.Values("Set-Cookie") {
			if strings.HasPrefix(line, "_sso=") {
				session = line
			}
		}
		for _, attr := range []string{"; Path=/", "; HttpOnly", "; SameSite=Lax"} {
			if !strings.Contains(session, attr) {
				t.Errorf("session cookie %q lacks %q", session, attr)
			}
		}
		var maxAge int
		if _, after, ok := strings.Cut(session, "; Max-Age="); ok {
			maxAge, _ = strconv.Atoi(strings.SplitN(after, ";", 2)[0])
		}
		if maxAge < 7190 || maxAge > 7200 {
			t.Errorf("session cookie Max-Age = %d, want --cookie-expire (7200s)", maxAge)
		}
		if strings.Contains(session, "Secure") || strings.Contains(session, "Domain=") {
			t.Errorf("session cookie %q: want neither Secure (--cookie-secure=false) nor Domain (host-only)", session)
		}
	})
}

func TestUpstreamSeesItsCookiesButNotOurs(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.SetAuthorizationHeader = true
	}})
	g.Login(t, "alice", "/")
	u, _ := url.Parse(g.Server.URL)
	var own []string
	for _, c := range g.Client.Jar.Cookies(u) {
		own = append(own, c.Name+"="+c.Value)
	}
	// Application cookies in forms net/http would not re-serialize, a
	// second Cookie line (HTTP/2 style) and a forged Authorization header.
	b := testutil.NewBrowser(t)
	appCookies := `app_json={"a":1,"b":"x y"}; theme="dark"; _gatehouse_flow_x=forged; _gatehouse_0=forged; _gatehousex=kept`
	echo := testutil.DecodeEcho(t, testutil.Do(t, b, g.Server.URL+"/",
		"Cookie", strings.Join(own, "; ")+"; "+appCookies,
		"Cookie", "second=line",
		"Authorization", "Bearer forged"))
	got := strings.Join(echo.Header.Values("Cookie"), "; ")
	want := `app_json={"a":1,"b":"x y"}; theme="dark"; _gatehousex=kept; second=line`
	if got != want {
		t.Errorf("upstream Cookie = %q\nwant %q", got, want)
	}
	if auth := echo.Header.Get("Authorization"); auth == "Bearer forged" || !strings.HasPrefix(auth, "Bearer ") {
		t.Errorf("upstream Authorization = %q, want Gatehouse's access token", auth)
	}
}

func TestUpstreamFailures(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	var logs syncBuffer
	g := testutil.StartGateway(t, testutil.GatewayConfig{
		Upstream: slow,
		Options:  func(o *config.Options) { o.UpstreamTimeout = 200 * time.Millisecond },
		Deps:     gateway.Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))},
	})
	callback := g.StartLogin(t, "/", "alice")
	if resp := testutil.Do(t, g.Client, callback); resp.StatusCode != http.StatusFound {
		t.Fatalf("callback %d", resp.StatusCode)
	}

	resp, body := request(t, g, http.MethodGet, "/slow", nil, "Accept", "application/json")
	if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(body, `"error":"upstream_timeout"`) {
		t.Errorf("slow upstream: %d %s, want 504 upstream_timeout", resp.StatusCode, body)
	}

	// A client that gives up is not an upstream failure.
	before := strings.Count(logs.String(), "level=ERROR")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.Server.URL+"/gone", nil)
	if resp, err := g.Client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("request did not time out on the client side")
	}
	time.Sleep(300 * time.Millisecond) // let the gateway notice
	if after := strings.Count(logs.String(), "level=ERROR"); after != before {
		t.Errorf("a client hanging up was logged as an error:\n%s", logs.String())
	}

	g.Upstream.Close()
	resp, body = request(t, g, http.MethodGet, "/down", nil, "Accept", "application/json")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, `"error":"upstream_unavailable"`) || strings.Contains(body, "127.0.0.1") {
		t.Errorf("upstream down: %d %s, want 502 upstream_unavailable without addresses", resp.StatusCode, body)
	}
}

// TestManyFlowCookiesExpireBounded: a request carrying thousands of
// flow-like cookies gets at most maxFlows (5) expirations back, and only
// for names Gatehouse could have set.
func TestManyFlowCookiesExpireBounded(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	var cookie strings.Builder
	for i := range 2700 {
		fmt.Fprintf(&cookie, "_gatehouse_flow_%016d=x; ", i)
	}
	cookie.WriteString("_gatehouse_flow_short=x; _gatehouse_flow_=x; _gatehouse_flow_AAAAAAAAAAAAAAA!=x")
	resp, _ := request(t, g, http.MethodGet, "/oauth2/start?rd=/", nil, "Cookie", cookie.String())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302 to the provider", resp.StatusCode)
	}
	expired := 0
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 {
			expired++
			if len(strings.TrimPrefix(c.Name, "_gatehouse_flow_")) != 16 {
				t.Errorf("expired %q, which Gatehouse could not have set", c.Name)
			}
		}
	}
	if expired == 0 || expired > 5 {
		t.Errorf("%d flow cookies expired, want 1 to 5", expired)
	}
}
