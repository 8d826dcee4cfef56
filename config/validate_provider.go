package config

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/internal/hostport"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

// Provider types Gatehouse implements.
const (
	TypeOIDC     = "oidc"
	TypeOAuth2   = "oauth2"
	TypeGitHub   = "github"
	TypeGitLab   = "gitlab"
	TypeGoogle   = "google"
	TypeEntra    = "entra"
	TypeKeycloak = "keycloak"
	TypeOSDN     = "osdn"
	TypeQuaily   = "quaily"
	TypeOsu      = "osu"
	TypeMastodon = "mastodon"
)

// providerTypes lists the known provider types with their default
// display names, in documentation order.
var providerTypes = []struct{ typ, name string }{
	{TypeOIDC, "OpenID Connect"},
	{TypeOAuth2, "OAuth2"},
	{TypeGitHub, "GitHub"},
	{TypeGitLab, "GitLab"},
	{TypeGoogle, "Google"},
	{TypeEntra, "Microsoft"},
	{TypeKeycloak, "Keycloak"},
	{TypeOSDN, "OSDN"},
	{TypeQuaily, "Quaily"},
	{TypeOsu, "osu!"},
	{TypeMastodon, "Mastodon"},
}

// ProviderTypes returns the provider types validation accepts, in
// documentation order.
func ProviderTypes() []string {
	types := make([]string, len(providerTypes))
	for i, t := range providerTypes {
		types[i] = t.typ
	}
	return types
}

var providerIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// flatProviderKeys maps ProviderOptions YAML keys to the flags that set
// them when the provider is given by flags.
var flatProviderKeys = map[string]string{
	"id":                     "provider",
	"type":                   "provider",
	"name":                   "provider-display-name",
	"client_id":              "client-id",
	"client_secret":          "client-secret",
	"client_secret_file":     "client-secret-file",
	"redirect_url":           "redirect-url",
	"scopes":                 "scope",
	"issuer_url":             "oidc-issuer-url",
	"skip_discovery":         "skip-oidc-discovery",
	"jwks_url":               "oidc-jwks-url",
	"groups_claim":           "oidc-groups-claim",
	"extra_audiences":        "oidc-extra-audience",
	"offline_access":         "oidc-offline-access",
	"allow_unverified_email": "insecure-oidc-allow-unverified-email",
	"auth_url":               "login-url",
	"token_url":              "redeem-url",
	"userinfo_url":           "userinfo-url",
	"allowed_instances":      "mastodon-allowed-instance",
}

// flatProviderOptions are the flags describing the single provider that a
// YAML 'providers' list replaces.
var flatProviderOptions = []string{
	"provider", "provider-display-name", "oidc-issuer-url", "client-id", "client-secret",
	"client-secret-file", "scope", "oidc-groups-claim", "oidc-extra-audience",
	"insecure-oidc-allow-unverified-email", "skip-oidc-discovery", "login-url", "redeem-url",
	"oidc-jwks-url", "userinfo-url", "mastodon-allowed-instance", "oidc-offline-access",
}

