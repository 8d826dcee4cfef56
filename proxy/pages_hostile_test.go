package proxy_test

import (
	"bufio"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
)

// pageMarkers tell which template rendered a page: every file in
// templates/ but the layout must be listed (the test fails otherwise), so
// a new page is walked too.
var pageMarkers = map[string]string{
	"error.html":      `<p class="code">`,
	"sign_in.html":    `<form method="get" action="/oauth2/start">`,
	"sign_out.html":   `<form method="post" action="/oauth2/sign_out">`,
	"signed_out.html": `<h1>You are signed out</h1>`,
	"continue.html":   `<h1>You are signed in</h1>`,
	"forbidden.html":  `Use another account`,
}

func hostilePayloads(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("testdata/hostile-request-data.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := strconv.Unquote(line)
		if err != nil {
			t.Fatalf("testdata: %q: %v", line, err)
		}
		out = append(out, s)
	}
	return out
}

var pageLink = regexp.MustCompile(`(?:href|action|value)="([^"]*)"`)

// checkLinks fails on any link, redirect or markup in resp (body given)
// that the payload could have produced: a link must be a same-site path
// or an address of gate (the gateway's own origin), and so must every rd
// a link carries, recursively; the body must hold no markup the payload
// brought.
func checkLinks(t *testing.T, what string, resp *http.Response, body string, hosts ...string) {
	t.Helper()
	links := []string{resp.Header.Get("Location")}
	if r := resp.Header.Get("Refresh"); r != "" {
		_, u, _ := strings.Cut(r, "url=")
		links = append(links, u)
	}
	for _, m := range pageLink.FindAllStringSubmatch(body, -1) {
		links = append(links, html.UnescapeString(m[1]))
	}
	for len(links) > 0 {
		l := links[0]
		links = links[1:]
		if l == "" || !strings.Contains(l, "/") && !strings.Contains(l, ":") {
			continue // a hidden field's plain value (provider id, token)
		}
		if !safeLink(l, hosts) {
			t.Errorf("%s: unsafe link or redirect %q", what, l)
			continue
		}
		if u, err := url.Parse(l); err == nil {
			if rd := u.Query().Get("rd"); rd != "" {
				links = append(links, rd)
			}
		}
	}
	for _, bad := range []string{"<script", "<svg", "<img", "onerror=", "evil.example", "Set-Cookie: pwn", "pwn=1"} {
		if strings.Contains(strings.ToLower(body), strings.ToLower(bad)) {
			t.Errorf("%s: page carries %q from the request:\n%.400s", what, bad, body)
		}
	}
	// An injected cookie is named pwn; a substring test would also match
	// the random bytes of an encrypted session value now and then.
	injected := resp.Header.Get("Pwn") != ""
	for _, c := range resp.Header.Values("Set-Cookie") {
		name, _, _ := strings.Cut(c, "=")
		injected = injected || strings.EqualFold(strings.TrimSpace(name), "pwn") || strings.Contains(c, "pwn=1")
	}
	if injected {
		t.Errorf("%s: header injection", what)
	}
}

// safeLink reports whether l keeps the browser on the site: a path that no
// browser reads as another host, or an http(s) URL of one of hosts (the
// gateway's own origin, the provider's).
func safeLink(l string, hosts []string) bool {
	for _, r := range l {
		if r < 0x21 || r == 0x7f || r == '\\' || r > 0x7e {
			return false
		}
	}
	if strings.HasPrefix(l, "/") {
		return !strings.HasPrefix(l, "//")
	}
	u, err := url.Parse(l)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil {
		return false
	}
	for _, h := range hosts {
		if g, _ := url.Parse(h); g.Host == u.Host {
			return true
		}
	}
	return false
}

