package config

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/gatehouse-proxy/gatehouse/proxy/assertion"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
)

// Config is a validated configuration: what Options.Validate derives from
// Options once every check has passed, with the secrets kept in files read,
// cookie secrets decoded, URLs and enumerations parsed and the effective
// provider list built. Only Validate makes one that Validated reports true
// for, and gateway.New refuses any other; nothing downstream ever sees the
// raw Options.
type Config struct {
	// Server.
	HTTPAddress     string
	ShutdownTimeout time.Duration
	ReverseProxy    bool
	// MaxConnections, RequestBodyTimeout and UpstreamBodyIdleTimeout bound
	// connections and request bodies (see internal/server and proxy).
	MaxConnections          int
	RequestBodyTimeout      time.Duration
	UpstreamBodyIdleTimeout time.Duration
	// TrustedProxies are the --trusted-proxy ranges, with the loopback
	// ranges added by --reverse-proxy.
	TrustedProxies []netip.Prefix
	LogLevel       string // debug, info, warn or error
	LogFormat      string // text or json

	// Upstream is where authenticated requests go; nil in auth_request-only
	// deployments.
	Upstream               *url.URL
	UpstreamTimeout        time.Duration
	PassAccessToken        bool
	SetAuthorizationHeader bool
	ForwardAuthPrefixRoute bool

	// SigningKeys are the loaded --signing-key-file keys, in order (the
	// first signs); nil when no assertions are signed.
	SigningKeys []*assertion.Key
	// AssertionIssuer is --assertion-issuer, or the origin of
	// --redirect-url; "" without signing keys.
	AssertionIssuer string

	// Providers are the providers to configure: the YAML 'providers' list,
	// or the one provider given by the flat --provider, --client-id, ...
	// options. Every entry has ID, Type and DisplayName set, ClientSecret
	// read from ClientSecretFile when that is set, RedirectURL defaulted to
	// --redirect-url, oidc GroupsClaim defaulted to "groups", ClientAuth and
	// PKCE normalised by providers.ParseClientAuth and
	// providers.ParsePKCEMethod, Mastodon AllowedInstances lower-cased,
	// ValidateEvery defaulted to --session-validate-interval and
	// BackchannelLogout never nil (true for oidc providers with the Redis
	// store unless turned off).
	// Scopes from --scope are split on spaces; --login-url, --redeem-url and
	// --userinfo-url become AuthURL, TokenURL and UserinfoURL.
	Providers       []ProviderOptions
	ProviderSignOut bool
	SignOutGET      bool

	// EmailDomains are lower-cased, ".example.com" written "*.example.com".
	EmailDomains []string
	// WhitelistDomains are the hosts return addresses may name.
	WhitelistDomains []redirect.AllowedHost

	// Routes are the 'routes' list, checked, in order; JWTBearer the
	// issuers of machine clients' tokens; SkipJWTBearerTokens accepts
	// them everywhere.
	Routes              []Route
	JWTBearer           []JWTBearerOptions
	SkipJWTBearerTokens bool

	// Cookies and sessions.
	CookieName string
	// CookieSecretKeys are the decoded 32-byte cookie secrets, newest
	// first: --cookie-secret (or the first non-empty line of
	// --cookie-secret-file), then the file's further lines, then
	// --cookie-previous-secret in order. The first encrypts; all decrypt.
	CookieSecretKeys [][]byte
	CookieDomain     string // lower-cased; "" for host-only cookies
	CookiePath       string
	CookieSecure     bool
	CookieSameSite   http.SameSite
	CookieExpire     time.Duration
	CookieRefresh    time.Duration
	RefreshWindow    time.Duration
	RefreshTimeout   time.Duration
	RefreshWait      time.Duration
	SessionStore     string // cookie or redis
	// SessionValidateInterval is the default of the providers'
	// ValidateEvery (already applied to Providers).
	SessionValidateInterval time.Duration

	// Redis, with SessionStore redis (and for Mastodon's credentials).
	RedisURL string
	// RedisPassword is read from --redis-password-file; "" when none is
	// set (a password in RedisURL stays in the URL).
	RedisPassword       string
	RedisSentinelMaster string
	RedisSentinelAddrs  []string
	// RedisSentinelPassword is read from --redis-sentinel-password-file.
	RedisSentinelPassword string
	RedisClusterAddrs     []string
	RedisCAFile           string
	RedisKeyPrefix        string
	RedisTimeout          time.Duration

	// Operations: TLS, metrics, access log and pages (see validate_ops.go).
	Operations

	validated bool
}

// Operations are the settings for running Gatehouse in production: the
// TLS listener, metrics, the access log and the branding of its pages.
type Operations struct {
	// HTTPSAddress is the TLS listener's host:port; "" for none. At least
	// one of HTTPAddress and HTTPSAddress is set.
	HTTPSAddress string
	// TLSCertFile and TLSKeyFile hold the listener's certificate chain
	// and key (checked to load as a pair); they are re-read on change.
	TLSCertFile, TLSKeyFile string
	// TLSMinVersion is tls.VersionTLS12 or tls.VersionTLS13.
	TLSMinVersion uint16
	// MetricsAddress serves /metrics; "" for off.
	MetricsAddress string
	// AccessLog logs one line per request.
	AccessLog bool
	// CustomTemplatesDir overrides the built-in page templates; "" for
	// none.
	CustomTemplatesDir string
	// Banner and Footer are plain text shown on the pages; LogoURL an
	// https:// URL or a same-site path, checked.
	Banner, Footer, LogoURL string
}

