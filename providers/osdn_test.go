package providers_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

// osdnConfig configures the OSDN preset for the fake service f.
func osdnConfig(f *fakes.OSDN) providers.OSDNConfig {
	return providers.OSDNConfig{
		Common:      providers.Common{ClientID: f.ClientID, ClientSecret: f.ClientSecret},
		AuthURL:     f.URL + fakes.OSDNAuthPath,
		TokenURL:    f.URL + fakes.OSDNTokenPath,
		UserinfoURL: f.URL + fakes.OSDNProfilePath,
	}
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
			f := fakes.NewOSDN(t, gateCallback)
			c := osdnConfig(f)
			c.SendRedirectURI, c.AllowUnverifiedEmail = tc.sendRedir, tc.allowEmail
			p, err := providers.NewOSDN(c)
			if err != nil {
				t.Fatal(err)
			}
			if info := p.Info(); info.ID != "osdn" || info.Type != "osdn" || info.NeedsInstance {
				t.Errorf("Info = %+v", info)
			}
			ap := providers.AuthParams{State: "st-1", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.Callback}
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
	f := fakes.NewOSDN(t, gateCallback)
	ap := providers.AuthParams{State: "s", RedirectURL: f.Callback}

	bad := osdnConfig(f)
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

	good, err := providers.NewOSDN(osdnConfig(f))
	if err != nil {
		t.Fatal(err)
	}
	f.Down.Store(true)
	_, err = good.Redeem(t.Context(), "code", ap)
	wantCode(t, err, providers.CodeProviderUnavailable)
	f.Down.Store(false)

	// Unexpected JSON: a profile without id.
	f.SetProfile(map[string]any{"name": "alice"})
	cb = browse(t, must(good.AuthCodeURL(t.Context(), ap)))
	_, err = good.Redeem(t.Context(), cb.Get("code"), ap)
	wantCode(t, err, providers.CodeBadResponse)

	// Service gone entirely.
	url := f.URL
	f.Server.Close()
	c := osdnConfig(f)
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
