package proxy

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// maxSignOutForm bounds the body of a sign-out POST, whose form has two
// fields (rd and csrf).
const maxSignOutForm = 8 << 10

// signOutTokenName names the sign-out form's token in the codec (its
// purpose: a token made for nothing else decodes under this name).
const signOutTokenName = "gatehouse_sign_out"

// signOutTokenLifetime bounds how long a sign-out confirmation page may
// stay open before its button stops working (it then shows the page again).
const signOutTokenLifetime = time.Hour

// signOutToken is the CSRF token of the sign-out form: bound to the
// session it signs out, encrypted and authenticated by the flow codec.
type signOutToken struct {
	SessionID string    `json:"s"`
	Issued    time.Time `json:"t"`
}

// signOutParams returns the rd and csrf parameters of a sign-out, from the
// query or a URL-encoded POST body. The body is bounded and multipart is
// not parsed, so an anonymous POST can neither fill memory nor spill files
// to disk.
func signOutParams(w http.ResponseWriter, r *http.Request) (rd, csrf string) {
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxSignOutForm)
	}
	_ = r.ParseForm() // on error the query's values are still there
	return r.Form.Get("rd"), r.PostForm.Get("csrf")
}

// signOutPageData is sign_out.html's: the confirmation form.
type signOutPageData struct {
	// Redirect is where the browser goes afterwards; HasRedirect says
	// whether the form carries it.
	Redirect    redirect.Target
	HasRedirect bool
	// Token is the form's CSRF token.
	Token string
}

// signOut answers /oauth2/sign_out. GET shows a confirmation page whose
// form POSTs back (or, with --sign-out-get, signs out at once, as before);
// a POST signs out if it comes from this site (Sec-Fetch-Site or Origin,
// http.CrossOriginProtection) or carries the form's token. A cross-site
// link or form therefore cannot sign a user out.
func (h *Handler) signOut(w http.ResponseWriter, r *http.Request) {
	rawRD, csrf := signOutParams(w, r)
	rd := h.safeRedirect(r, rawRD)
	s, loadErr := h.d.Store.Load(r.Context(), r)
	if loadErr != nil {
		s = nil // nothing to protect: clearing cookies harms nobody
	}
	if r.Method != http.MethodPost && !h.c.SignOutGET {
		h.confirmSignOut(w, r, s, rd, rawRD != "")
		return
	}
	if r.Method == http.MethodPost && s != nil && !h.sameSiteRequest(r) && !h.validSignOutToken(csrf, s) {
		h.log.InfoContext(r.Context(), "cross-site sign-out refused", "provider", s.ProviderID, "user", s.Identity.User)
		link := redirect.SignOutPage.Target()
		if rawRD != "" {
			link = redirect.SignOutPage.With(rd)
		}
		h.fail(w, r, http.StatusForbidden, "cross_site_sign_out",
			"The sign-out request did not come from this site. Use the button on the sign-out page.", link)
		return
	}
	h.endSession(w, r, s, rd, rawRD != "")
}

// sameSiteRequest reports whether the browser says r comes from this site
// (or from the user, typing the address): Go's CrossOriginProtection
// (Sec-Fetch-Site same-origin or none, else Origin matching Host; requests
// with neither header are not from a browser and pass).
func (h *Handler) sameSiteRequest(r *http.Request) bool {
	return http.NewCrossOriginProtection().Check(r) == nil
}

// confirmSignOut shows the sign-out form.
func (h *Handler) confirmSignOut(w http.ResponseWriter, r *http.Request, s *session.Session, rd redirect.Target, hasRD bool) {
	d := signOutPageData{Redirect: rd, HasRedirect: hasRD}
	if s != nil {
		tok, err := h.d.Codec.Encode(signOutTokenName, signOutToken{SessionID: s.ID, Issued: h.now()})
		if err != nil {
			h.log.ErrorContext(r.Context(), "encoding the sign-out token", "err", err)
			h.fail(w, r, http.StatusInternalServerError, "internal_error", "Something went wrong. Please try again.", redirect.SignOutPage.With(rd))
			return
		}
		d.Token = tok
	}
	h.pages.render(w, http.StatusOK, "sign_out.html", d)
}