// TestPagesWithHostileRequestData walks every page template (defect 4 and
// its class): each payload of testdata/hostile-request-data.txt is sent,
// in every place a request can carry a return address or describe itself
// through a trusted proxy, to every route that renders a page; no link,
// redirect or markup may come out of it. The 503 page of a Redis outage
// behind --reverse-proxy is the attack run's case.
func TestPagesWithHostileRequestData(t *testing.T) {
	t.Parallel()
	redis := redistest.StartRedis(t)
	down := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.ReverseProxy = true
		o.SessionStore = "redis"
		o.RedisURL = redis.URL()
		o.RedisTimeout = 200 * time.Millisecond
	}})
	// A browser signed in before the outage: its requests reach the store.
	down.Login(t, "alice", "/")
	redis.Stop()
	strict := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.ReverseProxy = true
		o.CookieSameSite = "strict"
		o.ProviderSignOut = false
	}})
	// Refuses everyone at the callback: the forbidden page.
	refusing := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.ReverseProxy = true
		o.EmailDomains = []string{"nobody.example"}
	}})
	seen := map[string]bool{}
	saw503 := false
	get := func(t *testing.T, g *testutil.Gateway, c *http.Client, method, path string, header ...string) {
		t.Helper()
		resp := send(t, c, method, g.Server.URL+path, strings.NewReader(""), append([]string{"Accept", browserAccept}, header...)...)
		b, _ := io.ReadAll(resp.Body)
		body := string(b)
		if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(body, "Try again") {
			saw503 = true
		}
		for name, marker := range pageMarkers {
			if strings.Contains(body, marker) {
				seen[name] = true
			}
		}
		checkLinks(t, method+" "+path, resp, body, g.Server.URL, g.IdP.Issuer())
	}
	for i, p := range hostilePayloads(t) {
		q := url.QueryEscape(p)
		headers := [][]string{
			{"X-Forwarded-Uri", p}, {"X-Original-URI", p}, {"X-Original-URL", p},
			{"X-Auth-Request-Redirect", p}, {"X-Forwarded-Host", p},
		}
		for _, h := range headers {
			if strings.ContainsAny(p, "\r\n") {
				continue // not a header value a client can send
			}
			get(t, down, down.Client, http.MethodGet, "/app", h...)                       // the outage's 503 page
			get(t, down, testutil.NewBrowser(t), http.MethodGet, "/oauth2/sign_in", h...) // sign-in page
			get(t, down, testutil.NewBrowser(t), http.MethodGet, "/oauth2/start?provider=nope", h...)
			get(t, down, testutil.NewBrowser(t), http.MethodGet, "/oauth2/sign_out", h...)
			get(t, down, testutil.NewBrowser(t), http.MethodGet, "/oauth2/callback?state=x", h...)
			get(t, strict, testutil.NewBrowser(t), http.MethodPost, "/oauth2/sign_out", h...) // signed-out page
		}
		for _, path := range []string{
			"/oauth2/sign_in?rd=" + q, "/oauth2/start?provider=nope&rd=" + q, "/oauth2/start?rd=" + q,
			"/oauth2/sign_out?rd=" + q, "/oauth2/sign_in?rd=" + p,
		} {
			if _, err := url.Parse(path); err != nil {
				continue // no client can send it
			}
			get(t, down, testutil.NewBrowser(t), http.MethodGet, path)
		}
		// The page that ends a SameSite=Strict login, for a login that
		// asked to return to the payload.
		b := testutil.NewBrowser(t)
		start := testutil.Do(t, b, strict.Server.URL+"/oauth2/start?rd="+q)
		callback := strict.IdP.Authorize(t, b, testutil.Location(t, start), "alice")
		get(t, strict, b, http.MethodGet, strings.TrimPrefix(callback, strict.Server.URL))
		if i == 0 {
			get(t, strict, b, http.MethodGet, "/oauth2/sign_out?rd="+q) // with a session: the token form
		}
		// A login refused at the callback, that asked to return to the
		// payload: the forbidden page's links carry it.
		b = testutil.NewBrowser(t)
		start = testutil.Do(t, b, refusing.Server.URL+"/oauth2/start?rd="+q)
		callback = refusing.IdP.Authorize(t, b, testutil.Location(t, start), "alice")
		get(t, refusing, b, http.MethodGet, strings.TrimPrefix(callback, refusing.Server.URL))
	}
	if !saw503 {
		t.Error("no 503 page with a Try again link was rendered: the outage case is not covered")
	}
	files, err := filepath.Glob("templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		if name == "layout.html" {
			continue
		}
		if _, ok := pageMarkers[name]; !ok {
			t.Errorf("templates/%s has no marker in pageMarkers: add it, and a route rendering it to this test", name)
		} else if !seen[name] {
			t.Errorf("templates/%s was never rendered with hostile data", name)
		}
	}
}
