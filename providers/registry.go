package providers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/config"
)

// Deps are the shared resources providers are built with.
type Deps struct {
	// HTTPClient makes every request to providers; nil means a default
	// client with a 30 s timeout.
	HTTPClient *http.Client
	// Redis is the configured Redis, nil when none: Mastodon then keeps its
	// per-instance app credentials in a file or in memory.
	Redis redis.UniversalClient
	// RedisKeyPrefix prefixes every key written to Redis.
	RedisKeyPrefix string
	// Logger receives provider logs; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock token lifetimes are measured on; nil means time.Now.
	Now func() time.Time
}

// New builds the provider o describes: oidc, oauth2, osdn, quaily, osu or
// mastodon. OIDC discovery happens here, so ctx bounds start-up.
func New(ctx context.Context, o config.ProviderOptions, d Deps) (Provider, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	typ := strings.ToLower(o.Type)
	if o.ID == "" {
		o.ID = typ
	}
	secret := o.ClientSecret
	if secret == "" && o.ClientSecretFile != "" {
		b, err := os.ReadFile(o.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("provider %q: client_secret_file: %w", o.ID, err)
		}
		secret = strings.TrimSpace(string(b))
	}
	log := d.Logger.With("provider", o.ID)
	claims := ClaimMapping(o.Claims)
	switch typ {
	case "oidc":
		p, err := NewOIDC(ctx, OIDCConfig{
			ID:                   o.ID,
			DisplayName:          o.DisplayName,
			IssuerURL:            o.IssuerURL,
			ClientID:             o.ClientID,
			ClientSecret:         secret,
			Scopes:               o.Scopes,
			GroupsClaim:          o.GroupsClaim,
			UserClaim:            o.UserClaim,
			ExtraAudiences:       o.ExtraAudiences,
			AllowUnverifiedEmail: o.AllowUnverifiedEmail,
			SkipDiscovery:        o.SkipDiscovery,
			AuthURL:              o.AuthURL,
			TokenURL:             o.TokenURL,
			JWKSURL:              o.JWKSURL,
			UserinfoURL:          o.UserinfoURL,
			HTTPClient:           d.HTTPClient,
			Logger:               log,
			Now:                  d.Now,
		})
		if err != nil {
			return nil, err
		}
		return p, nil
	case "oauth2":
		return NewOAuth2(OAuth2Config{
			ID:                   o.ID,
			DisplayName:          o.DisplayName,
			ClientID:             o.ClientID,
			ClientSecret:         secret,
			AuthURL:              o.AuthURL,
			TokenURL:             o.TokenURL,
			UserinfoURL:          o.UserinfoURL,
			ClientAuth:           ClientAuth(strings.ToLower(o.ClientAuth)),
			PKCE:                 PKCEMethod(o.PKCE),
			Scopes:               o.Scopes,
			ScopeSeparator:       o.ScopeSeparator,
			AuthParams:           o.AuthParams,
			UserinfoEnvelope:     o.UserinfoEnvelope,
			Claims:               claims,
			UserPrefix:           o.UserPrefix,
			AllowUnverifiedEmail: o.AllowUnverifiedEmail,
			HTTPClient:           d.HTTPClient,
			Logger:               log,
			Now:                  d.Now,
		})
	case "osdn":
		send := o.SendRedirectURI != nil && *o.SendRedirectURI
		return NewOSDN(OSDNConfig{
			ID:                   o.ID,
			DisplayName:          o.DisplayName,
			ClientID:             o.ClientID,
			ClientSecret:         secret,
			Scopes:               o.Scopes,
			AuthURL:              o.AuthURL,
			TokenURL:             o.TokenURL,
			ProfileURL:           o.UserinfoURL,
			SendRedirectURI:      send,
			AllowUnverifiedEmail: o.AllowUnverifiedEmail,
			UserPrefix:           o.UserPrefix,
			HTTPClient:           d.HTTPClient,
			Logger:               log,
			Now:                  d.Now,
		})
	case "quaily":
		return NewQuaily(QuailyConfig{
			ID:                   o.ID,
			DisplayName:          o.DisplayName,
			ClientID:             o.ClientID,
			ClientSecret:         secret,
			Scopes:               o.Scopes,
			AuthURL:              o.AuthURL,
			APIBase:              o.APIBase,
			TokenURL:             o.TokenURL,
			UserinfoURL:          o.UserinfoURL,
			PKCE:                 PKCEMethod(o.PKCE),
			AllowUnverifiedEmail: o.AllowUnverifiedEmail,
			UserPrefix:           o.UserPrefix,
			HTTPClient:           d.HTTPClient,
			Logger:               log,
			Now:                  d.Now,
		})
	case "osu":
		return NewOsu(OsuConfig{
			ID:               o.ID,
			DisplayName:      o.DisplayName,
			ClientID:         o.ClientID,
			ClientSecret:     secret,
			Scopes:           o.Scopes,
			BaseURL:          o.APIBase,
			AuthURL:          o.AuthURL,
			TokenURL:         o.TokenURL,
			MeURL:            o.UserinfoURL,
			PKCE:             PKCEMethod(o.PKCE),
			RefuseRestricted: o.RefuseRestricted,
			UserPrefix:       o.UserPrefix,
			HTTPClient:       d.HTTPClient,
			Logger:           log,
			Now:              d.Now,
		})
	case "mastodon":
		var store CredentialStore
		switch {
		case d.Redis != nil:
			rs := NewRedisCredentialStore(d.Redis, d.RedisKeyPrefix)
			rs.Logger = log
			store = rs
		case o.CredentialsFile != "":
			store = NewFileCredentialStore(o.CredentialsFile)
		default:
			store = NewMemoryCredentialStore()
		}
		return NewMastodon(MastodonConfig{
			ID:               o.ID,
			DisplayName:      o.DisplayName,
			AllowedInstances: o.AllowedInstances,
			AppName:          o.AppName,
			AppWebsite:       o.AppWebsite,
			Scopes:           o.Scopes,
			Store:            store,
			ValidateEvery:    o.ValidateEvery,
			HTTPClient:       d.HTTPClient,
			Logger:           log,
		})
	default:
		return nil, fmt.Errorf("provider %q: unknown type %q (want oidc, oauth2, osdn, quaily, osu or mastodon)", o.ID, o.Type)
	}
}
