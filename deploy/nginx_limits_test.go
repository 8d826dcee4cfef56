package deploy_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/internal/server"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// nginxSize parses an nginx size ("64k", "1m", "512").
func nginxSize(t *testing.T, s string) int {
	t.Helper()
	mult := 1
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1<<10, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "m"):
		mult, s = 1<<20, strings.TrimSuffix(s, "m")
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("nginx size %q: %v", s, err)
	}
	return n * mult
}

// locationBlock returns the body of the first "location <match> {" block.
func locationBlock(t *testing.T, conf, match string) string {
	t.Helper()
	i := strings.Index(conf, "location "+match+" {")
	if i < 0 {
		t.Fatalf("deploy/nginx/gatehouse.conf has no 'location %s'", match)
	}
	rest := conf[i:]
	return rest[:strings.Index(rest, "\n    }")]
}

func directiveSize(t *testing.T, block, directive string, field int) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + directive + `((?:\s+[^\s;]+)+);`).FindStringSubmatch(block)
	if m == nil {
		t.Fatalf("no %s in:\n%s", directive, block)
	}
	return nginxSize(t, strings.Fields(m[1])[field])
}

// TestNginxExampleCarriesMaxChunks keeps the nginx example in step with
// the cookie store's cap (defect 5): it relays every Set-Cookie line a
// refresh of a session of session.MaxChunks chunks sends, and its buffers
// hold those lines (twice on the auth answer) and the Cookie header.
func TestNginxExampleCarriesMaxChunks(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("nginx", "gatehouse.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	lines := session.MaxChunks + 1 // the chunks and the old single cookie's expiry
	set := regexp.MustCompile(`auth_request_set \$gh_cookie_(\d+)\s+\$upstream_http_x_gatehouse_set_cookie_(\d+);`).FindAllStringSubmatch(conf, -1)
	relayed := map[string]bool{}
	for _, m := range set {
		if m[1] != m[2] {
			t.Errorf("$gh_cookie_%s holds X-Gatehouse-Set-Cookie-%s", m[1], m[2])
		}
		if !strings.Contains(conf, "add_header Set-Cookie $gh_cookie_"+m[1]+";") {
			t.Errorf("$gh_cookie_%s is never added to the answer", m[1])
		}
		relayed[m[1]] = true
	}
	for i := 1; i < lines; i++ {
		if !relayed[strconv.Itoa(i)] {
			t.Errorf("X-Gatehouse-Set-Cookie-%d is not relayed: a refresh of %d chunks sends %d Set-Cookie lines", i, session.MaxChunks, lines)
		}
	}
	if len(relayed) != lines-1 {
		t.Errorf("%d numbered cookies relayed, want %d (session.MaxChunks changed? update the example)", len(relayed), lines-1)
	}
	if !strings.Contains(conf, "add_header Set-Cookie $gh_cookie;") {
		t.Error("the first Set-Cookie ($upstream_http_set_cookie) is not relayed")
	}

	cookieLines := lines * session.MaxCookieLine
	auth := locationBlock(t, conf, "^~ /oauth2/auth")
	if got, want := directiveSize(t, auth, "proxy_buffer_size", 0), 2*cookieLines+16<<10; got < want {
		t.Errorf("auth location: proxy_buffer_size %d < %d (twice %d Set-Cookie lines, plus identity)", got, want, lines)
	}
	own := locationBlock(t, conf, "/oauth2/")
	if got, want := directiveSize(t, own, "proxy_buffer_size", 0), cookieLines+4<<10; got < want {
		t.Errorf("/oauth2/ location: proxy_buffer_size %d < %d (the callback's Set-Cookie lines)", got, want)
	}
	// The Cookie header: every chunk, five login-flow cookies, some room.
	cookieHeader := session.MaxChunks*session.MaxCookieLine + 5*1024 + 2048
	if got := directiveSize(t, conf, "large_client_header_buffers", 1); got < cookieHeader {
		t.Errorf("large_client_header_buffers of %d bytes < a %d-byte Cookie header", got, cookieHeader)
	}
	if server.MaxHeaderBytes < cookieHeader+8<<10 {
		t.Errorf("Gatehouse's MaxHeaderBytes %d cannot read a %d-byte Cookie header", server.MaxHeaderBytes, cookieHeader)
	}
}
