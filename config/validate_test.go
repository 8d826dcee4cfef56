package config

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Secret values used by the tests; no error message may contain them.
const (
	testClientSecret = "client-secret-value-7f3a"
	testCookieRaw    = "q8Zr3vK1xWm7NpT2dLs9HfB4gYc6JuE0" // 32 bytes
)

// validOptions returns Options that pass Validate: one oidc provider given
// by flags.
func validOptions() *Options {
	o := Defaults()
	o.OIDCIssuerURL = "https://sso.example.com/realms/corp"
	o.ClientID = "gatehouse"
	o.ClientSecret = testClientSecret
	o.CookieSecret = testCookieRaw
	o.EmailDomains = []string{"example.com"}
	return o
}

func TestValidateOK(t *testing.T) {
	t.Parallel()
	key32 := testKey(0xfb)
	tests := []struct {
		name string
		mod  func(*Options)
	}{
		{"base", func(*Options) {}},
		{"cookie secret base64 std", func(o *Options) { o.CookieSecret = base64.StdEncoding.EncodeToString(key32) }},
		{"cookie secret base64 url", func(o *Options) { o.CookieSecret = base64.URLEncoding.EncodeToString(key32) }},
		{"cookie secret base64 raw std", func(o *Options) { o.CookieSecret = base64.RawStdEncoding.EncodeToString(key32) }},
		{"cookie secret base64 raw url", func(o *Options) { o.CookieSecret = base64.RawURLEncoding.EncodeToString(key32) }},
		{"http issuer on loopback", func(o *Options) { o.OIDCIssuerURL = "http://127.0.0.1:5556/dex" }},
		{"http issuer on localhost", func(o *Options) { o.OIDCIssuerURL = "http://localhost:5556" }},
		{"http issuer on ::1", func(o *Options) { o.OIDCIssuerURL = "http://[::1]:5556" }},
		{"skip discovery", func(o *Options) {
			o.SkipOIDCDiscovery = true
			o.LoginURL, o.RedeemURL, o.OIDCJWKSURL = "https://sso/auth", "https://sso/token", "https://sso/jwks"
		}},
		{"quaily without secret", func(o *Options) { o.Provider, o.ClientSecret = "quaily", "" }},
		{"mastodon without client", func(o *Options) {
			o.Provider, o.ClientID, o.ClientSecret = "mastodon", "", ""
			o.MastodonAllowedInstances = []string{"mastodon.social", "*.example.social"}
		}},
		{"osu", func(o *Options) { o.Provider = "OSU" }},
		{"oauth2", func(o *Options) {
			o.Provider = "oauth2"
			o.LoginURL, o.RedeemURL, o.UserinfoURL = "https://idp/auth", "https://idp/token", "https://idp/me"
		}},
		{"upstream and redirect", func(o *Options) {
			o.Upstream = "http://127.0.0.1:8080"
			o.RedirectURL = "https://app.example.com/oauth2/callback"
		}},
		{"http redirect on loopback", func(o *Options) { o.RedirectURL = "http://127.0.0.1:4180/oauth2/callback" }},
		{"http redirect without secure cookies", func(o *Options) {
			o.RedirectURL, o.CookieSecure = "http://app.internal/oauth2/callback", false
		}},
		{"listen on every interface", func(o *Options) { o.HTTPAddress = ":4180" }},
		{"samesite none with secure", func(o *Options) { o.CookieSameSite = "None" }},
		{"refresh below expire", func(o *Options) { o.CookieRefresh = time.Hour }},
		{"domains", func(o *Options) {
			o.EmailDomains = []string{"*", "Example.COM", "*.example.org"}
			o.WhitelistDomains = []string{"app.example.com", ".example.com", "example.com:8443", ".example.org:*", "127.0.0.1:8080", "[::1]:8080"}
		}},
		{"redis url", func(o *Options) { o.SessionStore, o.RedisURL = "redis", "rediss://user:pw@redis.internal:6380/2" }},
		{"redis sentinel", func(o *Options) {
			o.SessionStore, o.RedisSentinelMaster = "redis", "mymaster"
			o.RedisSentinelAddrs = []string{"10.0.0.1:26379", "sentinel-2:26379"}
		}},
		{"redis cluster", func(o *Options) { o.SessionStore, o.RedisClusterAddrs = "redis", []string{"node-1:6379"} }},
		{"redis for credentials only", func(o *Options) { o.RedisURL = "redis://127.0.0.1:6379" }},
		{"yaml providers", func(o *Options) {
			o.OIDCIssuerURL, o.ClientID, o.ClientSecret = "", "", ""
			o.Providers = []ProviderOptions{
				{Type: "oidc", IssuerURL: "https://a", ClientID: "a", ClientSecret: "s"},
				{ID: "corp-2", Type: "oidc", IssuerURL: "https://b", ClientID: "b", ClientSecret: "s", PKCE: "s256"},
				{Type: "oauth2", ClientID: "c", ClientAuth: "none", AuthURL: "https://c/a", TokenURL: "https://c/t", UserinfoURL: "https://c/u"},
				{Type: "mastodon", AllowedInstances: []string{"*"}},
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := validOptions()
			tt.mod(o)
			cfg, err := o.Validate()
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.CookieSecretKeys) == 0 || len(cfg.CookieSecretKeys[0]) != 32 {
				t.Errorf("cookie keys %d", len(cfg.CookieSecretKeys))
			}
			if len(cfg.Providers) == 0 {
				t.Error("no providers")
			}
		})
	}
}

func TestValidateErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	empty := filepath.Join(dir, "empty")
	notPEM := filepath.Join(dir, "not.pem")
	badLines := filepath.Join(dir, "cookie-secrets")
	for path, content := range map[string]string{
		empty:    "\n",
		notPEM:   "hello\n",
		badLines: testCookieRaw + "\n\nshort-secret\n",
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yamlProviders := func(ps ...ProviderOptions) func(*Options) {
		return func(o *Options) {
			o.OIDCIssuerURL, o.ClientID, o.ClientSecret = "", "", ""
			o.Providers = ps
		}
	}
	okOIDC := ProviderOptions{Type: "oidc", IssuerURL: "https://a", ClientID: "a", ClientSecret: "s"}

	tests := []struct {
		name string
		mod  func(*Options)
		key  string
		want string
	}{
		// provider given by flags
		{"unknown provider", func(o *Options) { o.Provider = "bitbucket" }, "provider", `is "bitbucket", which is not a provider type`},
		{"provider typo", func(o *Options) { o.Provider = "mastadon" }, "provider", `did you mean "mastodon"?`},
		{"empty provider", func(o *Options) { o.Provider = "" }, "provider", "is required"},
		{"oidc without issuer", func(o *Options) { o.OIDCIssuerURL = "" }, "oidc-issuer-url", "is required"},
		{"oidc skip discovery without issuer", func(o *Options) {
			o.OIDCIssuerURL, o.SkipOIDCDiscovery = "", true
			o.LoginURL, o.RedeemURL, o.OIDCJWKSURL = "https://sso/auth", "https://sso/token", "https://sso/jwks"
		}, "oidc-issuer-url", "is required"},
		{"issuer over plain http", func(o *Options) { o.OIDCIssuerURL = "http://sso.example.com" }, "oidc-issuer-url", "not loopback"},
		{"issuer without scheme", func(o *Options) { o.OIDCIssuerURL = "sso.example.com" }, "oidc-issuer-url", "has no scheme. Fix: add https://"},
		{"issuer other scheme", func(o *Options) { o.OIDCIssuerURL = "ftp://sso.example.com" }, "oidc-issuer-url", `has the scheme "ftp"`},
		{"skip discovery without login url", func(o *Options) { o.SkipOIDCDiscovery = true }, "login-url", "required when discovery is skipped"},
		{"skip discovery without redeem url", func(o *Options) { o.SkipOIDCDiscovery = true }, "redeem-url", "required when discovery is skipped"},
		{"skip discovery without jwks url", func(o *Options) { o.SkipOIDCDiscovery = true }, "oidc-jwks-url", "required when discovery is skipped"},
		{"relative userinfo url", func(o *Options) { o.UserinfoURL = "/userinfo" }, "userinfo-url", "has no scheme"},
		{"no client id", func(o *Options) { o.ClientID = "" }, "client-id", "is required for provider type oidc"},
		{"osu without client id", func(o *Options) { o.Provider, o.ClientID = "osu", "" }, "client-id", "is required"},
		{"quaily without client id", func(o *Options) { o.Provider, o.ClientID = "quaily", "" }, "client-id", "is required"},
		{"oidc without secret", func(o *Options) { o.ClientSecret = "" }, "client-secret", "is required for provider type oidc"},
		{"osdn without secret", func(o *Options) { o.Provider, o.ClientSecret = "osdn", "" }, "client-secret", "is required for provider type osdn"},
		{"osu without secret", func(o *Options) { o.Provider, o.ClientSecret = "osu", "" }, "client-secret", "is required for provider type osu"},
		{"oauth2 without secret", func(o *Options) { o.Provider, o.ClientSecret = "oauth2", "" }, "client-secret", "client_auth: none"},
		{"oauth2 without login url", func(o *Options) { o.Provider = "oauth2" }, "login-url", "is required for provider type oauth2"},
		{"oauth2 without redeem url", func(o *Options) { o.Provider = "oauth2" }, "redeem-url", "is required for provider type oauth2"},
		{"oauth2 without userinfo url", func(o *Options) { o.Provider = "oauth2" }, "userinfo-url", "is required for provider type oauth2"},
		{"secret and secret file", func(o *Options) { o.ClientSecretFile = empty }, "client-secret-file", "is set together with --client-secret"},
		{"secret file missing", func(o *Options) { o.ClientSecret, o.ClientSecretFile = "", missing }, "client-secret-file", `cannot read "` + missing + `"`},
		{"secret file empty", func(o *Options) { o.ClientSecret, o.ClientSecretFile = "", empty }, "client-secret-file", "is empty"},
		{"mastodon without instances", func(o *Options) { o.Provider = "mastodon" }, "mastodon-allowed-instance", "is required for provider type mastodon"},
		{"mastodon instance url", func(o *Options) {
			o.Provider, o.MastodonAllowedInstances = "mastodon", []string{"https://mastodon.social"}
		}, "mastodon-allowed-instance", "is not a host name"},
		{"flags beside the providers list", func(o *Options) {
			o.Providers = []ProviderOptions{okOIDC}
		}, "client-id", "the YAML 'providers' list replaces the provider given by flags"},

		// cookie secrets
		{"no cookie secret", func(o *Options) { o.CookieSecret = "" }, "cookie-secret", "is required. Fix: set --cookie-secret-file"},
		{"cookie secret 17 bytes", func(o *Options) { o.CookieSecret = "0123456789abcdefg" }, "cookie-secret", "is 17 bytes; must be 32 bytes (raw or base64). Fix: run 'gatehouse secret'"},
		{"cookie secret 16 raw bytes", func(o *Options) { o.CookieSecret = "0123456789abcdef" }, "cookie-secret", "is 16 bytes"},
		{"cookie secret 24 raw bytes", func(o *Options) { o.CookieSecret = "0123456789abcdef01234567" }, "cookie-secret", "is 24 bytes"},
		{"cookie secret base64 of 16", func(o *Options) { o.CookieSecret = base64.StdEncoding.EncodeToString(make([]byte, 16)) }, "cookie-secret", "16 bytes decoded from base64"},
		{"cookie secret and file", func(o *Options) { o.CookieSecretFile = badLines }, "cookie-secret-file", "is set together with --cookie-secret"},
		{"cookie secret file missing", func(o *Options) { o.CookieSecret, o.CookieSecretFile = "", missing }, "cookie-secret-file", "cannot read"},
		{"cookie secret file empty", func(o *Options) { o.CookieSecret, o.CookieSecretFile = "", empty }, "cookie-secret-file", "is empty"},
		{"cookie secret file bad line", func(o *Options) { o.CookieSecret, o.CookieSecretFile = "", badLines }, "cookie-secret-file", "line 3 of"},
		{"previous secret", func(o *Options) { o.CookiePreviousSecret = []string{testCookieRaw, "short"} }, "cookie-previous-secret", "entry 2 is 5 bytes"},

		// server, upstream, redirect
		{"upstream without scheme", func(o *Options) { o.Upstream = "app:8080" }, "upstream", "has no scheme. Fix: add http:// or https://"},
		{"upstream other scheme", func(o *Options) { o.Upstream = "unix:///run/app.sock" }, "upstream", "must be http or https"},
		{"upstream without host", func(o *Options) { o.Upstream = "http://" }, "upstream", "has no host"},
		{"upstream with credentials", func(o *Options) { o.Upstream = "http://u:p@app" }, "upstream", "user name or password"},
		{"redirect wrong path", func(o *Options) { o.RedirectURL = "https://app.example.com/callback" }, "redirect-url", "must have the path /oauth2/callback"},
		{"redirect relative", func(o *Options) { o.RedirectURL = "/oauth2/callback" }, "redirect-url", "has no scheme"},
		{"http redirect with secure cookies", func(o *Options) { o.RedirectURL = "http://app.example.com/oauth2/callback" }, "redirect-url", "--cookie-secure is true"},
		{"redirect with query", func(o *Options) { o.RedirectURL = "https://app/oauth2/callback?x=1" }, "redirect-url", "query"},
		{"http address without port", func(o *Options) { o.HTTPAddress = "4180" }, "http-address", "not host:port"},
		{"http address bad port", func(o *Options) { o.HTTPAddress = "127.0.0.1:99999" }, "http-address", "invalid port"},
		{"negative shutdown timeout", func(o *Options) { o.ShutdownTimeout = -time.Second }, "shutdown-timeout", "is negative"},
		{"zero upstream timeout", func(o *Options) { o.UpstreamTimeout = 0 }, "upstream-timeout", "more than 0"},
		{"log level", func(o *Options) { o.LogLevel = "verbose" }, "log-level", `is "verbose"; must be debug, info, warn or error`},
		{"log format", func(o *Options) { o.LogFormat = "xml" }, "log-format", "must be text or json"},

		// cookies
		{"samesite", func(o *Options) { o.CookieSameSite = "loose" }, "cookie-samesite", "must be lax, strict or none"},
		{"samesite none insecure", func(o *Options) { o.CookieSameSite, o.CookieSecure = "none", false }, "cookie-samesite", "--cookie-secure is false"},
		{"cookie expire zero", func(o *Options) { o.CookieExpire = 0 }, "cookie-expire", "more than 0"},
		{"cookie refresh negative", func(o *Options) { o.CookieRefresh = -time.Minute }, "cookie-refresh", "is negative"},
		{"cookie refresh too long", func(o *Options) { o.CookieRefresh = o.CookieExpire }, "cookie-refresh", "not less than --cookie-expire"},
		{"refresh window negative", func(o *Options) { o.RefreshWindow = -time.Second }, "refresh-window", "is negative"},
		{"cookie name", func(o *Options) { o.CookieName = "my cookie" }, "cookie-name", "not a valid cookie name"},
		{"cookie path", func(o *Options) { o.CookiePath = "app" }, "cookie-path", "must start with '/'"},
		{"cookie domain", func(o *Options) { o.CookieDomain = "https://example.com" }, "cookie-domain", "not a domain"},

		// domains
		{"no email domain", func(o *Options) { o.EmailDomains = nil }, "email-domain", "is empty, so nobody could sign in"},
		{"email domain bad wildcard", func(o *Options) { o.EmailDomains = []string{"*example.com"} }, "email-domain", "is not a domain"},
		{"email domain with @", func(o *Options) { o.EmailDomains = []string{"user@example.com"} }, "email-domain", "contains '@'"},
		{"email domain with space", func(o *Options) { o.EmailDomains = []string{"exa mple.com"} }, "email-domain", "is not a domain"},
		{"email domain url", func(o *Options) { o.EmailDomains = []string{"https://example.com"} }, "email-domain", "is not a domain"},
		{"whitelist star", func(o *Options) { o.WhitelistDomains = []string{"*"} }, "whitelist-domain", "open redirect"},
		{"whitelist wildcard", func(o *Options) { o.WhitelistDomains = []string{"*.example.com"} }, "whitelist-domain", "write '.example.com'"},
		{"whitelist url", func(o *Options) { o.WhitelistDomains = []string{"https://example.com"} }, "whitelist-domain", "has a scheme"},
		{"whitelist path", func(o *Options) { o.WhitelistDomains = []string{"example.com/app"} }, "whitelist-domain", "has a path"},
		{"whitelist bad port", func(o *Options) { o.WhitelistDomains = []string{"example.com:http"} }, "whitelist-domain", "invalid port"},
		{"whitelist empty port", func(o *Options) { o.WhitelistDomains = []string{"example.com:"} }, "whitelist-domain", "empty port"},

		// sessions and redis
		{"session store", func(o *Options) { o.SessionStore = "memcached" }, "session-store", "must be cookie or redis"},
		{"redis store without redis", func(o *Options) { o.SessionStore = "redis" }, "session-store", "no Redis is configured"},
		{"two redis modes", func(o *Options) {
			o.RedisURL, o.RedisClusterAddrs = "redis://r:6379", []string{"n:6379"}
		}, "redis-url", "is set together with --redis-cluster-addr"},
		{"redis url scheme", func(o *Options) { o.RedisURL = "http://r:6379" }, "redis-url", "redis:// or rediss://"},
		{"redis url without host", func(o *Options) { o.RedisURL = "redis://" }, "redis-url", "has no host"},
		{"sentinel without addrs", func(o *Options) { o.RedisSentinelMaster = "m" }, "redis-sentinel-addr", "is required with --redis-sentinel-master"},
		{"sentinel addrs without master", func(o *Options) { o.RedisSentinelAddrs = []string{"s:26379"} }, "redis-sentinel-master", "is required with --redis-sentinel-addr"},
		{"bad sentinel addr", func(o *Options) {
			o.RedisSentinelMaster, o.RedisSentinelAddrs = "m", []string{"s"}
		}, "redis-sentinel-addr", "not host:port"},
		{"bad cluster addr", func(o *Options) { o.RedisClusterAddrs = []string{":6379"} }, "redis-cluster-addr", "has no host"},
		{"redis password file missing", func(o *Options) {
			o.RedisURL, o.RedisPasswordFile = "redis://r:6379", missing
		}, "redis-password-file", "cannot read"},
		{"two redis passwords", func(o *Options) {
			o.RedisURL, o.RedisPasswordFile = "redis://:pw@r:6379", badLines
		}, "redis-password-file", "--redis-url carries a password too"},
		{"sentinel password without sentinel", func(o *Options) {
			o.RedisURL, o.RedisSentinelPasswordFile = "redis://r:6379", badLines
		}, "redis-sentinel-password-file", "without --redis-sentinel-master"},
		{"redis ca not pem", func(o *Options) { o.RedisURL, o.RedisCAFile = "rediss://r:6379", notPEM }, "redis-ca-file", "no PEM certificate"},
		{"redis timeout", func(o *Options) { o.RedisTimeout = 0 }, "redis-timeout", "more than 0"},

		// the YAML providers list
		{"list: missing type", yamlProviders(okOIDC, ProviderOptions{ClientID: "x"}), "providers[1].type", "is required"},
		{"list: duplicate ids", yamlProviders(okOIDC, okOIDC), "providers[1].id", `is "oidc", like providers[0]`},
		{"list: bad id", yamlProviders(ProviderOptions{ID: "Corp SSO", Type: "oidc", IssuerURL: "https://a", ClientID: "a", ClientSecret: "s"}), "providers[0].id", "lower-case letters"},
		{"list: client id", yamlProviders(ProviderOptions{Type: "osu", ClientSecret: "s"}), "providers[0].client_id", "is required"},
		{"list: client secret", yamlProviders(ProviderOptions{Type: "osu", ClientID: "1"}), "providers[0].client_secret", "is required for provider type osu"},
		{"list: secret and file", yamlProviders(ProviderOptions{Type: "osu", ClientID: "1", ClientSecret: "s", ClientSecretFile: empty}), "providers[0].client_secret_file", "is set together with providers[0].client_secret"},
		{"list: secret file missing", yamlProviders(ProviderOptions{Type: "osu", ClientID: "1", ClientSecretFile: missing}), "providers[0].client_secret_file", missing},
		{"list: oidc issuer", yamlProviders(ProviderOptions{Type: "oidc", ClientID: "a", ClientSecret: "s"}), "providers[0].issuer_url", "is required"},
		{"list: oidc skip discovery", yamlProviders(ProviderOptions{Type: "oidc", IssuerURL: "https://a", SkipDiscovery: true, ClientID: "a", ClientSecret: "s"}), "providers[0].jwks_url", "is required"},
		{"list: oauth2 auth url", yamlProviders(ProviderOptions{Type: "oauth2", ClientID: "a", ClientSecret: "s", TokenURL: "https://t", UserinfoURL: "https://u"}), "providers[0].auth_url", "is required"},
		{"list: oauth2 token url relative", yamlProviders(ProviderOptions{Type: "oauth2", ClientID: "a", ClientSecret: "s", AuthURL: "https://a", TokenURL: "/token", UserinfoURL: "https://u"}), "providers[0].token_url", "has no scheme"},
		{"list: client auth", yamlProviders(ProviderOptions{Type: "osu", ClientID: "1", ClientSecret: "s", ClientAuth: "header"}), "providers[0].client_auth", "must be body, basic or none"},
		{"list: pkce", yamlProviders(ProviderOptions{Type: "quaily", ClientID: "1", PKCE: "sha256"}), "providers[0].pkce", "must be S256, plain or off"},
		{"list: mastodon instances", yamlProviders(ProviderOptions{Type: "mastodon"}), "providers[0].allowed_instances", "is required for provider type mastodon"},
		{"list: mastodon bad instance", yamlProviders(ProviderOptions{Type: "mastodon", AllowedInstances: []string{"@me@mastodon.social"}}), "providers[0].allowed_instances", "is not a host name"},
		{"list: api base http", yamlProviders(ProviderOptions{Type: "quaily", ClientID: "1", APIBase: "http://api.quaily.com"}), "providers[0].api_base", "not loopback"},
		{"list: redirect url path", yamlProviders(ProviderOptions{Type: "quaily", ClientID: "1", RedirectURL: "https://app/cb"}), "providers[0].redirect_url", "/oauth2/callback"},
		{"list: validate every", yamlProviders(ProviderOptions{Type: "mastodon", AllowedInstances: []string{"*"}, ValidateEvery: -time.Second}), "providers[0].validate_every", "is negative"},
		{"list: scope with space", yamlProviders(ProviderOptions{Type: "quaily", ClientID: "1", Scopes: []string{"user.public post.write"}}), "providers[0].scopes", "contains spaces"},
		{"list: empty allowed user", yamlProviders(ProviderOptions{Type: "mastodon", AllowedInstances: []string{"*"}, AllowedUsers: []string{"alice@m.example", " "}}), "providers[0].allowed_users", "entry 2 is empty"},
		{"list: allowed group with comma", yamlProviders(ProviderOptions{Type: "mastodon", AllowedInstances: []string{"*"}, AllowedGroups: []string{"admins", "a,b"}}), "providers[0].allowed_groups", "contains a comma"},
		{"list: reserved auth param", yamlProviders(ProviderOptions{Type: "quaily", ClientID: "1", AuthParams: map[string]string{"prompt": "login", "State": "x"}}), "providers[0].auth_params", `sets "State"`},
		{"list: unknown type", yamlProviders(ProviderOptions{Type: "bitbucket"}), "providers[0].type", "not a provider type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := validOptions()
			tt.mod(o)
			cfg, err := o.Validate()
			e := findError(t, err, tt.key)
			msg := e.Error()
			if !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not contain %q", msg, tt.want)
			}
			if !strings.HasPrefix(msg, "invalid configuration: ") {
				t.Errorf("message %q lacks the prefix", msg)
			}
			if opt, ok := lookupOption(tt.key); ok && opt.name == tt.key {
				if !strings.Contains(msg, "--"+tt.key+" (") || !strings.Contains(msg, opt.yamlKey) {
					t.Errorf("message %q does not name --%s and %s", msg, tt.key, opt.yamlKey)
				}
			} else if !strings.Contains(msg, tt.key+": ") {
				t.Errorf("message %q does not name %s", msg, tt.key)
			}
			for _, secret := range []string{testClientSecret, testCookieRaw, "short-secret", "0123456789abcdefg"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %v", err)
				}
			}
			if cfg != nil {
				t.Error("a Config returned by a failed Validate")
			}
		})
	}
}

