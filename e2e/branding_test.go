package e2e

import (
	"strings"
	"testing"
)

// TestBrowserBrandedPages: the sign-in and error pages with --banner,
// --footer and --logo-url pass the accessibility and layout checks in
// both colour schemes at 390 and 1280 px, like the plain ones.
func TestBrowserBrandedPages(t *testing.T) {
	t.Parallel()
	if !hasOption(t, "--banner") {
		t.Skip("needs --banner, --footer and --logo-url")
	}
	s := startStack(t, "gatehouse branded", stackOptions{config: gatehouseConfig{
		"banner":   "Authorised ACME staff only. Access is logged.",
		"footer":   "© ACME Corporation · IT service desk: extension 4242",
		"logo_url": "/static/acme-logo.svg",
	}})
	b := newWindow(t, "branded")
	p := b.open(s.gw.URL() + "/oauth2/sign_in")
	for _, want := range []string{"Authorised ACME staff only", "IT service desk"} {
		if !strings.Contains(p.Text, want) {
			t.Fatalf("the branded sign-in page lacks %q: %s", want, p)
		}
	}
	checkPage(b, "branded-sign-in")
	p = b.open(s.gw.URL() + "/oauth2/callback?state=bogus&code=x")
	if p.Status != 400 || !strings.Contains(p.Text, "IT service desk") {
		t.Fatalf("the branded error page: %s", p)
	}
	checkPage(b, "branded-error")
}
