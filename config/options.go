// Package config defines Gatehouse's one typed configuration and loads it
// from a YAML file, command-line flags and GATEHOUSE_* environment variables
// (flags > env > file > defaults), validating it up front.
package config

import (
	"time"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

// Options is the whole configuration of one Gatehouse.
//
// Each field's tags are its reference documentation:
//   - flag:    the command-line flag (--NAME); the environment variable is
//     GATEHOUSE_<NAME> upper-cased with '-' → '_'; the YAML key is NAME with
//     '-' → '_'. flag:"-" means YAML only.
//   - yaml:    overrides the YAML key; yaml:"-" means not settable in the file.
//   - env:     env:"-" means not settable from the environment.
//   - default: the default value, as it would be typed on the command line.
//   - help:    one sentence for --help and docs/configuration.md.
//   - alias:   older flag names still accepted (comma-separated), each with
//     its environment variable and YAML key; giving two spellings of one
//     option in one place (command line, environment or file) is an error.
//   - group:   starts a new section of --help and docs/configuration.md.
//
// Repeatable flags ([]string) are given several times on the command line,
// comma-separated in the environment, and as a YAML list (or a
// comma-separated YAML string).
//
// Load fills Options; Validate checks them and returns a Config, which
// holds the resolved values (secrets read from files, parsed URLs, the
// effective provider list). Options are never used to build anything.
type Options struct {
	// ---- configuration file ----
	ConfigFile string `flag:"config" yaml:"-" group:"Configuration file" help:"YAML configuration file; flags and GATEHOUSE_* variables override its values"`

	// ---- server ----
	HTTPAddress             string        `flag:"http-address" default:"127.0.0.1:4180" group:"Server" help:"host:port of the plain HTTP listener; may be empty when --https-address is set"`
	ShutdownTimeout         time.Duration `flag:"shutdown-timeout" default:"15s" help:"how long in-flight requests may finish after SIGTERM"`
	ReverseProxy            bool          `flag:"reverse-proxy" default:"false" help:"trust the forwarding headers of a proxy on this machine (loopback peers: nginx auth_request next to Gatehouse); the same as --trusted-proxy 127.0.0.0/8 --trusted-proxy ::1"`
	TrustedProxies          []string      `flag:"trusted-proxy" yaml:"trusted_proxies" help:"IP address or CIDR range of a proxy in front of Gatehouse (nginx, Traefik, Caddy, Envoy, an ingress controller) whose X-Forwarded-For/-Proto/-Host/-Port/-Uri/-Method, X-Original-URL/-URI, X-Real-IP and X-Request-Id are honoured, and the only peers /oauth2/auth hands token and cookie copies to (repeatable); from other peers these headers are dropped; identity headers are never honoured from anyone"`
	MaxConnections          int           `flag:"max-connections" default:"4096" help:"connections served at once; more wait in the kernel's queue until one closes (also capped below the open-file limit)"`
	RequestBodyTimeout      time.Duration `flag:"request-body-timeout" default:"10s" help:"time a request body to one of Gatehouse's own endpoints (/oauth2/*) may take to arrive; a stalled body is dropped and its connection closed"`
	UpstreamBodyIdleTimeout time.Duration `flag:"upstream-body-idle-timeout" default:"60s" help:"time a request body on its way to the upstream may stall between two reads (uploads of any length work while data flows; WebSockets are not affected); 0 disables"`
	LogLevel                string        `flag:"log-level" default:"info" help:"debug, info, warn or error"`
	LogFormat               string        `flag:"log-format" default:"text" help:"text or json"`

	// ---- upstream ----
	Upstream               string        `flag:"upstream" group:"Upstream" help:"URL of the application to proxy to (http:// or https://); empty in auth_request-only deployments"`
	UpstreamTimeout        time.Duration `flag:"upstream-timeout" default:"30s" help:"time to wait for the upstream's response headers"`
	PassAccessToken        bool          `flag:"pass-access-token" default:"false" help:"send the access token upstream as X-Forwarded-Access-Token (and X-Auth-Request-Access-Token on /oauth2/auth answers to a trusted proxy)"`
	SetAuthorizationHeader bool          `flag:"set-authorization-header" default:"false" help:"send 'Authorization: Bearer <access token>' upstream (and on /oauth2/auth answers to a trusted proxy)"`
	ForwardAuthPrefixRoute bool          `flag:"forward-auth-prefix-route" default:"false" help:"also answer forward-auth checks at /oauth2/auth/<original path>, the form Envoy ext_authz's path_prefix sends; off, only /oauth2/auth answers and /oauth2/auth/... is 404"`

	// ---- signed identity (docs/assertion.md) ----
	SigningKeyFiles []string `flag:"signing-key-file" group:"Signed identity" help:"PEM private key (EC P-256 or RSA of 2048 bits or more) signing the X-Gatehouse-Assertion JWT sent upstream (X-Auth-Request-Assertion on /oauth2/auth); repeatable: the first signs, all are published at /.well-known/jwks.json for rotation"`
	AssertionIssuer string   `flag:"assertion-issuer" help:"iss claim of the assertions (default: the origin of --redirect-url)"`

	// ---- the provider given by flags (a YAML 'providers' list configures several) ----
	Provider                 string            `flag:"provider" default:"oidc" group:"Provider" help:"provider type: oidc, oauth2, github, gitlab, google, entra, keycloak, osdn, quaily, osu or mastodon"`
	ProviderDisplayName      string            `flag:"provider-display-name" help:"name on the sign-in button (default: from the provider type)"`
	OIDCIssuerURL            string            `flag:"oidc-issuer-url" help:"OpenID Connect issuer URL (https; http only for loopback hosts); its /.well-known/openid-configuration is discovered at start-up, and ID tokens must carry it as iss"`
	ClientID                 string            `flag:"client-id" help:"OAuth2 client id registered with the provider"`
	ClientSecret             string            `flag:"client-secret" help:"OAuth2 client secret (prefer --client-secret-file)"`
	ClientSecretFile         string            `flag:"client-secret-file" help:"file holding the OAuth2 client secret"`
	RedirectURL              string            `flag:"redirect-url" help:"absolute callback URL registered with the provider, ending in /oauth2/callback (default: derived from the request)"`
	Scope                    string            `flag:"scope" help:"space-separated scopes to request (default: the provider's, 'openid email profile' for oidc)"`
	OIDCGroupsClaim          string            `flag:"oidc-groups-claim" default:"groups" help:"ID-token/userinfo claim holding the user's groups"`
	OIDCUserClaim            string            `flag:"oidc-user-claim" default:"sub" help:"claim sent upstream as X-Forwarded-User: sub, email, preferred_username or another string claim (the subject when absent)"`
	OIDCOfflineAccess        string            `flag:"oidc-offline-access" default:"auto" help:"request the offline_access scope, which many providers (Dex, Entra ID, Okta) require before they issue refresh tokens: auto (when discovery lists it in scopes_supported; never for keycloak), true or false"`
	OIDCExtraAudiences       []string          `flag:"oidc-extra-audience" help:"additional accepted ID-token audiences besides the client id (repeatable)"`
	AllowUnverifiedEmail     bool              `flag:"insecure-oidc-allow-unverified-email" default:"false" help:"accept emails the provider marks email_verified=false"`
	SkipOIDCDiscovery        bool              `flag:"skip-oidc-discovery" default:"false" help:"do not fetch discovery; use --login-url, --redeem-url and --oidc-jwks-url (--oidc-issuer-url is still required to check ID tokens)"`
	LoginURL                 string            `flag:"login-url" help:"authorization endpoint (with --skip-oidc-discovery, for --provider oauth2, or to override a built-in provider's)"`
	RedeemURL                string            `flag:"redeem-url" help:"token endpoint (with --skip-oidc-discovery, for --provider oauth2, or to override a built-in provider's)"`
	OIDCJWKSURL              string            `flag:"oidc-jwks-url" help:"JWKS endpoint (with --skip-oidc-discovery)"`
	UserinfoURL              string            `flag:"userinfo-url" alias:"profile-url" help:"userinfo endpoint (with --skip-oidc-discovery, or for --provider oauth2)"`
	MastodonAllowedInstances []string          `flag:"mastodon-allowed-instance" help:"with --provider mastodon: instance users may sign in with, exact host or '*.suffix'; '*' allows all (repeatable)"`
	SignOutGET               bool              `flag:"sign-out-get" default:"false" help:"sign out on a plain GET /oauth2/sign_out (a link), as older versions did; off, GET shows a confirmation button and only a POST from this site (Sec-Fetch-Site/Origin) or carrying the page's token signs out, so a cross-site link cannot sign users out"`
	ProviderSignOut          bool              `flag:"provider-sign-out" default:"true" help:"on sign-out, also send the browser to the provider's end_session_endpoint when it has one"`
	Providers                []ProviderOptions `flag:"-" yaml:"providers" help:"several providers at once; replaces the single provider given by flags"`

	// ---- authorization ----
	EmailDomains     []string `flag:"email-domain" group:"Authorization" help:"allowed email domain: 'example.com', '*.example.com' for its subdomains, '*' for any (repeatable; at least one); identities without an email are refused unless '*' is given"`
	WhitelistDomains []string `flag:"whitelist-domain" help:"hosts that ?rd= may redirect to after login: 'app.example.com', '.example.com' for subdomains, optional ':port' (repeatable); the hosts of routes are allowed without being listed"`

	// ---- routes (docs/routes.md) ----
	Routes              []RouteOptions     `flag:"-" yaml:"routes" group:"Routes and machine access" help:"per-path and per-host policy: evaluated in order, the first match decides the upstream and who may pass; requests no route takes keep the top-level upstream and rules (docs/routes.md)"`
	JWTBearer           []JWTBearerOptions `flag:"-" yaml:"jwt_bearer" help:"issuers whose JWTs machine clients may present as 'Authorization: Bearer' on routes with bearer: true (docs/routes.md)"`
	SkipJWTBearerTokens bool               `flag:"skip-jwt-bearer-tokens" default:"false" help:"accept bearer JWTs from the jwt_bearer issuers on every route and on requests no route takes, as if each had bearer: true"`

	// ---- cookies and sessions ----
	CookieName           string        `flag:"cookie-name" default:"_gatehouse" group:"Cookies and sessions" help:"name of the session cookie (chunks add _0, _1, ...)"`
	CookieSecret         string        `flag:"cookie-secret" help:"32-byte secret encrypting cookies: raw, or base64 (std or url); generate with 'openssl rand -base64 32' (prefer --cookie-secret-file)"`
	CookieSecretFile     string        `flag:"cookie-secret-file" help:"file holding the cookie secret; further lines are previous secrets still accepted for decoding"`
	CookiePreviousSecret []string      `flag:"cookie-previous-secret" help:"older cookie secrets still accepted for decoding during rotation (repeatable)"`
	CookieDomain         string        `flag:"cookie-domain" help:"Domain attribute of the cookies (default: host-only)"`
	CookiePath           string        `flag:"cookie-path" default:"/" help:"Path attribute of the cookies"`
	CookieSecure         bool          `flag:"cookie-secure" default:"true" help:"Secure attribute; set false only for plain-HTTP development"`
	CookieSameSite       string        `flag:"cookie-samesite" default:"lax" help:"SameSite attribute: lax, strict or none"`
	CookieExpire         time.Duration `flag:"cookie-expire" default:"168h" help:"session lifetime, whatever the tokens say; must be > 0"`
	CookieRefresh        time.Duration `flag:"cookie-refresh" default:"0s" help:"refresh tokens when the session was last refreshed longer ago than this; 0 disables; must be < --cookie-expire"`
	RefreshWindow        time.Duration `flag:"refresh-window" default:"1m" help:"refresh tokens that expire within this window (or within half their lifetime, when that is shorter)"`
	RefreshTimeout       time.Duration `flag:"refresh-timeout" default:"30s" help:"how long one token refresh may take at the provider; it runs to this deadline even when no request waits for it any more, so a slow provider's rotated refresh token is kept"`
	RefreshWait          time.Duration `flag:"refresh-wait" default:"10s" help:"how long a request waits for a token refresh; after that it is served with the current access token while it is valid, else answered 503; at most --refresh-timeout"`
	SessionStore         string        `flag:"session-store" default:"cookie" help:"cookie (encrypted cookie, no server) or redis"`

	// Revocation: provider-side checks of live sessions.
	SessionValidateInterval time.Duration `flag:"session-validate-interval" default:"0s" help:"re-check each session's access token at the provider (userinfo, or introspection_url) at most this often, ending sessions the provider no longer honours; 0 disables; a provider's validate_every overrides it"`

	// ---- redis (with --session-store redis) ----
	RedisURL                  string        `flag:"redis-url" group:"Redis (with --session-store redis)" help:"redis:// or rediss:// URL of a standalone Redis; may carry user:password (or use --redis-password-file)"`
	RedisPasswordFile         string        `flag:"redis-password-file" help:"file holding the Redis password (all modes)"`
	RedisSentinelMaster       string        `flag:"redis-sentinel-master" help:"Sentinel master name (enables Sentinel mode)"`
	RedisSentinelAddrs        []string      `flag:"redis-sentinel-addr" help:"host:port of a Sentinel (repeatable)"`
	RedisSentinelPasswordFile string        `flag:"redis-sentinel-password-file" help:"file holding the Sentinel password"`
	RedisClusterAddrs         []string      `flag:"redis-cluster-addr" help:"host:port of a Redis Cluster node (repeatable; enables Cluster mode)"`
	RedisCAFile               string        `flag:"redis-ca-file" help:"PEM CA bundle to verify Redis TLS (rediss://)"`
	RedisKeyPrefix            string        `flag:"redis-key-prefix" default:"gatehouse:" help:"prefix of every Redis key Gatehouse writes"`
	RedisTimeout              time.Duration `flag:"redis-timeout" default:"2s" help:"timeout of every Redis call"`

	// ---- operations: TLS, metrics, access log, pages (issue 12) ----
	HTTPSAddress       string `flag:"https-address" group:"TLS, metrics, logs and pages" help:"host:port of a TLS listener (HTTP/2 on) besides or instead of --http-address; needs --tls-cert-file and --tls-key-file"`
	TLSCertFile        string `flag:"tls-cert-file" help:"PEM certificate chain of the TLS listener; re-read when the file changes (cert-manager rotation), without dropping connections"`
	TLSKeyFile         string `flag:"tls-key-file" help:"PEM private key of --tls-cert-file; re-read with it"`
	TLSMinVersion      string `flag:"tls-min-version" default:"1.2" help:"oldest TLS version the listener accepts: 1.2 or 1.3"`
	MetricsAddress     string `flag:"metrics-address" help:"host:port serving /metrics in the Prometheus text format on a listener of its own, never the public one (empty: off)"`
	AccessLog          bool   `flag:"access-log" default:"true" help:"log one line per request (in --log-format) with method, host, path without query, status, bytes, duration, user, provider, route, upstream status and request id; never tokens or cookies"`
	CustomTemplatesDir string `flag:"custom-templates-dir" help:"directory of templates overriding the built-in pages (layout.html, sign_in.html, error.html, forbidden.html, sign_out.html, signed_out.html, continue.html: the built-in names; a missing file keeps the built-in one); parsed at start-up"`
	Banner             string `flag:"banner" help:"text shown at the top of the sign-in page (plain text, escaped)"`
	Footer             string `flag:"footer" help:"text shown at the bottom of every page (plain text, escaped)"`
	LogoURL            string `flag:"logo-url" help:"image shown on the pages: an https:// URL or a path on this site (/static/logo.svg)"`

	// ---- misc ----
	Version bool `flag:"version" default:"false" yaml:"-" env:"-" group:"Miscellaneous" help:"print the version, commit, build date and Go version and exit (the same as 'gatehouse version')"`
}

// ProviderOptions configures one provider in the YAML 'providers' list.
// The fields a type does not use are ignored; validation says which are
// required for which type.
//
// Config.Providers holds these after Validate, with defaults filled in
// and ClientSecret resolved from ClientSecretFile.
type ProviderOptions struct {
	ID               string   `yaml:"id" help:"unique id used in URLs, sessions and rules; [a-z0-9][a-z0-9_-]* (default: the type)"`
	Type             string   `yaml:"type" help:"oidc, oauth2, github, gitlab, google, entra, keycloak, osdn, quaily, osu or mastodon"`
	DisplayName      string   `yaml:"name" help:"text on the sign-in button (default: from the type)"`
	ClientID         string   `yaml:"client_id" help:"OAuth2 client id (required except for mastodon, which registers itself on each instance)"`
	ClientSecret     string   `yaml:"client_secret" help:"OAuth2 client secret (required except for mastodon, quaily and oauth2 with client_auth none; prefer client_secret_file)"`
	ClientSecretFile string   `yaml:"client_secret_file" help:"file holding the client secret"`
	RedirectURL      string   `yaml:"redirect_url" help:"callback URL registered with this provider (default: the global redirect_url or derived)"`
	Scopes           []string `yaml:"scopes" help:"scopes to request (default: the provider's)"`

	// oidc
	IssuerURL            string   `yaml:"issuer_url" help:"oidc, keycloak: issuer URL (https; http only for loopback hosts); keycloak: the realm's, https://<host>/realms/<realm>"`
	SkipDiscovery        bool     `yaml:"skip_discovery" help:"oidc: do not fetch discovery; auth_url, token_url and jwks_url are then required"`
	JWKSURL              string   `yaml:"jwks_url" help:"oidc: JWKS endpoint (with skip_discovery)"`
	GroupsClaim          string   `yaml:"groups_claim" help:"oidc: claim holding the user's groups (default groups)"`
	UserClaim            string   `yaml:"user_claim" help:"oidc, gitlab, google, entra, keycloak: claim sent upstream as X-Forwarded-User (default sub)"`
	OfflineAccess        string   `yaml:"offline_access" help:"oidc and its presets: request the offline_access scope (needed for refresh tokens by Dex, Entra ID, Okta): auto (when discovery lists it; never for keycloak), true or false (default auto)"`
	ExtraAudiences       []string `yaml:"extra_audiences" help:"oidc: accepted ID-token audiences besides the client id"`
	AllowUnverifiedEmail bool     `yaml:"allow_unverified_email" help:"oidc: accept emails marked email_verified=false"`

	// oauth2 (generic) and overrides of the built-in presets' endpoints
	AuthURL          string                 `yaml:"auth_url" help:"authorization endpoint (required for oauth2; overrides a preset's)"`
	TokenURL         string                 `yaml:"token_url" help:"token endpoint (required for oauth2; overrides a preset's)"`
	UserinfoURL      string                 `yaml:"userinfo_url" help:"userinfo endpoint (required for oauth2; overrides a preset's)"`
	ClientAuth       string                 `yaml:"client_auth" help:"body, basic or none (public client)"`
	PKCE             string                 `yaml:"pkce" help:"S256, plain or off"`
	ScopeSeparator   string                 `yaml:"scope_separator" help:"default ' '"`
	AuthParams       map[string]string      `yaml:"auth_params" help:"extra authorize query parameters"`
	UserinfoEnvelope string                 `yaml:"userinfo_envelope" help:"JSON path to unwrap, e.g. data"`
	Claims           providers.ClaimMapping `yaml:"claims" help:"where each identity attribute is found in the userinfo response (see below)"`
	UserPrefix       string                 `yaml:"user_prefix" help:"prefix of X-Forwarded-User, e.g. 'osu:' (default: '<id>:' for non-OIDC providers; none for github)"`

	// rules (in addition to the global email domains)
	AllowedUsers  []string `yaml:"allowed_users" help:"only these users (X-Forwarded-User values such as 'osu:123' or 'alice@mastodon.example', or subjects) may log in through this provider"`
	AllowedGroups []string `yaml:"allowed_groups" help:"only members of at least one of these groups may log in through this provider"`

	// built-in presets
	APIBase          string        `yaml:"api_base" help:"quaily API base / osu! base URL / github REST API root / google Directory API root / entra Microsoft Graph root"`
	SendRedirectURI  *bool         `yaml:"send_redirect_uri" help:"osdn: send redirect_uri (default false)"`
	RefuseRestricted bool          `yaml:"refuse_restricted" help:"osu: refuse restricted, bot and deleted accounts"`
	AllowedInstances []string      `yaml:"allowed_instances" help:"mastodon: instances allowed, exact host or '*.suffix'; '*' allows all (required)"`
	AppName          string        `yaml:"app_name" help:"mastodon: client_name registered on each instance"`
	AppWebsite       string        `yaml:"app_website" help:"mastodon: website registered on each instance"`
	CredentialsFile  string        `yaml:"credentials_file" help:"mastodon: file keeping per-instance app credentials when no Redis is configured (default: memory)"`
	ValidateEvery    time.Duration `yaml:"validate_every" help:"re-check the access token this often so a revoked token ends the session: oidc, oauth2 and their presets at userinfo (or introspection_url), mastodon with verify_credentials, github also the memberships (default 10m), google also how long Directory groups are kept (default 10m); default --session-validate-interval; 0 with that unset disables"`

	// github, gitlab, google, entra
	BaseURL               string   `yaml:"base_url" help:"github: server root (default https://github.com; GitHub Enterprise Server: its URL, API at <base_url>/api/v3); gitlab: instance URL with any relative root (default https://gitlab.com); entra: login host (default https://login.microsoftonline.com)"`
	AllowedOrganizations  []string `yaml:"allowed_organizations" help:"github: members of any of these organisations may sign in (case-insensitive)"`
	AllowedTeams          []string `yaml:"allowed_teams" help:"github: members of any of these teams may sign in, written org/team-slug"`
	AllowedRepositories   []string `yaml:"allowed_repositories" help:"github: collaborators on any of these repositories may sign in, owner/repo or owner/repo:permission (pull, triage, push, maintain, admin; default push, or pull on a private repository)"`
	AllowedProjects       []string `yaml:"allowed_projects" help:"gitlab: members of any of these projects may sign in, group/project or group/project:level (guest, planner, reporter, developer, maintainer, owner; default any member)"`
	HostedDomain          []string `yaml:"hosted_domain" help:"google: only accounts of these Google Workspace domains (the ID token's hd claim) may sign in; '*' any Workspace account"`
	ServiceAccountKeyFile string   `yaml:"service_account_key_file" help:"google: service account key (JSON) with domain-wide delegation of admin.directory.group.readonly, to read Workspace groups"`
	AdminEmail            string   `yaml:"admin_email" help:"google: the Workspace administrator the service account acts as (with service_account_key_file)"`
	TenantID              string   `yaml:"tenant_id" help:"entra: the Directory (tenant) ID, or organizations / common for a multi-tenant app (required)"`
	AllowedTenants        []string `yaml:"allowed_tenants" help:"entra: tenant ids that may sign in with organizations / common (required there); '*' any tenant"`

	// ServiceAccountKey is ServiceAccountKeyFile's content, read by
	// Validate.
	ServiceAccountKey []byte `yaml:"-"`

	// session lifecycle
	IntrospectionURL  string `yaml:"introspection_url" help:"oidc, oauth2: RFC 7662 token introspection endpoint validate_every checks the access token at, instead of userinfo"`
	BackchannelLogout *bool  `yaml:"backchannel_logout" help:"oidc, keycloak (and, when asked for, gitlab, google, entra): accept OpenID Connect back-channel logout at /oauth2/backchannel_logout (default: on for oidc and keycloak with --session-store redis; true with the cookie store is an error)"`
}
