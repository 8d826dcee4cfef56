package proxy_test

import (
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/jwtissuer"
)

// taggedEcho is the echo upstream answering with X-Upstream: tag.
func taggedEcho(tag string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", tag)
		testutil.EchoUpstream().ServeHTTP(w, r)
	})
}

// routesStack is a gateway with two upstreams (A, the top-level one, and
// B), a machine-token issuer, and browsers signed in as alice (groups
// admins, engineering) and bob (engineering).
type routesStack struct {
	g          *testutil.Gateway
	b          *httptest.Server
	issuer     *jwtissuer.Issuer
	alice, bob *http.Client
}

func startRoutes(t *testing.T, extra func(o *config.Options)) *routesStack {
	t.Helper()
	s := &routesStack{issuer: jwtissuer.Start(t)}
	s.b = httptest.NewServer(taggedEcho("B"))
	t.Cleanup(s.b.Close)
	s.g = testutil.StartGateway(t, testutil.GatewayConfig{Upstream: taggedEcho("A"), Options: func(o *config.Options) {
		o.ReverseProxy = true
		o.Routes = []config.RouteOptions{
			{Name: "health", Path: "/healthz", Public: true},
			{Name: "grafana", Host: "grafana.corp.example", Allow: config.AllowOptions{Groups: []string{"admins"}}},
			{Name: "admin", Path: "/admin/", Upstream: s.b.URL, Allow: config.AllowOptions{Groups: []string{"admins"}}},
			{Name: "b-app", Path: "/b/", Upstream: s.b.URL, StripPrefix: true},
			{Name: "api", Path: "/api/", API: true, Bearer: true, Allow: config.AllowOptions{Groups: []string{"deployers", "admins"}}},
			{Name: "forwarded-api", Path: "/fwd/", Bearer: true, ForwardBearer: true},
		}
		o.JWTBearer = []config.JWTBearerOptions{{IssuerURL: s.issuer.URL(), Audiences: []string{"gatehouse"}}}
		if extra != nil {
			extra(o)
		}
	}})
	waitReady(t, s.g)
	s.alice = s.login(t, "alice")
	s.bob = s.login(t, "bob")
	return s
}

// waitReady waits (bounded) for /ready, which waits for the jwt_bearer
// issuer's discovery.
func waitReady(t *testing.T, g *testutil.Gateway) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp := testutil.Do(t, http.DefaultClient, g.Server.URL+"/ready")
		if resp.StatusCode == http.StatusOK {
			return
		}
		time.Sleep(10 * time.Millisecond) // polling readiness, bounded
	}
	t.Fatal("/ready never answered 200")
}

func (s *routesStack) login(t *testing.T, user string) *http.Client {
	t.Helper()
	s.g.Client = testutil.NewBrowser(t)
	s.g.Login(t, user, "/")
	return s.g.Client
}

func (s *routesStack) get(t *testing.T, c *http.Client, path string, header ...string) *http.Response {
	t.Helper()
	return testutil.Do(t, c, s.g.Server.URL+path, header...)
}

