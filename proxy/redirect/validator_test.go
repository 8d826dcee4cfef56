package redirect

import (
	"errors"
	"strings"
	"testing"
)

func TestRedirectValidator(t *testing.T) {
	t.Parallel()
	v := NewValidator(allowedHosts(t, "app.example.com", ".corp.example", "ports.example:8443", "xn--bcher-kva.example"))
	const host = "gate.example.com"
	tests := []struct {
		rd, want string
	}{
		{"", "/"},
		{"/", "/"},
		{"/dashboard?tab=1#x", "/dashboard?tab=1#x"},
		{"/a/b/../c", "/a/b/../c"},
		{"https://gate.example.com/x", "https://gate.example.com/x"},
		{"https://app.example.com/", "https://app.example.com/"},
		{"http://app.example.com:8080/p", "http://app.example.com:8080/p"},
		{"https://corp.example/", "https://corp.example/"},
		{"https://wiki.corp.example/page", "https://wiki.corp.example/page"},
		{"https://ports.example:8443/", "https://ports.example:8443/"},
		// Open-redirect attempts: all fall back to "/".
		{"//evil.com", "/"},
		{"///evil.com", "/"},
		{"/\\evil.com", "/"},
		{"\\\\evil.com", "/"},
		{"/%2f%2fevil.com", "/"},
		{"/%2F/evil.com", "/"},
		{"/%5cevil.com", "/"},
		{"/%09/evil.com", "/"},
		{"/\t/evil.com", "/"},
		{"/\r\n/evil.com", "/"},
		{"/ /evil.com", "/"},
		{"https://evil.com", "/"},
		{"https://evil.com/https://gate.example.com", "/"},
		{"https://gate.example.com.evil.com/", "/"},
		{"https://evilcorp.example/", "/"},
		{"https://app.example.com@evil.com/", "/"},
		{"https://user:pass@app.example.com/", "/"},
		{"https://evil.com\\@app.example.com/", "/"},
		{"https://evil.com%40app.example.com/", "/"},
		{"https://ports.example:9999/", "/"},
		{"javascript:alert(1)", "/"},
		{"JavaScript://app.example.com/%0aalert(1)", "/"},
		{"data:text/html,<script>", "/"},
		{"ftp://app.example.com/", "/"},
		{"http:evil.com", "/"},
		{"https:/evil.com", "/"},
		{"evil.com", "/"},
		{"\x00/evil", "/"},
		{"/\u2028evil", "/"},
		{"/%E2%80%A8x", "/%E2%80%A8x"},
		{"/search?next=%2Fhome&q=a%20b", "/search?next=%2Fhome&q=a%20b"},
		{"/my%20docs/", "/my%20docs/"},
		{"https://gate.example.com/p?x=1&y=two%20words", "https://gate.example.com/p?x=1&y=two%20words"},
		{"/%0d%0aSet-Cookie:x", "/"},
		{"/%ZZ", "/"},
		// Dot segments that a browser or a later hop collapses into "//host".
		{"/.//evil.com", "/"},
		{"/./%2e//evil.com", "/"},
		{"/%2e//evil.com", "/"},
		{"/..//evil.com", "/"},
		{"/x/..//evil.com", "/"},
		{"/x/%2E%2E//evil.com", "/"},
		{"https://gate.example.com/.//evil.com", "/"},
		{"/x/./y/../z", "/x/./y/../z"},
		{"/x//y", "/x//y"},
		{"/x/..", "/x/.."},
		// Internationalised hosts: punycode only, one answer everywhere.
		{"https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/"},
		{"https://bücher.example/", "/"},
		{"https://wiki.bücher.corp.example/", "/"},
		{"https://wiki.corp.example。evil.example/", "/"},
		{"https://ａpp.example.com/", "/"},
	}
	for _, tt := range tests {
		if got := v.Validate(tt.rd, host).String(); got != tt.want {
			t.Errorf("Validate(%q) = %q, want %q", tt.rd, got, tt.want)
		}
	}
}

