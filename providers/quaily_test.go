package providers_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

func quailyProvider(t *testing.T, f *fakes.Quaily) *providers.OAuth2 {
	t.Helper()
	p, err := providers.NewQuaily(providers.QuailyConfig{Common: providers.Common{ClientID: f.ClientID}, AuthURL: f.Auth.URL + "/oauth/authorize", APIBase: f.API.URL})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestQuailyLoginAndRefresh(t *testing.T) {
	t.Parallel()
	f := fakes.NewQuaily(t, gateCallback)
	p := quailyProvider(t, f)
	ap := providers.AuthParams{State: "qs", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.Callback}
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
	f := fakes.NewQuaily(t, gateCallback)
	f.SetProfile(map[string]any{"sub": "pw-1", "uuid": "u-1", "name": "No Mail", "email": "unverified@example.com", "email_verified": false})
	p := quailyProvider(t, f)
	ap := providers.AuthParams{State: "qs", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.Callback}
	g, err := p.Redeem(t.Context(), browse(t, must(p.AuthCodeURL(t.Context(), ap))).Get("code"), ap)
	if err != nil {
		t.Fatal(err)
	}
	if g.Identity.Email != "" || g.Identity.User != "quaily:u-1" {
		t.Errorf("identity = %+v, want no email (unverified) and user quaily:u-1", g.Identity)
	}
}

// TestQuailyPKCEMethods: S256 by default, plain when configured, never off
// (a public client without PKCE would let a stolen code be redeemed).
func TestQuailyPKCEMethods(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pkce providers.PKCEMethod
		want string
	}{{"", "S256"}, {providers.PKCEPlain, "plain"}} {
		t.Run(c.want, func(t *testing.T) {
			t.Parallel()
			f := fakes.NewQuaily(t, gateCallback)
			p, err := providers.NewQuaily(providers.QuailyConfig{Common: providers.Common{ClientID: f.ClientID}, AuthURL: f.Auth.URL + "/oauth/authorize", APIBase: f.API.URL, PKCE: c.pkce})
			if err != nil {
				t.Fatal(err)
			}
			ap := providers.AuthParams{State: "qs", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.Callback}
			authURL := must(p.AuthCodeURL(t.Context(), ap))
			u, _ := url.Parse(authURL)
			if got := u.Query().Get("code_challenge_method"); got != c.want {
				t.Errorf("code_challenge_method = %q, want %q", got, c.want)
			}
			if _, err := p.Redeem(t.Context(), browse(t, authURL).Get("code"), ap); err != nil {
				t.Errorf("redeem: %v", err)
			}
		})
	}
	for _, off := range []providers.PKCEMethod{providers.PKCEOff, "OFF", "none", "false"} {
		if _, err := providers.NewQuaily(providers.QuailyConfig{Common: providers.Common{ClientID: "c"}, PKCE: off}); err == nil {
			t.Errorf("PKCE %q accepted for a public client", off)
		}
	}
}