func (v *validator) providers(o *Options) []ProviderOptions {
	if len(o.Providers) == 0 {
		p := ProviderOptions{
			Type:                 o.Provider,
			DisplayName:          o.ProviderDisplayName,
			ClientID:             o.ClientID,
			ClientSecret:         o.ClientSecret,
			ClientSecretFile:     o.ClientSecretFile,
			Scopes:               strings.Fields(o.Scope),
			IssuerURL:            o.OIDCIssuerURL,
			SkipDiscovery:        o.SkipOIDCDiscovery,
			JWKSURL:              o.OIDCJWKSURL,
			GroupsClaim:          o.OIDCGroupsClaim,
			UserClaim:            o.OIDCUserClaim,
			OfflineAccess:        o.OIDCOfflineAccess,
			ExtraAudiences:       slices.Clone(o.OIDCExtraAudiences),
			AllowUnverifiedEmail: o.AllowUnverifiedEmail,
			AuthURL:              o.LoginURL,
			TokenURL:             o.RedeemURL,
			UserinfoURL:          o.UserinfoURL,
			AllowedInstances:     slices.Clone(o.MastodonAllowedInstances),
		}
		key := func(field string) string {
			if k, ok := flatProviderKeys[field]; ok {
				return k
			}
			return "provider." + field
		}
		v.provider(&p, key, o.RedirectURL)
		return []ProviderOptions{p}
	}

	defaults := reflect.ValueOf(Defaults()).Elem()
	current := reflect.ValueOf(o).Elem()
	for _, name := range flatProviderOptions {
		opt, _ := lookupOption(name)
		if !sameValue(current.Field(opt.index), defaults.Field(opt.index)) {
			v.add(name, "is set, but the YAML 'providers' list replaces the provider given by flags",
				"move the setting into an entry of 'providers', or remove the list")
		}
	}

	out := make([]ProviderOptions, len(o.Providers))
	seen := map[string]int{}
	for i := range o.Providers {
		p := o.Providers[i].clone()
		key := func(field string) string { return fmt.Sprintf("providers[%d].%s", i, field) }
		v.provider(&p, key, o.RedirectURL)
		if first, dup := seen[p.ID]; dup && p.ID != "" {
			v.add(key("id"), fmt.Sprintf("is %q, like providers[%d]", p.ID, first),
				"give each provider a unique id (the id defaults to the type)")
		} else {
			seen[p.ID] = i
		}
		out[i] = p
	}
	return out
}

// sameValue compares option values, treating nil and empty lists alike.
func sameValue(a, b reflect.Value) bool {
	if a.Kind() == reflect.Slice {
		return a.Len() == 0 && b.Len() == 0 || reflect.DeepEqual(a.Interface(), b.Interface())
	}
	return a.Equal(b)
}

// provider checks and completes one provider; key names its fields.
func (v *validator) provider(p *ProviderOptions, key func(string) string, globalRedirect string) {
	known := v.providerType(p, key)
	v.providerCredentials(p, key, known)
	v.providerEndpoints(p, key, globalRedirect)
	v.providerLists(p, key)
	if known {
		v.providerPreset(p, key)
	}
}

// providerType checks the type and fills in ID and DisplayName; it reports
// whether the type is known.
func (v *validator) providerType(p *ProviderOptions, key func(string) string) bool {
	p.Type = strings.ToLower(strings.TrimSpace(p.Type))
	defaultName := ""
	var typeNames []string
	for _, t := range providerTypes {
		typeNames = append(typeNames, t.typ)
		if t.typ == p.Type {
			defaultName = t.name
		}
	}
	known := defaultName != ""
	switch {
	case p.Type == "":
		v.add(key("type"), "is required", "set it to "+orList(typeNames))
	case !known:
		fix := "use " + orList(typeNames)
		if s := suggest(p.Type, typeNames); s != "" {
			fix = fmt.Sprintf("did you mean %q?", s)
		}
		v.add(key("type"), fmt.Sprintf("is %q, which is not a provider type", p.Type), fix)
	}

	if p.ID == "" {
		p.ID = p.Type
	}
	if p.ID != "" && !providerIDPattern.MatchString(p.ID) {
		v.add(key("id"), fmt.Sprintf("is %q; must be lower-case letters, digits, '-' and '_', starting with a letter or digit", p.ID), "")
	}
	if p.DisplayName == "" {
		p.DisplayName = defaultName
	}
	return known
}

