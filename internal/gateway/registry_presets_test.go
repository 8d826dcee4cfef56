package gateway

import (
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
)

// TestNewProviderPresets: the registry builds each preset from its
// options, discovery and all, under the configured id and name.
func TestNewProviderPresets(t *testing.T) {
	t.Parallel()
	gh := fakes.NewGitHub(t, fakes.GitHubOptions{Callback: gateCallback, Enterprise: true})
	gl := fakes.NewGitLab(t, fakes.GitLabOptions{Callback: gateCallback, PathPrefix: "/gitlab"})
	gg := fakes.NewGoogle(t, fakes.GoogleOptions{Callback: gateCallback})
	en := fakes.NewEntra(t, fakes.EntraOptions{Callback: gateCallback})
	kc := fakes.NewKeycloak(t, fakes.KeycloakOptions{Callback: gateCallback})
	for _, o := range []config.ProviderOptions{
		{ID: "github", Type: "github", DisplayName: "GitHub", ClientID: gh.ClientID, ClientSecret: gh.ClientSecret, BaseURL: gh.BaseURL, AllowedTeams: []string{"acme/sre"}},
		{ID: "gitlab", Type: "gitlab", DisplayName: "GitLab", ClientID: gl.ClientID, ClientSecret: gl.ClientSecret, BaseURL: gl.BaseURL, AllowedProjects: []string{"acme/platform/gateway"}},
		{ID: "google", Type: "google", DisplayName: "Google", ClientID: gg.ClientID, ClientSecret: gg.ClientSecret, IssuerURL: gg.Issuer, HostedDomain: []string{"example.com"}},
		{ID: "corp", Type: "entra", DisplayName: "Contoso", ClientID: en.ClientID, ClientSecret: en.ClientSecret, BaseURL: en.BaseURL, APIBase: en.Graph.URL,
			TenantID: "organizations", AllowedTenants: []string{fakes.EntraTenant}},
		{ID: "keycloak", Type: "keycloak", DisplayName: "Keycloak", ClientID: kc.ClientID, ClientSecret: kc.ClientSecret, IssuerURL: kc.Issuer},
	} {
		p, err := newProvider(t.Context(), o, testResources())
		if err != nil {
			t.Errorf("%s: %v", o.Type, err)
			continue
		}
		if info := p.Info(); info.ID != o.ID || info.Type != o.Type || info.DisplayName != o.DisplayName || info.NeedsInstance {
			t.Errorf("%s: Info = %+v", o.Type, info)
		}
	}
	if _, err := newProvider(t.Context(), config.ProviderOptions{ID: "entra", Type: "entra", ClientID: "c", ClientSecret: "s", BaseURL: en.BaseURL, TenantID: "organizations"}, testResources()); err == nil {
		t.Error("entra for every tenant built without allowed_tenants")
	}
}
