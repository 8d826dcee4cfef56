package providers_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

// osdnFake implements OSDN's documented OAuth2: authorize without
// redirect_uri (the registered callback is used), token with client_id and
// client_secret in the body only, no PKCE, scope returned as a JSON array.
type osdnFake struct {
	*fake
	srv                        *httptest.Server
	clientID, secret, callback string
	profile                    map[string]any
}

func newOSDNFake(t *testing.T) *osdnFake {
	f := &osdnFake{fake: newFake(t, "osdn"), clientID: "osdn-app", secret: "osdn-secret", callback: "https://gate.example/oauth2/callback",
		profile: map[string]any{"id": 42, "name": "alice", "display_name": "Alice Liddell", "email": "alice@example.org"}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /account/oauth2ui/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !f.checkParams(w, r, q, []string{"client_id", "state", "response_type"}, []string{"scope", "redirect_uri"}) {
			return
		}
		if q.Get("response_type") != "code" || q.Get("client_id") != f.clientID {
			f.violation(w, r, "response_type %q client_id %q", q.Get("response_type"), q.Get("client_id"))
			return
		}
		if ru := q.Get("redirect_uri"); ru != "" && ru != f.callback {
			f.violation(w, r, "redirect_uri %q differs from the registered callback", ru)
			return
		}
		for s := range strings.FieldsSeq(q.Get("scope")) {
			if !slices.Contains([]string{"profile", "group", "group_write", "chamber", "chamber_write"}, s) {
				f.violation(w, r, "unknown scope %q", s)
				return
			}
		}
		authorizeRedirect(w, r, f.callback, q.Get("state"), f.issueCode(codeGrant{user: "alice", clientID: f.clientID}), false)
	})
	mux.HandleFunc("POST /api/v0/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			f.violation(w, r, "client credentials must be in the body, not a header")
			return
		}
		if err := r.ParseForm(); err != nil {
			f.violation(w, r, "%v", err)
			return
		}
		var form = r.PostForm
		switch form.Get("grant_type") {
		case "authorization_code":
			var ok bool
			if form, ok = f.form(w, r, []string{"client_id", "client_secret", "grant_type", "code"}, []string{"redirect_uri"}); !ok {
				return
			}
		case "refresh_token":
			var ok bool
			if form, ok = f.form(w, r, []string{"client_id", "client_secret", "grant_type", "refresh_token"}, nil); !ok {
				return
			}
		default:
			f.violation(w, r, "grant_type %q", form.Get("grant_type"))
			return
		}
		if form.Get("client_id") != f.clientID || form.Get("client_secret") != f.secret {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
			return
		}
		var user string
		if form.Get("grant_type") == "authorization_code" {
			g, ok := f.takeCode(form.Get("code"))
			if !ok {
				oauthError(w, http.StatusBadRequest, "invalid_grant", "Authorization code doesn't exist or is invalid for the client")
				return
			}
			user = g.user
		} else {
			u, ok := f.takeRefresh(form.Get("refresh_token"), false)
			if !ok {
				oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
				return
			}
			at, _ := f.issueTokens(u, false)
			// OSDN does not rotate: no refresh_token in the answer.
			writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 86400, "scope": []string{"profile"}})
			return
		}
		at, rt := f.issueTokens(user, true)
		writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": 86400, "refresh_token": rt, "scope": []string{"profile"}})
	})
	mux.HandleFunc("GET /api/v0/user", func(w http.ResponseWriter, r *http.Request) {
		if _, ok := f.bearer(r); !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
			return
		}
		writeJSON(w, http.StatusOK, f.profile)
	})
	f.srv = f.serve(t, mux)
	return f
}

func (f *osdnFake) config() providers.OSDNConfig {
	return providers.OSDNConfig{ClientID: f.clientID, ClientSecret: f.secret,
		AuthURL: f.srv.URL + "/account/oauth2ui/authorize", TokenURL: f.srv.URL + "/api/v0/token", ProfileURL: f.srv.URL + "/api/v0/user"}
}

