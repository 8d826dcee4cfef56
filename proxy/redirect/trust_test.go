package redirect

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestParseTrustedProxy(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"10.0.0.0/8": "10.0.0.0/8", "10.1.2.3/8": "10.0.0.0/8", "192.0.2.7": "192.0.2.7/32",
		"::1": "::1/128", "fd00::/8": "fd00::/8", " 127.0.0.1 ": "127.0.0.1/32",
	} {
		p, err := ParseTrustedProxy(in)
		if err != nil || p.String() != want {
			t.Errorf("ParseTrustedProxy(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, bad := range []string{"", "proxy.example", "10.0.0.0/33", "fe80::1%eth0", "10.0.0", "*"} {
		if _, err := ParseTrustedProxy(bad); err == nil {
			t.Errorf("ParseTrustedProxy(%q) accepted", bad)
		}
	}
}

func TestTrusts(t *testing.T) {
	t.Parallel()
	tp := NewTrustedProxies(append([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Loopback...)...)
	for addr, want := range map[string]bool{
		"127.0.0.1:5000": true, "[::1]:5000": true, "10.9.8.7:1": true, "[::ffff:10.1.1.1]:80": true,
		"192.0.2.1:80": false, "11.0.0.1:80": false, "garbage": false, "": false, "[fe80::1%lo]:80": false,
	} {
		if got := tp.Trusts(addr); got != want {
			t.Errorf("Trusts(%q) = %v, want %v", addr, got, want)
		}
	}
	if (TrustedProxies{}).Trusts("127.0.0.1:1") {
		t.Error("the zero TrustedProxies trusts loopback")
	}
}

// TestPrepare: forwarding headers from an untrusted peer are deleted in
// every spelling; a trusted peer's describe the request.
func TestPrepare(t *testing.T) {
	t.Parallel()
	spoof := map[string]string{
		"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example",
		"X-Forwarded-Port": "8443", "X-Forwarded-Uri": "//evil.example/x", "X-Forwarded-Method": "POST",
		"X-Original-Url": "https://evil.example/x", "X-Original-Uri": "/x", "X-Real-Ip": "203.0.113.9",
		"X-Request-Id": "forged", "Forwarded": "for=203.0.113.9;host=evil.example", "X_Forwarded_Host": "evil.example",
	}
	newReq := func(remote string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://gate.example/app?q=1", nil)
		r.RemoteAddr = remote
		for k, v := range spoof {
			r.Header[k] = []string{v}
		}
		return r
	}
	tp := NewTrustedProxies(Loopback...)
	r := newReq("192.0.2.1:4000")
	v := tp.Prepare(r)
	if v.Forwarded || v.Host != "gate.example" || v.URI != "/app?q=1" || v.Scheme != "http" || v.Method != http.MethodGet {
		t.Errorf("untrusted view = %+v", v)
	}
	for k := range spoof {
		if _, ok := r.Header[k]; ok {
			t.Errorf("untrusted %s kept", k)
		}
	}
	r = newReq("127.0.0.1:4000")
	v = tp.Prepare(r)
	if !v.Forwarded || v.Host != "evil.example:8443" || v.URI != "//evil.example/x" || v.Scheme != "https" || v.Method != http.MethodPost {
		t.Errorf("trusted view = %+v", v)
	}
	if r.Header.Get("X-Request-Id") != "forged" {
		t.Error("trusted X-Request-Id dropped")
	}
}

func TestNewViewTrusted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		header map[string]string
		want   View
	}{
		{"nothing forwarded", nil, View{"http", "gate.example", "/p", "GET", true}},
		{"host and port", map[string]string{"X-Forwarded-Host": "app.example", "X-Forwarded-Port": "8443", "X-Forwarded-Proto": "https"}, View{"https", "app.example:8443", "/p", "GET", true}},
		{"default port dropped", map[string]string{"X-Forwarded-Host": "app.example", "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https"}, View{"https", "app.example", "/p", "GET", true}},
		{"host with its port wins", map[string]string{"X-Forwarded-Host": "app.example:81", "X-Forwarded-Port": "82"}, View{"http", "app.example:81", "/p", "GET", true}},
		{"bad port ignored", map[string]string{"X-Forwarded-Host": "app.example", "X-Forwarded-Port": "x/y"}, View{"http", "app.example", "/p", "GET", true}},
		{"original URL absolute: only its path", map[string]string{"X-Original-Url": "https://evil.example/doc?x=1"}, View{"http", "gate.example", "/doc?x=1", "GET", true}},
		{"original URL path", map[string]string{"X-Original-Url": "/doc?x=1"}, View{"http", "gate.example", "/doc?x=1", "GET", true}},
		{"forwarded host with original URL", map[string]string{"X-Original-Url": "https://other.example/doc", "X-Forwarded-Host": "app.example"}, View{"http", "app.example", "/doc", "GET", true}},
		{"malformed forwarded host ignored", map[string]string{"X-Forwarded-Host": "https://evil.example/x"}, View{"http", "gate.example", "/p", "GET", true}},
		{"forwarded IPv6 host", map[string]string{"X-Forwarded-Host": "[::1]:8443"}, View{"http", "[::1]:8443", "/p", "GET", true}},
		{"original method", map[string]string{"X-Original-Method": "delete"}, View{"http", "gate.example", "/p", "DELETE", true}},
	} {
		r := httptest.NewRequest(http.MethodGet, "http://gate.example/p", nil)
		for k, v := range tt.header {
			r.Header.Set(k, v)
		}
		if got := NewView(r, true); got != tt.want {
			t.Errorf("%s: NewView = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