// providerCredentials checks the client id and secret (reading the secret
// file) and normalises client_auth and pkce.
func (v *validator) providerCredentials(p *ProviderOptions, key func(string) string, known bool) {
	// Client credentials.
	if p.Type != TypeMastodon && p.ClientID == "" && known {
		v.add(key("client_id"), "is required for provider type "+p.Type, "copy the client id from the application registered with the provider")
	}
	switch {
	case p.ClientSecret != "" && p.ClientSecretFile != "":
		v.add(key("client_secret_file"), "is set together with "+refKey(key("client_secret")), "keep only one")
	case p.ClientSecretFile != "":
		secret, problem := readSecretFile(p.ClientSecretFile)
		if problem != "" {
			v.add(key("client_secret_file"), problem, "check the path and the file's permissions")
		}
		p.ClientSecret = secret
	}

	if auth, err := providers.ParseClientAuth(p.ClientAuth); err != nil {
		v.add(key("client_auth"), fmt.Sprintf("is %q; %v", strings.ToLower(strings.TrimSpace(p.ClientAuth)), err), "")
	} else {
		p.ClientAuth = string(auth)
	}
	if pkce, err := providers.ParsePKCEMethod(p.PKCE); err != nil {
		v.add(key("pkce"), fmt.Sprintf("is %q; %v", p.PKCE, err), "")
	} else {
		p.PKCE = string(pkce)
	}

	needsSecret := known && p.Type != TypeMastodon && p.Type != TypeQuaily &&
		(p.Type != TypeOAuth2 || p.ClientAuth != "none")
	if needsSecret && p.ClientSecret == "" && p.ClientSecretFile == "" {
		fix := "set " + refKey(key("client_secret_file")) + " to a file holding the secret"
		if p.Type == TypeOAuth2 {
			fix += ", or client_auth: none for a public client"
		}
		v.add(key("client_secret"), "is required for provider type "+p.Type, fix)
	}
}

// providerEndpoints checks the provider's URLs (which are required
// depends on the type) and defaults RedirectURL to the global one.
func (v *validator) providerEndpoints(p *ProviderOptions, key func(string) string, globalRedirect string) {
	// Endpoints.
	required := map[string]bool{}
	switch p.Type {
	case TypeOIDC:
		required["issuer_url"] = true
		if p.SkipDiscovery {
			required["auth_url"], required["token_url"], required["jwks_url"] = true, true, true
		}
		if p.GroupsClaim == "" {
			p.GroupsClaim = "groups"
		}
	case TypeOAuth2:
		required["auth_url"], required["token_url"], required["userinfo_url"] = true, true, true
	case TypeKeycloak:
		required["issuer_url"] = true
	}
	endpoints := []struct {
		field string
		value string
	}{
		{"issuer_url", p.IssuerURL},
		{"auth_url", p.AuthURL},
		{"token_url", p.TokenURL},
		{"userinfo_url", p.UserinfoURL},
		{"jwks_url", p.JWKSURL},
		{"api_base", p.APIBase},
		{"base_url", p.BaseURL},
	}
	for _, e := range endpoints {
		if e.value == "" {
			if required[e.field] {
				why := "is required for provider type " + p.Type
				if p.Type == TypeOIDC && e.field != "issuer_url" {
					why = "is required when discovery is skipped"
				}
				v.add(key(e.field), why, "")
			}
			continue
		}
		if problem, fix := checkURL(e.value, true); problem != "" {
			v.add(key(e.field), problem, fix)
		}
	}
	if p.AppWebsite != "" {
		if problem, fix := checkURL(p.AppWebsite, false); problem != "" {
			v.add(key("app_website"), problem, fix)
		}
	}
	if p.RedirectURL != "" {
		if problem := checkRedirectURL(p.RedirectURL); problem != "" {
			v.add(key("redirect_url"), problem, "give the absolute callback URL registered with the provider, e.g. https://app.example.com"+CallbackPath)
		}
	} else {
		p.RedirectURL = globalRedirect
	}
}