func TestEmailDomainsNormalised(t *testing.T) {
	t.Parallel()
	o := validOptions()
	o.EmailDomains = []string{" Example.COM ", ".Corp.example", "*.example.org", "*"}
	cfg, err := o.Validate()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"example.com", "*.corp.example", "*.example.org", "*"}
	if !slices.Equal(cfg.EmailDomains, want) {
		t.Errorf("EmailDomains = %q, want %q", cfg.EmailDomains, want)
	}
	o.EmailDomains = []string{"..example.com"}
	if _, err := o.Validate(); err == nil || !strings.Contains(err.Error(), "email-domain") {
		t.Errorf("'..example.com': err %v, want an email-domain error", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	o := validOptions()
	o.CookieSecret = "short"
	o.Upstream = "app"
	o.LogLevel = "loud"
	_, err := o.Validate()
	errs := configErrors(t, err)
	var keys []string
	for _, e := range errs {
		keys = append(keys, e.Key)
	}
	slices.Sort(keys)
	if want := []string{"cookie-secret", "log-level", "upstream"}; !slices.Equal(keys, want) {
		t.Errorf("keys %q, want %q", keys, want)
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Key: "cookie-secret", Problem: "is 17 bytes; must be 32 bytes (raw or base64)", Fix: "generate one with 'openssl rand -base64 32'"},
			"invalid configuration: --cookie-secret (GATEHOUSE_COOKIE_SECRET, cookie_secret): is 17 bytes; must be 32 bytes (raw or base64). Fix: generate one with 'openssl rand -base64 32'"},
		{&Error{Key: "providers[0].client_id", Problem: "is required"},
			"invalid configuration: providers[0].client_id: is required"},
		{&Error{Key: "config", Problem: "x"}, "invalid configuration: --config (GATEHOUSE_CONFIG): x"},
		{&Error{Key: "version", Problem: "x"}, "invalid configuration: --version: x"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}

func TestSecretsFromFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	k1, k2, k3 := testKey(1), testKey(2), testKey(3)
	o := validOptions()
	o.ClientSecret = ""
	o.ClientSecretFile = write("client", "from-file\n")
	o.CookieSecret = ""
	o.CookieSecretFile = write("cookie", "\n"+base64.StdEncoding.EncodeToString(k1)+"\r\n\n"+base64.RawURLEncoding.EncodeToString(k2)+"\n")
	o.CookiePreviousSecret = []string{string(k3)}
	o.SessionStore = "redis"
	o.RedisSentinelMaster = "mymaster"
	o.RedisSentinelAddrs = []string{"127.0.0.1:26379"}
	o.RedisPasswordFile = write("redis", "redis-pw\n")
	o.RedisSentinelPasswordFile = write("sentinel", "sentinel-pw")
	cfg, err := o.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Providers[0].ClientSecret; got != "from-file" {
		t.Errorf("client secret %q, want from-file", got)
	}
	keys := cfg.CookieSecretKeys
	if len(keys) != 3 || !bytes.Equal(keys[0], k1) || !bytes.Equal(keys[1], k2) || !bytes.Equal(keys[2], k3) {
		t.Errorf("cookie keys %x, want %x %x %x", keys, k1, k2, k3)
	}
	if cfg.RedisPassword != "redis-pw" || cfg.RedisSentinelPassword != "sentinel-pw" {
		t.Errorf("redis passwords %q, %q", cfg.RedisPassword, cfg.RedisSentinelPassword)
	}
	if o.ClientSecret != "" {
		t.Error("Validate copied the file's secret into the flag field")
	}
}

func TestProviderListFromFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		provider string
		name     string
	}{
		{"oidc", "OpenID Connect"},
		{"oauth2", "OAuth2"},
		{"osdn", "OSDN"},
		{"quaily", "Quaily"},
		{"osu", "osu!"},
		{"mastodon", "Mastodon"},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			t.Parallel()
			o := validOptions()
			o.Provider = tt.provider
			o.LoginURL, o.RedeemURL, o.UserinfoURL = "https://idp/auth", "https://idp/token", "https://idp/me"
			o.MastodonAllowedInstances = []string{"Mastodon.Social"}
			o.Scope = "  openid  email profile "
			o.RedirectURL = "https://app.example.com/oauth2/callback"
			o.OIDCExtraAudiences = []string{"aud2"}
			cfg, err := o.Validate()
			if err != nil {
				t.Fatal(err)
			}
			list := cfg.Providers
			if len(list) != 1 {
				t.Fatalf("got %d providers", len(list))
			}
			p := list[0]
			if p.ID != tt.provider || p.Type != tt.provider || p.DisplayName != tt.name {
				t.Errorf("id %q type %q name %q", p.ID, p.Type, p.DisplayName)
			}
			if p.AuthURL != o.LoginURL || p.TokenURL != o.RedeemURL || p.UserinfoURL != o.UserinfoURL {
				t.Errorf("endpoints %q %q %q", p.AuthURL, p.TokenURL, p.UserinfoURL)
			}
			if !slices.Equal(p.Scopes, []string{"openid", "email", "profile"}) {
				t.Errorf("scopes %q", p.Scopes)
			}
			if p.RedirectURL != o.RedirectURL || p.ClientID != "gatehouse" || p.ClientSecret != testClientSecret {
				t.Errorf("redirect %q client %q", p.RedirectURL, p.ClientID)
			}
			if p.IssuerURL != o.OIDCIssuerURL || p.GroupsClaim != "groups" || !slices.Equal(p.ExtraAudiences, []string{"aud2"}) {
				t.Errorf("oidc fields %q %q %q", p.IssuerURL, p.GroupsClaim, p.ExtraAudiences)
			}
			if tt.provider == "mastodon" && !slices.Equal(p.AllowedInstances, []string{"mastodon.social"}) {
				t.Errorf("instances %q", p.AllowedInstances)
			}
		})
	}

	o := validOptions()
	o.ProviderDisplayName = "Corp SSO"
	cfg, err := o.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Providers[0].DisplayName; got != "Corp SSO" {
		t.Errorf("display name %q", got)
	}
}

