package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// serviceAccountKeyFile writes a Google service account key file.
func serviceAccountKeyFile(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	b, _ := json.Marshal(map[string]string{"type": "service_account", "client_email": "groups@p.iam.gserviceaccount.com", "private_key_id": "k1",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "token_uri": "https://oauth2.googleapis.com/token"})
	path := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// presetOptions are options with only the given providers.
func presetOptions(ps ...ProviderOptions) *Options {
	o := validOptions()
	o.OIDCIssuerURL, o.ClientID, o.ClientSecret = "", "", ""
	o.Providers = ps
	return o
}

func TestValidatePresets(t *testing.T) {
	t.Parallel()
	keyFile := serviceAccountKeyFile(t)
	cfg, err := presetOptions(
		ProviderOptions{Type: "github", ClientID: "c", ClientSecret: "s", BaseURL: "https://ghe.example.com",
			AllowedOrganizations: []string{"Acme"}, AllowedTeams: []string{"Acme/Platform"}, AllowedRepositories: []string{"Acme/Gateway:write"}},
		ProviderOptions{Type: "gitlab", ClientID: "c", ClientSecret: "s", BaseURL: "https://git.example.com/gitlab", AllowedProjects: []string{"acme/gateway:developer"}},
		ProviderOptions{Type: "google", ClientID: "c", ClientSecret: "s", HostedDomain: []string{"Example.COM"}, ServiceAccountKeyFile: keyFile, AdminEmail: "admin@example.com"},
		ProviderOptions{Type: "entra", ClientID: "c", ClientSecret: "s", TenantID: "Common", AllowedTenants: []string{"9188040D-6C67-4C5B-B112-36A304B66DAD"}},
		ProviderOptions{Type: "keycloak", ClientID: "c", ClientSecret: "s", IssuerURL: "https://sso.example.com/realms/acme"},
	).Validate()
	if err != nil {
		t.Fatal(err)
	}
	gh, gl, gg, en, kc := cfg.Providers[0], cfg.Providers[1], cfg.Providers[2], cfg.Providers[3], cfg.Providers[4]
	if !slices.Equal(gh.AllowedOrganizations, []string{"acme"}) || !slices.Equal(gh.AllowedTeams, []string{"acme/platform"}) ||
		!slices.Equal(gh.AllowedRepositories, []string{"acme/gateway:push"}) || gh.DisplayName != "GitHub" || gh.ID != "github" {
		t.Errorf("github: %+v", gh)
	}
	if gl.DisplayName != "GitLab" || !slices.Equal(gl.AllowedProjects, []string{"acme/gateway:developer"}) {
		t.Errorf("gitlab: %+v", gl)
	}
	if !slices.Equal(gg.HostedDomain, []string{"example.com"}) || !strings.Contains(string(gg.ServiceAccountKey), "service_account") {
		t.Errorf("google: hosted domain %v, key %d bytes", gg.HostedDomain, len(gg.ServiceAccountKey))
	}
	if en.TenantID != "common" || en.AllowedTenants[0] != "9188040d-6c67-4c5b-b112-36a304b66dad" || en.DisplayName != "Microsoft" {
		t.Errorf("entra: %+v", en)
	}
	if kc.DisplayName != "Keycloak" {
		t.Errorf("keycloak: %+v", kc)
	}
}

func TestValidatePresetErrors(t *testing.T) {
	t.Parallel()
	keyFile := serviceAccountKeyFile(t)
	notKey := filepath.Join(t.TempDir(), "user.json")
	if err := os.WriteFile(notKey, []byte(`{"type":"authorized_user","client_id":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	gh := func(p ProviderOptions) ProviderOptions {
		p.Type, p.ClientID, p.ClientSecret = "github", "c", "s"
		return p
	}
	for _, c := range []struct {
		name     string
		p        ProviderOptions
		key, msg string
	}{
		{"github without a secret", ProviderOptions{Type: "github", ClientID: "c"}, "client_secret", "is required for provider type github"},
		{"team without org", gh(ProviderOptions{AllowedTeams: []string{"platform"}}), "allowed_teams", "is not org/team-slug"},
		{"repository permission", gh(ProviderOptions{AllowedRepositories: []string{"acme/gateway:owner"}}), "allowed_repositories", `permission "owner"`},
		{"organisation with a slash", gh(ProviderOptions{AllowedOrganizations: []string{"acme/x"}}), "allowed_organizations", "not an organisation login"},
		{"base_url http", gh(ProviderOptions{BaseURL: "http://ghe.example.com"}), "base_url", "not loopback"},
		{"organisations on oidc", ProviderOptions{Type: "oidc", IssuerURL: "https://a", ClientID: "c", ClientSecret: "s", AllowedOrganizations: []string{"acme"}},
			"allowed_organizations", "only read by provider type github"},
		{"hosted domain on gitlab", ProviderOptions{Type: "gitlab", ClientID: "c", ClientSecret: "s", HostedDomain: []string{"example.com"}}, "hosted_domain", "only read by provider type google"},
		{"gitlab project", ProviderOptions{Type: "gitlab", ClientID: "c", ClientSecret: "s", AllowedProjects: []string{"gateway"}}, "allowed_projects", "full path"},
		{"gitlab level", ProviderOptions{Type: "gitlab", ClientID: "c", ClientSecret: "s", AllowedProjects: []string{"a/b:admin"}}, "allowed_projects", "access level"},
		{"google key without admin", ProviderOptions{Type: "google", ClientID: "c", ClientSecret: "s", ServiceAccountKeyFile: keyFile}, "service_account_key_file", "set together"},
		{"google user credentials", ProviderOptions{Type: "google", ClientID: "c", ClientSecret: "s", ServiceAccountKeyFile: notKey, AdminEmail: "a@example.com"},
			"service_account_key_file", "not a service account key"},
		{"google admin not an email", ProviderOptions{Type: "google", ClientID: "c", ClientSecret: "s", ServiceAccountKeyFile: keyFile, AdminEmail: "admin"}, "admin_email", "not an email"},
		{"google hosted domain", ProviderOptions{Type: "google", ClientID: "c", ClientSecret: "s", HostedDomain: []string{"@example.com"}}, "hosted_domain", "not a domain"},
		{"entra without tenant", ProviderOptions{Type: "entra", ClientID: "c", ClientSecret: "s"}, "tenant_id", "is required"},
		{"entra domain tenant", ProviderOptions{Type: "entra", ClientID: "c", ClientSecret: "s", TenantID: "contoso.onmicrosoft.com"}, "tenant_id", "Directory (tenant) ID"},
		{"entra multi without allow-list", ProviderOptions{Type: "entra", ClientID: "c", ClientSecret: "s", TenantID: "organizations"}, "allowed_tenants", "is required with tenant_id organizations"},
		{"entra allow-list for one tenant", ProviderOptions{Type: "entra", ClientID: "c", ClientSecret: "s", TenantID: "9188040d-6c67-4c5b-b112-36a304b66dad", AllowedTenants: []string{"*"}},
			"allowed_tenants", "only read with tenant_id organizations or common"},
		{"entra allowed tenant", ProviderOptions{Type: "entra", ClientID: "c", ClientSecret: "s", TenantID: "common", AllowedTenants: []string{"contoso"}}, "allowed_tenants", "not a tenant id"},
		{"keycloak without issuer", ProviderOptions{Type: "keycloak", ClientID: "c", ClientSecret: "s"}, "issuer_url", "is required for provider type keycloak"},
		{"keycloak issuer without realm", ProviderOptions{Type: "keycloak", ClientID: "c", ClientSecret: "s", IssuerURL: "https://sso.example.com"}, "issuer_url", "/realms/<realm>"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := presetOptions(c.p).Validate()
			if e := findError(t, err, "providers[0]."+c.key); !strings.Contains(e.Error(), c.msg) {
				t.Errorf("error %q does not say %q", e.Error(), c.msg)
			}
		})
	}
}
