package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// protectedPage is a page with a query string that must survive the trip
// through the sign-in, encoded parts included.
const protectedPage = "/reports/q3?team=blue%20team&sort=-date&next=%2Fother%3Fa%3Db%26c%3Dd"

// signIn goes from a protected page through the sign-in page and the
// provider back to that page as username, and returns the page shown.
// The sign-in page is checked for accessibility when checkAs is set.
func signIn(b *tab, s *stack, path, username, checkAs string) pageState {
	b.t.Helper()
	b.open(s.gw.URL() + path)
	p := b.waitURL(s.gw.URL() + "/oauth2/sign_in?")
	if p.H1 != "Sign in" || !strings.Contains(p.Text, "Sign in with "+ssoName) {
		b.t.Fatalf("%s: %s sent the browser to a sign-in page that does not offer %s: %s", b.name, path, ssoName, p)
	}
	if checkAs != "" {
		checkPage(b, checkAs)
	}
	b.clickText("Sign in with " + ssoName)
	providerLogin(b, s.op, username)
	return b.waitPage("the page the user asked for", func(p pageState) bool { return p.URL == s.gw.URL()+path })
}

// wantUpstreamPage checks that the browser shows the upstream's page for
// path with the user's identity, and that the upstream received exactly
// that request with those identity headers.
func wantUpstreamPage(t *testing.T, s *stack, p pageState, path, email string) upstreamRequest {
	t.Helper()
	if p.H1 != "Upstream app" || !strings.Contains(p.Text, "GET "+path) {
		t.Fatalf("browser shows %s, want the upstream's page for GET %s", p, path)
	}
	if !strings.Contains(p.Text, "X-Forwarded-Email\t"+email) {
		t.Errorf("the upstream's page does not show X-Forwarded-Email %s:\n%s", email, p.Text)
	}
	got := s.app.Received(t, path)
	if e := got.Header.Get("X-Forwarded-Email"); e != email {
		t.Errorf("upstream received X-Forwarded-Email %q, want %q", e, email)
	}
	for _, c := range got.Header.Values("Cookie") {
		if strings.Contains(c, "_gatehouse") {
			t.Errorf("upstream received Gatehouse's cookies: %s", c)
		}
	}
	return got
}

// TestBrowserSignIn runs the everyday scenarios against one gateway with
// the Redis session store, each in a browser of its own.
func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	s := startStack(t, "gatehouse", stackOptions{redis: true})

	// Scenarios 1 and 2: a protected page with a query → the sign-in page
	// → the provider's sign-in and consent → back on the same path and
	// query, identity shown by the upstream; a reload signs in no one
	// again; the session cookie is HttpOnly and SameSite.
	t.Run("LoginReturnsToPageThenReloadKeepsSession", func(t *testing.T) {
		t.Parallel()
		b := newWindow(t, "alice")
		before := s.op.Stats(t)
		p := signIn(b, s, protectedPage, "alice", "sign-in")
		alice := s.op.Account(t, "alice")
		got := wantUpstreamPage(t, s, p, protectedPage, alice.Email)
		if u := got.Header.Get("X-Forwarded-User"); u != alice.Sub {
			t.Errorf("upstream received X-Forwarded-User %q, want the subject %q", u, alice.Sub)
		}
		if g := got.Header.Get("X-Forwarded-Groups"); g != "admins,engineering" {
			t.Errorf("upstream received X-Forwarded-Groups %q, want admins,engineering", g)
		}
		if !strings.Contains(p.Text, "X-Forwarded-Groups\tadmins,engineering") {
			t.Errorf("the upstream's page does not show the groups:\n%s", p.Text)
		}
		after := s.op.Stats(t)
		if after.Logins != before.Logins+1 || after.Consents != before.Consents+1 || after.AuthorizationCodeGrants != before.AuthorizationCodeGrants+1 {
			t.Errorf("provider saw %+v after %+v, want one more login, consent and code grant", after, before)
		}

		// Reload: the same page again, no new login.
		count := s.app.CountOf(protectedPage)
		b.do("reload", chromedp.Reload())
		p = b.waitPage("the reloaded page", func(p pageState) bool { return s.app.CountOf(protectedPage) > count })
		if p.URL != s.gw.URL()+protectedPage {
			t.Fatalf("after a reload the browser is at %s, want %s", p.URL, protectedPage)
		}
		wantUpstreamPage(t, s, p, protectedPage, alice.Email)
		p = b.open(s.gw.URL() + "/another/page?x=1")
		wantUpstreamPage(t, s, p, "/another/page?x=1", alice.Email)
		if st := s.op.Stats(t); st.Logins != after.Logins || st.AuthorizationCodeGrants != after.AuthorizationCodeGrants {
			t.Errorf("provider saw %+v after the reload, want no new login (%+v)", st, after)
		}

		cookies := sessionCookies(b, s.gw.URL())
		if len(cookies) == 0 {
			t.Fatalf("no session cookie in the browser; cookies: %v", b.cookies(s.gw.URL()))
		}
		for _, c := range cookies {
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
				t.Errorf("session cookie %s: HttpOnly=%v SameSite=%q, want HttpOnly and SameSite=Lax", c.Name, c.HTTPOnly, c.SameSite)
			}
		}
		if js := eval[string](b, "document.cookie"); strings.Contains(js, "_gatehouse") {
			t.Errorf("page scripts can read the session cookie: %q", js)
		}
	})
}

var _ = http.StatusOK
