package providers_test

import (
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

func keycloakProvider(t *testing.T, f *fakes.Keycloak) *providers.OIDC {
	t.Helper()
	p, err := providers.NewKeycloak(t.Context(), providers.KeycloakConfig{IssuerURL: f.Issuer,
		Common: providers.Common{ClientID: f.ClientID, ClientSecret: f.ClientSecret, Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// aliceKeycloakGroups are alice's groups with the fake's defaults: the
// groups mapper's, realm roles, then client roles by client.
var aliceKeycloakGroups = []string{"/staff", "/staff/admins",
	"role:admin", "role:default-roles-acme", "role:offline_access", "role:uma_authorization",
	"account:role:manage-account", "account:role:manage-account-links", "account:role:view-profile", "gatehouse:role:operator"}

func TestKeycloakRolesAndGroups(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		opts fakes.KeycloakOptions
		want []string
	}{
		{"roles in the access token only (Keycloak 19+)", fakes.KeycloakOptions{}, aliceKeycloakGroups},
		{"before Keycloak 17 (/auth)", fakes.KeycloakOptions{PathPrefix: "/auth"}, aliceKeycloakGroups},
		{"roles mapped into the ID token", fakes.KeycloakOptions{RolesInIDToken: true}, aliceKeycloakGroups},
		{"short group names", fakes.KeycloakOptions{ShortGroupNames: true, Realm: "corp"}, []string{"staff", "admins",
			"role:admin", "role:default-roles-corp", "role:offline_access", "role:uma_authorization",
			"account:role:manage-account", "account:role:manage-account-links", "account:role:view-profile", "gatehouse:role:operator"}},
		{"no groups mapper", fakes.KeycloakOptions{NoGroupsMapper: true}, aliceKeycloakGroups[2:]},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.opts.Callback = gateCallback
			f := fakes.NewKeycloak(t, c.opts)
			p := keycloakProvider(t, f)
			g, err := presetLogin(t, p, f.Callback)
			if err != nil {
				t.Fatal(err)
			}
			id := g.Identity
			if !slices.Equal(id.Groups, c.want) || id.Email != "alice@example.com" || id.PreferredUsername != "alice" || id.Issuer != f.Issuer {
				t.Errorf("identity = %+v\nwant groups %v", id, c.want)
			}
			if p.Info().Type != "keycloak" || p.Info().DisplayName != "Keycloak" {
				t.Errorf("Info = %+v", p.Info())
			}
		})
	}
}

func TestKeycloakRefreshSeesNewRoles(t *testing.T) {
	t.Parallel()
	f := fakes.NewKeycloak(t, fakes.KeycloakOptions{Callback: gateCallback})
	p := keycloakProvider(t, f)
	g, err := presetLogin(t, p, f.Callback)
	if err != nil {
		t.Fatal(err)
	}
	f.SetUser(fakes.KeycloakUser{Username: "alice", Name: "Alice", Email: "alice@example.com", RealmRoles: []string{"auditor"},
		ClientRoles: map[string][]string{"wiki": {"editor"}}, Groups: []string{"/staff"}})
	g2, err := p.Refresh(t.Context(), g)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/staff", "role:auditor", "role:default-roles-acme", "role:offline_access", "role:uma_authorization",
		"account:role:manage-account", "account:role:manage-account-links", "account:role:view-profile", "wiki:role:editor"}
	if !slices.Equal(g2.Identity.Groups, want) {
		t.Errorf("groups after refresh = %v\nwant %v", g2.Identity.Groups, want)
	}
}

func TestKeycloakIssuerMustBeARealm(t *testing.T) {
	t.Parallel()
	f := fakes.NewKeycloak(t, fakes.KeycloakOptions{Callback: gateCallback})
	if _, err := providers.NewKeycloak(t.Context(), providers.KeycloakConfig{IssuerURL: f.BaseURL, Common: providers.Common{ClientID: "c", ClientSecret: "s"}}); err == nil ||
		!strings.Contains(err.Error(), "/realms/") {
		t.Errorf("issuer without a realm: %v", err)
	}
}
