package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// adminsLocation is a per-location group rule added to the shipped
// example the way the README describes it: an internal location per rule
// that asks /oauth2/auth with ?allowed_groups= (auth_request itself cannot
// carry a query), and a protected location using it.
const adminsLocation = `
    # ---- e2e: /admin/ only for the group "admins" ----
    location = /oauth2/auth-admins {
        internal;
        proxy_pass http://gatehouse/oauth2/auth?allowed_groups=admins;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header Host              $http_host;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host  $http_host;
        proxy_set_header X-Forwarded-Uri   $request_uri;
        proxy_set_header X-Forwarded-Method $request_method;
    }
    location /admin/ {
        auth_request /oauth2/auth-admins;
        error_page 401 = @signin;
        auth_request_set $gh_signin $upstream_http_x_auth_request_sign_in;
        auth_request_set $gh_user   $upstream_http_x_auth_request_user;
        auth_request_set $gh_email  $upstream_http_x_auth_request_email;
        proxy_pass http://app;
        proxy_set_header Host              $http_host;
        proxy_set_header X-Forwarded-User  $gh_user;
        proxy_set_header X-Forwarded-Email $gh_email;
    }
`

// shippedNginxConf is deploy/nginx/gatehouse.conf with its three marked
// addresses replaced and adminsLocation added to its server block.
func shippedNginxConf(t testing.TB, gatehouse, app string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "nginx", "gatehouse.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, r := range [][2]string{
		{"server 127.0.0.1:4180;", "server " + gatehouse + ";"},
		{"server 127.0.0.1:8080;", "server " + app + ";"},
		{"listen 80;", "listen 127.0.0.1:" + testutil.NginxPortPlaceholder + ";"},
	} {
		if n := strings.Count(conf, r[0]); n != 1 {
			t.Fatalf("deploy/nginx/gatehouse.conf has %q %d times, want once (update this test with the example)", r[0], n)
		}
		conf = strings.Replace(conf, r[0], r[1], 1)
	}
	end := strings.LastIndex(conf, "}")
	return conf[:end] + adminsLocation + conf[end:]
}

// TestBrowserNginxAuthRequest is scenario 9: nginx with the shipped
// auth_request example in front of the application, Gatehouse answering
// only /oauth2/*: the same browser login, then a per-location group rule
// that lets alice (admins) into /admin/ and refuses carol.
func TestBrowserNginxAuthRequest(t *testing.T) {
	t.Parallel()
	require(t, needChromium, needNode, needNginx)
	app := startUpstream(t)
	port := freePort(t)
	gwAddr := "127.0.0.1:" + strconv.Itoa(port)
	n := testutil.StartNginx(t, shippedNginxConf(t, gwAddr, app.Addr()))
	s := &stack{app: app, op: startProvider(t, 0, n.URL())}
	cfg := baseConfig(t, s.op, "", n.URL())
	delete(cfg, "upstream") // nginx proxies to the application itself
	cfg["reverse_proxy"] = true
	s.gw = startGatehouse(t, "gatehouse", port, cfg)
	// The browser talks to nginx only.
	front := &stack{app: app, op: s.op, gw: &gatehouse{publicURL: n.URL()}}

	for _, tc := range []struct {
		user  string
		admin bool
	}{{"alice", true}, {"carol", false}} {
		t.Run(tc.user, func(t *testing.T) {
			t.Parallel()
			b := newWindow(t, tc.user)
			account := s.op.Account(t, tc.user)
			page := "/s9/" + tc.user + "?x=1&y=two%20words"
			p := signIn(b, front, page, tc.user, "")
			got := wantUpstreamPage(t, front, p, page, account.Email)
			if u := got.Header.Get("X-User"); u != account.Sub {
				t.Errorf("the application received X-User %q through nginx, want %q", u, account.Sub)
			}

			admin := "/admin/panel?from=" + tc.user
			p = b.open(n.URL() + admin)
			if tc.admin {
				wantUpstreamPage(t, front, p, admin, account.Email)
				return
			}
			if p.Status != 403 || !strings.Contains(p.Title+p.Text, "403 Forbidden") {
				t.Errorf("%s (not in admins) on %s sees %s, want nginx's 403", tc.user, admin, p)
			}
			if c := app.CountOf(admin); c != 0 {
				t.Errorf("the application received %s for a user the rule refuses", admin)
			}
		})
	}
}
