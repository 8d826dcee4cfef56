package proxy_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// TestSignOutNeedsSameSiteOrToken: a cross-site link or form cannot sign a
// user out. GET shows a confirmation form (unless --sign-out-get); a POST
// signs out when the browser says it comes from this site, when it comes
// from no browser at all, or when it carries the form's token for this
// session.
func TestSignOutNeedsSameSiteOrToken(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) { o.ProviderSignOut = false }})
	other := testutil.StartGateway(t, testutil.GatewayConfig{IdPServer: g.IdP, Options: func(o *config.Options) { o.ProviderSignOut = false }})
	other.Login(t, "bob", "/")
	otherToken := signOutForm(t, other.Get(t, "/oauth2/sign_out")).Get("csrf")

	for _, tt := range []struct {
		name    string
		method  string
		header  []string
		token   string // "page": the token of this session's page
		signOut bool
	}{
		{"GET shows a form", http.MethodGet, []string{"Accept", browserAccept}, "", false},
		{"HEAD shows a form", http.MethodHead, nil, "", false},
		{"cross-site POST", http.MethodPost, []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, "", false},
		{"same-site (sibling) POST", http.MethodPost, []string{"Sec-Fetch-Site", "same-site", "Origin", "https://sibling.example"}, "", false},
		{"foreign Origin, no Sec-Fetch-Site", http.MethodPost, []string{"Origin", "https://evil.example"}, "", false},
		{"null Origin", http.MethodPost, []string{"Origin", "null"}, "", false},
		{"cross-site with another session's token", http.MethodPost, []string{"Sec-Fetch-Site", "cross-site"}, otherToken, false},
		{"cross-site with a forged token", http.MethodPost, []string{"Sec-Fetch-Site", "cross-site"}, "AAAA" + otherToken, false},
		{"cross-site with the page's token", http.MethodPost, []string{"Sec-Fetch-Site", "cross-site"}, "page", true},
		{"same-origin POST", http.MethodPost, []string{"Sec-Fetch-Site", "same-origin"}, "", true},
		{"typed address (none)", http.MethodPost, []string{"Sec-Fetch-Site", "none"}, "", true},
		{"matching Origin", http.MethodPost, []string{"Origin", "self"}, "", true},
		{"no browser headers", http.MethodPost, nil, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := testutil.NewBrowser(t)
			gb := *g
			gb.Client = b
			gb.Login(t, "alice", "/")
			form := url.Values{"rd": {"/bye"}}
			switch tt.token {
			case "page":
				form.Set("csrf", signOutForm(t, gb.Get(t, "/oauth2/sign_out")).Get("csrf"))
			case "":
			default:
				form.Set("csrf", tt.token)
			}
			header := append([]string{"Content-Type", "application/x-www-form-urlencoded"}, tt.header...)
			for i := range header {
				if header[i] == "self" {
					header[i] = g.Server.URL
				}
			}
			u := g.Server.URL + "/oauth2/sign_out"
			var body *strings.Reader
			if tt.method == http.MethodPost {
				body = strings.NewReader(form.Encode())
			} else {
				u += "?rd=/bye"
				body = strings.NewReader("")
			}
			resp := send(t, b, tt.method, u, body, header...)
			signedIn := gb.Get(t, "/", "Accept", "application/json").StatusCode == http.StatusOK
			if signedIn == tt.signOut {
				t.Errorf("%s: status %d, still signed in: %v; want signed out: %v", tt.method, resp.StatusCode, signedIn, tt.signOut)
			}
			if tt.signOut && (resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/bye") {
				t.Errorf("signed out with %d to %q, want 302 to /bye", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !tt.signOut && tt.method == http.MethodPost && resp.StatusCode != http.StatusForbidden {
				t.Errorf("refused POST: status %d, want 403", resp.StatusCode)
			}
		})
	}
}

// TestSignOutGETOption: --sign-out-get keeps the old one-click link.
func TestSignOutGETOption(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.ProviderSignOut = false
		o.SignOutGET = true
	}})
	g.Login(t, "alice", "/")
	resp := g.Get(t, "/oauth2/sign_out?rd=/bye")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/bye" {
		t.Errorf("GET with --sign-out-get: %d to %q, want 302 to /bye", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := g.Get(t, "/", "Accept", "application/json").StatusCode; got != http.StatusUnauthorized {
		t.Errorf("after GET sign-out: %d, want 401", got)
	}
}
