package providers_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

// quailyFake implements Quaily's documented OAuth API on two servers: the
// authorize page (quaily.com) and the API base (api.quaily.com). A public
// client with PKCE; raw JSON token and userinfo; errors wrapped as
// {"data": ..., "ts": ...}.
type quailyFake struct {
	*fake
	auth, api          *httptest.Server
	clientID, callback string
	userinfo           map[string]any
}

func quailyWrapped(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"data": map[string]any{"code": code, "message": msg}, "ts": time.Now().Unix()})
}

func newQuailyFake(t *testing.T) *quailyFake {
	f := &quailyFake{fake: newFake(t, "quaily"), clientID: "qk-123", callback: "https://gate.example/oauth2/callback",
		userinfo: map[string]any{"sub": "pairwise-7", "uuid": "7c0e2a4e-1111-4a5b-9c2d-0123456789ab", "name": "Quail User", "picture": "https://cdn.quaily.com/a.png", "email": "q@example.com", "email_verified": true}}
	authMux := http.NewServeMux()
	authMux.HandleFunc("GET /oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !f.checkParams(w, r, q, []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"}, []string{"json"}) {
			return
		}
		if q.Get("response_type") != "code" || q.Get("client_id") != f.clientID || q.Get("redirect_uri") != f.callback {
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
		code := f.issueCode(codeGrant{user: "q", clientID: f.clientID, redirect: f.callback, challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method")})
		authorizeRedirect(w, r, f.callback, q.Get("state"), code, false)
	})
	f.auth = f.serve(t, authMux)

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
				quailyWrapped(w, http.StatusBadRequest, "invalid_grant", "invalid code")
				return
			}
			if !checkPKCE(g, form.Get("code_verifier")) {
				f.violation(w, r, "code_verifier does not match the challenge")
				return
			}
			at, rt := f.issueTokens(g.user, true)
			writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "refresh_token": rt,
				"expires_in": 2592000, "expiry": time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339)})
		case "refresh_token":
			form, ok := f.form(w, r, []string{"grant_type", "client_id", "refresh_token"}, nil)
			if !ok {
				return
			}
			u, ok := f.takeRefresh(form.Get("refresh_token"), true)
			if !ok || form.Get("client_id") != f.clientID {
				quailyWrapped(w, http.StatusBadRequest, "invalid_grant", "invalid refresh token")
				return
			}
			at, rt := f.issueTokens(u, true)
			writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "refresh_token": rt, "expires_in": 2592000})
		default:
			f.violation(w, r, "grant_type %q", r.PostForm.Get("grant_type"))
		}
	})
	apiMux.HandleFunc("GET /oauth/userinfo", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := f.bearer(r); !ok {
			quailyWrapped(w, http.StatusUnauthorized, "unauthorized", "invalid token")
			return
		}
		writeJSON(w, http.StatusOK, f.userinfo)
	})
	f.api = f.serve(t, apiMux)
	return f
}

func (f *quailyFake) provider(t *testing.T) *providers.OAuth2 {
	t.Helper()
	p, err := providers.NewQuaily(providers.QuailyConfig{ClientID: f.clientID, AuthURL: f.auth.URL + "/oauth/authorize", APIBase: f.api.URL})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestQuailyLoginAndRefresh(t *testing.T) {
	t.Parallel()
	f := newQuailyFake(t)
	p := f.provider(t)
	ap := providers.AuthParams{State: "qs", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.callback}
	cb := browse(t, must(p.AuthCodeURL(t.Context(), ap)))
	g, err := p.Redeem(t.Context(), cb.Get("code"), ap)
	if err != nil {
		t.Fatal(err)
	}
	id := g.Identity
	if id.Subject != "pairwise-7" || id.User != "quaily:7c0e2a4e-1111-4a5b-9c2d-0123456789ab" || id.Extra["uuid"] != "7c0e2a4e-1111-4a5b-9c2d-0123456789ab" ||
		id.Email != "q@example.com" || !id.EmailVerified || id.Name != "Quail User" || id.Picture != "https://cdn.quaily.com/a.png" {
		t.Errorf("identity = %+v", id)
	}
	if d := time.Until(g.Tokens.Expiry); d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Errorf("expiry in %v, want ~30 days", d)
	}
	g2, err := p.Refresh(t.Context(), g)
	if err != nil {
		t.Fatal(err)
	}
	if g2.Tokens.RefreshToken == g.Tokens.RefreshToken || g2.Identity.Subject != id.Subject {
		t.Errorf("refresh: %+v", g2)
	}
	// The old refresh token was consumed; the wrapped error is understood.
	_, err = p.Refresh(t.Context(), g)
	if e := wantCode(t, err, providers.CodeInvalidGrant); !strings.Contains(e.Err.Error(), "invalid refresh token") {
		t.Errorf("wrapped error description lost: %v", e.Err)
	}
}

func TestQuailyWithoutEmail(t *testing.T) {
	t.Parallel()
	f := newQuailyFake(t)
	f.userinfo = map[string]any{"sub": "pw-1", "uuid": "u-1", "name": "No Mail", "email": "unverified@example.com", "email_verified": false}
	p := f.provider(t)
	ap := providers.AuthParams{State: "qs", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.callback}
	g, err := p.Redeem(t.Context(), browse(t, must(p.AuthCodeURL(t.Context(), ap))).Get("code"), ap)
	if err != nil {
		t.Fatal(err)
	}
	if g.Identity.Email != "" || g.Identity.User != "quaily:u-1" {
		t.Errorf("identity = %+v, want no email (unverified) and user quaily:u-1", g.Identity)
	}
}

func TestQuailyRejectsWrongVerifier(t *testing.T) {
	t.Parallel()
	f := newQuailyFake(t)
	p := f.provider(t)
	ap := providers.AuthParams{State: "qs", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.callback}
	cb := browse(t, must(p.AuthCodeURL(t.Context(), ap)))
	// Take the code ourselves with a different verifier: the fake must see a
	// mismatch. Use a sub-fake so the expected violation does not fail us.
	g, ok := f.takeCode(cb.Get("code"))
	if !ok {
		t.Fatal("code not issued")
	}
	if checkPKCE(g, providers.NewCodeVerifier()) {
		t.Fatal("fake accepted a wrong verifier")
	}
	if !checkPKCE(g, ap.CodeVerifier) {
		t.Fatal("fake rejected the right verifier")
	}
}
