package proxy_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// clock is a test clock that can be moved forward.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

func TestLoginFlowSendsIdentityUpstream(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.PassAccessToken = true
		o.SetAuthorizationHeader = true
	}})
	echo := testutil.DecodeEcho(t, g.Login(t, "alice", "/app/page?x=1&y=2"))

	if echo.Path != "/app/page?x=1&y=2" {
		t.Errorf("upstream path = %q, want the page asked for before login", echo.Path)
	}
	want := map[string]string{
		"X-Forwarded-User":               devidp.Subject("alice"),
		"X-Forwarded-Email":              "alice@example.com",
		"X-Forwarded-Groups":             "admins,engineering",
		"X-Forwarded-Preferred-Username": "alice",
		"X-Forwarded-Provider":           "oidc",
	}
	for k, v := range want {
		if got := echo.Header.Get(k); got != v {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
	token := echo.Header.Get("X-Forwarded-Access-Token")
	if token == "" {
		t.Fatal("upstream got no X-Forwarded-Access-Token with --pass-access-token")
	}
	if got := echo.Header.Get("Authorization"); got != "Bearer "+token {
		t.Errorf("upstream Authorization = %q, want Bearer <access token>", got)
	}
	if c := echo.Header.Get("Cookie"); strings.Contains(c, "_gatehouse") {
		t.Errorf("upstream received Gatehouse's own cookies: %q", c)
	}
	// The next request reuses the session without another login.
	echo = testutil.DecodeEcho(t, g.Get(t, "/other"))
	if echo.Header.Get("X-Forwarded-User") != devidp.Subject("alice") {
		t.Errorf("second request lost the session")
	}
	if got := g.IdP.TokenCalls(); got != 1 {
		t.Errorf("token endpoint calls = %d, want 1", got)
	}
}

func TestIdentityHeadersOmittedByDefault(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	echo := testutil.DecodeEcho(t, g.Login(t, "bob", "/"))
	if v := echo.Header.Get("X-Forwarded-Access-Token"); v != "" {
		t.Errorf("access token sent upstream without --pass-access-token")
	}
	if v := echo.Header.Get("Authorization"); v != "" {
		t.Errorf("Authorization sent upstream without --set-authorization-header")
	}
}

func TestUnauthenticatedRequests(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	tests := []struct {
		name       string
		method     string
		header     []string
		wantStatus int
		wantJSON   bool
	}{
		{"browser navigation", http.MethodGet, []string{"Accept", "text/html,application/xhtml+xml,*/*;q=0.8"}, http.StatusFound, false},
		{"plain GET", http.MethodGet, nil, http.StatusFound, false},
		{"HEAD", http.MethodHead, nil, http.StatusFound, false},
		{"wants JSON", http.MethodGet, []string{"Accept", "application/json"}, http.StatusUnauthorized, true},
		{"XHR", http.MethodGet, []string{"X-Requested-With", "XMLHttpRequest"}, http.StatusUnauthorized, true},
		{"POST", http.MethodPost, nil, http.StatusUnauthorized, true},
		{"DELETE", http.MethodDelete, []string{"Accept", "text/html"}, http.StatusUnauthorized, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, g.Server.URL+"/private/doc?id=7", nil)
			for i := 0; i+1 < len(tt.header); i += 2 {
				req.Header.Set(tt.header[i], tt.header[i+1])
			}
			resp, err := g.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusFound {
				loc, _ := resp.Location()
				if loc.Path != "/oauth2/sign_in" || loc.Query().Get("rd") != "/private/doc?id=7" {
					t.Errorf("Location = %s, want /oauth2/sign_in?rd=/private/doc?id=7", loc)
				}
			}
			if tt.wantJSON {
				var body map[string]string
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body["error"] != "unauthorized" {
					t.Errorf("body = %v (%v), want JSON error unauthorized", body, err)
				}
			}
		})
	}
}

