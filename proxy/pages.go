package proxy

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"

	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
)

// pages renders Gatehouse's own HTML pages.
type pages struct {
	tmpl *template.Template
	csp  string // Content-Security-Policy, allowing the logo's origin
}

type signInData struct {
	Providers []providers.Info
	Redirect  redirect.Target
	Error     string
	// ErrorFor is the provider id the error belongs to (its form shows it).
	ErrorFor string
}

// errorData is error.html's: fixed texts and, at most, one link, which
// can only be a checked Target.
type errorData struct {
	Title, Message, Code string
	Status               int
	// Retry is the "Try again" link; nil shows none.
	Retry *redirect.Target
}

// continueData is continue.html's: where the browser goes next.
type continueData struct {
	Target redirect.Target
}

// setPageHeaders sets the security headers of every Gatehouse page.
func (p *pages) setPageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

func (p *pages) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.setPageHeaders(w.Header())
	if status != 0 {
		w.WriteHeader(status)
	}
	_, _ = w.Write(buf.Bytes())
}

func (p *pages) signIn(w http.ResponseWriter, d signInData) {
	p.render(w, 0, "sign_in.html", d)
}

func (p *pages) signedOut(w http.ResponseWriter) {
	p.render(w, http.StatusOK, "signed_out.html", nil)
}

// fail answers an error: JSON for API clients, an HTML page for browsers,
// with a "Try again" link to retry[0] when given (a checked Target: never
// request data as such). Message must be a fixed, safe text.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, code, message string, retry ...redirect.Target) {
	if !wantsRedirect(r) && !isBrowserRoute(r) {
		writeJSONError(w, status, code, message)
		return
	}
	d := errorData{Title: statusMessage(status), Message: message, Code: code, Status: status}
	if len(retry) > 0 {
		d.Retry = &retry[0]
	}
	h.pages.render(w, status, "error.html", d)
}

// isBrowserRoute reports the routes a browser reaches by navigation, which
// always answer HTML unless JSON is explicitly asked for.
func isBrowserRoute(r *http.Request) bool {
	switch r.URL.Path {
	case "/oauth2/start", "/oauth2/callback", "/oauth2/sign_in", "/oauth2/sign_out":
		return !wantsJSON(r)
	}
	return false
}

// writeJSONError writes {"error": code, "message": message}.
func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "message": message})
}

// denyMessages are the sentences shown to a user turned away, by status:
// every page and JSON answer that refuses a request takes its text here.
var denyMessages = map[int]string{
	http.StatusUnauthorized:       "You need to sign in to see this.",
	http.StatusForbidden:          "Your account is not allowed to access this application.",
	http.StatusServiceUnavailable: "Sign-in is temporarily unavailable. Please try again in a moment.",
}

// denyMessage is the text shown to a user turned away with status; any
// status but 401 and 403 means Gatehouse could not decide right now.
func denyMessage(status int) string {
	if m, ok := denyMessages[status]; ok {
		return m
	}
	return denyMessages[http.StatusServiceUnavailable]
}

// statusMessage is the title of a page answering status.
func statusMessage(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "Sign-in required"
	case http.StatusForbidden:
		return "Access denied"
	case http.StatusBadRequest:
		return "Sign-in failed"
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return "Temporarily unavailable"
	case http.StatusNotFound:
		return "Not found"
	case http.StatusMethodNotAllowed:
		return "Method not allowed"
	}
	return "Something went wrong"
}