func TestRoutesEndToEnd(t *testing.T) {
	t.Parallel()
	s := startRoutes(t, nil)
	anon := testutil.NewBrowser(t)
	htmlAccept := []string{"Accept", "text/html"}

	// Public: no session needed; client identity headers never pass.
	resp := s.get(t, anon, "/healthz/live", "X-Forwarded-User", "admin", "X-Auth-Request-Email", "boss@example.com")
	e := testutil.DecodeEcho(t, resp)
	if resp.Header.Get("X-Upstream") != "A" || e.Header.Get("X-Forwarded-User") != "" || e.Header.Get("X-Auth-Request-Email") != "" {
		t.Errorf("public route: upstream %q, headers %v", resp.Header.Get("X-Upstream"), e.Header)
	}
	// Not public: near misses of the public prefix.
	for _, p := range []string{"/healthzz", "/HEALTHZ", "/healthz./x", "/admin/"} {
		if resp := s.get(t, anon, p, htmlAccept...); resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/oauth2/sign_in") {
			t.Errorf("anonymous %s: status %d, want 302 to sign in", p, resp.StatusCode)
		}
	}
	// Dot segments: redirected to the cleaned path, judged there.
	for _, p := range []string{"/healthz/../admin/", "/healthz//..//admin/"} {
		if resp := s.get(t, anon, p, htmlAccept...); resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/admin/" {
			t.Errorf("anonymous %s: status %d to %q, want a redirect to /admin/", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	for _, p := range []string{"/healthz/..%2fadmin/", "/healthz;/../admin/", "/healthz/%252e%252e/admin/", "/healthz/..%5cadmin"} {
		if resp := s.get(t, anon, p, htmlAccept...); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("anonymous %s: status %d, want 400", p, resp.StatusCode)
		}
	}

	// admin: alice (admins) reaches B; bob (engineering) gets the forbidden page naming him.
	resp = s.get(t, s.alice, "/admin/users?x=1")
	e = testutil.DecodeEcho(t, resp)
	if resp.Header.Get("X-Upstream") != "B" || e.Path != "/admin/users?x=1" || e.Header.Get("X-Forwarded-Email") != "alice@example.com" {
		t.Errorf("alice on /admin/: upstream %q, %+v", resp.Header.Get("X-Upstream"), e)
	}
	// Encoded dot segments: served as the cleaned path, under its route.
	if resp := s.get(t, anon, "/healthz/%2e%2e/admin/", htmlAccept...); resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/oauth2/sign_in") {
		t.Errorf("anonymous /healthz/%%2e%%2e/admin/: %d, want 302 to sign in", resp.StatusCode)
	}
	resp = s.get(t, s.alice, "/healthz/%2e%2e/admin/x")
	if e := testutil.DecodeEcho(t, resp); resp.Header.Get("X-Upstream") != "B" || e.Path != "/admin/x" {
		t.Errorf("alice on /healthz/%%2e%%2e/admin/x: upstream %q, path %q", resp.Header.Get("X-Upstream"), e.Path)
	}
	if resp := s.get(t, s.bob, "/healthz/%2e%2e/admin/x", htmlAccept...); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob on /healthz/%%2e%%2e/admin/x: %d, want 403", resp.StatusCode)
	}
	resp = s.get(t, s.alice, "/ADMIN/x") // a case-insensitive upstream's /admin/x: the admin route
	if e := testutil.DecodeEcho(t, resp); resp.Header.Get("X-Upstream") != "B" || e.Path != "/ADMIN/x" {
		t.Errorf("alice on /ADMIN/x: upstream %q, path %q", resp.Header.Get("X-Upstream"), e.Path)
	}
	if resp := s.get(t, s.bob, "/Admin./x", htmlAccept...); resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob on /Admin./x: %d, want 403", resp.StatusCode)
	}
	resp = s.get(t, s.bob, "/admin/users", htmlAccept...)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "bob@other.org") ||
		!strings.Contains(string(body), "Use another account") || !strings.Contains(string(body), "Sign out") {
		t.Errorf("bob on /admin/: status %d:\n%s", resp.StatusCode, body)
	}
	// "Use another account": the form signs bob out, then starts a login
	// that makes the provider ask for the account (prompt=login).
	m := regexp.MustCompile(`(?s)<form method="post" action="/oauth2/sign_out">\s*<input type="hidden" name="rd" value="([^"]*)">\s*<input type="hidden" name="csrf" value="([^"]*)">`).FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no 'Use another account' form:\n%s", body)
	}
	form := url.Values{"rd": {html.UnescapeString(m[1])}, "csrf": {html.UnescapeString(m[2])}}
	resp = send(t, s.bob, http.MethodPost, s.g.Server.URL+"/oauth2/sign_out", strings.NewReader(form.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", s.g.Server.URL, "Sec-Fetch-Site", "same-origin")
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/oauth2/start?") {
		t.Fatalf("use another account: %d to %q, want /oauth2/start", resp.StatusCode, loc)
	}
	resp = testutil.Do(t, s.bob, s.g.Server.URL+resp.Header.Get("Location"))
	if auth, _ := url.Parse(resp.Header.Get("Location")); auth == nil || auth.Query().Get("prompt") != "login" || !strings.Contains(auth.Query().Get("redirect_uri"), "/oauth2/callback") {
		t.Errorf("use another account started %q, want the provider with prompt=login", resp.Header.Get("Location"))
	}
	if resp := s.get(t, s.bob, "/app", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bob is still signed in after 'Use another account': %d", resp.StatusCode)
	}
	s.bob = s.login(t, "bob")
	resp = s.get(t, s.bob, "/admin/users", "Accept", "application/json")
	if got := decodeJSON(t, resp); resp.StatusCode != http.StatusForbidden || got["error"] != "forbidden" || got["route"] != "admin" {
		t.Errorf("bob on /admin/ as API client: %d %v", resp.StatusCode, got)
	}
	// Both reach the default route (upstream A) under the global rules.
	for name, c := range map[string]*http.Client{"alice": s.alice, "bob": s.bob} {
		if resp := s.get(t, c, "/administrator"); resp.Header.Get("X-Upstream") != "A" || resp.StatusCode != http.StatusOK {
			t.Errorf("%s on /administrator: %d from %q, want 200 from A", name, resp.StatusCode, resp.Header.Get("X-Upstream"))
		}
	}

	// strip_prefix, and a route's own upstream gets its own Host.
	resp = s.get(t, s.bob, "/b/x/y?q=1")
	e = testutil.DecodeEcho(t, resp)
	if bURL, _ := url.Parse(s.b.URL); e.Path != "/x/y?q=1" || e.Host != bURL.Host {
		t.Errorf("strip_prefix: path %q host %q", e.Path, e.Host)
	}
}