func TestProviderListFromYAML(t *testing.T) {
	t.Parallel()
	secretFile := filepath.Join(t.TempDir(), "osu")
	if err := os.WriteFile(secretFile, []byte("osu-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := Defaults()
	o.CookieSecret = testCookieRaw
	o.EmailDomains = []string{"*"}
	o.RedirectURL = "https://app.example.com/oauth2/callback"
	o.Providers = []ProviderOptions{
		{ID: "corp", Type: "OIDC", IssuerURL: "https://sso", ClientID: "a", ClientSecret: "s", PKCE: "s256", ClientAuth: "Basic"},
		{Type: "osu", ClientID: "1", ClientSecretFile: secretFile, RedirectURL: "https://osu.example.com/oauth2/callback"},
		{Type: "quaily", ClientID: "q", DisplayName: "Quaily!"},
	}
	cfg, err := o.Validate()
	if err != nil {
		t.Fatal(err)
	}
	list := cfg.Providers
	want := []struct{ id, typ, name, secret, redirect, pkce, auth string }{
		{"corp", "oidc", "OpenID Connect", "s", o.RedirectURL, "S256", "basic"},
		{"osu", "osu", "osu!", "osu-secret", "https://osu.example.com/oauth2/callback", "", ""},
		{"quaily", "quaily", "Quaily!", "", o.RedirectURL, "", ""},
	}
	if len(list) != len(want) {
		t.Fatalf("got %d providers", len(list))
	}
	for i, w := range want {
		p := list[i]
		got := struct{ id, typ, name, secret, redirect, pkce, auth string }{p.ID, p.Type, p.DisplayName, p.ClientSecret, p.RedirectURL, p.PKCE, p.ClientAuth}
		if got != w {
			t.Errorf("providers[%d] = %+v, want %+v", i, got, w)
		}
	}
	if o.Providers[1].ClientSecret != "" {
		t.Error("Validate wrote the resolved secret into Options.Providers")
	}
}

// TestValidateLeavesOptionsAlone: Validate normalises and resolves into
// the Config it returns, never into the Options it was given, and only it
// makes a Config the gateway accepts.
func TestValidateLeavesOptionsAlone(t *testing.T) {
	t.Parallel()
	o := validOptions()
	o.LogLevel = "DEBUG"
	o.EmailDomains = []string{" Example.COM "}
	o.WhitelistDomains = []string{" App.Example.com "}
	o.CookieDomain = " Example.COM "
	o.MastodonAllowedInstances = []string{"Mastodon.Social"}
	o.Providers = []ProviderOptions{{Type: "Mastodon", AllowedInstances: []string{"Mastodon.Social"}, PKCE: "s256"}}
	o.Provider, o.OIDCIssuerURL, o.ClientID, o.ClientSecret, o.MastodonAllowedInstances = "oidc", "", "", "", nil
	before := o.clone()
	cfg, err := o.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o, before) {
		t.Errorf("Validate changed its Options:\n%+v\nwant\n%+v", o, before)
	}
	if !cfg.Validated() || cfg.LogLevel != "debug" || cfg.CookieDomain != "example.com" || cfg.Providers[0].Type != "mastodon" {
		t.Errorf("Config %+v", cfg)
	}
	if (&Config{}).Validated() || (*Config)(nil).Validated() {
		t.Error("a Config not made by Validate reports Validated")
	}
}

func TestDecodeSecret(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{0xfe}, 32)
	tests := []struct {
		in      string
		want    []byte
		problem string
	}{
		{testCookieRaw, []byte(testCookieRaw), ""},
		{base64.StdEncoding.EncodeToString(key), key, ""},
		{base64.URLEncoding.EncodeToString(key), key, ""},
		{base64.RawStdEncoding.EncodeToString(key), key, ""},
		{base64.RawURLEncoding.EncodeToString(key), key, ""},
		{"0123456789abcdef", nil, "is 16 bytes, or 12 bytes decoded from base64; must be 32 bytes (raw or base64)"},
		{"0123456789abcdefg", nil, "is 17 bytes; must be 32 bytes (raw or base64)"},
		{base64.StdEncoding.EncodeToString(make([]byte, 24)), nil, "is 32 bytes"}, // 32 chars: raw wins
		{base64.StdEncoding.EncodeToString(make([]byte, 33)), nil, "is 44 bytes, or 33 bytes decoded from base64; must be 32 bytes (raw or base64)"},
		{"", nil, "is empty; must be 32 bytes (raw or base64)"},
	}
	for _, tt := range tests {
		got, problem := decodeSecret(tt.in)
		if tt.problem == "is 32 bytes" {
			if problem != "" || len(got) != 32 {
				t.Errorf("decodeSecret(32 chars) = %d bytes, %q", len(got), problem)
			}
			continue
		}
		if !bytes.Equal(got, tt.want) || problem != tt.problem {
			t.Errorf("decodeSecret(%q) = %x, %q; want %x, %q", tt.in, got, problem, tt.want, tt.problem)
		}
	}
}

