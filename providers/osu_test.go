package providers_test

import (
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

// osuFake implements the osu!api v2 authorization-code grant: numeric
// client id, exact redirect_uri, identify always implied, client secret in
// the body or HTTP Basic, rotating refresh tokens, /api/v2/me.
type osuFake struct {
	*fake
	srv                        *httptest.Server
	clientID, secret, callback string
	me                         map[string]any
}

var osuScopes = []string{"identify", "public", "chat.read", "chat.write", "chat.write_manage", "delegate", "forum.write", "forum.write_manage", "friends.read", "group_permissions"}

func newOsuFake(t *testing.T) *osuFake {
	f := &osuFake{fake: newFake(t, "osu"), clientID: "4242", secret: "osu-secret", callback: "https://gate.example/oauth2/callback",
		me: map[string]any{"id": 123, "username": "peppy", "avatar_url": "https://a.ppy.sh/123", "country_code": "AU",
			"is_restricted": false, "is_bot": false, "is_deleted": false,
			"groups": []any{map[string]any{"id": 4, "identifier": "gmt", "name": "Global Moderation Team", "short_name": "GMT"},
				map[string]any{"id": 11, "identifier": "dev", "name": "Developers", "short_name": "DEV"}}}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !f.checkParams(w, r, q, []string{"client_id", "redirect_uri", "response_type", "state"}, []string{"scope", "code_challenge", "code_challenge_method"}) {
			return
		}
		if q.Get("client_id") != f.clientID || q.Get("redirect_uri") != f.callback || q.Get("response_type") != "code" {
			f.violation(w, r, "client_id %q redirect_uri %q", q.Get("client_id"), q.Get("redirect_uri"))
			return
		}
		for s := range strings.FieldsSeq(q.Get("scope")) {
			if !slices.Contains(osuScopes, s) {
				f.violation(w, r, "unknown scope %q", s)
				return
			}
		}
		code := f.issueCode(codeGrant{user: "123", clientID: f.clientID, redirect: f.callback, challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method")})
		authorizeRedirect(w, r, f.callback, q.Get("state"), code, q.Get("state") == "deny")
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			f.violation(w, r, "%v", err)
			return
		}
		id, secret, basic := r.BasicAuth()
		creds := []string{"client_id", "client_secret"}
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
			required = append(required, creds...)
		}
		form, ok := f.form(w, r, required, optional)
		if !ok {
			return
		}
		if !basic {
			id, secret = form.Get("client_id"), form.Get("client_secret")
		}
		if id != f.clientID || secret != f.secret {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Client authentication failed", "message": "Client authentication failed"})
			return
		}
		var user string
		if form.Get("grant_type") == "authorization_code" {
			g, ok := f.takeCode(form.Get("code"))
			if !ok || g.redirect != form.Get("redirect_uri") {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "The provided authorization grant is invalid", "hint": "Authorization code has been revoked"})
				return
			}
			if !checkPKCE(g, form.Get("code_verifier")) {
				f.violation(w, r, "PKCE mismatch")
				return
			}
			user = g.user
		} else {
			u, ok := f.takeRefresh(form.Get("refresh_token"), true) // rotation
			if !ok {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "The refresh token is invalid.", "hint": "Token has been revoked"})
				return
			}
			user = u
		}
		at, rt := f.issueTokens(user, true)
		writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": 86400, "access_token": at, "refresh_token": rt})
	})
	mux.HandleFunc("GET /api/v2/me", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := f.bearer(r); !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"authentication": "basic"})
			return
		}
		f.mu.Lock()
		me := maps.Clone(f.me)
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, me)
	})
	f.srv = f.serve(t, mux)
	return f
}

