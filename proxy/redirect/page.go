package redirect

import "net/url"

// Page is one of Gatehouse's own pages that links and redirects lead to.
// Only this package makes Pages, so that every link a page shows or a
// redirect sends is either a Target (checked by the Validator) or a Page
// carrying one: request data never becomes a link any other way.
type Page struct{ path string }

// Gatehouse's own pages.
var (
	SignInPage  = Page{"/oauth2/sign_in"}
	StartPage   = Page{"/oauth2/start"}
	SignOutPage = Page{"/oauth2/sign_out"}
)

// Target is the page itself, without a return address.
func (p Page) Target() Target { return Target{s: p.path} }

// With is the page carrying rd as its return address (?rd=, encoded).
func (p Page) With(rd Target) Target {
	return Target{s: p.path + "?rd=" + url.QueryEscape(rd.String())}
}

// StartAgain is the start page signing in with provider (an id from
// configuration) while asking the provider for the account again
// (?prompt=login), returning to rd: the "use another account" link.
func StartAgain(provider string, rd Target) Target {
	return Target{s: StartPage.path + "?provider=" + url.QueryEscape(provider) + "&prompt=login&rd=" + url.QueryEscape(rd.String())}
}
