package fakes

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// OSDN implements OSDN's documented OAuth2: authorize without redirect_uri
// (the registered callback is used), token with client_id and
// client_secret in the body only, no PKCE, refresh tokens that do not
// rotate, scope returned as a JSON array, and /api/v0/user.
type OSDN struct {
	*Service
	// Server serves every endpoint; URL is its base.
	Server *httptest.Server
	URL    string
	// ClientID, ClientSecret and Callback are the registered application.
	ClientID, ClientSecret, Callback string
}

// OSDN's endpoint paths under URL.
const (
	OSDNAuthPath    = "/account/oauth2ui/authorize"
	OSDNTokenPath   = "/api/v0/token"
	OSDNProfilePath = "/api/v0/user"
)

// NewOSDN starts an OSDN service whose registered callback is callback.
// Its user is id 42, "alice", alice@example.org.
func NewOSDN(t testing.TB, callback string) *OSDN {
	t.Helper()
	f := &OSDN{Service: newService(t, "osdn"), ClientID: "osdn-app", ClientSecret: "osdn-secret", Callback: callback}
	f.SetProfile(map[string]any{"id": 42, "name": "alice", "display_name": "Alice Liddell", "email": "alice@example.org"})
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+OSDNAuthPath, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !f.checkParams(w, r, q, []string{"client_id", "state", "response_type"}, []string{"scope", "redirect_uri"}) {
			return
		}
		if q.Get("response_type") != "code" || q.Get("client_id") != f.ClientID {
			f.violation(w, r, "response_type %q client_id %q", q.Get("response_type"), q.Get("client_id"))
			return
		}
		if ru := q.Get("redirect_uri"); ru != "" && ru != f.Callback {
			f.violation(w, r, "redirect_uri %q differs from the registered callback", ru)
			return
		}
		for s := range strings.FieldsSeq(q.Get("scope")) {
			if !slices.Contains([]string{"profile", "group", "group_write", "chamber", "chamber_write"}, s) {
				f.violation(w, r, "unknown scope %q", s)
				return
			}
		}
		f.authorizeRedirect(w, r, f.Callback, q.Get("state"), codeGrant{user: "alice", clientID: f.ClientID})
	})
	mux.HandleFunc("POST "+OSDNTokenPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			f.violation(w, r, "client credentials must be in the body, not a header")
			return
		}
		if err := r.ParseForm(); err != nil {
			f.violation(w, r, "%v", err)
			return
		}
		var required, optional []string
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			required, optional = []string{"client_id", "client_secret", "grant_type", "code"}, []string{"redirect_uri"}
		case "refresh_token":
			required = []string{"client_id", "client_secret", "grant_type", "refresh_token"}
		default:
			f.violation(w, r, "grant_type %q", r.PostForm.Get("grant_type"))
			return
		}
		form, ok := f.form(w, r, required, optional)
		if !ok {
			return
		}
		if form.Get("client_id") != f.ClientID || form.Get("client_secret") != f.ClientSecret {
			OAuthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
			return
		}
		if form.Get("grant_type") == "refresh_token" {
			u, ok := f.takeRefresh(form.Get("refresh_token"), false)
			if !ok {
				OAuthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
				return
			}
			at, _ := f.issueTokens(u, false)
			// OSDN does not rotate: no refresh_token in the answer.
			WriteJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 86400, "scope": []string{"profile"}})
			return
		}
		g, ok := f.takeCode(form.Get("code"))
		if !ok {
			OAuthError(w, http.StatusBadRequest, "invalid_grant", "Authorization code doesn't exist or is invalid for the client")
			return
		}
		at, rt := f.issueTokens(g.user, true)
		WriteJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 86400, "refresh_token": rt, "scope": []string{"profile"}})
	})
	mux.HandleFunc("GET "+OSDNProfilePath, func(w http.ResponseWriter, r *http.Request) {
		if _, ok := f.bearer(r); !ok {
			WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
			return
		}
		WriteJSON(w, http.StatusOK, f.Profile())
	})
	f.Server = f.serve(mux)
	f.URL = f.Server.URL
	return f
}