func TestOSDNLoginAndRefresh(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		sendRedir  bool
		allowEmail bool
		wantEmail  string
	}{
		{name: "defaults"},
		{name: "redirect_uri and email", sendRedir: true, allowEmail: true, wantEmail: "alice@example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newOSDNFake(t)
			c := f.config()
			c.SendRedirectURI, c.AllowUnverifiedEmail = tc.sendRedir, tc.allowEmail
			p, err := providers.NewOSDN(c)
			if err != nil {
				t.Fatal(err)
			}
			if info := p.Info(); info.ID != "osdn" || info.Type != "osdn" || info.NeedsInstance {
				t.Errorf("Info = %+v", info)
			}
			ap := providers.AuthParams{State: "st-1", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.callback}
			authURL, err := p.AuthCodeURL(t.Context(), ap)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(authURL, "code_challenge") {
				t.Errorf("OSDN has no PKCE, but the URL carries a challenge: %s", authURL)
			}
			if got := strings.Contains(authURL, "redirect_uri"); got != tc.sendRedir {
				t.Errorf("redirect_uri sent = %v, want %v", got, tc.sendRedir)
			}
			cb := browse(t, authURL)
			if cb.Get("state") != "st-1" {
				t.Fatalf("state = %q", cb.Get("state"))
			}
			g, err := p.Redeem(t.Context(), cb.Get("code"), ap)
			if err != nil {
				t.Fatal(err)
			}
			want := providers.Identity{Subject: "42", User: "osdn:42", Name: "Alice Liddell", PreferredUsername: "alice", Email: tc.wantEmail}
			if g.Identity.Subject != want.Subject || g.Identity.User != want.User || g.Identity.Name != want.Name ||
				g.Identity.PreferredUsername != want.PreferredUsername || g.Identity.Email != want.Email {
				t.Errorf("identity = %+v, want %+v", g.Identity, want)
			}
			if g.Tokens.RefreshToken == "" || g.Tokens.Expiry.IsZero() {
				t.Errorf("tokens = %+v, want refresh token and expiry", g.Tokens)
			}
			// The code is single-use.
			if _, err := p.Redeem(t.Context(), cb.Get("code"), ap); !errors.Is(err, providers.ErrInvalidGrant) {
				t.Errorf("second redeem: %v, want ErrInvalidGrant", err)
			}
			g2, err := p.Refresh(t.Context(), g)
			if err != nil {
				t.Fatal(err)
			}
			if g2.Tokens.AccessToken == g.Tokens.AccessToken || g2.Tokens.RefreshToken != g.Tokens.RefreshToken || g2.Identity.User != "osdn:42" {
				t.Errorf("refreshed grant = %+v", g2)
			}
		})
	}
}

func TestOSDNErrors(t *testing.T) {
	t.Parallel()
	f := newOSDNFake(t)
	ap := providers.AuthParams{State: "s", RedirectURL: f.callback}

	bad := f.config()
	bad.ClientSecret = "wrong"
	p, err := providers.NewOSDN(bad)
	if err != nil {
		t.Fatal(err)
	}
	cb := browse(t, must(p.AuthCodeURL(t.Context(), ap)))
	_, err = p.Redeem(t.Context(), cb.Get("code"), ap)
	wantCode(t, err, providers.CodeInvalidClient)
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error leaks the secret: %v", err)
	}

	good, err := providers.NewOSDN(f.config())
	if err != nil {
		t.Fatal(err)
	}
	f.down.Store(true)
	_, err = good.Redeem(t.Context(), "code", ap)
	wantCode(t, err, providers.CodeProviderUnavailable)
	f.down.Store(false)

	// Unexpected JSON: a profile without id.
	f.profile = map[string]any{"name": "alice"}
	cb = browse(t, must(good.AuthCodeURL(t.Context(), ap)))
	_, err = good.Redeem(t.Context(), cb.Get("code"), ap)
	wantCode(t, err, providers.CodeBadResponse)

	// Service gone entirely.
	url := f.srv.URL
	f.srv.Close()
	c := f.config()
	c.TokenURL = url + "/api/v0/token"
	gone, _ := providers.NewOSDN(c)
	_, err = gone.Redeem(t.Context(), "code", ap)
	wantCode(t, err, providers.CodeProviderUnavailable)

	if _, err := gone.Refresh(t.Context(), providers.Grant{}); !errors.Is(err, providers.ErrNoRefreshToken) {
		t.Errorf("refresh without token: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// wantCode asserts err is a *providers.Error with code.
func wantCode(t *testing.T, err error, code string) *providers.Error {
	t.Helper()
	e, ok := errors.AsType[*providers.Error](err)
	if !ok {
		t.Fatalf("error = %v, want *providers.Error %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("error code = %q (%v), want %q", e.Code, err, code)
	}
	if e.Message == "" {
		t.Errorf("error %v has no user message", err)
	}
	return e
}
