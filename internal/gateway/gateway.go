// Package gateway turns a validated configuration into a running
// Gatehouse: the session store (cookie or Redis), the providers (through
// the registry of provider types), token refresh and the HTTP handler.
// It is the one package besides cmd/gatehouse that knows config; proxy,
// session and providers are libraries that know nothing of flags or YAML.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/lock"
	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/proxy"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// resources are what providers may need besides their own entry.
type resources struct {
	httpClient     *http.Client
	redis          redis.UniversalClient // nil without Redis
	redisKeyPrefix string
	log            *slog.Logger
	now            func() time.Time // nil: time.Now
}

// Gateway is the handler built from configuration, with the resources it
// owns.
type Gateway struct {
	*proxy.Handler
	redis redis.UniversalClient
}

// Close releases the gateway's connections.
func (g *Gateway) Close() error {
	if g.redis != nil {
		return g.redis.Close()
	}
	return nil
}

// Deps are the parts of wiring that are not configuration.
type Deps struct {
	// Logger receives logs; nil discards.
	Logger *slog.Logger
	// HTTPClient talks to providers; nil uses one with sane timeouts.
	HTTPClient *http.Client
	// UpstreamTransport reaches the upstream; nil uses the default.
	UpstreamTransport http.RoundTripper
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
}

// New wires a Gateway from validated options: providers (discovery runs
// now, so a wrong issuer fails at start-up), the session store, refresh
// and the handler.
func New(ctx context.Context, o *config.Options, b Deps) (*Gateway, error) {
	log := b.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := b.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	g := &Gateway{}
	fail := func(err error) (*Gateway, error) {
		_ = g.Close()
		return nil, err
	}

	secrets := o.CookieSecretKeys()
	sessionCodec, err := session.NewCodec(secrets, session.WithMaxAge(o.CookieExpire))
	if err != nil {
		return fail(fmt.Errorf("cookie secret: %w", err))
	}
	flowCodec, err := session.NewCodec(secrets, session.WithMaxAge(proxy.FlowLifetime))
	if err != nil {
		return fail(fmt.Errorf("cookie secret: %w", err))
	}
	sameSite, err := parseSameSite(o.CookieSameSite)
	if err != nil {
		return fail(err)
	}
	cookie := session.CookieOptions{
		Name:     o.CookieName,
		Domain:   o.CookieDomain,
		Path:     o.CookiePath,
		Secure:   o.CookieSecure,
		SameSite: sameSite,
		Lifetime: o.CookieExpire,
	}

	var store session.Store
	var locker session.Locker
	var ready func(context.Context) error
	switch o.SessionStore {
	case "redis":
		g.redis, err = session.NewRedisClient(session.RedisOptions{
			URL:              o.RedisURL,
			Password:         o.RedisPassword(),
			SentinelMaster:   o.RedisSentinelMaster,
			SentinelAddrs:    o.RedisSentinelAddrs,
			SentinelPassword: o.RedisSentinelPassword(),
			ClusterAddrs:     o.RedisClusterAddrs,
			CAFile:           o.RedisCAFile,
			Timeout:          o.RedisTimeout,
		})
		if err != nil {
			return fail(fmt.Errorf("redis: %w", err))
		}
		rs := session.NewRedisStore(g.redis, sessionCodec, cookie, o.RedisKeyPrefix, o.RedisTimeout)
		store = rs
		ready = rs.Ping
		locker = lock.NewRedis(g.redis, o.RedisKeyPrefix+"lock:", 0, log)
	default:
		store = session.NewCookieStore(sessionCodec, cookie)
	}

	res := resources{httpClient: client, redis: g.redis, redisKeyPrefix: o.RedisKeyPrefix, log: log, now: b.Now}
	var provs []providers.Provider
	redirects := map[string]string{}
	rules := map[string]proxy.ProviderRule{}
	for _, po := range o.ProviderList() {
		p, err := newProvider(ctx, po, res)
		if err != nil {
			return fail(fmt.Errorf("provider %q: %w", po.ID, err))
		}
		provs = append(provs, p)
		if po.RedirectURL != "" {
			redirects[p.Info().ID] = po.RedirectURL
		}
		if len(po.AllowedUsers) > 0 || len(po.AllowedGroups) > 0 {
			rules[p.Info().ID] = proxy.ProviderRule{Users: po.AllowedUsers, Groups: po.AllowedGroups}
		}
	}
	byID := make(map[string]providers.Provider, len(provs))
	for _, p := range provs {
		byID[p.Info().ID] = p
	}
	refresher := session.NewRefresher(store, func(id string) (providers.Provider, bool) {
		p, ok := byID[id]
		return p, ok
	}, session.RefreshOptions{
		Window: o.RefreshWindow,
		Period: o.CookieRefresh,
		Locker: locker,
		Now:    b.Now,
		Logger: log,
	})

	var upstream *url.URL
	if o.Upstream != "" {
		if upstream, err = url.Parse(o.Upstream); err != nil {
			return fail(fmt.Errorf("upstream: %w", err))
		}
	}
	var allowed []redirect.AllowedHost
	for _, d := range o.WhitelistDomains {
		a, err := redirect.ParseAllowedHost(d)
		if err != nil {
			return fail(fmt.Errorf("whitelist-domain: %w", err))
		}
		allowed = append(allowed, a)
	}
	h, err := proxy.New(proxy.Deps{
		Providers:              provs,
		RedirectURLs:           redirects,
		Store:                  store,
		Refresher:              refresher,
		Codec:                  flowCodec,
		Cookie:                 cookie,
		SessionLifetime:        o.CookieExpire,
		Upstream:               upstream,
		UpstreamTransport:      b.UpstreamTransport,
		UpstreamTimeout:        o.UpstreamTimeout,
		PassAccessToken:        o.PassAccessToken,
		SetAuthorizationHeader: o.SetAuthorizationHeader,
		ProviderSignOut:        o.ProviderSignOut,
		ReverseProxy:           o.ReverseProxy,
		Authorizer:             proxy.NewAuthorizer(o.EmailDomains, rules),
		Redirects:              redirect.NewValidator(allowed),
		Ready:                  ready,
		Logger:                 log,
		Now:                    b.Now,
	})
	if err != nil {
		return fail(err)
	}
	g.Handler = h
	return g, nil
}

func parseSameSite(v string) (http.SameSite, error) {
	switch strings.ToLower(v) {
	case "", "lax":
		return http.SameSiteLaxMode, nil
	case "strict":
		return http.SameSiteStrictMode, nil
	case "none":
		return http.SameSiteNoneMode, nil
	}
	return 0, errors.New("cookie-samesite: must be lax, strict or none")
}