func decodeJSON(t *testing.T, resp *http.Response) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("status %d: not JSON: %v", resp.StatusCode, err)
	}
	return m
}

func TestRoutesBearer(t *testing.T) {
	t.Parallel()
	s := startRoutes(t, nil)
	anon := testutil.NewBrowser(t)
	is := s.issuer
	deployer := is.Claims("svc-deploy", "gatehouse")
	deployer["groups"] = []string{"deployers"}
	reader := is.Claims("svc-read", "gatehouse")
	reader["groups"] = []string{"readers"}

	// No credentials on an API route: 401 JSON with WWW-Authenticate, never a redirect.
	resp := s.get(t, anon, "/api/v1/deploy", "Accept", "text/html")
	if got := decodeJSON(t, resp); resp.StatusCode != http.StatusUnauthorized || got["error"] != "unauthorized" || resp.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("anonymous API: %d %v %q", resp.StatusCode, got, resp.Header.Get("WWW-Authenticate"))
	}
	// A valid token in the allowed group reaches the upstream as its subject, without the token.
	resp = s.get(t, anon, "/api/v1/deploy", "Authorization", "Bearer "+is.Sign(t, deployer))
	e := testutil.DecodeEcho(t, resp)
	if e.Header.Get("X-Forwarded-User") != "svc-deploy" || e.Header.Get("Authorization") != "" || e.Header.Get("X-Forwarded-Provider") != "jwt_bearer" {
		t.Errorf("deployer token upstream headers: %v", e.Header)
	}
	if c := resp.Header.Values("Set-Cookie"); len(c) != 0 {
		t.Errorf("a bearer request got cookies: %v", c)
	}
	// The same allow rule refuses another group.
	resp = s.get(t, anon, "/api/v1/deploy", "Authorization", "Bearer "+is.Sign(t, reader))
	if got := decodeJSON(t, resp); resp.StatusCode != http.StatusForbidden || got["route"] != "api" {
		t.Errorf("reader token: %d %v", resp.StatusCode, got)
	}
	// Invalid tokens: 401 invalid_token.
	expired := is.Claims("svc", "gatehouse")
	expired["exp"] = int64(1)
	for name, tok := range map[string]string{
		"expired": is.Sign(t, expired), "none": is.SignNone(t, deployer), "hs256": is.SignHS256WithPublicKey(t, deployer),
	} {
		resp := s.get(t, anon, "/api/v1/deploy", "Authorization", "Bearer "+tok, "Accept", "text/html")
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
			t.Errorf("%s token: %d %q", name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// forward_bearer sends the token on.
	tok := is.Sign(t, deployer)
	e = testutil.DecodeEcho(t, s.get(t, anon, "/fwd/x", "Authorization", "Bearer "+tok))
	if e.Header.Get("Authorization") != "Bearer "+tok {
		t.Errorf("forward_bearer: Authorization %q", e.Header.Get("Authorization"))
	}
	// A route without bearer ignores tokens: a browser is sent to sign in.
	resp = s.get(t, anon, "/admin/", "Authorization", "Bearer "+tok, "Accept", "text/html")
	if resp.StatusCode != http.StatusFound {
		t.Errorf("token on a non-bearer route: %d, want 302", resp.StatusCode)
	}
	// /oauth2/auth accepts bearer tokens for bearer routes.
	resp = s.get(t, anon, "/oauth2/auth", "X-Forwarded-Uri", "/api/v1/deploy", "Authorization", "Bearer "+is.Sign(t, deployer))
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Auth-Request-User") != "svc-deploy" {
		t.Errorf("/oauth2/auth with a token: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestRoutesForwardAuth(t *testing.T) {
	t.Parallel()
	s := startRoutes(t, nil)
	anon := testutil.NewBrowser(t)
	for _, tc := range []struct {
		name   string
		c      *http.Client
		header []string
		want   int
	}{
		{"public", anon, []string{"X-Forwarded-Uri", "/healthz"}, http.StatusAccepted},
		{"public by X-Original-URL", anon, []string{"X-Original-URL", "http://app.example/healthz/x"}, http.StatusAccepted},
		{"anonymous admin", anon, []string{"X-Forwarded-Uri", "/admin/"}, http.StatusUnauthorized},
		{"alice admin", s.alice, []string{"X-Forwarded-Uri", "/admin/"}, http.StatusAccepted},
		{"bob admin", s.bob, []string{"X-Forwarded-Uri", "/admin/"}, http.StatusForbidden},
		{"bob admin by X-Original-URL", s.bob, []string{"X-Original-URL", "https://app.example/admin/x"}, http.StatusForbidden},
		{"bob admin cleaned", s.bob, []string{"X-Forwarded-Uri", "/healthz/../admin/"}, http.StatusForbidden},
		{"bob ambiguous", s.bob, []string{"X-Forwarded-Uri", "/healthz/..%2Fadmin/"}, http.StatusBadRequest},
		{"bob elsewhere", s.bob, []string{"X-Forwarded-Uri", "/wiki"}, http.StatusAccepted},
		{"bob on grafana", s.bob, []string{"X-Forwarded-Host", "Grafana.Corp.Example.:443", "X-Forwarded-Uri", "/d/1"}, http.StatusForbidden},
		{"alice on grafana", s.alice, []string{"X-Forwarded-Host", "grafana.corp.example", "X-Forwarded-Uri", "/d/1"}, http.StatusAccepted},
		{"bob on grafana's health", s.bob, []string{"X-Forwarded-Host", "grafana.corp.example", "X-Forwarded-Uri", "/healthz"}, http.StatusAccepted},
		{"alice allowed_groups narrows", s.alice, []string{"X-Forwarded-Uri", "/wiki"}, http.StatusAccepted},
	} {
		resp := s.get(t, tc.c, "/oauth2/auth", tc.header...)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if tc.name == "public" && resp.Header.Get("X-Auth-Request-User") != "" {
			t.Errorf("public route answered with identity headers: %v", resp.Header)
		}
	}
	// Reverse-proxy mode, the route chosen by the Host header itself (the
	// cookie jar keys cookies by Host: send the gateway's by hand).
	cookie := func(c *http.Client) string {
		u, _ := url.Parse(s.g.Server.URL)
		var parts []string
		for _, ck := range c.Jar.Cookies(u) {
			parts = append(parts, ck.Name+"="+ck.Value)
		}
		return strings.Join(parts, "; ")
	}
	resp := send(t, http.DefaultClient, http.MethodGet, s.g.Server.URL+"/d/1", nil, "Host", "GRAFANA.corp.example", "Accept", "application/json", "Cookie", cookie(s.bob))
	if got := decodeJSON(t, resp); resp.StatusCode != http.StatusForbidden || got["route"] != "grafana" {
		t.Errorf("bob with Host grafana.corp.example: %d %v", resp.StatusCode, got)
	}
	if resp := send(t, http.DefaultClient, http.MethodGet, s.g.Server.URL+"/d/1", nil, "Host", "grafana.corp.example", "Cookie", cookie(s.alice)); resp.StatusCode != http.StatusOK {
		t.Errorf("alice with Host grafana.corp.example: %d", resp.StatusCode)
	}
	if resp := s.get(t, s.bob, "/oauth2/auth?allowed_groups=admins", "X-Forwarded-Uri", "/wiki"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("allowed_groups with routes: %d, want 403", resp.StatusCode)
	}
}

// TestRoutesUntrustedForwardedHeaders: from a peer that is not a trusted
// proxy, the headers describing the original request are ignored (the
// route is not chosen by them) and not sent upstream.
func TestRoutesUntrustedForwardedHeaders(t *testing.T) {
	t.Parallel()
	s := startRoutes(t, func(o *config.Options) {
		o.ReverseProxy = false
		o.TrustedProxies = []string{"192.0.2.0/24"}
	})
	// bob claims to ask about /healthz: ignored, the check is about /oauth2/auth (global rules).
	resp := s.get(t, s.bob, "/oauth2/auth", "X-Forwarded-Uri", "/admin/")
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("untrusted X-Forwarded-Uri chose a route: %d", resp.StatusCode)
	}
	anon := testutil.NewBrowser(t)
	if resp := s.get(t, anon, "/oauth2/auth", "X-Original-URL", "/healthz"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("untrusted X-Original-URL made the check public: %d", resp.StatusCode)
	}
	if resp := s.get(t, s.bob, "/dash", "X-Forwarded-Host", "grafana.corp.example"); resp.StatusCode != http.StatusOK {
		t.Errorf("untrusted X-Forwarded-Host chose the grafana route: %d", resp.StatusCode)
	}
	// Host: an untrusted X-Forwarded-Host does not select a host route, and never reaches the upstream.
	e := testutil.DecodeEcho(t, s.get(t, s.bob, "/wiki", "X-Forwarded-Host", "evil.example", "X-Forwarded-Uri", "/healthz",
		"X-Request-Id", "spoofed", "X-Real-IP", "203.0.113.9", "X-Forwarded-For", "203.0.113.9"))
	for _, h := range []string{"X-Forwarded-Uri", "X-Real-Ip"} {
		if v := e.Header.Get(h); v != "" {
			t.Errorf("upstream got untrusted %s: %q", h, v)
		}
	}
	// An untrusted request id is replaced by Gatehouse's own.
	if v := e.Header.Get("X-Request-Id"); v == "spoofed" || len(v) != 32 {
		t.Errorf("upstream got X-Request-Id %q; want a generated one, not the untrusted one", v)
	}
	if v := e.Header.Get("X-Forwarded-Host"); v == "evil.example" {
		t.Errorf("upstream got the untrusted X-Forwarded-Host")
	}
	if v := e.Header.Get("X-Forwarded-For"); strings.Contains(v, "203.0.113.9") {
		t.Errorf("upstream got the untrusted X-Forwarded-For chain: %q", v)
	}
}

// TestRoutesHostsAreReturnAddresses: a login started on a route's host
// may return there (single sign-on across hosts), another host may not.
func TestRoutesHostsAreReturnAddresses(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		// (With --cookie-domain .corp.example the session serves every
		// host; the test's browser talks to 127.0.0.1, so it keeps
		// host-only cookies.)
		o.Routes = []config.RouteOptions{
			{Name: "grafana", Host: "grafana.corp.example"},
			{Name: "previews", Host: "*.preview.corp.example"},
		}
	}})
	for rd, ok := range map[string]bool{
		"https://grafana.corp.example/d/1":      true,
		"https://GRAFANA.corp.example:8443/d/1": true,
		"https://pr-7.preview.corp.example/":    true,
		"https://wiki.corp.example/":            false,
		"https://grafana.corp.example.evil/":    false,
		g.Server.URL + "/x":                     false, // the request's own Host, which no route names
	} {
		resp := g.Get(t, "/oauth2/start?rd="+url.QueryEscape(rd))
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("start: %d", resp.StatusCode)
		}
		callback := g.IdP.Authorize(t, g.Client, testutil.Location(t, resp), "alice")
		resp = testutil.Do(t, g.Client, callback)
		loc := resp.Header.Get("Location")
		if got := strings.EqualFold(loc, rd) || strings.HasPrefix(strings.ToLower(loc), strings.ToLower(rd)); got != ok {
			t.Errorf("login asked to return to %s went to %q (%d)", rd, loc, resp.StatusCode)
		}
	}
}

