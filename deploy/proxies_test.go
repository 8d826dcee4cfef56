package deploy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// authGateway is Gatehouse as the examples run it next to a proxy: no
// --upstream, --reverse-proxy, plus --pass-access-token so that every
// header an example may mention is sent. Its Client holds alice's session.
func authGateway(t *testing.T) *testutil.Gateway {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalECPrivateKey(key)
	keyFile := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.Upstream = ""
		o.ReverseProxy = true
		o.PassAccessToken = true
		// Every header the examples may pass on, the assertion included.
		o.SigningKeyFiles, o.AssertionIssuer = []string{keyFile}, "https://auth.example.com"
	}})
	g.Login(t, "alice", "/")
	return g
}

// ask sends the request a forward-auth proxy sends about a browser's (or an
// API client's) GET of https://app.example.com/page?a=1&b=2, to pathQuery on
// g, with or without alice's session cookie.
func ask(t *testing.T, g *testutil.Gateway, method, pathQuery string, signedIn, browser bool) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, g.Server.URL+pathQuery, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Forwarded-Method", http.MethodGet)
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("X-Forwarded-Host", "app.example.com")
	req.Header.Set("X-Forwarded-Uri", "/page?a=1&b=2")
	req.Header.Set("Accept", "application/json")
	if browser {
		req.Header.Set("Accept", "text/html,*/*;q=0.8")
	}
	if signedIn {
		for _, c := range g.Client.Jar.Cookies(mustParse(t, g.Server.URL)) {
			req.AddCookie(c)
		}
	}
	resp, err := testutil.NewBrowser(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// checkForwardAuth checks the answers an example relying on redirect=true
// gets at pathQuery, and that Gatehouse sends every header it copies.
func checkForwardAuth(t *testing.T, g *testutil.Gateway, pathQuery string, copied []string) {
	t.Helper()
	if resp := ask(t, g, http.MethodGet, pathQuery, false, true); resp.StatusCode != http.StatusFound ||
		resp.Header.Get("Location") != "/oauth2/start?rd="+url.QueryEscape("https://app.example.com/page?a=1&b=2") {
		t.Errorf("%s, browser without session: %d Location %q; want 302 to sign in and back",
			pathQuery, resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := ask(t, g, http.MethodGet, pathQuery, false, false); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("%s, API client without session: %d, want 401", pathQuery, resp.StatusCode)
	}
	resp := ask(t, g, http.MethodGet, pathQuery, true, true)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("%s with a session: %d, want 202", pathQuery, resp.StatusCode)
	}
	for _, name := range copied {
		if resp.Header.Get(name) == "" {
			t.Errorf("the example copies %s, which Gatehouse's 202 does not carry", name)
		}
	}
}

func TestTraefikExample(t *testing.T) {
	t.Parallel()
	var conf struct {
		HTTP struct {
			Middlewares map[string]struct {
				ForwardAuth *struct {
					Address                  string   `yaml:"address"`
					AuthResponseHeaders      []string `yaml:"authResponseHeaders"`
					AddAuthCookiesToResponse []string `yaml:"addAuthCookiesToResponse"`
				} `yaml:"forwardAuth"`
			} `yaml:"middlewares"`
		} `yaml:"http"`
	}
	b, err := os.ReadFile(filepath.Join("traefik", "gatehouse.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &conf); err != nil {
		t.Fatalf("traefik/gatehouse.yml: %v", err)
	}
	g := authGateway(t)
	found := false
	for name, m := range conf.HTTP.Middlewares {
		fa := m.ForwardAuth
		if fa == nil {
			continue
		}
		found = true
		u := mustParse(t, fa.Address)
		checkForwardAuth(t, g, u.RequestURI(), fa.AuthResponseHeaders)
		cookie := config.Defaults().CookieName
		chunk := regexp.MustCompile(`^` + regexp.QuoteMeta(cookie) + `(_[0-9]+)?$`)
		if len(fa.AddAuthCookiesToResponse) == 0 || fa.AddAuthCookiesToResponse[0] != cookie {
			t.Errorf("middleware %s: addAuthCookiesToResponse %q, want the session cookie %q first", name, fa.AddAuthCookiesToResponse, cookie)
		}
		for _, c := range fa.AddAuthCookiesToResponse {
			if !chunk.MatchString(c) {
				t.Errorf("middleware %s: addAuthCookiesToResponse lists %q, not a session cookie name", name, c)
			}
		}
		for i := range session.MaxChunks {
			if !slices.Contains(fa.AddAuthCookiesToResponse, fmt.Sprintf("%s_%d", cookie, i)) {
				t.Errorf("middleware %s: addAuthCookiesToResponse lacks chunk %d of %d", name, i, session.MaxChunks)
			}
		}
	}
	if !found {
		t.Fatal("traefik/gatehouse.yml has no forwardAuth middleware")
	}
}

func TestCaddyExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("caddy", "Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*forward_auth \S+ \{\s*\n\s*uri (\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("caddy/Caddyfile: no forward_auth block starting with uri")
	}
	var copied []string
	for _, c := range regexp.MustCompile(`(?m)^\s*(X-[A-Za-z-]+)>`).FindAllSubmatch(b, -1) {
		copied = append(copied, string(c[1]))
	}
	if len(copied) == 0 {
		t.Fatal("caddy/Caddyfile: no copy_headers")
	}
	checkForwardAuth(t, authGateway(t), string(m[1]), copied)
}

func TestEnvoyExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("envoy", "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*path_prefix: (\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("envoy/envoy.yaml: no path_prefix")
	}
	if !strings.Contains(string(b), "--forward-auth-prefix-route") {
		t.Fatal("envoy/envoy.yaml does not tell to run Gatehouse with --forward-auth-prefix-route, which path_prefix needs")
	}
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.Upstream = ""
		o.ReverseProxy = true
		o.ForwardAuthPrefixRoute = true
	}})
	g.Login(t, "alice", "/")
	// ext_authz keeps the original method and Host and appends the path.
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		req, _ := http.NewRequestWithContext(t.Context(), method, g.Server.URL+string(m[1])+"/page?a=1", nil)
		req.Host = "app.example.com"
		resp, err := testutil.NewBrowser(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without session: %d, want 401", method, resp.StatusCode)
		}
		for _, c := range g.Client.Jar.Cookies(mustParse(t, g.Server.URL)) {
			req.AddCookie(c)
		}
		if resp, err = testutil.NewBrowser(t).Do(req); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Errorf("%s with a session: %d, want 202", method, resp.StatusCode)
		}
	}
}

// TestExamplesNameRealHeaders checks that every X-Auth-Request-* header the
// examples and their documentation mention is one Gatehouse sends (or, for
// X-Auth-Request-Redirect, reads; X-Auth-Request-User-<Attr> depend on the
// provider), whatever the spelling (nginx variables
// use $upstream_http_x_auth_request_user).
func TestExamplesNameRealHeaders(t *testing.T) {
	t.Parallel()
	g := authGateway(t)
	known := map[string]bool{"x-auth-request-redirect": true}
	for _, signedIn := range []bool{true, false} {
		for name := range ask(t, g, http.MethodGet, "/oauth2/auth", signedIn, true).Header {
			known[strings.ToLower(name)] = true
		}
	}
	mention := regexp.MustCompile(`(?i)x[-_]auth[-_]request[-_][a-z0-9_-]*[a-z0-9]`)
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range mention.FindAll(b, -1) {
			name := strings.ToLower(strings.ReplaceAll(string(m), "_", "-"))
			// X-Auth-Request-User-<Attr> are the provider's extra attributes.
			if !known[name] && !strings.HasPrefix(name, "x-auth-request-user-") {
				t.Errorf("%s mentions %s, which Gatehouse does not send", path, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
