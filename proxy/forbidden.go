package proxy

import (
	"net/http"

	"github.com/gatehouse-proxy/gatehouse/proxy/policy"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// forbiddenData is forbidden.html's: who is signed in, through which
// provider, and the ways out, each a checked Target.
type forbiddenData struct {
	// Account is the email, or the user name without one.
	Account string
	// Provider is the provider's display name.
	Provider string
	// Route names the route that refused, "" for the global rules.
	Route string
	// Again signs in once more, the provider asking for the account
	// again (prompt=login); SignOut is the sign-out page.
	Again, SignOut redirect.Target
	// Token is the sign-out form's token when the user has a session:
	// "Use another account" then signs out first (POST, with Again as
	// where to go next), and "Sign out" signs out at once.
	Token string
}

// forbidden shows the 403 page to a browser: it names the account s
// signed in with and offers "Sign out" and "Use another account", both
// coming back to back. stored says whether s is a session the browser
// holds (false at the callback, where the login was refused before any
// session was kept).
func (h *Handler) forbidden(w http.ResponseWriter, r *http.Request, rt *Route, s *session.Session, back redirect.Target, stored bool) {
	d := forbiddenData{
		Account: accountName(s),
		Route:   routeName(rt),
		Again:   redirect.StartAgain(s.ProviderID, back),
		SignOut: redirect.SignOutPage.With(redirect.SignInPage.With(back)),
	}
	if p, ok := h.providers.get(s.ProviderID); ok {
		d.Provider = p.Info().DisplayName
	}
	if len(d.Again.String()) > maxSignInLen {
		d.Again = redirect.StartAgain(s.ProviderID, redirect.Target{})
	}
	if stored {
		tok, err := h.d.Codec.Encode(signOutTokenName, signOutToken{SessionID: s.ID, Issued: h.now()})
		if err == nil {
			d.Token = tok
		}
	}
	h.pages.render(w, http.StatusForbidden, "forbidden.html", d)
}

// accountName is how the forbidden page names the account: its
// (well-formed) email, else its user name.
func accountName(s *session.Session) string {
	id := policy.NewIdentity(s.ProviderID, s.Identity)
	if !id.Email.IsZero() {
		return id.Email.String()
	}
	return cleanHeaderValue(id.User)
}