func FuzzRedirectValidator(f *testing.F) {
	for _, s := range []string{"/", "//evil.com", "/\\x", "https://a.example/", "/%2f%2f", "https://bücher.allowed.example/"} {
		f.Add(s)
	}
	v := NewValidator(allowedHosts(f, "allowed.example"))
	f.Fuzz(func(t *testing.T, rd string) {
		got := v.Validate(rd, "gate.example").String()
		if got == "/" {
			return
		}
		// Whatever passes reads back the same from the flow cookie: the
		// login and the sign-out give one answer.
		var back Target
		if err := back.UnmarshalText([]byte(got)); err != nil || back.String() != got {
			t.Fatalf("Validate(%q) = %q, which reads back as %q", rd, got, back)
		}
		// Whatever passes is either a same-site path or an allowed host.
		if got[0] == '/' {
			if len(got) > 1 && (got[1] == '/' || got[1] == '\\') {
				t.Fatalf("scheme-relative redirect accepted: %q", got)
			}
			if strings.HasPrefix(removeDotSegments(got), "//") {
				t.Fatalf("redirect collapsing to a scheme-relative path accepted: %q", got)
			}
			return
		}
		if !v.hostAllowed(hostOf(t, got), "gate.example") {
			t.Fatalf("redirect to foreign host accepted: %q", got)
		}
	})
}

func hostOf(t *testing.T, u string) string {
	t.Helper()
	i := len("https://")
	if u[:7] == "http://" {
		i = len("http://")
	}
	rest := u[i:]
	for j, r := range rest {
		if r == '/' || r == '?' || r == '#' {
			return rest[:j]
		}
	}
	return rest
}

// allowedHosts parses --whitelist-domain entries.
func allowedHosts(t testing.TB, entries ...string) []AllowedHost {
	t.Helper()
	var out []AllowedHost
	for _, e := range entries {
		a, err := ParseAllowedHost(e)
		if err != nil {
			t.Fatalf("ParseAllowedHost(%q): %v", e, err)
		}
		out = append(out, a)
	}
	return out
}

func TestTarget(t *testing.T) {
	t.Parallel()
	var zero Target
	if zero.String() != "/" || zero.IsAbs() {
		t.Errorf("zero Target = %q, abs %v; want \"/\", relative", zero, zero.IsAbs())
	}
	v := NewValidator(allowedHosts(t, ".example.com"))
	for _, rd := range []string{"/a?b=c", "https://app.example.com/x"} {
		target := v.Validate(rd, "gate.example")
		b, err := target.MarshalText()
		if err != nil || string(b) != rd {
			t.Fatalf("MarshalText(%q) = %q, %v", rd, b, err)
		}
		var back Target
		if err := back.UnmarshalText(b); err != nil || back != target {
			t.Errorf("UnmarshalText(%q) = %q, %v", b, back, err)
		}
	}
	// A stored value that no validator could have made reads as "/".
	for _, forged := range []string{"//evil.com", "javascript:alert(1)", "/%2f%2fevil", "https://u:p@evil.com/"} {
		var back Target
		if err := back.UnmarshalText([]byte(forged)); err != nil || back.String() != "/" {
			t.Errorf("UnmarshalText(%q) = %q, %v; want \"/\"", forged, back, err)
		}
	}
}

func TestParseAllowedHost(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"app.example.com", ".example.com", "App.Example.com:8443", ".example.com:*", "[::1]:8443", "[::1]", "10.0.0.1:80"} {
		a, err := ParseAllowedHost(ok)
		if err != nil {
			t.Errorf("ParseAllowedHost(%q): %v", ok, err)
			continue
		}
		if got := a.String(); got != strings.ToLower(ok) {
			t.Errorf("ParseAllowedHost(%q).String() = %q", ok, got)
		}
	}
	for _, bad := range []string{"*", ".", "*.example.com", "https://a.example", "a.example/x", "a.example:", "a.example:0", "a.example:99999", "bad_host", "[nope]", "bücher.example", ".bücher.example", "ａpp.example"} {
		var e *EntryError
		if _, err := ParseAllowedHost(bad); !errors.As(err, &e) || e.Problem == "" || e.Fix == "" {
			t.Errorf("ParseAllowedHost(%q) = %v, want an *EntryError with problem and fix", bad, err)
		}
	}
}

// BenchmarkValidate measures judging return addresses: a same-site path,
// an allowed absolute URL, and a refused one.
//
//	go test -run '^$' -bench Validate -benchmem ./proxy/redirect
func BenchmarkValidate(b *testing.B) {
	v := NewValidator(allowedHosts(b, "app.example.com", ".corp.example"))
	for _, rd := range []string{"/dashboard?tab=1", "https://wiki.corp.example/page", "https://evil.example/"} {
		b.Run(rd, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = v.Validate(rd, "gate.example.com")
			}
		})
	}
}
