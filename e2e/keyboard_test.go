package e2e

import (
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// authorizeStub is an OAuth2 authorization endpoint that only shows what
// it was asked: the osu! preset's auth_url (/oauth/authorize) and the
// GitHub preset's base_url (/login/oauth/authorize) point here, so a test
// sees which login the browser started without reaching the internet.
func authorizeStub(t testing.TB) *httptest.Server {
	t.Helper()
	page := template.Must(template.New("authorize").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{.Service}} test authorization</title></head>
<body><main><h1>{{.Service}} test authorization</h1><p id="query">{{.Query}}</p></main></body></html>`))
	services := map[string]string{"/oauth/authorize": "osu!", "/login/oauth/authorize": "GitHub"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		service, ok := services[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = page.Execute(w, struct{ Service, Query string }{service, r.URL.RawQuery})
	}))
	t.Cleanup(srv.Close)
	return srv
}

// startProvidersStack starts a gateway whose sign-in page offers four
// providers: the certified OpenID provider, the GitHub and osu! presets
// (their authorization endpoints replaced by authorizeStub) and Mastodon
// (one allowed instance).
func startProvidersStack(t testing.TB) (*stack, *httptest.Server) {
	t.Helper()
	require(t, needChromium, needNode, needAxe)
	stub := authorizeStub(t)
	s := &stack{app: startUpstream(t)}
	port := freePort(t)
	gwURL := "http://127.0.0.1:" + strconv.Itoa(port)
	s.op = startProvider(t, 0, gwURL)
	cfg := baseConfig(t, s.op, s.app.URL(), gwURL)
	for _, k := range []string{"provider", "provider_display_name", "oidc_issuer_url", "client_id", "client_secret_file", "scope"} {
		delete(cfg, k)
	}
	cfg["email_domain"] = []string{"*"}
	cfg["providers"] = []map[string]any{
		{
			"id": "corp", "type": "oidc", "name": ssoName,
			"issuer_url": s.op.Issuer(), "client_id": e2eClientID,
			"client_secret_file": secretFile(t, e2eClientSecret),
			"scopes":             []string{"openid", "email", "profile", "groups"},
		},
		{
			"type": "github", "client_id": "Ov23liE2E", "client_secret_file": secretFile(t, "github-test-secret"),
			"base_url": stub.URL, "allowed_organizations": []string{"acme"},
		},
		{
			"type": "osu", "client_id": "4242", "client_secret_file": secretFile(t, "osu-test-secret"),
			"auth_url": stub.URL + "/oauth/authorize",
		},
		{"type": "mastodon", "allowed_instances": []string{"social.example"}},
	}
	s.gw = startGatehouse(t, "gatehouse", port, cfg)
	return s, stub
}

// TestBrowserProvidersByKeyboard is scenario 8: several providers on one
// sign-in page, used with the keyboard only. Tab reaches each button and
// the Mastodon instance field in order, each with a visible focus ring,
// and Enter starts the login of the provider in focus.
func TestBrowserProvidersByKeyboard(t *testing.T) {
	t.Parallel()
	s, stub := startProvidersStack(t)
	b := newWindow(t, "keyboard user")
	const page = "/s8/page?k=1"
	p := b.open(s.gw.URL() + page)
	signInURL := p.URL
	if !strings.HasPrefix(signInURL, s.gw.URL()+"/oauth2/sign_in?") {
		t.Fatalf("a protected page led to %s, want the sign-in page", p)
	}
	checkPage(b, "sign-in-providers")
	if os.Getenv("GATEHOUSE_E2E_UPDATE_DOCS") == "1" {
		docsScreenshot(t, b, filepath.Join(repoRoot(t), "docs", "sign-in.png"))
	}
	wantTabOrder(t, b)
	osuByKeyboard(t, b, s, stub)
	b.open(signInURL)
	githubByKeyboard(t, b, s, stub)
	b.open(signInURL)
	mastodonByKeyboard(t, b, s)
	b.open(signInURL)
	openIDByKeyboard(t, b, s, page)
}

// wantTabOrder presses Tab from the top of the sign-in page and checks
// that each provider's control gets the focus in order, visibly.
func wantTabOrder(t *testing.T, b *tab) {
	t.Helper()
	var order []string
	for range 5 {
		b.key(kb.Tab)
		order = append(order, b.focused())
		if !focusRingVisible(b) {
			t.Errorf("%s has no visible focus indicator", order[len(order)-1])
		}
	}
	want := []string{
		"button Sign in with " + ssoName,
		"button Sign in with GitHub",
		"button Sign in with osu!",
		"input#instance-mastodon label=Your Mastodon server",
		"button Sign in with Mastodon",
	}
	if strings.Join(order, " | ") != strings.Join(want, " | ") {
		t.Fatalf("Tab visits\n  %s\nwant\n  %s", strings.Join(order, "\n  "), strings.Join(want, "\n  "))
	}
}

// osuByKeyboard goes back from the last control to osu!'s button with
// Shift+Tab; Enter must lead to osu!'s authorization endpoint.
func osuByKeyboard(t *testing.T, b *tab, s *stack, stub *httptest.Server) {
	t.Helper()
	b.key(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift))
	b.key(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift))
	if f := b.focused(); f != "button Sign in with osu!" {
		t.Fatalf("after Shift+Tab twice the focus is on %q, want the osu! button", f)
	}
	b.key(kb.Enter)
	p := b.waitURL(stub.URL + "/oauth/authorize?")
	q, _ := url.ParseQuery(strings.SplitN(p.URL, "?", 2)[1])
	if p.H1 != "osu! test authorization" || q.Get("client_id") != "4242" || q.Get("response_type") != "code" ||
		q.Get("redirect_uri") != s.gw.URL()+"/oauth2/callback" || q.Get("state") == "" {
		t.Errorf("Enter on the osu! button led to %s, want osu!'s authorization request for client 4242", p)
	}
}

// githubByKeyboard tabs to the GitHub preset's button; Enter must lead to
// GitHub's authorization endpoint under base_url, asking for the scopes
// its organisation rule needs, with PKCE.
func githubByKeyboard(t *testing.T, b *tab, s *stack, stub *httptest.Server) {
	t.Helper()
	b.key(kb.Tab)
	b.key(kb.Tab)
	if f := b.focused(); f != "button Sign in with GitHub" {
		t.Fatalf("after Tab twice the focus is on %q, want the GitHub button", f)
	}
	b.key(kb.Enter)
	p := b.waitURL(stub.URL + "/login/oauth/authorize?")
	q, _ := url.ParseQuery(strings.SplitN(p.URL, "?", 2)[1])
	if p.H1 != "GitHub test authorization" || q.Get("client_id") != "Ov23liE2E" || q.Get("scope") != "read:user user:email read:org" ||
		q.Get("redirect_uri") != s.gw.URL()+"/oauth2/callback" || q.Get("code_challenge_method") != "S256" || q.Get("state") == "" {
		t.Errorf("Enter on the GitHub button led to %s, want GitHub's authorization request for client Ov23liE2E with read:org and PKCE", p)
	}
}

// mastodonByKeyboard tabs to the instance field, types an instance and
// presses Enter, which must submit Mastodon's form with it; then checks
// the sign-in page that a start without an instance gets.
func mastodonByKeyboard(t *testing.T, b *tab, s *stack) {
	t.Helper()
	for range 4 {
		b.key(kb.Tab)
	}
	if f := b.focused(); !strings.HasPrefix(f, "input#instance-mastodon") {
		t.Fatalf("after Tab four times the focus is on %q, want the Mastodon instance field", f)
	}
	b.do("type the instance", chromedp.KeyEvent("elsewhere.example"))
	b.key(kb.Enter)
	p := b.waitURL(s.gw.URL() + "/oauth2/start?")
	if p.Status != 403 || !strings.Contains(p.Text, "Logging in with elsewhere.example is not allowed here.") {
		t.Errorf("Enter in the Mastodon field led to %s, want Mastodon's refusal of an instance not on the list", p)
	}
	if st, _ := url.Parse(p.URL); st.Query().Get("provider") != "mastodon" || st.Query().Get("instance") != "elsewhere.example" {
		t.Errorf("Enter in the Mastodon field started %s, want provider=mastodon&instance=elsewhere.example", p.URL)
	}

	// Mastodon without an instance (a browser that skipped the required
	// field): the sign-in page again, the error next to the field.
	p = b.open(s.gw.URL() + "/oauth2/start?provider=mastodon&rd=%2Fs8%2Fpage%3Fk%3D1")
	if p.Status != 400 || p.H1 != "Sign in" || !strings.Contains(p.Text, "Enter the server you want to sign in with.") {
		t.Errorf("Mastodon without an instance shows %s, want the sign-in page with the error", p)
	}
	if d := eval[string](b, `document.getElementById('instance-mastodon').getAttribute('aria-describedby') || ''`); d != "error-mastodon" {
		t.Errorf("the instance field is described by %q, want the error (error-mastodon)", d)
	}
	checkPage(b, "sign-in-error")
}

// openIDByKeyboard signs in at the OpenID provider with the keyboard only,
// from the sign-in page to the page asked for.
func openIDByKeyboard(t *testing.T, b *tab, s *stack, page string) {
	t.Helper()
	b.key(kb.Tab)
	b.key(kb.Enter)
	b.waitPage("the provider's sign-in page", func(p pageState) bool {
		return strings.HasPrefix(p.URL, s.op.Issuer()+"/") && p.H1 == "Sign in"
	})
	alice := s.op.Account(t, "alice")
	b.key(kb.Tab)
	b.do("type the username", chromedp.KeyEvent(alice.Username))
	b.key(kb.Tab)
	b.do("type the password", chromedp.KeyEvent(alice.Password))
	b.key(kb.Enter)
	b.waitPage("the provider's consent page", func(p pageState) bool { return p.H1 == "Authorize" })
	b.key(kb.Tab)
	b.key(kb.Enter)
	p := b.waitPage("the page the user asked for", func(p pageState) bool { return p.URL == s.gw.URL()+page })
	if got := wantUpstreamPage(t, s, p, page, alice.Email); got.Header.Get("X-Forwarded-Provider") != "corp" {
		t.Errorf("upstream received X-Forwarded-Provider %q, want corp", got.Header.Get("X-Forwarded-Provider"))
	}
}

// focusRingVisible reports whether the focused element draws an outline
// or a box shadow.
func focusRingVisible(b *tab) bool {
	b.t.Helper()
	return eval[bool](b, `(() => { const s = getComputedStyle(document.activeElement);
	  return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none'; })()`)
}

// docsScreenshot writes the sign-in page, as README.md shows it, to path.
func docsScreenshot(t *testing.T, b *tab, path string) {
	t.Helper()
	b.emulate(720, "light")
	b.do("size for the docs", chromedp.EmulateViewport(720, 640))
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("docs screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
	b.emulate(1280, "light")
}
