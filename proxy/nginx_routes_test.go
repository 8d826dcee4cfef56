package proxy_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// TestNginxRoutes runs the routes of TestRoutesEndToEnd's policy behind
// the shipped nginx auth_request example: nginx asks /oauth2/auth about
// every request, and Gatehouse picks the route from the original URI and
// method nginx forwards.
func TestNginxRoutes(t *testing.T) {
	t.Parallel()
	s := startNginxSetup(t, func(o *config.Options) {
		o.Routes = []config.RouteOptions{
			{Name: "health", Path: "/healthz", Public: true},
			{Name: "admin", Path: "/admin/", Allow: config.AllowOptions{Groups: []string{"admins"}}},
			{Name: "reports", Path: "~/reports/[0-9]+", Methods: []string{"GET"}, Allow: config.AllowOptions{Emails: []string{"bob@other.org"}}},
		}
	}, nil)
	anon := testutil.NewBrowser(t)
	if resp := send(t, anon, http.MethodGet, s.nginx.URL()+"/healthz", nil, "Accept", browserAccept); resp.StatusCode != http.StatusOK {
		t.Errorf("anonymous /healthz through nginx: %d, want 200 (public)", resp.StatusCode)
	}
	for _, p := range []string{"/healthzz", "/admin/", "/healthz/%2e%2e/admin/"} {
		resp := send(t, anon, http.MethodGet, s.nginx.URL()+p, nil, "Accept", browserAccept)
		if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/oauth2/") {
			t.Errorf("anonymous %s through nginx: %d to %q, want a redirect to sign in", p, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp := send(t, anon, http.MethodGet, s.nginx.URL()+"/healthz/..%2Fadmin/", nil, "Accept", browserAccept); resp.StatusCode == http.StatusOK {
		t.Errorf("anonymous /healthz/..%%2Fadmin/ through nginx: 200")
	}
	alice, bob := testutil.NewBrowser(t), testutil.NewBrowser(t)
	s.loginAs(t, alice, "alice", s.nginx.URL()+"/app/")
	s.loginAs(t, bob, "bob", s.nginx.URL()+"/app/")
	for _, tc := range []struct {
		who    string
		c      *http.Client
		method string
		path   string
		want   int
	}{
		{"alice", alice, http.MethodGet, "/admin/users", http.StatusOK},
		{"bob", bob, http.MethodGet, "/admin/users", http.StatusForbidden},
		{"bob", bob, http.MethodGet, "/app/page", http.StatusOK},
		{"bob", bob, http.MethodGet, "/reports/42", http.StatusOK},
		{"alice", alice, http.MethodGet, "/reports/42", http.StatusForbidden},
		{"alice", alice, http.MethodPost, "/reports/42", http.StatusOK}, // methods: GET only; POST falls to the global rules
		{"alice", alice, http.MethodGet, "/reports/x", http.StatusOK},
	} {
		resp := send(t, tc.c, tc.method, s.nginx.URL()+tc.path, nil, "Accept", browserAccept)
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s %s through nginx: %d, want %d", tc.who, tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}
