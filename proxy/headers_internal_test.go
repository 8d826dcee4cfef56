package proxy

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// slowIsIdentityHeader is the reference judgement: normalise, then
// compare prefixes.
func slowIsIdentityHeader(name string) bool {
	normal := strings.ReplaceAll(strings.ToLower(name), "_", "-")
	for _, prefix := range identityHeaderPrefixes {
		if strings.HasPrefix(normal, prefix) {
			return true
		}
	}
	return false
}

// TestIsIdentityHeader: the allocation-free judgement agrees with the
// normalise-then-compare reference on every spelling.
func TestIsIdentityHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want bool
	}{
		{"X-Forwarded-User", true},
		{"x-forwarded-user", true},
		{"X_FORWARDED_USER", true},
		{"X-Forwarded_Email", true},
		{"X-Forwarded-User-Uuid", true},
		{"X-Forwarded-Groups", true},
		{"X-Forwarded-Preferred-Username", true},
		{"X-Forwarded-Access-Token", true},
		{"X-Forwarded-Provider", true},
		{"X-Auth-Request-User", true},
		{"x_auth_request_anything", true},
		{"X-Gatehouse-Assertion", true},
		{"X-Forwarded-Us\u212Ar", false}, // Kelvin sign: not an 'e'
		{"X-Auth-Request-\u212Aey", true},
		{"\u212A-Forwarded-User", false},
		{"X-Forwarded-For", false},
		{"X-Forwarded-Host", false},
		{"X-Forwarded-Use", false},
		{"X-Auth-Request", false},
		{"Accept", false},
		{"X", false},
		{"", false},
		{"Cookie", false},
		{"X-Gatehouse-Set-Cookie-1", false},
	}
	for _, tc := range tests {
		if got := isIdentityHeader(tc.name); got != tc.want {
			t.Errorf("isIdentityHeader(%q) = %v, want %v", tc.name, got, tc.want)
		}
		if ref := slowIsIdentityHeader(tc.name); ref != tc.want {
			t.Errorf("reference(%q) = %v, want %v (fix the table)", tc.name, ref, tc.want)
		}
	}
}

// benchHeader is a browser's request headers plus forged identity ones.
func benchHeader() http.Header {
	return http.Header{
		"Host":              {"app.example.com"},
		"User-Agent":        {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"},
		"Accept":            {"text/html,application/xhtml+xml"},
		"Accept-Language":   {"en-GB,en;q=0.9"},
		"Accept-Encoding":   {"gzip, deflate, br"},
		"Cookie":            {"_gatehouse=abc; theme=dark"},
		"Sec-Fetch-Mode":    {"navigate"},
		"X-Requested-With":  {"XMLHttpRequest"},
		"X-Forwarded-User":  {"mallory"},
		"X_Auth_Request_Em": {"mallory@evil.example"},
	}
}

// BenchmarkStripIdentityHeaders measures stripping client identity
// headers from a browser's request.
//
//	go test -run '^$' -bench 'StripIdentity|IdentityHeaders' -benchmem ./proxy
func BenchmarkStripIdentityHeaders(b *testing.B) {
	for _, tc := range []struct {
		name  string
		strip func(http.Header)
	}{
		{"strip", stripIdentityHeaders},
		// The judgement before it was made allocation-free, for the gain.
		{"reference", func(h http.Header) {
			for name := range h {
				if slowIsIdentityHeader(name) {
					delete(h, name)
				}
			}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			src := benchHeader()
			h := make(http.Header, len(src))
			b.ReportAllocs()
			for b.Loop() {
				for k, v := range src {
					h[k] = v
				}
				tc.strip(h)
				if len(h) != len(src)-2 {
					b.Fatalf("%d headers left", len(h))
				}
			}
		})
	}
}

// BenchmarkIdentityHeaders measures computing and setting the identity
// headers sent upstream.
func BenchmarkIdentityHeaders(b *testing.B) {
	s := &session.Session{ID: "id", ProviderID: "oidc", Identity: providers.Identity{
		Subject: "u-1", User: "u-1", Email: "alice@example.test", EmailVerified: true,
		PreferredUsername: "alice", Groups: []string{"admins", "engineering", "platform"},
	}, Tokens: providers.Tokens{AccessToken: "at", Expiry: time.Now().Add(time.Hour)}}
	h := http.Header{}
	b.ReportAllocs()
	for b.Loop() {
		for _, kv := range identityValues(s, false, upstreamNames) {
			h.Set(kv[0], cleanHeaderValue(kv[1]))
		}
		h.Set(headerProvider, s.ProviderID)
	}
}
