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

// signIn goes from a protected page through the sign-in page (when the
// gateway shows one: nginx's example goes straight to the provider) and
// the provider back to that page as username, and returns the page shown.
// The sign-in page is checked for accessibility when checkAs is set.
func signIn(b *tab, s *stack, path, username, checkAs string) pageState {
	b.t.Helper()
	b.open(s.gw.URL() + path)
	p := b.waitPage("the sign-in page or the provider's", func(p pageState) bool {
		return strings.HasPrefix(p.URL, s.gw.URL()+"/oauth2/sign_in?") || strings.HasPrefix(p.URL, s.op.Issuer()+"/")
	})
	if strings.HasPrefix(p.URL, s.gw.URL()+"/oauth2/sign_in?") {
		if p.H1 != "Sign in" || !strings.Contains(p.Text, "Sign in with "+ssoName) {
			b.t.Fatalf("%s: %s sent the browser to a sign-in page that does not offer %s: %s", b.name, path, ssoName, p)
		}
		if checkAs != "" {
			checkPage(b, checkAs)
		}
		b.clickText("Sign in with " + ssoName)
	} else if checkAs != "" {
		b.t.Fatalf("%s: %s went straight to the provider; no sign-in page to check", b.name, path)
	}
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
	return got
}

// wantNoGatehouseCookies checks that Gatehouse kept its own cookies from
// the upstream (reverse-proxy mode; nginx's example passes them on unless
// told not to). It names cookies, never their values.
func wantNoGatehouseCookies(t *testing.T, got upstreamRequest) {
	t.Helper()
	r := http.Request{Header: got.Header}
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, "_gatehouse") {
			t.Errorf("upstream received Gatehouse's cookie %s", c.Name)
		}
	}
}

// TestBrowserSignIn runs the everyday scenarios against one gateway with
// the Redis session store, each in a browser of its own, in parallel.
func TestBrowserSignIn(t *testing.T) {
	t.Parallel()
	s := startStack(t, "gatehouse", stackOptions{redis: true})
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *stack)
	}{
		{"LoginReturnsToPageThenReloadKeepsSession", loginThenReload},
		{"SignOutEndsSessionAndOldCookieIsRefused", signOutThenReplay},
		{"TwoTabsLogInAtOnce", twoTabsAtOnce},
		{"OutsideDomainIsForbidden", outsideDomainForbidden},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, s)
		})
	}
}

