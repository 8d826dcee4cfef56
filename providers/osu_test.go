package providers_test

import (
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

func osuProvider(t *testing.T, f *fakes.Osu, mod func(*providers.OsuConfig)) *providers.OAuth2 {
	t.Helper()
	c := providers.OsuConfig{Common: providers.Common{ClientID: f.ClientID, ClientSecret: f.ClientSecret, Scopes: []string{"public"}}, APIBase: f.URL}
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
			f := fakes.NewOsu(t, gateCallback)
			p := osuProvider(t, f, func(c *providers.OsuConfig) { c.PKCE = pkce })
			ap := providers.AuthParams{State: "os", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.Callback}
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
			f := fakes.NewOsu(t, gateCallback)
			setProfileField(f, flag, true)
			ap := providers.AuthParams{State: "os", RedirectURL: f.Callback}
			lenient := osuProvider(t, f, nil)
			if _, err := lenient.Redeem(t.Context(), browse(t, must(lenient.AuthCodeURL(t.Context(), ap))).Get("code"), ap); err != nil {
				t.Errorf("without refuse_restricted: %v", err)
			}
			strict := osuProvider(t, f, func(c *providers.OsuConfig) { c.RefuseRestricted = true })
			// An account restricted after login loses its session at the next refresh.
			setProfileField(f, flag, false)
			g, err := strict.Redeem(t.Context(), browse(t, must(strict.AuthCodeURL(t.Context(), ap))).Get("code"), ap)
			if err != nil {
				t.Fatal(err)
			}
			setProfileField(f, flag, true)
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
	if _, err := providers.NewOsu(providers.OsuConfig{Common: providers.Common{ClientID: "abc", ClientSecret: "s"}}); err == nil {
		t.Error("non-numeric client id accepted")
	}
	f := fakes.NewOsu(t, gateCallback)
	p := osuProvider(t, f, nil)
	// The user denied consent: the callback carries error=access_denied.
	f.Deny.Store(true)
	ap := providers.AuthParams{State: "deny", RedirectURL: f.Callback}
	cb := browse(t, must(p.AuthCodeURL(t.Context(), ap)))
	f.Deny.Store(false)
	if cb.Get("error") != "access_denied" || cb.Has("code") {
		t.Errorf("callback after a denial = %v, want error=access_denied and no code", cb)
	}
	// A forged code.
	_, err := p.Redeem(t.Context(), "forged", providers.AuthParams{State: "x", RedirectURL: f.Callback})
	wantCode(t, err, providers.CodeInvalidGrant)
}
