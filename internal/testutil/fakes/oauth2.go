package fakes

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// OAuth2Options chooses how a generic RFC 6749 server behaves.
type OAuth2Options struct {
	// Callback is the registered redirect URI; authorize requires it.
	Callback string
	// ClientAuth is "basic" (RFC 6749 §2.3.1, the default), "body" or
	// "none" (a public client).
	ClientAuth string
	// PKCE is "", "S256" or "plain"; when set, authorize requires it.
	PKCE string
	// Scope, when set, is the exact scope parameter authorize requires.
	Scope string
	// ExpiresIn is the access tokens' lifetime in seconds; default 3600.
	ExpiresIn int
	// AuthParams are extra authorize parameters the service requires,
	// with these exact values (e.g. prompt=consent).
	AuthParams map[string]string
	// TokenExtra is merged into every token response; a nil value removes
	// the field (e.g. "expires_in": nil for tokens that do not expire).
	TokenExtra map[string]any
}

// OAuth2 is a generic RFC 6749 server: /authorize, /token (refresh tokens
// do not rotate) and a JSON /userinfo whose document tests choose with
// SetProfile.
type OAuth2 struct {
	*Service
	// Server serves every endpoint; URL is its base.
	Server *httptest.Server
	URL    string
	// ClientID and ClientSecret are the registered client's.
	ClientID, ClientSecret string
	opts                   OAuth2Options
}

// NewOAuth2 starts a generic OAuth2 server. Its default user document is
// {"id": 7, "login": "octocat", "name": "The Octocat", "email":
// "octo@example.com", "email_verified": true, "groups": ["staff"]}.
func NewOAuth2(t testing.TB, o OAuth2Options) *OAuth2 {
	t.Helper()
	if o.ClientAuth == "" {
		o.ClientAuth = "basic"
	}
	if o.ExpiresIn == 0 {
		o.ExpiresIn = 3600
	}
	f := &OAuth2{Service: newService(t, "oauth2"), ClientID: "cid", ClientSecret: "s3cr%t", opts: o}
	f.SetProfile(map[string]any{"id": 7, "login": "octocat", "name": "The Octocat", "email": "octo@example.com", "email_verified": true, "groups": []string{"staff"}})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		req := []string{"client_id", "redirect_uri", "response_type", "state"}
		if o.PKCE != "" {
			req = append(req, "code_challenge", "code_challenge_method")
		}
		for k := range o.AuthParams {
			req = append(req, k)
		}
		if !f.checkParams(w, r, q, req, []string{"scope"}) {
			return
		}
		for k, v := range o.AuthParams {
			if q.Get(k) != v {
				f.violation(w, r, "%s = %q, want %q", k, q.Get(k), v)
				return
			}
		}
		if q.Get("client_id") != f.ClientID || q.Get("redirect_uri") != o.Callback || q.Get("response_type") != "code" ||
			q.Get("code_challenge_method") != o.PKCE || (o.Scope != "" && q.Get("scope") != o.Scope) {
			f.violation(w, r, "client_id %q redirect_uri %q scope %q method %q", q.Get("client_id"), q.Get("redirect_uri"), q.Get("scope"), q.Get("code_challenge_method"))
			return
		}
		f.authorizeRedirect(w, r, o.Callback, q.Get("state"), codeGrant{user: "u", clientID: f.ClientID, redirect: o.Callback, challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method")})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			f.violation(w, r, "%v", err)
			return
		}
		var required []string
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			required = []string{"grant_type", "code", "redirect_uri"}
			if o.PKCE != "" {
				required = append(required, "code_verifier")
			}
		case "refresh_token":
			required = []string{"grant_type", "refresh_token"}
		default:
			f.violation(w, r, "grant_type %q", r.PostForm.Get("grant_type"))
			return
		}
		user, pass, basic := r.BasicAuth()
		// RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
		user, _ = url.QueryUnescape(user)
		pass, _ = url.QueryUnescape(pass)
		switch o.ClientAuth {
		case "basic":
			if !basic || user != f.ClientID || pass != f.ClientSecret {
				OAuthError(w, http.StatusUnauthorized, "invalid_client", "bad basic credentials")
				return
			}
		case "body":
			required = append(required, "client_id", "client_secret")
		case "none":
			required = append(required, "client_id")
		}
		if o.ClientAuth != "basic" && basic {
			f.violation(w, r, "unexpected Basic credentials")
			return
		}
		form, ok := f.form(w, r, required, nil)
		if !ok {
			return
		}
		if o.ClientAuth == "body" && (form.Get("client_id") != f.ClientID || form.Get("client_secret") != f.ClientSecret) {
			OAuthError(w, http.StatusUnauthorized, "invalid_client", "bad client credentials")
			return
		}
		var who string
		if form.Get("grant_type") == "authorization_code" {
			g, ok := f.takeCode(form.Get("code"))
			if !ok || g.redirect != form.Get("redirect_uri") {
				OAuthError(w, http.StatusBadRequest, "invalid_grant", "bad code")
				return
			}
			if !CheckPKCE(g.method, g.challenge, form.Get("code_verifier")) {
				f.violation(w, r, "PKCE mismatch")
				return
			}
			who = g.user
		} else {
			u, ok := f.takeRefresh(form.Get("refresh_token"), false)
			if !ok {
				OAuthError(w, http.StatusBadRequest, "invalid_grant", "bad refresh token")
				return
			}
			who = u
		}
		at, rt := f.issueTokens(who, true)
		resp := map[string]any{"access_token": at, "refresh_token": rt, "token_type": "bearer", "expires_in": o.ExpiresIn}
		for k, v := range o.TokenExtra {
			if v == nil {
				delete(resp, k)
			} else {
				resp[k] = v
			}
		}
		WriteJSON(w, http.StatusOK, resp)
	})
	mux.HandleFunc("GET /userinfo", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := f.bearer(r); !ok {
			OAuthError(w, http.StatusUnauthorized, "invalid_token", "")
			return
		}
		WriteJSON(w, http.StatusOK, f.Profile())
	})
	f.Server = f.serve(mux)
	f.URL = f.Server.URL
	return f
}