func TestSignInPage(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	resp := g.Get(t, "/oauth2/sign_in?rd=%2Fwiki")
	body, _ := io.ReadAll(resp.Body)
	page := string(body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`<html lang="en">`, `action="/oauth2/start"`, `name="provider" value="oidc"`, `name="rd" value="/wiki"`, "Sign in with OpenID Connect", "<button"} {
		if !strings.Contains(page, want) {
			t.Errorf("sign-in page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("sign-in page must work without JavaScript")
	}
	if resp.Header.Get("Content-Security-Policy") == "" || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("sign-in page lacks security headers")
	}
}

func TestCallbackFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(claims map[string]any)
		unsign bool
	}{
		{name: "nonce mismatch", mutate: func(c map[string]any) { c["nonce"] = "not-the-nonce" }},
		{name: "nonce missing", mutate: func(c map[string]any) { delete(c, "nonce") }},
		{name: "expired ID token", mutate: func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }},
		{name: "wrong audience", mutate: func(c map[string]any) { c["aud"] = "someone-else" }},
		{name: "wrong issuer", mutate: func(c map[string]any) { c["iss"] = "https://evil.example" }},
		{name: "bad signature", unsign: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := testutil.StartGateway(t, testutil.GatewayConfig{})
			if tt.mutate != nil {
				g.IdP.SetMutateIDToken(tt.mutate)
			}
			if tt.unsign {
				if err := g.IdP.SignWithUnknownKey(true); err != nil {
					t.Fatal(err)
				}
			}
			callback := g.StartLogin(t, "/secret", "alice")
			resp := testutil.Do(t, g.Client, callback, "Accept", "text/html")
			if resp.StatusCode < 400 {
				t.Fatalf("callback status = %d, want an error", resp.StatusCode)
			}
			body, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(body), "Try again") {
				t.Errorf("error page lacks a Try again link: %s", body)
			}
			if resp := g.Get(t, "/secret"); resp.StatusCode != http.StatusFound {
				t.Errorf("after a failed login, GET /secret = %d, want 302 to sign in (no session)", resp.StatusCode)
			}
		})
	}
}

func TestCallbackStateChecks(t *testing.T) {
	t.Parallel()
	shared := testutil.StartGateway(t, testutil.GatewayConfig{})
	// fresh returns the gateway with a browser of its own, not logged in.
	fresh := func(t *testing.T) *testutil.Gateway {
		g := *shared
		g.Client = testutil.NewBrowser(t)
		return &g
	}

	t.Run("missing state", func(t *testing.T) {
		g := fresh(t)
		resp := g.Get(t, "/oauth2/callback?code=abc")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", resp.StatusCode)
		}
	})
	t.Run("wrong state", func(t *testing.T) {
		g := fresh(t)
		callback := g.StartLogin(t, "/", "alice")
		u, _ := url.Parse(callback)
		q := u.Query()
		q.Set("state", strings.Repeat("A", 43))
		u.RawQuery = q.Encode()
		if resp := testutil.Do(t, g.Client, u.String()); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status = %d, want 400", resp.StatusCode)
		}
	})
	t.Run("state from another browser", func(t *testing.T) {
		g := fresh(t)
		callback := g.StartLogin(t, "/", "alice")
		other := testutil.NewBrowser(t)
		if resp := testutil.Do(t, other, callback); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status = %d, want 400 (no flow cookie in this browser)", resp.StatusCode)
		}
	})
	t.Run("replayed callback", func(t *testing.T) {
		g := fresh(t)
		callback := g.StartLogin(t, "/", "alice")
		g.FinishLogin(t, callback)
		if resp := testutil.Do(t, g.Client, callback); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("replayed callback status = %d, want 400", resp.StatusCode)
		}
	})
	t.Run("replayed code with a fresh state", func(t *testing.T) {
		g := fresh(t)
		first := g.StartLogin(t, "/", "alice")
		g.FinishLogin(t, first)
		oldCode, _ := url.Parse(first)
		// Sign out so a new login starts, then replay the old code with the
		// new flow's state.
		g.SignOut(t, "/")
		second, _ := url.Parse(g.StartLogin(t, "/", "alice"))
		q := second.Query()
		q.Set("code", oldCode.Query().Get("code"))
		second.RawQuery = q.Encode()
		resp := testutil.Do(t, g.Client, second.String())
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("replayed code status = %d, want 400", resp.StatusCode)
		}
	})
	// RFC 9207: the development provider names itself in every response.
	for _, c := range []struct {
		name string
		edit func(q url.Values)
	}{
		{"response from another issuer", func(q url.Values) { q.Set("iss", "https://evil.example") }},
		{"issuer missing though advertised", func(q url.Values) { q.Del("iss") }},
		{"issuer repeated", func(q url.Values) { q.Add("iss", q.Get("iss")) }},
		{"error response from another issuer", func(q url.Values) {
			q.Del("code")
			q.Set("error", "access_denied")
			q.Set("iss", "https://evil.example")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := fresh(t)
			u, _ := url.Parse(g.StartLogin(t, "/", "alice"))
			q := u.Query()
			if q.Get("iss") != g.IdP.Issuer() {
				t.Fatalf("callback iss = %q, want %q", q.Get("iss"), g.IdP.Issuer())
			}
			c.edit(q)
			u.RawQuery = q.Encode()
			before := g.IdP.TokenCalls() // subtests run one at a time
			resp := testutil.Do(t, g.Client, u.String())
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "invalid_issuer") {
				t.Errorf("status = %d, body %q; want 400 invalid_issuer", resp.StatusCode, body)
			}
			if calls := g.IdP.TokenCalls() - before; calls != 0 {
				t.Errorf("token endpoint called %d times for a refused response", calls)
			}
		})
	}
	t.Run("provider error", func(t *testing.T) {
		g := fresh(t)
		callback := g.StartLogin(t, "/", "alice")
		u, _ := url.Parse(callback)
		q := u.Query()
		q.Del("code")
		q.Set("error", "access_denied")
		u.RawQuery = q.Encode()
		resp := testutil.Do(t, g.Client, u.String())
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "Try again") {
			t.Errorf("status = %d, body %q; want 403 page with Try again", resp.StatusCode, body)
		}
	})
}

