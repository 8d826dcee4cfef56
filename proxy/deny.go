package proxy

import (
	"net/http"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
)

// deny answers a request without a usable session; rd, the URI asked
// for, is validated here, and every link the answer offers carries it as
// a Target.
func (h *Handler) deny(w http.ResponseWriter, r *http.Request, status int, code, rd string) {
	back := h.safeRedirect(r, rd)
	if len(back.String()) > maxSignInLen {
		// A huge Location header overflows the buffers of proxies in
		// front (nginx: 502).
		back = redirect.Target{}
	}
	switch status {
	case http.StatusUnauthorized:
		if wantsRedirect(r) && h.showSignedOut(w, r) {
			return
		}
		if wantsRedirect(r) {
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, redirect.SignInPage.With(back).String(), http.StatusFound)
			return
		}
		h.fail(w, r, status, code, denyMessage(status), redirect.SignInPage.With(back))
	case http.StatusForbidden:
		h.fail(w, r, status, code, denyMessage(status), redirect.SignOutPage.With(redirect.SignInPage.With(back)))
	default:
		h.fail(w, r, status, code, denyMessage(status), back)
	}
}

// wantsRedirect reports whether r is a browser navigation that should be
// sent to the sign-in page rather than answered 401.
func wantsRedirect(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if strings.EqualFold(r.Header.Get("X-Requested-With"), "XMLHttpRequest") {
		return false
	}
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	// Browsers say what a request is for: fetch(), XHR and subresources
	// (cors, no-cors, same-origin) cannot use a sign-in page; only
	// navigations (including iframes) can.
	if mode := r.Header.Get("Sec-Fetch-Mode"); mode != "" && !strings.EqualFold(mode, "navigate") {
		return false
	}
	return !wantsJSON(r)
}

// wantsJSON reports whether the client asked for JSON rather than HTML.
func wantsJSON(r *http.Request) bool {
	accept := strings.ToLower(r.Header.Get("Accept"))
	if strings.Contains(accept, "text/html") {
		return false
	}
	return strings.Contains(accept, "application/json") || strings.Contains(accept, "+json")
}