// TestSecretsNeverInErrors feeds invalid secrets through every path that
// reports on them and checks no message contains them.
func TestSecretsNeverInErrors(t *testing.T) {
	t.Parallel()
	const (
		badCookie   = "cookie-SECRET-17b"
		badPrev     = "previous-SECRET-xyz"
		redisPass   = "REDIS-PASSWORD-9"
		fileSecret  = "file-SECRET-line-2"
		clientInEnv = "client-SECRET-env"
	)
	cookieFile := writeFile(t, "cookie", testCookieRaw+"\n"+fileSecret+"\n")
	yaml := writeFile(t, "c.yaml", "client_secret: "+clientInEnv+"\ncookie_previous_secret: ["+badPrev+"]\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"cookie secret", []string{"--cookie-secret=" + badCookie}, nil},
		{"cookie secret from env", nil, map[string]string{"GATEHOUSE_COOKIE_SECRET": badCookie}},
		{"previous secret and file line", []string{"--cookie-secret-file=" + cookieFile, "--cookie-previous-secret=" + badPrev}, nil},
		{"redis url with password", []string{"--cookie-secret=" + testCookieRaw, "--redis-url=http://user:" + redisPass + "@r:6379"}, nil},
		{"unparsable redis url", []string{"--cookie-secret=" + testCookieRaw, "--redis-url=redis://user:" + redisPass + "@r:port"}, nil},
		{"two redis passwords", []string{"--cookie-secret=" + testCookieRaw, "--redis-url=redis://:" + redisPass + "@r:6379", "--redis-password-file=" + cookieFile}, nil},
		{"client secret and file", []string{"--config=" + yaml, "--client-secret-file=" + cookieFile}, nil},
		{"upstream with password", []string{"--upstream=http://u:" + redisPass + "@app"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := Load(tt.args, env(tt.env), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = o.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range []string{badCookie, badPrev, redisPass, fileSecret, clientInEnv, testCookieRaw, testClientSecret} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error leaks %q:\n%v", s, err)
				}
			}
		})
	}
}

// testKey returns a fixed 32-byte key that looks random (distinct bytes,
// no repetition), different for each seed.
func testKey(seed byte) []byte {
	k := make([]byte, 32)
	x := uint32(seed)*2654435761 + 12345
	for i := range k {
		x = x*1664525 + 1013904223
		k[i] = byte(x >> 24)
	}
	return k
}
