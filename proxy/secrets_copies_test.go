package proxy_test

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// manyGroups are group names that do not compress, so a session holding
// n of them is split into several cookie chunks.
func manyGroups(n int) []string {
	groups := make([]string, n)
	for i := range groups {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		groups[i] = fmt.Sprintf("team-%x", sum[:10])
	}
	return groups
}

// TestAuthAnswerCopiesOnlyToTrustedProxy is defect 2's regression table:
// the copies of secrets on a 202 from /oauth2/auth (the access token in
// X-Auth-Request-Access-Token and Authorization, the HttpOnly session
// cookies in X-Gatehouse-Set-Cookie-N) are only on answers to a trusted
// proxy asking about another request; a browser that reaches the endpoint
// (directly, or through a proxy route forwarding /oauth2/...) never gets
// them. The /oauth2/auth/<path> prefix form is off unless enabled.
func TestAuthAnswerCopiesOnlyToTrustedProxy(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		trusted bool   // --reverse-proxy (the test client is on loopback)
		prefix  bool   // --forward-auth-prefix-route
		path    string // asked by the client
		header  []string
		copies  bool
		status  int
	}{
		{"untrusted peer", false, false, "/oauth2/auth", []string{"X-Forwarded-Uri", "/app"}, false, http.StatusAccepted},
		{"trusted proxy check", true, false, "/oauth2/auth", []string{"X-Forwarded-Uri", "/app"}, true, http.StatusAccepted},
		{"trusted proxy, X-Original-URI", true, false, "/oauth2/auth", []string{"X-Original-URI", "/app"}, true, http.StatusAccepted},
		{"trusted proxy, X-Original-URL", true, false, "/oauth2/auth", []string{"X-Original-URL", "https://app.example.test/app"}, true, http.StatusAccepted},
		{"trusted proxy naming no original", true, false, "/oauth2/auth", nil, false, http.StatusAccepted},
		{"browser through location /oauth2/", true, false, "/oauth2/auth", []string{"X-Forwarded-Uri", "/oauth2/auth"}, false, http.StatusAccepted},
		{"browser through location /oauth2/, query", true, false, "/oauth2/auth?allowed_groups=", []string{"X-Forwarded-Uri", "/oauth2/auth?x"}, false, http.StatusAccepted},
		{"browser asks the prefix form", true, false, "/oauth2/auth/x", []string{"X-Forwarded-Uri", "/oauth2/auth/x"}, false, http.StatusNotFound},
		{"browser asks the encoded prefix form", true, false, "/oauth2/%61uth/x", []string{"X-Forwarded-Uri", "/oauth2/%61uth/x"}, false, http.StatusNotFound},
		{"Envoy prefix form when enabled", true, true, "/oauth2/auth/app", nil, true, http.StatusAccepted},
		{"prefix form naming Gatehouse's own path", true, true, "/oauth2/auth/oauth2/x", nil, false, http.StatusAccepted},
		{"prefix form, untrusted", false, true, "/oauth2/auth/app", nil, false, http.StatusAccepted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &clock{}
			g := testutil.StartGateway(t, testutil.GatewayConfig{
				IdP: devidp.Options{Now: c.Now, Users: []devidp.User{{Username: "carol", Email: "carol@example.com", EmailVerified: true, Groups: manyGroups(100)}}},
				Options: func(o *config.Options) {
					o.Upstream = ""
					o.ReverseProxy = tt.trusted
					o.ForwardAuthPrefixRoute = tt.prefix
					o.PassAccessToken = true
					o.SetAuthorizationHeader = true
					o.CookieRefresh = time.Hour
				},
				Deps: gateway.Deps{Now: c.Now},
			})
			start := testutil.Do(t, g.Client, g.Server.URL+"/oauth2/start?rd=/")
			if resp := testutil.Do(t, g.Client, g.IdP.Authorize(t, g.Client, testutil.Location(t, start), "carol")); resp.StatusCode != http.StatusFound {
				t.Fatalf("callback: status %d", resp.StatusCode)
			}
			// Past --cookie-refresh: the answer re-issues every chunk.
			c.Advance(2 * time.Hour)
			resp := send(t, g.Client, http.MethodGet, g.Server.URL+tt.path, nil, tt.header...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			got := map[string]bool{
				"X-Auth-Request-Access-Token": resp.Header.Get("X-Auth-Request-Access-Token") != "",
				"Authorization":               resp.Header.Get("Authorization") != "",
			}
			for name, present := range got {
				if present != tt.copies {
					t.Errorf("%s present: %v, want %v", name, present, tt.copies)
				}
			}
			numbered := 0
			for name := range resp.Header {
				if strings.HasPrefix(name, "X-Gatehouse-Set-Cookie-") {
					numbered++
				}
			}
			if tt.status == http.StatusAccepted && len(resp.Header.Values("Set-Cookie")) < 2 {
				t.Fatalf("no refreshed chunks in the answer (Set-Cookie %d lines)", len(resp.Header.Values("Set-Cookie")))
			}
			if (numbered > 0) != tt.copies {
				t.Errorf("%d X-Gatehouse-Set-Cookie-N headers, want copies %v", numbered, tt.copies)
			}
		})
	}
}