// providerLists checks scopes, the per-provider lists and auth params,
// and Mastodon's allowed instances (normalised in place).
func (v *validator) providerLists(p *ProviderOptions, key func(string) string) {
	if p.OfflineAccess == "" {
		p.OfflineAccess = "auto"
	}
	v.oneOf(key("offline_access"), &p.OfflineAccess, "auto", "true", "false")
	for i, s := range p.Scopes {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\n") {
			v.add(key("scopes"), fmt.Sprintf("entry %d is empty or contains spaces", i+1), "give each scope as its own list entry")
		}
	}
	for _, list := range []struct {
		field   string
		entries []string
	}{{"extra_audiences", p.ExtraAudiences}, {"allowed_users", p.AllowedUsers}, {"allowed_groups", p.AllowedGroups}} {
		for i, e := range list.entries {
			if strings.TrimSpace(e) == "" {
				v.add(key(list.field), fmt.Sprintf("entry %d is empty", i+1), "remove it")
			}
		}
	}
	for i, g := range p.AllowedGroups {
		if strings.TrimSpace(g) != "" && !providers.ValidGroupName(g) {
			v.add(key("allowed_groups"), fmt.Sprintf("entry %d (%q) contains a comma, a control character or surrounding spaces, which no group can carry", i+1, g),
				"write the group exactly as the provider names it; groups with commas are refused at sign-in (they could not be told apart in X-Forwarded-Groups)")
		}
	}
	for name := range p.AuthParams {
		if providers.IsReservedAuthParam(name) {
			v.add(key("auth_params"), fmt.Sprintf("sets %q, which Gatehouse sets itself for every login", name),
				"remove it; use scopes for the scope and pkce for code_challenge")
		}
	}
	if p.ValidateEvery < 0 {
		v.add(key("validate_every"), "is negative", "use 0 to disable, or e.g. 15m")
	}

	if p.Type == TypeMastodon {
		if len(p.AllowedInstances) == 0 {
			v.add(key("allowed_instances"), "is required for provider type mastodon",
				"list the instances users may sign in with, e.g. mastodon.social or '*.example.social'; '*' allows every instance")
		}
		for i, inst := range p.AllowedInstances {
			inst = strings.ToLower(strings.TrimSpace(inst))
			p.AllowedInstances[i] = inst
			if problem := checkInstance(inst); problem != "" {
				v.add(key("allowed_instances"), fmt.Sprintf("entry %q %s", inst, problem), "write a host such as mastodon.social, '*.example.social' or '*'")
			}
		}
	}
}

// refKey renders another key inside a message.
func refKey(key string) string {
	if o, ok := lookupOption(key); ok && o.name == key {
		return flagRef(key)
	}
	return key
}

// checkInstance checks one Mastodon allowed-instance entry.
func checkInstance(s string) string {
	if s == "*" {
		return ""
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/@") {
		return "is not a host name"
	}
	host := strings.TrimPrefix(s, "*.")
	if !hostport.ValidHost(host) {
		return "is not a host name"
	}
	return ""
}

func (p ProviderOptions) clone() ProviderOptions {
	p.Scopes = slices.Clone(p.Scopes)
	p.ExtraAudiences = slices.Clone(p.ExtraAudiences)
	p.AllowedInstances = slices.Clone(p.AllowedInstances)
	p.AllowedUsers = slices.Clone(p.AllowedUsers)
	p.AllowedGroups = slices.Clone(p.AllowedGroups)
	p.AllowedOrganizations = slices.Clone(p.AllowedOrganizations)
	p.AllowedTeams = slices.Clone(p.AllowedTeams)
	p.AllowedRepositories = slices.Clone(p.AllowedRepositories)
	p.AllowedProjects = slices.Clone(p.AllowedProjects)
	p.HostedDomain = slices.Clone(p.HostedDomain)
	p.AllowedTenants = slices.Clone(p.AllowedTenants)
	p.ServiceAccountKey = slices.Clone(p.ServiceAccountKey)
	if p.AuthParams != nil {
		m := make(map[string]string, len(p.AuthParams))
		for k, v := range p.AuthParams {
			m[k] = v
		}
		p.AuthParams = m
	}
	if p.SendRedirectURI != nil {
		b := *p.SendRedirectURI
		p.SendRedirectURI = &b
	}
	if p.BackchannelLogout != nil {
		b := *p.BackchannelLogout
		p.BackchannelLogout = &b
	}
	return p
}