func TestSeveralTabsLogInAtOnce(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	first := g.StartLogin(t, "/one", "alice")
	second := g.StartLogin(t, "/two", "alice")
	// Finish in the opposite order: each flow has its own cookie.
	if echo := testutil.DecodeEcho(t, g.FinishLogin(t, second)); echo.Path != "/two" {
		t.Errorf("second tab landed on %q", echo.Path)
	}
	if echo := testutil.DecodeEcho(t, g.FinishLogin(t, first)); echo.Path != "/one" {
		t.Errorf("first tab landed on %q", echo.Path)
	}
}

func TestOpenRedirectAfterLogin(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.WhitelistDomains = []string{"app.example.com"}
	}})
	for _, rd := range []string{"//evil.com/x", "/\\evil.com", "https://evil.com/", "/%2f%2fevil.com", "https://app.example.com@evil.com/"} {
		resp := g.Get(t, "/oauth2/start?rd="+url.QueryEscape(rd))
		callback := g.IdP.Authorize(t, g.Client, testutil.Location(t, resp), "alice")
		resp = testutil.Do(t, g.Client, callback)
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("rd %q: callback status %d", rd, resp.StatusCode)
		}
		if loc := resp.Header.Get("Location"); loc != "/" {
			t.Errorf("rd %q: redirected to %q, want /", rd, loc)
		}
	}
	resp := g.Get(t, "/oauth2/start?rd="+url.QueryEscape("https://app.example.com/welcome"))
	callback := g.IdP.Authorize(t, g.Client, testutil.Location(t, resp), "alice")
	resp = testutil.Do(t, g.Client, callback)
	if loc := resp.Header.Get("Location"); loc != "https://app.example.com/welcome" {
		t.Errorf("allowed host: redirected to %q", loc)
	}
}