// loginThenReload is scenarios 1 and 2: a protected page with a query → the sign-in page
// → the provider's sign-in and consent → back on the same path and
// query, identity shown by the upstream; a reload signs in no one
// again; the session cookie is HttpOnly and SameSite.
func loginThenReload(t *testing.T, s *stack) {
	b := newWindow(t, "alice")
	before := s.op.AccountStats(t, "alice")
	p := signIn(b, s, protectedPage, "alice", "sign-in")
	alice := s.op.Account(t, "alice")
	got := wantUpstreamPage(t, s, p, protectedPage, alice.Email)
	if u := got.Header.Get("X-Forwarded-User"); u != alice.Sub {
		t.Errorf("upstream received X-Forwarded-User %q, want the subject %q", u, alice.Sub)
	}
	wantNoGatehouseCookies(t, got)
	if g := got.Header.Get("X-Forwarded-Groups"); g != "admins,engineering" {
		t.Errorf("upstream received X-Forwarded-Groups %q, want admins,engineering", g)
	}
	if !strings.Contains(p.Text, "X-Forwarded-Groups\tadmins,engineering") {
		t.Errorf("the upstream's page does not show the groups:\n%s", p.Text)
	}
	after := s.op.AccountStats(t, "alice")
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
	if st := s.op.AccountStats(t, "alice"); st.Logins != after.Logins || st.AuthorizationCodeGrants != after.AuthorizationCodeGrants {
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
}

// signOutThenReplay is scenario 5: sign out (the link, then the confirmation
// page's button) → a signed-out confirmation → the next
// protected page asks to sign in; the old cookie, put back into the
// browser, is refused (the Redis store deleted the session).
func signOutThenReplay(t *testing.T, s *stack) {
	b := newWindow(t, "carol")
	carol := s.op.Account(t, "carol")
	wantUpstreamPage(t, s, signIn(b, s, "/s5/notes?id=7", "carol", ""), "/s5/notes?id=7", carol.Email)
	old := sessionCookies(b, s.gw.URL())
	if len(old) == 0 {
		t.Fatal("no session cookie after signing in")
	}

	b.clickText("Sign out") // the upstream page's link to /oauth2/sign_out
	p := b.waitURL(s.gw.URL() + "/oauth2/sign_out")
	if p.H1 != "Sign out?" || p.Status != 200 {
		t.Fatalf("the sign-out link shows %s, want the confirmation page", p)
	}
	checkPage(b, "sign-out")
	if len(sessionCookies(b, s.gw.URL())) == 0 {
		t.Fatal("the confirmation page signed the user out already")
	}
	b.clickText("Sign out") // the page's button: a same-origin POST
	p = b.waitPage("the signed-out page", func(p pageState) bool { return p.H1 == "You are signed out" })
	if p.Status != 200 {
		t.Fatalf("after signing out the browser shows %s, want the signed-out confirmation", p)
	}
	checkPage(b, "signed-out")
	if left := sessionCookies(b, s.gw.URL()); len(left) != 0 {
		t.Errorf("session cookies left in the browser after signing out: %v", left)
	}

	requests := s.app.CountPrefix("/s5/")
	p = b.open(s.gw.URL() + "/s5/notes?id=8")
	if !strings.HasPrefix(p.URL, s.gw.URL()+"/oauth2/sign_in?") || p.H1 != "Sign in" {
		t.Fatalf("after signing out a protected page shows %s, want the sign-in page", p)
	}
	for _, c := range old {
		b.setCookie(s.gw.URL(), c)
	}
	if len(sessionCookies(b, s.gw.URL())) != len(old) {
		t.Fatal("could not put the old session cookie back into the browser")
	}
	p = b.open(s.gw.URL() + "/s5/notes?id=9")
	if !strings.HasPrefix(p.URL, s.gw.URL()+"/oauth2/sign_in?") || p.H1 != "Sign in" {
		t.Errorf("the signed-out cookie replayed gives %s, want the sign-in page", p)
	}
	if n := s.app.CountPrefix("/s5/"); n != requests {
		t.Errorf("the upstream received %d requests after the sign-out, want none", n-requests)
	}
}

// twoTabsAtOnce is scenario 6: two tabs start a login at once; both end signed in, each
// on the page it asked for.
func twoTabsAtOnce(t *testing.T, s *stack) {
	one := newWindow(t, "tab one")
	two := one.newTab("tab two")
	pages := map[*tab]string{one: "/s6/one?n=1", two: "/s6/two?n=2&x=%C3%A9"}
	for _, b := range []*tab{one, two} {
		b.open(s.gw.URL() + pages[b])
		b.waitURL(s.gw.URL() + "/oauth2/sign_in?")
		b.clickText("Sign in with " + ssoName)
		b.waitPage("the provider's sign-in page", func(p pageState) bool {
			return strings.HasPrefix(p.URL, s.op.Issuer()+"/") && p.H1 == "Sign in"
		})
	}
	// Both logins are under way; finish them in turn.
	dave := s.op.Account(t, "dave")
	for _, b := range []*tab{one, two} {
		providerLogin(b, s.op, "dave")
		p := b.waitPage("the page the tab asked for", func(p pageState) bool { return p.URL == s.gw.URL()+pages[b] })
		wantUpstreamPage(t, s, p, pages[b], dave.Email)
	}
	logins := s.op.AccountStats(t, "dave").Logins
	for _, b := range []*tab{one, two} {
		p := b.open(s.gw.URL() + pages[b] + "&again=1")
		wantUpstreamPage(t, s, p, pages[b]+"&again=1", dave.Email)
	}
	if st := s.op.AccountStats(t, "dave"); st.Logins != logins {
		t.Errorf("the provider asked dave to sign in again (%d logins, were %d)", st.Logins, logins)
	}
}

// outsideDomainForbidden is scenario 7: a user outside the allowed domain sees a 403 page.
func outsideDomainForbidden(t *testing.T, s *stack) {
	b := newWindow(t, "mallory")
	mallory := s.op.Account(t, "mallory")
	requests := s.app.CountPrefix("/s7/")
	b.open(s.gw.URL() + "/s7/outside?from=mallory")
	b.waitURL(s.gw.URL() + "/oauth2/sign_in?")
	b.clickText("Sign in with " + ssoName)
	providerLogin(b, s.op, "mallory")
	p := b.waitURL(s.gw.URL() + "/oauth2/callback")
	if p.Status != 403 || p.H1 != "Access denied" || !strings.Contains(p.Text, "Your account is not allowed to access this application.") {
		t.Fatalf("mallory (%s) sees %s, want the 403 access-denied page", mallory.Email, p)
	}
	checkPage(b, "forbidden")
	if n := s.app.CountPrefix("/s7/"); n != requests {
		t.Errorf("the upstream received %d requests for a refused user, want none", n-requests)
	}
	if c := sessionCookies(b, s.gw.URL()); len(c) != 0 {
		t.Errorf("a refused user got a session cookie: %v", c)
	}

	t.Run("NamesAccountAndOffersAnother", func(t *testing.T) {
		if !forbiddenPageLanded {
			if strings.Contains(p.Text, mallory.Email) {
				t.Log("the 403 page names the account now: set forbiddenPageLanded = true in e2e/signin_test.go")
			}
			t.Skip("needs the forbidden page of the routes change (names the account, offers sign-out and \"use another account\"); set forbiddenPageLanded")
		}
		if !strings.Contains(p.Text, mallory.Email) {
			t.Errorf("the 403 page does not name the account %s:\n%s", mallory.Email, p.Text)
		}
		if !strings.Contains(p.Text, "Sign out") {
			t.Errorf("the 403 page offers no sign-out:\n%s", p.Text)
		}
		b.clickText("Use another account")
		providerLogin(b, s.op, "carol") // the provider must ask again, not reuse mallory
		p := b.waitPage("the page mallory asked for, as carol", func(p pageState) bool {
			return p.URL == s.gw.URL()+"/s7/outside?from=mallory"
		})
		wantUpstreamPage(t, s, p, "/s7/outside?from=mallory", s.op.Account(t, "carol").Email)
	})
}

// forbiddenPageLanded turns on the asserts of scenario 7 that need the
// forbidden page of the routes change: a 403 page naming the account, with
// "Sign out" and "Use another account" (which makes the provider ask for
// the account again). Flip it when that change is merged.
const forbiddenPageLanded = true
