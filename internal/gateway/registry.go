package gateway

import (
	"context"
	"fmt"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

// providerBuilder builds one provider from its validated configuration
// entry p: c carries the settings every provider shares (already taken
// from p), r the resources some providers need.
type providerBuilder func(ctx context.Context, p config.ProviderOptions, c providers.Common, r resources) (providers.Provider, error)

// registry maps each provider type to its builder, which translates the
// entry into the provider's own configuration. Adding a provider is one
// file in providers/ and one entry here (config's table of provider types
// says what validation requires of it; TestRegistryMatchesConfig keeps the
// two in step).
var registry = map[string]providerBuilder{
	config.TypeOIDC: func(ctx context.Context, p config.ProviderOptions, c providers.Common, _ resources) (providers.Provider, error) {
		return providers.NewOIDC(ctx, providers.OIDCConfig{Common: c, IssuerURL: p.IssuerURL, GroupsClaim: p.GroupsClaim,
			UserClaim: p.UserClaim, ExtraAudiences: p.ExtraAudiences, SkipDiscovery: p.SkipDiscovery,
			AuthURL: p.AuthURL, TokenURL: p.TokenURL, JWKSURL: p.JWKSURL, UserinfoURL: p.UserinfoURL})
	},
	config.TypeOAuth2: func(_ context.Context, p config.ProviderOptions, c providers.Common, _ resources) (providers.Provider, error) {
		return providers.NewOAuth2(providers.OAuth2Config{Common: c, AuthURL: p.AuthURL, TokenURL: p.TokenURL,
			UserinfoURL: p.UserinfoURL, ClientAuth: providers.ClientAuth(p.ClientAuth), PKCE: providers.PKCEMethod(p.PKCE),
			ScopeSeparator: p.ScopeSeparator, AuthParams: p.AuthParams, UserinfoEnvelope: p.UserinfoEnvelope, Claims: p.Claims})
	},
	config.TypeGitHub: func(_ context.Context, p config.ProviderOptions, c providers.Common, _ resources) (providers.Provider, error) {
		return providers.NewGitHub(providers.GitHubConfig{Common: c, BaseURL: p.BaseURL, APIURL: p.APIBase, PKCE: providers.PKCEMethod(p.PKCE), AuthParams: p.AuthParams,
			AllowedOrganizations: p.AllowedOrganizations, AllowedTeams: p.AllowedTeams, AllowedRepositories: p.AllowedRepositories,
			ValidateEvery: p.ValidateEvery})
	},
	config.TypeGitLab: func(ctx context.Context, p config.ProviderOptions, c providers.Common, _ resources) (providers.Provider, error) {
		return providers.NewGitLab(ctx, providers.GitLabConfig{Common: c, BaseURL: p.BaseURL, UserClaim: p.UserClaim, AllowedProjects: p.AllowedProjects})
	},
	config.TypeGoogle: func(ctx context.Context, p config.ProviderOptions, c providers.Common, _ resources) (providers.Provider, error) {
		return providers.NewGoogle(ctx, providers.GoogleConfig{Common: c, IssuerURL: p.IssuerURL, UserClaim: p.UserClaim,
			HostedDomains: p.HostedDomain, ServiceAccountKey: p.ServiceAccountKey, AdminEmail: p.AdminEmail,
			DirectoryURL: p.APIBase, GroupsCacheFor: p.ValidateEvery})
	},
	config.TypeEntra: func(ctx context.Context, p config.ProviderOptions, c providers.Common, _ resources) (providers.Provider, error) {
		return providers.NewEntra(ctx, providers.EntraConfig{Common: c, TenantID: p.TenantID, AllowedTenants: p.AllowedTenants,
			BaseURL: p.BaseURL, GraphURL: p.APIBase, UserClaim: p.UserClaim})
	},
	config.TypeKeycloak: func(ctx context.Context, p config.ProviderOptions, c providers.Common, _ resources) (providers.Provider, error) {
		return providers.NewKeycloak(ctx, providers.KeycloakConfig{Common: c, IssuerURL: p.IssuerURL, UserClaim: p.UserClaim})
	},
	config.TypeOSDN: func(_ context.Context, p config.ProviderOptions, c providers.Common, _ resources) (providers.Provider, error) {
		return providers.NewOSDN(providers.OSDNConfig{Common: c, AuthURL: p.AuthURL, TokenURL: p.TokenURL,
			UserinfoURL: p.UserinfoURL, SendRedirectURI: p.SendRedirectURI != nil && *p.SendRedirectURI})
	},
	config.TypeQuaily: func(_ context.Context, p config.ProviderOptions, c providers.Common, _ resources) (providers.Provider, error) {
		return providers.NewQuaily(providers.QuailyConfig{Common: c, AuthURL: p.AuthURL, APIBase: p.APIBase,
			TokenURL: p.TokenURL, UserinfoURL: p.UserinfoURL, PKCE: providers.PKCEMethod(p.PKCE)})
	},
	config.TypeOsu: func(_ context.Context, p config.ProviderOptions, c providers.Common, _ resources) (providers.Provider, error) {
		return providers.NewOsu(providers.OsuConfig{Common: c, APIBase: p.APIBase, AuthURL: p.AuthURL, TokenURL: p.TokenURL,
			UserinfoURL: p.UserinfoURL, PKCE: providers.PKCEMethod(p.PKCE), RefuseRestricted: p.RefuseRestricted})
	},
	config.TypeMastodon: func(_ context.Context, p config.ProviderOptions, c providers.Common, r resources) (providers.Provider, error) {
		return providers.NewMastodon(providers.MastodonConfig{Common: c, AllowedInstances: p.AllowedInstances,
			AppName: p.AppName, AppWebsite: p.AppWebsite, Store: r.credentialStore(p, c), ValidateEvery: p.ValidateEvery})
	},
}

// newProvider builds the provider p describes. OIDC discovery happens
// here, so ctx bounds start-up.
func newProvider(ctx context.Context, p config.ProviderOptions, r resources) (providers.Provider, error) {
	build, ok := registry[p.Type]
	if !ok {
		return nil, fmt.Errorf("provider %q: unknown type %q", p.ID, p.Type)
	}
	return build(ctx, p, providers.Common{
		ID:                   p.ID,
		DisplayName:          p.DisplayName,
		ClientID:             p.ClientID,
		ClientSecret:         p.ClientSecret,
		Scopes:               p.Scopes,
		UserPrefix:           p.UserPrefix,
		AllowUnverifiedEmail: p.AllowUnverifiedEmail,
		OfflineAccess:        p.OfflineAccess,
		HTTPClient:           r.metrics.ProviderClient(p.ID, r.httpClient),
		Logger:               r.log.With("provider", p.ID),
		Now:                  r.now,
		Revalidate:           providers.Revalidation{Every: p.ValidateEvery, IntrospectionURL: p.IntrospectionURL},
	}, r)
}

// credentialStore is where Mastodon keeps its per-instance apps: Redis
// when one is configured (shared by replicas), else the credentials file,
// else memory.
func (r resources) credentialStore(p config.ProviderOptions, c providers.Common) providers.CredentialStore {
	switch {
	case r.redis != nil:
		s := providers.NewRedisCredentialStore(r.redis, r.redisKeyPrefix)
		s.Logger = c.Logger
		return s
	case p.CredentialsFile != "":
		return providers.NewFileCredentialStore(p.CredentialsFile)
	}
	return providers.NewMemoryCredentialStore()
}