func TestSessionCookieAttacks(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	g.Login(t, "alice", "/")
	u, _ := url.Parse(g.Server.URL)
	cookies := g.Client.Jar.Cookies(u)
	var session *http.Cookie
	for _, c := range cookies {
		if c.Name == "_gatehouse" {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("no _gatehouse cookie after login; have %v", cookies)
	}

	get := func(t *testing.T, srv string, value string) int {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv+"/", nil)
		req.Header.Set("Accept", "application/json")
		req.AddCookie(&http.Cookie{Name: "_gatehouse", Value: value})
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(t, g.Server.URL, session.Value); got != http.StatusOK {
		t.Fatalf("genuine cookie: status %d, want 200", got)
	}
	t.Run("tampered", func(t *testing.T) {
		v := []byte(session.Value)
		v[len(v)/2] ^= 0x01
		if v[len(v)/2] == session.Value[len(v)/2] {
			t.Fatal("tampering did not change the cookie")
		}
		if got := get(t, g.Server.URL, string(v)); got != http.StatusUnauthorized {
			t.Errorf("tampered cookie: status %d, want 401", got)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		if got := get(t, g.Server.URL, session.Value[:len(session.Value)/2]); got != http.StatusUnauthorized {
			t.Errorf("truncated cookie: status %d, want 401", got)
		}
	})
	t.Run("another secret", func(t *testing.T) {
		other := testutil.StartGateway(t, testutil.GatewayConfig{IdPServer: g.IdP, Options: func(o *config.Options) {
			o.CookieSecret = "VwR+ffQu8hbenMI2TrXM5CrIscftaV9VgN9VhjsoFIk="
		}})
		if got := get(t, other.Server.URL, session.Value); got != http.StatusUnauthorized {
			t.Errorf("cookie from another secret: status %d, want 401", got)
		}
	})
	t.Run("rotated secret still decodes", func(t *testing.T) {
		rotated := testutil.StartGateway(t, testutil.GatewayConfig{IdPServer: g.IdP, Options: func(o *config.Options) {
			o.CookieSecret = "PTKFicN5j8lipeEqii5jLc5J/9jaTRX3VM6W/CrjNt8="
			o.CookiePreviousSecret = []string{testutil.TestCookieSecret}
		}})
		if got := get(t, rotated.Server.URL, session.Value); got != http.StatusOK {
			t.Errorf("cookie under a previous secret: status %d, want 200", got)
		}
	})
}

func TestExpiredSession(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	g := testutil.StartGateway(t, testutil.GatewayConfig{
		Options: func(o *config.Options) { o.CookieExpire = time.Hour },
		Deps:    gateway.Deps{Now: clk.Now},
	})
	g.Login(t, "alice", "/")
	if resp := g.Get(t, "/", "Accept", "application/json"); resp.StatusCode != http.StatusOK {
		t.Fatalf("fresh session: status %d", resp.StatusCode)
	}
	clk.Advance(time.Hour + time.Minute)
	if resp := g.Get(t, "/", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("expired session: status %d, want 401", resp.StatusCode)
	}
}

func TestSpoofedIdentityHeadersAreStripped(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	spoof := []string{
		"X-Forwarded-User", "mallory",
		"X_Forwarded_User", "mallory",
		"x-forwarded-email", "mallory@evil.com",
		"X_FORWARDED_EMAIL", "mallory@evil.com",
		"X-Forwarded-Groups", "admins",
		"X-Forwarded-Preferred-Username", "mallory",
		"X-Forwarded-Access-Token", "forged",
		"X-Forwarded-User-Uuid", "forged",
		"X-Auth-Request-User", "mallory",
		"X_Auth_Request_Email", "mallory@evil.com",
	}
	// Without a session, spoofed headers do not authenticate.
	if resp := g.Get(t, "/", spoof...); resp.StatusCode != http.StatusFound {
		t.Fatalf("spoofed headers without a session: status %d, want 302", resp.StatusCode)
	}
	g.Login(t, "bob", "/")
	echo := testutil.DecodeEcho(t, g.Get(t, "/", spoof...))
	for name, values := range echo.Header {
		for _, v := range values {
			if strings.Contains(v, "mallory") || v == "forged" || (v == "admins") {
				t.Errorf("upstream received spoofed %s: %q", name, v)
			}
		}
	}
	if got := echo.Header.Get("X-Forwarded-User"); got != devidp.Subject("bob") {
		t.Errorf("X-Forwarded-User = %q, want bob's subject", got)
	}
	if got := echo.Header.Get("X-Forwarded-Groups"); got != "engineering" {
		t.Errorf("X-Forwarded-Groups = %q, want engineering", got)
	}
}

func TestAuthRequestEndpoint(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.PassAccessToken = true
		o.ReverseProxy = true // the test client is on loopback: a trusted proxy
	}})
	if resp := g.Get(t, "/oauth2/auth"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no session: status %d, want 401", resp.StatusCode)
	}
	if resp := g.Get(t, "/oauth2/auth", "X-Forwarded-User", "mallory"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("spoofed header, no session: status %d, want 401", resp.StatusCode)
	}
	g.Login(t, "alice", "/")
	resp := g.Get(t, "/oauth2/auth", "X-Auth-Request-User", "mallory", "X-Forwarded-Uri", "/app")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, want 202", resp.StatusCode)
	}
	want := map[string]string{
		"X-Auth-Request-User":               devidp.Subject("alice"),
		"X-Auth-Request-Email":              "alice@example.com",
		"X-Auth-Request-Groups":             "admins,engineering",
		"X-Auth-Request-Preferred-Username": "alice",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if resp.Header.Get("X-Auth-Request-Access-Token") == "" {
		t.Error("no X-Auth-Request-Access-Token with --pass-access-token")
	}
	for _, tt := range []struct {
		query string
		want  int
	}{
		{"?allowed_groups=admins", http.StatusAccepted},
		{"?allowed_groups=ops,engineering", http.StatusAccepted},
		{"?allowed_groups=ops", http.StatusForbidden},
		{"?allowed_emails=alice@example.com", http.StatusAccepted},
		{"?allowed_emails=bob@example.com", http.StatusForbidden},
	} {
		if got := g.Get(t, "/oauth2/auth"+tt.query).StatusCode; got != tt.want {
			t.Errorf("/oauth2/auth%s = %d, want %d", tt.query, got, tt.want)
		}
	}
}

