package fakes

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// Quaily implements Quaily's documented OAuth API on two servers: the
// authorize page (quaily.com) and the API base (api.quaily.com). A public
// client with PKCE; raw JSON token and userinfo answers; errors wrapped as
// {"data": ..., "ts": ...}; refresh tokens rotate.
type Quaily struct {
	*Service
	// Auth serves /oauth/authorize; API serves /oauth/token and
	// /oauth/userinfo.
	Auth, API *httptest.Server
	// ClientID and Callback are the registered public application.
	ClientID, Callback string
}

// QuailyUUID is the uuid of the fake's user.
const QuailyUUID = "7c0e2a4e-1111-4a5b-9c2d-0123456789ab"

// QuailyError writes Quaily's wrapped error shape.
func QuailyError(w http.ResponseWriter, status int, code, msg string) {
	WriteJSON(w, status, map[string]any{"data": map[string]any{"code": code, "message": msg}, "ts": time.Now().Unix()})
}

// NewQuaily starts a Quaily service whose registered callback is callback.
// Its user has sub "pairwise-7", uuid QuailyUUID, q@example.com (verified).
func NewQuaily(t testing.TB, callback string) *Quaily {
	t.Helper()
	f := &Quaily{Service: newService(t, "quaily"), ClientID: "qk-123", Callback: callback}
	f.SetProfile(map[string]any{"sub": "pairwise-7", "uuid": QuailyUUID, "name": "Quail User", "picture": "https://cdn.quaily.com/a.png", "email": "q@example.com", "email_verified": true})
	authMux := http.NewServeMux()
	authMux.HandleFunc("GET /oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !f.checkParams(w, r, q, []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}, []string{"json"}) {
			return
		}
		if q.Get("response_type") != "code" || q.Get("client_id") != f.ClientID || q.Get("redirect_uri") != f.Callback {
			f.violation(w, r, "bad client_id/redirect_uri/response_type")
			return
		}
		if m := q.Get("code_challenge_method"); m != "S256" && m != "plain" {
			f.violation(w, r, "code_challenge_method %q", m)
			return
		}
		for s := range strings.FieldsSeq(q.Get("scope")) {
			if !slices.Contains([]string{"user.public", "user.full", "post.write", "credit.read", "apikey.read"}, s) {
				f.violation(w, r, "scope %q not allowed for a public app", s)
				return
			}
		}
		f.authorizeRedirect(w, r, f.Callback, q.Get("state"), codeGrant{user: "q", clientID: f.ClientID, redirect: f.Callback, challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method")})
	})
	f.Auth = f.serve(authMux)

	apiMux := http.NewServeMux()
	apiMux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			f.violation(w, r, "public client sent an Authorization header")
			return
		}
		if err := r.ParseForm(); err != nil {
			f.violation(w, r, "%v", err)
			return
		}
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			form, ok := f.form(w, r, []string{"grant_type", "client_id", "redirect_uri", "code", "code_verifier"}, nil)
			if !ok {
				return
			}
			g, ok := f.takeCode(form.Get("code"))
			if !ok || form.Get("client_id") != g.clientID || form.Get("redirect_uri") != g.redirect {
				QuailyError(w, http.StatusBadRequest, "invalid_grant", "invalid code")
				return
			}
			if !CheckPKCE(g.method, g.challenge, form.Get("code_verifier")) {
				f.violation(w, r, "code_verifier does not match the challenge")
				return
			}
			at, rt := f.issueTokens(g.user, true)
			WriteJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "refresh_token": rt,
				"expires_in": 2592000, "expiry": time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)})
		case "refresh_token":
			form, ok := f.form(w, r, []string{"grant_type", "client_id", "refresh_token"}, nil)
			if !ok {
				return
			}
			if form.Get("client_id") != f.ClientID {
				QuailyError(w, http.StatusBadRequest, "invalid_grant", "invalid refresh token")
				return
			}
			u, ok := f.takeRefresh(form.Get("refresh_token"), true)
			if !ok {
				QuailyError(w, http.StatusBadRequest, "invalid_grant", "invalid refresh token")
				return
			}
			at, rt := f.issueTokens(u, true)
			WriteJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "refresh_token": rt, "expires_in": 2592000})
		default:
			f.violation(w, r, "grant_type %q", r.PostForm.Get("grant_type"))
		}
	})
	apiMux.HandleFunc("GET /oauth/userinfo", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := f.bearer(r); !ok {
			QuailyError(w, http.StatusUnauthorized, "unauthorized", "invalid token")
			return
		}
		WriteJSON(w, http.StatusOK, f.Profile())
	})
	f.API = f.serve(apiMux)
	return f
}