func (f *osuFake) provider(t *testing.T, mod func(*providers.OsuConfig)) *providers.OAuth2 {
	t.Helper()
	c := providers.OsuConfig{ClientID: f.clientID, ClientSecret: f.secret, BaseURL: f.srv.URL, Scopes: []string{"public"}}
	if mod != nil {
		mod(&c)
	}
	p, err := providers.NewOsu(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOsuLoginAndRotatingRefresh(t *testing.T) {
	t.Parallel()
	for _, pkce := range []providers.PKCEMethod{"", providers.PKCES256} {
		t.Run("pkce="+string(pkce), func(t *testing.T) {
			t.Parallel()
			f := newOsuFake(t)
			p := f.provider(t, func(c *providers.OsuConfig) { c.PKCE = pkce })
			ap := providers.AuthParams{State: "os", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.callback}
			authURL := must(p.AuthCodeURL(t.Context(), ap))
			u, _ := url.Parse(authURL)
			if got := u.Query().Get("scope"); got != "identify public" {
				t.Errorf("scope = %q, want identify always requested", got)
			}
			g, err := p.Redeem(t.Context(), browse(t, authURL).Get("code"), ap)
			if err != nil {
				t.Fatal(err)
			}
			id := g.Identity
			if id.Subject != "123" || id.User != "osu:123" || id.PreferredUsername != "peppy" || id.Email != "" ||
				!slices.Equal(id.Groups, []string{"gmt", "dev"}) || id.Extra["country"] != "AU" || id.Picture != "https://a.ppy.sh/123" {
				t.Errorf("identity = %+v", id)
			}
			// Rotation: the new refresh token is kept, the old one is dead.
			g2, err := p.Refresh(t.Context(), g)
			if err != nil {
				t.Fatal(err)
			}
			if g2.Tokens.RefreshToken == "" || g2.Tokens.RefreshToken == g.Tokens.RefreshToken {
				t.Fatalf("refresh token not rotated: %q", g2.Tokens.RefreshToken)
			}
			if _, err := p.Refresh(t.Context(), g); !errors.Is(err, providers.ErrInvalidGrant) {
				t.Errorf("old refresh token: %v, want ErrInvalidGrant", err)
			}
			g3, err := p.Refresh(t.Context(), g2)
			if err != nil {
				t.Fatalf("refresh with the rotated token: %v", err)
			}
			if g3.Identity.User != "osu:123" {
				t.Errorf("identity after refresh = %+v", g3.Identity)
			}
		})
	}
}

func TestOsuRefuseRestricted(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"is_restricted", "is_bot", "is_deleted"} {
		t.Run(flag, func(t *testing.T) {
			t.Parallel()
			f := newOsuFake(t)
			f.me[flag] = true
			ap := providers.AuthParams{State: "os", RedirectURL: f.callback}
			lenient := f.provider(t, nil)
			if _, err := lenient.Redeem(t.Context(), browse(t, must(lenient.AuthCodeURL(t.Context(), ap))).Get("code"), ap); err != nil {
				t.Errorf("without refuse_restricted: %v", err)
			}
			strict := f.provider(t, func(c *providers.OsuConfig) { c.RefuseRestricted = true })
			// An account restricted after login loses its session at the next refresh.
			f.mu.Lock()
			f.me[flag] = false
			f.mu.Unlock()
			g, err := strict.Redeem(t.Context(), browse(t, must(strict.AuthCodeURL(t.Context(), ap))).Get("code"), ap)
			if err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			f.me[flag] = true
			f.mu.Unlock()
			_, err = strict.Refresh(t.Context(), g)
			wantCode(t, err, providers.CodeAccountNotAllowed)
			if !errors.Is(err, providers.ErrInvalidGrant) {
				t.Errorf("refresh of a restricted account: %v does not wrap ErrInvalidGrant", err)
			}

			_, err = strict.Redeem(t.Context(), browse(t, must(strict.AuthCodeURL(t.Context(), ap))).Get("code"), ap)
			wantCode(t, err, providers.CodeAccountNotAllowed)
			if !errors.Is(err, providers.ErrUnauthorized) {
				t.Errorf("%v does not wrap ErrUnauthorized", err)
			}
		})
	}
}

func TestOsuConfigAndErrors(t *testing.T) {
	t.Parallel()
	if _, err := providers.NewOsu(providers.OsuConfig{ClientID: "abc", ClientSecret: "s"}); err == nil {
		t.Error("non-numeric client id accepted")
	}
	f := newOsuFake(t)
	p := f.provider(t, nil)
	// The user denied consent: the callback carries error=access_denied.
	ap := providers.AuthParams{State: "deny", RedirectURL: f.callback}
	cb := browse(t, must(p.AuthCodeURL(t.Context(), ap)))
	e := providers.CallbackError(cb)
	if e == nil || e.Code != providers.CodeAccessDenied || e.Message == "" {
		t.Errorf("CallbackError = %v", e)
	}
	if providers.CallbackError(url.Values{"code": {"x"}}) != nil {
		t.Error("CallbackError on a successful callback")
	}
	// A forged code.
	_, err := p.Redeem(t.Context(), "forged", providers.AuthParams{State: "x", RedirectURL: f.callback})
	wantCode(t, err, providers.CodeInvalidGrant)
}