func TestUserinfoAndSignOut(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	if resp := g.Get(t, "/oauth2/userinfo"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("userinfo without session: %d, want 401", resp.StatusCode)
	}
	g.Login(t, "alice", "/")
	resp := g.Get(t, "/oauth2/userinfo")
	raw, _ := io.ReadAll(resp.Body)
	var info map[string]any
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatalf("userinfo: %v: %s", err, raw)
	}
	if info["email"] != "alice@example.com" || info["user"] != devidp.Subject("alice") || info["provider"] != "oidc" {
		t.Errorf("userinfo = %v", info)
	}
	if strings.Contains(strings.ToLower(string(raw)), "token") {
		t.Errorf("userinfo leaks tokens: %s", raw)
	}

	resp = g.SignOut(t, "")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign_out status %d, want 302 to the provider's end_session", resp.StatusCode)
	}
	loc, _ := resp.Location()
	if !strings.HasPrefix(loc.String(), g.IdP.Issuer()+"/end_session") || loc.Query().Get("id_token_hint") == "" {
		t.Errorf("sign_out redirect = %s, want the provider's end_session with id_token_hint", loc)
	}
	if resp := g.Get(t, "/", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after sign-out: status %d, want 401", resp.StatusCode)
	}
}

func TestEmailDomainRule(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.EmailDomains = []string{"example.com"}
	}})
	testutil.DecodeEcho(t, g.Login(t, "alice", "/"))

	b := testutil.NewBrowser(t)
	g2 := *g
	g2.Client = b
	callback := g2.StartLogin(t, "/", "bob")
	resp := testutil.Do(t, b, callback, "Accept", "text/html")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob@other.org: callback status %d, want 403", resp.StatusCode)
	}
	if resp := testutil.Do(t, b, g.Server.URL+"/", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("refused user got a session: status %d", resp.StatusCode)
	}
}

func TestLargeSessionIsChunked(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	groups := make([]string, 300)
	for i := range groups {
		groups[i] = fmt.Sprintf("team-%03d-with-a-long-name", i)
	}
	if err := g.IdP.SetUser(devidp.User{Username: "alice", Email: "alice@example.com", EmailVerified: true, Groups: groups}); err != nil {
		t.Fatal(err)
	}
	echo := testutil.DecodeEcho(t, g.Login(t, "alice", "/"))
	if got := echo.Header.Get("X-Forwarded-Groups"); got != strings.Join(groups, ",") {
		t.Errorf("groups after chunked round trip: got %d bytes, want %d", len(got), len(strings.Join(groups, ",")))
	}
	u, _ := url.Parse(g.Server.URL)
	chunks := 0
	for _, c := range g.Client.Jar.Cookies(u) {
		if strings.HasPrefix(c.Name, "_gatehouse_") && !strings.Contains(c.Name, "flow") {
			chunks++
			if len(c.Name)+len(c.Value) > 4096 {
				t.Errorf("chunk %s is %d bytes", c.Name, len(c.Name)+len(c.Value))
			}
		}
	}
	if chunks < 2 {
		t.Errorf("session of %d groups stored in %d chunks, want several", len(groups), chunks)
	}
}

