package proxy_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// body returns resp's body as a string.
func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPagesOverriddenFromDirectory replaces the sign-in page from
// --custom-templates-dir, keeps the built-in error page (no file for it),
// and brands every page with an escaped banner and footer and a logo the
// Content-Security-Policy allows.
func TestPagesOverriddenFromDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	custom := `{{template "head" "Welcome"}}<h1>ACME staff sign-in</h1>{{range .Providers}}<a href="/oauth2/start?provider={{.ID}}&rd={{$.Redirect}}">{{.DisplayName}}</a>{{end}}{{template "foot"}}`
	if err := os.WriteFile(filepath.Join(dir, "sign_in.html"), []byte(custom), 0o600); err != nil {
		t.Fatal(err)
	}
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.CustomTemplatesDir = dir
		o.Banner = "Authorised <b>users</b> only"
		o.Footer = "© ACME <script>alert(1)</script>"
		o.LogoURL = "https://cdn.acme.example/logo.svg"
	}})
	resp := g.Get(t, "/oauth2/sign_in")
	page := body(t, resp)
	if !strings.Contains(page, "ACME staff sign-in") || strings.Contains(page, "Sign in to continue") {
		t.Errorf("sign-in page not overridden:\n%s", page)
	}
	for _, want := range []string{`&copy; ACME &lt;script&gt;`, `src="https://cdn.acme.example/logo.svg"`} {
		if !strings.Contains(page, want) && !strings.Contains(page, strings.ReplaceAll(want, "&copy;", "©")) {
			t.Errorf("overridden page lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Error("the footer is not escaped")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data: https://cdn.acme.example;") {
		t.Errorf("CSP %q does not allow the logo", csp)
	}

	// No error.html in the directory: the built-in page, branded.
	resp = g.Get(t, "/oauth2/callback?state=nope")
	page = body(t, resp)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "Sign-in failed") || !strings.Contains(page, "ACME &lt;script&gt;") {
		t.Errorf("built-in error page: %d\n%s", resp.StatusCode, page)
	}

	// The banner shows on the built-in sign-in page, escaped.
	plain := testutil.StartGateway(t, testutil.GatewayConfig{IdPServer: g.IdP, Options: func(o *config.Options) { o.Banner = "Authorised <b>users</b> only" }})
	page = body(t, plain.Get(t, "/oauth2/sign_in"))
	if !strings.Contains(page, "Authorised &lt;b&gt;users&lt;/b&gt; only") {
		t.Errorf("banner missing or unescaped:\n%s", page)
	}
	if strings.Contains(page, `class="logo"`) || strings.Contains(page, `class="footer"`) {
		t.Error("a logo or footer shows though none is configured")
	}
}

// TestBrokenCustomTemplatesRefused: a template that does not parse, one
// that uses fields the page lacks, and a file named like no page all stop
// start-up with the file's name.
func TestBrokenCustomTemplatesRefused(t *testing.T) {
	t.Parallel()
	idp := testutil.StartIdP(t, devidp.Options{})
	for _, tt := range []struct{ file, content, want string }{
		{"sign_in.html", `{{template "head" "x"}}{{range .Providers}}`, "sign_in.html"},
		{"error.html", `{{.NoSuchField}}`, "error.html"},
		{"signin.html", `hello`, "signin.html"},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		o := config.Defaults()
		o.Upstream, o.Provider, o.OIDCIssuerURL = "http://127.0.0.1:9", "oidc", idp.Issuer()
		o.ClientID, o.ClientSecret, o.CookieSecret = idp.ClientID, idp.ClientSecret, testutil.TestCookieSecret
		o.EmailDomains, o.CustomTemplatesDir = []string{"*"}, dir
		cfg, err := o.Validate()
		if err != nil {
			t.Fatal(err)
		}
		_, err = gateway.New(context.Background(), cfg, gateway.Deps{})
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "Fix:") {
			t.Errorf("%s: start-up error %v; want it to name the file and say how to fix it", tt.file, err)
		}
	}
}
