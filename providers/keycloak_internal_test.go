package providers

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
)

// keycloakLogin logs alice in at f through p.
func keycloakLogin(t *testing.T, p *OIDC, f *fakes.Keycloak) Grant {
	t.Helper()
	ap := AuthParams{State: "s", Nonce: "n", CodeVerifier: NewCodeVerifier(), RedirectURL: f.Callback}
	authURL, err := p.AuthCodeURL(t.Context(), ap)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	g, err := p.Redeem(t.Context(), loc.Query().Get("code"), ap)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestKeycloakAccessTokenVerified: roles are read from an access token only
// when it is the realm's, for this client and this user.
func TestKeycloakAccessTokenVerified(t *testing.T) {
	t.Parallel()
	f := fakes.NewKeycloak(t, fakes.KeycloakOptions{Callback: "https://gate.example/oauth2/callback"})
	other := fakes.NewKeycloak(t, fakes.KeycloakOptions{Callback: "https://gate.example/oauth2/callback", Realm: "other"})
	build := func(k *fakes.Keycloak) *OIDC {
		p, err := NewKeycloak(t.Context(), KeycloakConfig{IssuerURL: k.Issuer, Common: Common{ClientID: k.ClientID, ClientSecret: k.ClientSecret}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := build(f)
	own, foreign := keycloakLogin(t, p, f), keycloakLogin(t, build(other), other)
	for _, c := range []struct {
		name, token, sub string
		ok               bool
		roles            int
	}{
		{"the realm's token", own.Tokens.AccessToken, own.Identity.Subject, true, 8},
		{"another realm's token", foreign.Tokens.AccessToken, own.Identity.Subject, false, 0},
		{"another user's token", own.Tokens.AccessToken, "someone-else", false, 0},
		{"an opaque token", "opaque-token", own.Identity.Subject, true, 0},
	} {
		id := Identity{Subject: c.sub}
		err := p.preset.identity(t.Context(), presetInput{accessToken: c.token, refresh: true}, &id)
		if (err == nil) != c.ok || len(id.Groups) != c.roles {
			t.Errorf("%s: err %v, groups %v", c.name, err, id.Groups)
		}
	}
	// The realm's token, issued to another client of the realm.
	otherClient := keycloakRoles{clientID: "another-client", verifier: p.provider.Verifier(&oidc.Config{SkipClientIDCheck: true})}
	if _, err := otherClient.accessTokenClaims(t.Context(), own.Tokens.AccessToken, own.Identity.Subject); err == nil {
		t.Error("an access token for another client accepted")
	}
}
