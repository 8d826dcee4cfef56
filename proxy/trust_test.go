package proxy_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// TestForwardingHeadersOnlyFromTrustedProxies: the request-describing
// headers reach the upstream (and steer anything) only from a trusted
// peer; X-Forwarded-For is appended to a trusted chain and replaces an
// untrusted one; identity headers never pass, from anyone.
func TestForwardingHeadersOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	sent := []string{
		"Accept", "application/json",
		"X-Forwarded-For", "203.0.113.9",
		"X-Forwarded-Host", "app.example.test",
		"X-Forwarded-Proto", "https",
		"X-Forwarded-Port", "8443",
		"X-Real-IP", "203.0.113.9",
		"X-Request-Id", "req-42",
		"X-Original-URL", "https://evil.example/",
		"X-Forwarded-User", "mallory",
		"X-Forwarded-Email", "mallory@evil.example",
		"X-Forwarded-Groups", "admins",
		"X-Auth-Request-User", "mallory",
		"X-Gatehouse-Assertion", "forged",
		"X_Forwarded_User", "mallory",
	}
	for _, tt := range []struct {
		name    string
		opts    func(o *config.Options)
		trusted bool
	}{
		{"no trusted proxy", func(o *config.Options) {}, false},
		{"--reverse-proxy trusts loopback", func(o *config.Options) { o.ReverseProxy = true }, true},
		{"--trusted-proxy 127.0.0.1", func(o *config.Options) { o.TrustedProxies = []string{"127.0.0.1"} }, true},
		{"--trusted-proxy of another network", func(o *config.Options) { o.TrustedProxies = []string{"10.0.0.0/8"} }, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := testutil.StartGateway(t, testutil.GatewayConfig{Options: tt.opts})
			g.Login(t, "alice", "/")
			echo := testutil.DecodeEcho(t, g.Get(t, "/app", sent...))
			host := strings.TrimPrefix(g.Server.URL, "http://")
			want := map[string]string{
				"X-Forwarded-For":       "127.0.0.1",
				"X-Forwarded-Host":      host,
				"X-Forwarded-Proto":     "http",
				"X-Forwarded-Port":      "",
				"X-Real-Ip":             "",
				"X-Original-Url":        "",
				"X-Forwarded-User":      devidp.Subject("alice"),
				"X-Forwarded-Email":     "alice@example.com",
				"X-Forwarded-Groups":    "admins,engineering",
				"X-Auth-Request-User":   "",
				"X-Gatehouse-Assertion": "",
				"X_forwarded_user":      "",
			}
			if tt.trusted {
				want["X-Forwarded-For"] = "203.0.113.9, 127.0.0.1"
				want["X-Forwarded-Host"] = "app.example.test:8443"
				want["X-Forwarded-Proto"] = "https"
				want["X-Forwarded-Port"] = "8443"
				want["X-Real-Ip"] = "203.0.113.9"
				want["X-Original-Url"] = "https://evil.example/"
			}
			// A trusted proxy's request id is kept; from anyone else a
			// fresh one is generated (32 hex digits).
			if id := echo.Header.Get("X-Request-Id"); tt.trusted && id != "req-42" || !tt.trusted && (len(id) != 32 || id == "req-42") {
				t.Errorf("upstream got X-Request-Id %q (trusted peer: %v)", id, tt.trusted)
			}
			for name, v := range want {
				if got := strings.Join(echo.Header.Values(name), "|"); got != v {
					t.Errorf("upstream got %s = %q, want %q", name, got, v)
				}
			}
		})
	}
}
