package route

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"/", "/"},
		{"", "/"},
		{"/a/b", "/a/b"},
		{"/a/b/", "/a/b/"},
		{"//a///b", "/a/b"},
		{"/a/./b", "/a/b"},
		{"/a/../b", "/b"},
		{"/../../b", "/b"},
		{"/a/b/..", "/a/"},
		{"/a/b/.", "/a/b/"},
		{"/a%41", "/aA"},
		{"/%2e%2e/admin", "/admin"},
		{"/caf%C3%A9", "/café"},
		{"/a%20b", "/a b"},
		{"/a?x=/../b", "/a"},
		{"/a%25", "/a%"},
		{"/v1.2/x", "/v1.2/x"},
		{"/.well-known/x", "/.well-known/x"},
	} {
		got, err := NormalizePath(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizePath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNormalizePathRefuses(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"/a%2Fb", "/a%2fb", "/a%5Cb", "/a%5cb", "/a%00", "/a\\b", "/a;b", "/a%3Bb", "/a%23b",
		"/a%", "/a%4", "/a%zz", "/a%C0%AF", "/a%E0%80%AF", "/a%FF", "/a%252F", "/a%2525",
		"/a%0a", "/a%0D", "/a%7F", "/a\x00", "/a\tb", "/.../x", "/.. /x", "/. /x", "/..%20/x",
		"a/b", "*", strings.Repeat("/a", maxPathLen),
	} {
		if got, err := NormalizePath(in); !errors.Is(err, ErrAmbiguousPath) {
			t.Errorf("NormalizePath(%q) = %q, %v; want ErrAmbiguousPath", in, got, err)
		}
	}
}

func mustCompile(t testing.TB, specs ...Spec) *Table {
	t.Helper()
	tab, err := Compile(specs)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func TestMatch(t *testing.T) {
	t.Parallel()
	tab := mustCompile(t,
		Spec{Name: "health", Path: "/healthz", Public: true},
		Spec{Name: "exact", Path: "=/exact", Public: true},
		Spec{Name: "re", Path: "~^/re/[0-9]+$", Public: true},
		Spec{Name: "grafana", Host: "Grafana.Corp.Example."},
		Spec{Name: "wild", Host: "*.apps.example"},
		Spec{Name: "admin", Host: "app.example.com", Path: "/admin/", Methods: []string{"get", "POST"}},
		Spec{Name: "api", Path: "/api"},
		Spec{Name: "root-after", Path: "/"},
	)
	names := []string{"health", "exact", "re", "grafana", "wild", "admin", "api", "root-after"}
	for _, tc := range []struct {
		host, method, path, want string
	}{
		{"x", "GET", "/healthz", "health"},
		{"x", "GET", "/healthz/", "health"},
		{"x", "GET", "/healthz/deep", "health"},
		{"x", "GET", "/healthzz", "root-after"},
		{"x", "GET", "/HEALTHZ", "root-after"},
		{"x", "GET", "/exact", "exact"},
		{"x", "GET", "/exact/", "root-after"},
		{"x", "GET", "/exact/x", "root-after"},
		{"x", "GET", "/re/12", "re"},
		{"x", "GET", "/re/12/", "root-after"},
		{"x", "GET", "/re/x", "root-after"},
		{"grafana.corp.example", "GET", "/anything", "grafana"},
		{"GRAFANA.corp.example.:443", "GET", "/", "grafana"},
		{"grafana.corp.example", "GET", "/healthz", "health"},
		{"a.apps.example", "GET", "/", "wild"},
		{"a.b.apps.example:8080", "GET", "/", "wild"},
		{"apps.example", "GET", "/", "root-after"},
		{"evilapps.example", "GET", "/", "root-after"},
		{"app.example.com", "GET", "/admin", "admin"},
		{"app.example.com", "POST", "/admin/x", "admin"},
		{"app.example.com", "DELETE", "/admin/x", "root-after"},
		{"app.example.com", "GET", "/administrator", "root-after"},
		{"app.example.com", "GET", "/ADMIN/x", "admin"},
		{"app.example.com", "GET", "/admin./x", "admin"},
		{"other.example.com", "GET", "/admin", "root-after"},
		{"x", "GET", "/api", "api"},
		{"x", "GET", "/api/v1", "api"},
		{"x", "GET", "/apis", "root-after"},
	} {
		i := tab.Match(Request{Host: tc.host, Method: tc.method, Path: tc.path})
		got := "none"
		if i >= 0 {
			got = names[i]
		}
		if got != tc.want {
			t.Errorf("Match(%s %s %s) = %s, want %s", tc.method, tc.host, tc.path, got, tc.want)
		}
	}
	if i := mustCompile(t, Spec{Name: "a", Path: "/a"}).Match(Request{Path: "/b"}); i != -1 {
		t.Errorf("no route should match, got %d", i)
	}
	var empty *Table
	if empty.Match(Request{Path: "/"}) != -1 {
		t.Error("nil table matched")
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for _, s := range []Spec{
		{Name: "re", Path: "~(["},
		{Name: "rel", Path: "admin"},
		{Name: "dirty", Path: "/a/../b"},
		{Name: "enc", Path: "/a%2Fb"},
		{Name: "exact", Path: "=/a//b"},
		{Name: "host", Host: "http://x"},
		{Name: "wild", Host: "*."},
		{Name: "mid", Host: "a.*.example"},
	} {
		_, err := Compile([]Spec{s})
		if err == nil || !strings.Contains(err.Error(), `"`+s.Name+`"`) {
			t.Errorf("Compile(%+v) = %v; want an error naming the route", s, err)
		}
	}
}

// confusionPayloads are request paths (escaped, as on the wire) that try
// to reach /admin (protected) by looking like the public /healthz,
// /static/ or /public/ routes. Each must either be refused or be judged a
// protected request.
var confusionPayloads = []string{
	"/healthz/../admin", "/healthz/..%2fadmin", "/healthz/..%2Fadmin", "/healthz/%2e%2e/admin",
	"/healthz/%2E%2E/admin", "/healthz/.%2e/admin", "/healthz/%2e./admin", "/healthz%2f..%2fadmin",
	"/healthz/..%5cadmin", "/healthz/..\\admin", "/healthz\\..\\admin", "/healthz;/../admin",
	"/healthz;x=1/../admin", "/healthz/%252e%252e/admin", "/healthz/%252e%252e%252fadmin",
	"/healthz/..%00/admin", "/healthz%00/../admin", "/healthz/..;/admin", "/healthz//../admin",
	"/healthz/./../admin", "/healthz/.../admin", "/healthz/.. /admin", "/healthz/..%20/admin",
	"/healthz/..%09/admin", "/healthz/%c0%ae%c0%ae/admin", "/healthz/%c0%afadmin",
	"/healthz/%e0%80%ae%e0%80%ae/admin", "/healthz/..%c0%afadmin", "/healthz/%uff0e%uff0e/admin",
	"/healthz/..%23/admin", "/healthz#/../admin", "/static/../admin", "/static/./../admin",
	"/static//..//admin", "/static/%2e%2e%2fadmin", "/public/..%2F..%2Fadmin", "/public/%2e%2e/%2e%2e/admin",
	"/HEALTHZ/../ADMIN", "/healthz.", "/healthz./", "/healthz%2e", "/Healthz", "/healthz%20",
	"/./healthz/../admin/x", "/healthz/../../admin", "/healthz/x/../../admin", "/static/..",
	"/public", "/publicity/../admin", "/healthz/%2e%2e%2f%2e%2e%2fadmin",
}

func TestPathConfusion(t *testing.T) {
	t.Parallel()
	if len(confusionPayloads) < 40 {
		t.Fatalf("only %d payloads", len(confusionPayloads))
	}
	tab := mustCompile(t,
		Spec{Name: "health", Path: "/healthz", Public: true},
		Spec{Name: "static", Path: "/static/", Public: true},
		Spec{Name: "public", Path: "=/public/", Public: true},
		Spec{Name: "admin", Path: "/admin"},
	)
	for _, p := range confusionPayloads {
		n, err := NormalizePath(p)
		if err != nil {
			continue // refused: 400
		}
		i := tab.Match(Request{Host: "app", Method: "GET", Path: n})
		if i >= 0 && i < 3 {
			t.Errorf("%q (normalised %q) reached public route %d", p, n, i)
		}
		if strings.Contains(strings.ToLower(n), "admin") && i != 3 {
			t.Errorf("%q (normalised %q) names admin but matched route %d, not admin", p, n, i)
		}
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, p := range confusionPayloads {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := NormalizePath(in)
		if p, _, _ := strings.Cut(in, "?"); p != "" && p[0] == '/' && plain(p) {
			// The fast path agrees with decoding and cleaning.
			d, derr := decode(p)
			if derr == nil {
				d, derr = clean(d)
			}
			if derr != nil || d != n || err != nil {
				t.Fatalf("fast path %q = %q, %v; slow path %q, %v", in, n, err, d, derr)
			}
		}
		if err != nil {
			return
		}
		// Idempotent: the normalised path is its own normal form.
		again, err := NormalizePath(escapeForTest(n))
		if err != nil || again != n {
			t.Fatalf("NormalizePath(%q) = %q, but renormalising gives %q, %v", in, n, again, err)
		}
		if !strings.HasPrefix(n, "/") || strings.Contains(n, "//") || strings.Contains(n, "/../") || strings.Contains(n, "/./") {
			t.Fatalf("NormalizePath(%q) = %q is not clean", in, n)
		}
	})
}

// escapeForTest percent-encodes '%' and '?' so a normalised path can be
// fed back to NormalizePath.
func escapeForTest(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3F").Replace(p)
}

func FuzzMatch(f *testing.F) {
	tab := mustCompile(f,
		Spec{Name: "health", Path: "/healthz", Public: true},
		Spec{Name: "static", Path: "/static/", Public: true},
		Spec{Name: "admin", Path: "/admin"},
	)
	for _, p := range confusionPayloads {
		f.Add("app", "GET", p)
	}
	f.Fuzz(func(t *testing.T, host, method, raw string) {
		n, err := NormalizePath(raw)
		if err != nil {
			return
		}
		i := tab.Match(Request{Host: host, Method: method, Path: n})
		if i == 0 && !underPrefix(n, "/healthz") || i == 1 && !underPrefix(n, "/static") {
			t.Fatalf("%q (%q) matched public route %d", raw, n, i)
		}
		if underPrefix(fold(n), "/admin") && i != 2 && !underPrefix(n, "/healthz") && !underPrefix(n, "/static") {
			t.Fatalf("%q (%q) is under /admin but matched %d", raw, n, i)
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	specs := []Spec{{Name: "health", Path: "/healthz", Public: true}, {Name: "static", Path: "/static/", Public: true}}
	for _, h := range []string{"grafana", "wiki", "ci", "git", "chat", "docs"} {
		specs = append(specs, Spec{Name: h + "-admin", Host: h + ".corp.example", Path: "/admin/"},
			Spec{Name: h + "-api", Host: h + ".corp.example", Path: "~/api/v[0-9]+/.*"}, Spec{Name: h, Host: h + ".corp.example"})
	}
	tab := mustCompile(b, specs...)
	b.ReportAllocs()
	for b.Loop() {
		n, err := NormalizePath("/api/v2/projects/42/pipelines")
		if err != nil {
			b.Fatal(err)
		}
		if tab.Match(Request{Host: "docs.corp.example:443", Method: "GET", Path: n}) < 0 {
			b.Fatal("no match")
		}
	}
}