// validSignOutToken reports whether csrf is a token confirmSignOut made
// for session s, recently enough.
func (h *Handler) validSignOutToken(csrf string, s *session.Session) bool {
	if csrf == "" {
		return false
	}
	var tok signOutToken
	if err := h.d.Codec.Decode(signOutTokenName, csrf, &tok); err != nil {
		return false
	}
	if age := h.now().Sub(tok.Issued); age < 0 || age > signOutTokenLifetime {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(tok.SessionID), []byte(s.ID)) == 1
}

// endSession clears the session and sends the browser on: to the
// provider's logout (with --provider-sign-out), to rd when one was given,
// or to the signed-out page.
func (h *Handler) endSession(w http.ResponseWriter, r *http.Request, s *session.Session, rd redirect.Target, hasRD bool) {
	ctx := r.Context()
	if err := h.d.Store.Clear(ctx, w, r); err != nil {
		// The store expired the browser's cookies before it failed to
		// delete the server-side copy. That copy is encrypted under a key
		// only the cookie held, so this browser is signed out; the copy
		// lapses with its TTL. A retry could not find it any more, so none
		// is offered.
		h.log.ErrorContext(ctx, "clearing session", "err", err)
		h.fail(w, r, http.StatusServiceUnavailable, "session_store_unavailable",
			"You are signed out in this browser, but the session store could not be reached to revoke the session on the server; it expires on its own.")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	// "Use another account" (the forbidden page) signs out here, then
	// signs in again with prompt=login: the provider asks for the account
	// anyway, and its logout could not come back to /oauth2/start (not a
	// registered post-logout address).
	again := strings.HasPrefix(rd.String(), redirect.StartPage.Target().String()+"?")
	if s != nil && h.c.ProviderSignOut && !again {
		p, _ := h.providers.get(s.ProviderID)
		if p, ok := p.(providers.SignOutURLer); ok {
			back := rd.String()
			if !rd.IsAbs() {
				back = h.view(r).Origin() + back
			}
			if target := p.SignOutURL(s.Grant(), back); target != "" {
				if !hasRD {
					// The provider sends the browser back to "/": show it
					// the signed-out page there rather than a new sign-in.
					http.SetCookie(w, h.c.Cookie.NewCookie(h.signedOutName(), "1", h.flowMax))
				}
				h.log.InfoContext(ctx, "logout", "provider", s.ProviderID, "user", s.Identity.User, "provider_logout", true)
				http.Redirect(w, r, target, http.StatusFound)
				return
			}
		}
	}
	if s != nil {
		h.log.InfoContext(ctx, "logout", "provider", s.ProviderID, "user", s.Identity.User)
	}
	if hasRD {
		http.Redirect(w, r, rd.String(), http.StatusFound)
		return
	}
	h.pages.signedOut(w)
}

// signedOutName names the cookie marking a browser that went to the
// provider to sign out: its next page without a session is the signed-out
// page (once). It starts like the flow cookies, so it never reaches the
// upstream.
func (h *Handler) signedOutName() string { return h.flowName + "signed_out" }

// showSignedOut answers r with the signed-out page, and reports true, when
// r carries the signedOutName cookie: the browser is back from the
// provider's sign-out. The cookie is expired, so it shows once.
func (h *Handler) showSignedOut(w http.ResponseWriter, r *http.Request) bool {
	if _, err := r.Cookie(h.signedOutName()); err != nil {
		return false
	}
	http.SetCookie(w, h.c.Cookie.ExpiredCookie(h.signedOutName()))
	h.pages.signedOut(w)
	return true
}