// TestRoutesDecisionLogsAndSkipJWT: every decision is logged once (debug
// when admitted, info when refused) with the route and the rule, never the
// token; --skip-jwt-bearer-tokens accepts tokens where no route does.
func TestRoutesDecisionLogsAndSkipJWT(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	is := jwtissuer.Start(t)
	g := testutil.StartGateway(t, testutil.GatewayConfig{
		Deps: gateway.Deps{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))},
		Options: func(o *config.Options) {
			o.SkipJWTBearerTokens = true
			o.JWTBearer = []config.JWTBearerOptions{{IssuerURL: is.URL(), Audiences: []string{"gatehouse"}}}
			o.Routes = []config.RouteOptions{{Name: "deploy", Path: "/deploy/", API: true, Allow: config.AllowOptions{Claims: map[string]string{"roles": "deployer"}}}}
		}})
	waitReady(t, g)
	anon := testutil.NewBrowser(t)
	plain := is.Sign(t, is.Claims("svc-a", "gatehouse"))
	deployer := is.Claims("svc-b", "gatehouse")
	deployer["roles"] = []string{"reader", "deployer"}
	deployTok := is.Sign(t, deployer)

	if e := testutil.DecodeEcho(t, testutil.Do(t, anon, g.Server.URL+"/anything", "Authorization", "Bearer "+plain)); e.Header.Get("X-Forwarded-User") != "svc-a" {
		t.Errorf("token on a path no route takes: user %q", e.Header.Get("X-Forwarded-User"))
	}
	if resp := testutil.Do(t, anon, g.Server.URL+"/deploy/x", "Authorization", "Bearer "+plain); resp.StatusCode != http.StatusForbidden {
		t.Errorf("token without the roles claim: %d, want 403", resp.StatusCode)
	}
	if resp := testutil.Do(t, anon, g.Server.URL+"/deploy/x", "Authorization", "Bearer "+deployTok); resp.StatusCode != http.StatusOK {
		t.Errorf("token whose roles list holds deployer: %d, want 200", resp.StatusCode)
	}
	out := logs.String()
	for _, want := range []string{
		`level=INFO msg="access denied" route=deploy`, `default deny`, `user=svc-a provider=jwt_bearer`,
		`level=DEBUG msg="access granted" route=deploy`, `claim matches`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, `msg="access denied"`); n != 1 {
		t.Errorf("%d denial lines for one denial:\n%s", n, out)
	}
	for _, tok := range []string{plain, deployTok, strings.Split(plain, ".")[2]} {
		if strings.Contains(out, tok) {
			t.Fatal("a token reached the logs")
		}
	}
}

// TestRoutesReadyWaitsForIssuer: a jwt_bearer issuer that does not answer
// at start-up keeps /ready at 503 (the log names it) until it does.
func TestRoutesReadyWaitsForIssuer(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	is := jwtissuer.Start(t)
	is.SetDown(true)
	g := testutil.StartGateway(t, testutil.GatewayConfig{
		Deps: gateway.Deps{Logger: slog.New(slog.NewTextHandler(logs, nil))},
		Options: func(o *config.Options) {
			o.JWTBearer = []config.JWTBearerOptions{{IssuerURL: is.URL(), Audiences: []string{"gatehouse"}}}
			o.Routes = []config.RouteOptions{{Name: "api", Path: "/api/", Bearer: true}}
		}})
	if resp := testutil.Do(t, http.DefaultClient, g.Server.URL+"/ready"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/ready with the issuer down: %d, want 503", resp.StatusCode)
	}
	if !strings.Contains(logs.String(), is.URL()) {
		t.Errorf("the log does not name the unreachable issuer:\n%s", logs.String())
	}
	is.SetDown(false)
	waitReady(t, g)
}
