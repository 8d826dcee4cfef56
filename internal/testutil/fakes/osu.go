package fakes

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// Osu implements the osu!api v2 authorization-code grant: numeric client
// id, exact redirect_uri, client secret in the body or HTTP Basic,
// refresh tokens that rotate (the old one is revoked), and /api/v2/me.
type Osu struct {
	*Service
	// Server serves every endpoint; URL is its base (the api_base).
	Server *httptest.Server
	URL    string
	// ClientID, ClientSecret and Callback are the registered application.
	ClientID, ClientSecret, Callback string
}

var osuScopes = []string{"identify", "public", "chat.read", "chat.write", "chat.write_manage", "delegate", "forum.write", "forum.write_manage", "friends.read", "group_permissions"}

// NewOsu starts an osu! service whose registered callback is callback. Its
// user is id 123 "peppy" in groups gmt and dev, country AU, no email.
func NewOsu(t testing.TB, callback string) *Osu {
	t.Helper()
	f := &Osu{Service: newService(t, "osu"), ClientID: "4242", ClientSecret: "osu-secret", Callback: callback}
	f.SetProfile(map[string]any{"id": 123, "username": "peppy", "avatar_url": "https://a.ppy.sh/123", "country_code": "AU",
		"is_restricted": false, "is_bot": false, "is_deleted": false,
		"groups": []any{map[string]any{"id": 4, "identifier": "gmt", "name": "Global Moderation Team", "short_name": "GMT"},
			map[string]any{"id": 11, "identifier": "dev", "name": "Developers", "short_name": "DEV"}}})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !f.checkParams(w, r, q, []string{"client_id", "redirect_uri", "response_type", "state"}, []string{"scope", "code_challenge", "code_challenge_method"}) {
			return
		}
		if q.Get("client_id") != f.ClientID || q.Get("redirect_uri") != f.Callback || q.Get("response_type") != "code" {
			f.violation(w, r, "client_id %q redirect_uri %q", q.Get("client_id"), q.Get("redirect_uri"))
			return
		}
		for s := range strings.FieldsSeq(q.Get("scope")) {
			if !slices.Contains(osuScopes, s) {
				f.violation(w, r, "unknown scope %q", s)
				return
			}
		}
		f.authorizeRedirect(w, r, f.Callback, q.Get("state"), codeGrant{user: "123", clientID: f.ClientID, redirect: f.Callback, challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method")})
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			f.violation(w, r, "%v", err)
			return
		}
		id, secret, basic := r.BasicAuth()
		var required, optional []string
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			required, optional = []string{"grant_type", "code", "redirect_uri"}, []string{"code_verifier"}
		case "refresh_token":
			required, optional = []string{"grant_type", "refresh_token"}, []string{"scope"}
		default:
			f.violation(w, r, "grant_type %q", r.PostForm.Get("grant_type"))
			return
		}
		if basic {
			optional = append(optional, "client_id")
		} else {
			required = append(required, "client_id", "client_secret")
		}
		form, ok := f.form(w, r, required, optional)
		if !ok {
			return
		}
		if !basic {
			id, secret = form.Get("client_id"), form.Get("client_secret")
		}
		if id != f.ClientID || secret != f.ClientSecret {
			WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Client authentication failed", "message": "Client authentication failed"})
			return
		}
		var user string
		if form.Get("grant_type") == "authorization_code" {
			g, ok := f.takeCode(form.Get("code"))
			if !ok || g.redirect != form.Get("redirect_uri") {
				WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "The provided authorization grant is invalid", "hint": "Authorization code has been revoked"})
				return
			}
			if !CheckPKCE(g.method, g.challenge, form.Get("code_verifier")) {
				f.violation(w, r, "PKCE mismatch")
				return
			}
			user = g.user
		} else {
			u, ok := f.takeRefresh(form.Get("refresh_token"), true) // rotation
			if !ok {
				WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "The refresh token is invalid.", "hint": "Token has been revoked"})
				return
			}
			user = u
		}
		at, rt := f.issueTokens(user, true)
		WriteJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 86400, "access_token": at, "refresh_token": rt})
	})
	mux.HandleFunc("GET /api/v2/me", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := f.bearer(r); !ok {
			WriteJSON(w, http.StatusUnauthorized, map[string]string{"authentication": "basic"})
			return
		}
		WriteJSON(w, http.StatusOK, f.Profile())
	})
	f.Server = f.serve(mux)
	f.URL = f.Server.URL
	return f
}