// TestSessionTooLargeForCookies: a login whose session cannot fit the
// cookie store's chunks (thousands of groups) ends on a page that says so
// and what the administrator can do, not on a misleading "try again".
func TestSessionTooLargeForCookies(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	groups := make([]string, 3000)
	for i := range groups {
		groups[i] = fmt.Sprintf("g-%x", rand.Uint64()) // random: DEFLATE cannot shrink them
	}
	if err := g.IdP.SetUser(devidp.User{Username: "alice", Email: "alice@example.com", EmailVerified: true, Groups: groups}); err != nil {
		t.Fatal(err)
	}
	resp := testutil.Do(t, g.Client, g.StartLogin(t, "/", "alice"))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "session_too_large") ||
		!strings.Contains(string(body), "Redis session store") {
		t.Fatalf("status %d, body %q; want 500 session_too_large naming the Redis store", resp.StatusCode, body)
	}
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, g.Options.CookieName) && !strings.Contains(c.Name, "flow") && c.MaxAge >= 0 {
			t.Errorf("a session cookie %s was set for a session that could not be stored", c.Name)
		}
	}
}

func TestWebSocketPassThrough(t *testing.T) {
	t.Parallel()
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "want upgrade", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Seen-User: %s\r\n\r\n", r.Header.Get("X-Forwarded-User"))
		_ = rw.Flush()
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		fmt.Fprintf(rw, "echo: %s", line)
		_ = rw.Flush()
	})
	g := testutil.StartGateway(t, testutil.GatewayConfig{Upstream: upstream})
	callback := g.StartLogin(t, "/ws", "alice")
	resp := testutil.Do(t, g.Client, callback)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("callback %d", resp.StatusCode)
	}
	u, _ := url.Parse(g.Server.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	var cookie []string
	for _, c := range g.Client.Jar.Cookies(u) {
		cookie = append(cookie, c.Name+"="+c.Value)
	}
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: %s\r\n\r\n", u.Host, strings.Join(cookie, "; "))
	br := bufio.NewReader(conn)
	wsResp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if wsResp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade status %d, want 101", wsResp.StatusCode)
	}
	if got := wsResp.Header.Get("X-Seen-User"); got != devidp.Subject("alice") {
		t.Errorf("upstream saw X-Forwarded-User %q on the upgrade", got)
	}
	fmt.Fprintf(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: hello\n" {
		t.Errorf("through the tunnel: %q, %v", line, err)
	}
}

func TestPingAndReady(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	for _, p := range []string{"/ping", "/ready"} {
		if resp := g.Get(t, p); resp.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d", p, resp.StatusCode)
		}
	}
	if resp := g.Get(t, "/oauth2/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown /oauth2 route: status %d, want 404", resp.StatusCode)
	}
}

func TestTransparentRefresh(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	g := testutil.StartGateway(t, testutil.GatewayConfig{
		IdP:     devidp.Options{AccessTokenTTL: 10 * time.Minute, RefreshTokenRotation: true, Now: clk.Now},
		Options: func(o *config.Options) { o.PassAccessToken = true; o.RefreshWindow = time.Minute },
		Deps:    gateway.Deps{Now: clk.Now},
	})
	first := testutil.DecodeEcho(t, g.Login(t, "alice", "/")).Header.Get("X-Forwarded-Access-Token")
	clk.Advance(9*time.Minute + 30*time.Second)
	second := testutil.DecodeEcho(t, g.Get(t, "/")).Header.Get("X-Forwarded-Access-Token")
	if second == "" || second == first {
		t.Fatalf("access token not refreshed inside the refresh window")
	}
	if got := g.IdP.RefreshCalls(); got != 1 {
		t.Errorf("refresh calls = %d, want 1", got)
	}
	// A refresh the provider rejects ends the session.
	g.IdP.RevokeAllRefreshTokens()
	clk.Advance(10 * time.Minute)
	if resp := g.Get(t, "/", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after invalid_grant: status %d, want 401", resp.StatusCode)
	}
	if resp := g.Get(t, "/"); resp.StatusCode != http.StatusFound {
		t.Errorf("browser after invalid_grant: status %d, want 302 to sign in", resp.StatusCode)
	}
}

func TestOIDCUserClaim(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ claim, want string }{
		{"sub", devidp.Subject("alice")},
		{"email", "alice@example.com"},
		{"preferred_username", "alice"},
		{"no_such_claim", devidp.Subject("alice")},
	} {
		g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) { o.OIDCUserClaim = tt.claim }})
		echo := testutil.DecodeEcho(t, g.Login(t, "alice", "/"))
		if got := echo.Header.Get("X-Forwarded-User"); got != tt.want {
			t.Errorf("--oidc-user-claim %s: X-Forwarded-User = %q, want %q", tt.claim, got, tt.want)
		}
	}
}
