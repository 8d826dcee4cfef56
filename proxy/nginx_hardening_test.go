package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// TestNginxAuthEndpointUnreachable is defect 2 through the real nginx and
// the shipped example: no spelling of /oauth2/auth reaches Gatehouse from
// a browser, so a signed-in page's JavaScript cannot read the access token
// or the session cookies from an answer meant for nginx.
func TestNginxAuthEndpointUnreachable(t *testing.T) {
	t.Parallel()
	s := startNginxSetup(t, func(o *config.Options) {
		o.PassAccessToken = true
		o.SetAuthorizationHeader = true
	}, nil)
	browser := testutil.NewBrowser(t)
	s.login(t, browser)
	for _, path := range []string{
		"/oauth2/auth",
		"/oauth2/auth?allowed_groups=admins",
		"/oauth2/auth/x",
		"/oauth2/auth/",
		"/oauth2/%61uth/x",
		"/oauth2/%61uth",
		"/oauth2//auth/x",
		"/oauth2/./auth/x",
		"/oauth2/x/../auth",
		"/oauth2/auth%2Fx",
		"/oauth2/authx",
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.nginx.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = path // sent byte for byte
		req.Header.Set("Accept", "*/*")
		req.Header.Set("Cookie", cookieHeader(t, browser, s.nginx.URL()))
		resp, err := testutil.NewBrowser(t).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		// nginx's own 404 (the internal location), not one of Gatehouse's
		// answers relayed: those all carry X-Content-Type-Options.
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Content-Type-Options") != "" {
			t.Errorf("GET %s: status %d (X-Content-Type-Options %q), want nginx's own 404 from the internal location",
				path, resp.StatusCode, resp.Header.Get("X-Content-Type-Options"))
		}
		for name := range resp.Header {
			if l := strings.ToLower(name); strings.HasPrefix(l, "x-auth-request-") || l == "authorization" || strings.HasPrefix(l, "x-gatehouse-") {
				t.Errorf("GET %s: answer carries %s", path, name)
			}
		}
	}
}