// Validated reports whether c was made by Options.Validate.
func (c *Config) Validated() bool { return c != nil && c.validated }

// Validate checks every option and, when all are good, returns the Config
// they describe: secrets kept in files are read (a trailing newline
// trimmed), cookie secrets decoded, URLs and enumerations parsed, the
// provider list built and defaulted. o itself is not changed.
//
// Otherwise it returns the *Error of every problem found, joined with
// errors.Join.
func (o *Options) Validate() (*Config, error) {
	n := o.clone() // the validator normalises in place
	v := &validator{}
	c := &Config{}

	v.server(n)
	c.TrustedProxies = v.trustedProxies(n)
	c.Upstream = v.upstream(n)
	v.redirectURL(n.RedirectURL, n.CookieSecure)
	c.Providers = v.providers(n)
	c.WhitelistDomains = v.authorization(n)
	c.Routes = v.routes(n)
	c.CookieSecretKeys = v.cookies(n)
	c.RedisPassword, c.RedisSentinelPassword = v.redis(n)
	c.SigningKeys, c.AssertionIssuer = v.assertions(n)
	v.sessionLifecycle(n, c.Providers)
	c.Operations = v.operations(n)
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}

	c.HTTPAddress, c.ShutdownTimeout, c.ReverseProxy, c.LogLevel, c.LogFormat = n.HTTPAddress, n.ShutdownTimeout, n.ReverseProxy, n.LogLevel, n.LogFormat
	c.UpstreamTimeout, c.PassAccessToken, c.SetAuthorizationHeader = n.UpstreamTimeout, n.PassAccessToken, n.SetAuthorizationHeader
	c.ForwardAuthPrefixRoute = n.ForwardAuthPrefixRoute
	c.MaxConnections, c.RequestBodyTimeout, c.UpstreamBodyIdleTimeout = n.MaxConnections, n.RequestBodyTimeout, n.UpstreamBodyIdleTimeout
	c.ProviderSignOut, c.SignOutGET, c.EmailDomains = n.ProviderSignOut, n.SignOutGET, n.EmailDomains
	c.JWTBearer, c.SkipJWTBearerTokens = n.JWTBearer, n.SkipJWTBearerTokens
	c.CookieName, c.CookieDomain, c.CookiePath, c.CookieSecure = n.CookieName, n.CookieDomain, n.CookiePath, n.CookieSecure
	c.CookieSameSite = map[string]http.SameSite{"lax": http.SameSiteLaxMode, "strict": http.SameSiteStrictMode, "none": http.SameSiteNoneMode}[n.CookieSameSite]
	c.CookieExpire, c.CookieRefresh, c.RefreshWindow, c.SessionStore = n.CookieExpire, n.CookieRefresh, n.RefreshWindow, n.SessionStore
	c.RefreshTimeout, c.RefreshWait = n.RefreshTimeout, n.RefreshWait
	c.SessionValidateInterval = n.SessionValidateInterval
	c.RedisURL, c.RedisSentinelMaster, c.RedisSentinelAddrs, c.RedisClusterAddrs = n.RedisURL, n.RedisSentinelMaster, n.RedisSentinelAddrs, n.RedisClusterAddrs
	c.RedisCAFile, c.RedisKeyPrefix, c.RedisTimeout = n.RedisCAFile, n.RedisKeyPrefix, n.RedisTimeout
	c.validated = true
	return c, nil
}

// clone returns a copy of o sharing no slice or map with it.
func (o *Options) clone() *Options {
	n := *o
	n.OIDCExtraAudiences = slices.Clone(o.OIDCExtraAudiences)
	n.MastodonAllowedInstances = slices.Clone(o.MastodonAllowedInstances)
	n.EmailDomains = slices.Clone(o.EmailDomains)
	n.WhitelistDomains = slices.Clone(o.WhitelistDomains)
	n.TrustedProxies = slices.Clone(o.TrustedProxies)
	n.CookiePreviousSecret = slices.Clone(o.CookiePreviousSecret)
	n.RedisSentinelAddrs = slices.Clone(o.RedisSentinelAddrs)
	n.RedisClusterAddrs = slices.Clone(o.RedisClusterAddrs)
	n.SigningKeyFiles = slices.Clone(o.SigningKeyFiles)
	n.Routes = slices.Clone(o.Routes)
	n.JWTBearer = slices.Clone(o.JWTBearer)
	n.Providers = make([]ProviderOptions, len(o.Providers))
	for i, p := range o.Providers {
		n.Providers[i] = p.clone()
	}
	if o.Providers == nil {
		n.Providers = nil
	}
	return &n
}
