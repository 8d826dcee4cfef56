package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

// presetKeys are the provider keys only some types read. On another type
// a restriction would silently restrict nothing, so each is an error there.
var presetKeys = []struct {
	key   string
	types []string
	set   func(p *ProviderOptions) bool
}{
	{"base_url", []string{TypeGitHub, TypeGitLab, TypeEntra}, func(p *ProviderOptions) bool { return p.BaseURL != "" }},
	{"allowed_organizations", []string{TypeGitHub}, func(p *ProviderOptions) bool { return len(p.AllowedOrganizations) > 0 }},
	{"allowed_teams", []string{TypeGitHub}, func(p *ProviderOptions) bool { return len(p.AllowedTeams) > 0 }},
	{"allowed_repositories", []string{TypeGitHub}, func(p *ProviderOptions) bool { return len(p.AllowedRepositories) > 0 }},
	{"allowed_projects", []string{TypeGitLab}, func(p *ProviderOptions) bool { return len(p.AllowedProjects) > 0 }},
	{"hosted_domain", []string{TypeGoogle}, func(p *ProviderOptions) bool { return len(p.HostedDomain) > 0 }},
	{"service_account_key_file", []string{TypeGoogle}, func(p *ProviderOptions) bool { return p.ServiceAccountKeyFile != "" }},
	{"admin_email", []string{TypeGoogle}, func(p *ProviderOptions) bool { return p.AdminEmail != "" }},
	{"tenant_id", []string{TypeEntra}, func(p *ProviderOptions) bool { return p.TenantID != "" }},
	{"allowed_tenants", []string{TypeEntra}, func(p *ProviderOptions) bool { return len(p.AllowedTenants) > 0 }},
}

// providerPreset checks the keys of the github, gitlab, google, entra and
// keycloak types, normalising them in place as the providers compare them.
func (v *validator) providerPreset(p *ProviderOptions, key func(string) string) {
	for _, k := range presetKeys {
		if k.set(p) && !slices.Contains(k.types, p.Type) {
			v.add(key(k.key), "is only read by provider type "+orList(k.types), "remove it, or check the provider's type")
		}
	}
	switch p.Type {
	case TypeGitHub:
		v.presetList(key("allowed_organizations"), p.AllowedOrganizations, "write the organisation's login, e.g. acme", providers.ParseGitHubOrganization)
		v.presetList(key("allowed_teams"), p.AllowedTeams, "write org/team-slug, e.g. acme/platform", providers.ParseGitHubTeam)
		v.presetList(key("allowed_repositories"), p.AllowedRepositories, "write owner/repo, e.g. acme/gateway or acme/gateway:admin",
			func(s string) (string, error) {
				r, err := providers.ParseGitHubRepository(s)
				return r.String(), err
			})
	case TypeGitLab:
		v.presetList(key("allowed_projects"), p.AllowedProjects, "write the project's full path, e.g. acme/platform/gateway or acme/platform/gateway:developer",
			func(s string) (string, error) {
				_, err := providers.ParseGitLabProject(s)
				return strings.TrimSpace(s), err
			})
	case TypeGoogle:
		v.google(p, key)
	case TypeEntra:
		v.entra(p, key)
	case TypeKeycloak:
		if p.IssuerURL != "" && !strings.Contains(p.IssuerURL, "/realms/") {
			v.add(key("issuer_url"), fmt.Sprintf("is %q, which is not a Keycloak realm's issuer", p.IssuerURL),
				"write https://<host>/realms/<realm> (before Keycloak 17: https://<host>/auth/realms/<realm>)")
		}
	}
}

// presetList parses each entry of a list in place; errors name the key.
func (v *validator) presetList(key string, entries []string, fix string, parse func(string) (string, error)) {
	for i, e := range entries {
		norm, err := parse(e)
		if err != nil {
			v.add(key, fmt.Sprintf("entry %d: %v", i+1, err), fix)
			continue
		}
		entries[i] = norm
	}
}

// google checks hosted_domain and reads the service account key.
func (v *validator) google(p *ProviderOptions, key func(string) string) {
	for i, d := range p.HostedDomain {
		d = strings.ToLower(strings.TrimSpace(d))
		p.HostedDomain[i] = d
		if d != "*" && (strings.ContainsAny(d, "@/: *") || !strings.Contains(d, ".")) {
			v.add(key("hosted_domain"), fmt.Sprintf("entry %q is not a domain", d), "write the Workspace's primary domain, e.g. example.com, or '*' for any Workspace account")
		}
	}
	switch {
	case (p.ServiceAccountKeyFile == "") != (p.AdminEmail == ""):
		v.add(key("service_account_key_file"), "and admin_email must be set together",
			"give both to read groups from the Directory API, or neither")
	case p.ServiceAccountKeyFile != "":
		data, problem := readFile(p.ServiceAccountKeyFile)
		if problem != "" {
			v.add(key("service_account_key_file"), problem, "check the path and the file's permissions")
			return
		}
		if _, err := providers.ParseServiceAccountKey(data); err != nil {
			v.add(key("service_account_key_file"), fmt.Sprintf("%q: %v", p.ServiceAccountKeyFile, err),
				"download a JSON key of the service account (IAM & Admin → Service accounts → Keys → Add key → JSON)")
			return
		}
		p.ServiceAccountKey = data
		if !strings.Contains(p.AdminEmail, "@") {
			v.add(key("admin_email"), fmt.Sprintf("is %q, not an email address", p.AdminEmail), "give a Workspace administrator's address")
		}
	}
}

// entra checks tenant_id and allowed_tenants.
func (v *validator) entra(p *ProviderOptions, key func(string) string) {
	tenant, multi, err := providers.ParseEntraTenant(p.TenantID)
	switch {
	case p.TenantID == "":
		v.add(key("tenant_id"), "is required for provider type entra",
			"copy the Directory (tenant) ID from the app registration's Overview, or use organizations / common for a multi-tenant app")
		return
	case err != nil:
		v.add(key("tenant_id"), err.Error(), "")
		return
	}
	p.TenantID = tenant
	v.presetList(key("allowed_tenants"), p.AllowedTenants, "write tenant ids (GUIDs), or '*' for every tenant", providers.ParseEntraAllowedTenant)
	switch {
	case multi && len(p.AllowedTenants) == 0:
		v.add(key("allowed_tenants"), "is required with tenant_id "+tenant,
			"list the tenant ids that may sign in, or '*' to admit every Microsoft Entra tenant")
	case !multi && len(p.AllowedTenants) > 0:
		v.add(key("allowed_tenants"), "is only read with tenant_id organizations or common",
			"remove it: a single-tenant app admits its own tenant only")
	}
}
