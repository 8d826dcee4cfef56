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
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/lock"
	"github.com/gatehouse-proxy/gatehouse/internal/metrics"
	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/proxy"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// Gateway is the handler built from configuration, with the resources it
// owns.
type Gateway struct {
	*proxy.Handler
	redis redis.UniversalClient
	// stop ends background work: jwt_bearer discovery, and the discovery
	// retries of providers that were down at start-up.
	stop context.CancelFunc
	// outer is the handler with the access log and request metrics
	// around it.
	outer http.Handler
}

// ServeHTTP serves r through the access log and metrics middleware.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.outer.ServeHTTP(w, r)
}

// Close releases the gateway's connections and ends its background work.
func (g *Gateway) Close() error {
	if g.stop != nil {
		g.stop()
	}
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
	// Metrics record the gateway's metrics; nil records none.
	Metrics *metrics.Metrics
	// AccessLogger receives the access log (with cfg.AccessLog); nil uses
	// Logger.
	AccessLogger *slog.Logger
}

// resources are what providers may need besides their own entry.
type resources struct {
	httpClient     *http.Client
	redis          redis.UniversalClient // nil without Redis
	redisKeyPrefix string
	log            *slog.Logger
	metrics        *metrics.Metrics // nil: none
	now            func() time.Time // nil: time.Now
}

// stores are the session store and what comes with it.
type stores struct {
	store  session.Store                   // instrumented
	redis  *session.RedisStore             // the Redis store itself; nil with cookies
	locker session.Locker                  // nil: refreshes coordinate in process only
	ready  func(ctx context.Context) error // nil: always ready
}

// New wires a Gateway from a validated configuration: providers, the
// session store, refresh and the handler, wrapped in the access log and
// request metrics. Discovery runs now; a provider whose discovery fails is
// not fatal: the gateway starts without it (its logins answer 503, /ready
// names it) and retries in the background until Close. cfg must come from
// config.Options.Validate.
func New(ctx context.Context, cfg *config.Config, d Deps) (*Gateway, error) {
	if !cfg.Validated() {
		return nil, errors.New("gateway: the configuration was not made by config.Options.Validate")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.HTTPClient == nil {
		// A token refresh may take up to --refresh-timeout: the client
		// must not abandon it earlier (its answer rotates the token).
		d.HTTPClient = &http.Client{Timeout: max(15*time.Second, cfg.RefreshTimeout)}
	}
	g := &Gateway{}
	fail := func(err error) (*Gateway, error) {
		_ = g.Close()
		return nil, err
	}
	sessionCodec, err := session.NewCodec(cfg.CookieSecretKeys, session.WithMaxAge(cfg.CookieExpire))
	if err != nil {
		return fail(fmt.Errorf("cookie secret: %w", err))
	}
	flowCodec, err := session.NewCodec(cfg.CookieSecretKeys, session.WithMaxAge(proxy.FlowLifetime))
	if err != nil {
		return fail(fmt.Errorf("cookie secret: %w", err))
	}
	cookie := session.CookieConfig{
		Name:     cfg.CookieName,
		Domain:   cfg.CookieDomain,
		Path:     cfg.CookiePath,
		Secure:   cfg.CookieSecure,
		SameSite: cfg.CookieSameSite,
		Lifetime: cfg.CookieExpire,
	}
	st, err := g.newStores(cfg, sessionCodec, cookie, d.Logger, d.Metrics)
	if err != nil {
		return fail(err)
	}
	res := resources{httpClient: d.HTTPClient, metrics: d.Metrics, redis: g.redis, redisKeyPrefix: cfg.RedisKeyPrefix, log: d.Logger, now: d.Now}
	provs, err := newProviders(ctx, cfg, res)
	if err != nil {
		return fail(err)
	}
	signer, err := newAssertions(cfg, d.Now, d.Logger)
	if err != nil {
		return fail(err)
	}
	var built *proxy.Handler // set below, before any request is served
	provs.lookup = func(id string) (providers.Provider, bool) {
		if built == nil {
			return nil, false
		}
		return built.Provider(id)
	}
	logout, err := newBackchannel(cfg, provs, st, g.redis, d.Logger)
	if err != nil {
		return fail(err)
	}
	var bctx context.Context
	bctx, g.stop = context.WithCancel(ctx)
	h, err := newHandler(cfg, d, provs, st, flowCodec, cookie, lifecycle{signer, logout, newBearer(bctx, cfg, d.HTTPClient, d.Logger)})
	if err != nil {
		return fail(err)
	}
	built = h
	g.Handler = h
	g.outer = accessLog(cfg, d, h)
	for _, p := range provs.pending {
		go g.retryDiscovery(bctx, p, res, h)
	}
	return g, nil
}

// newStores makes the session store the configuration asks for; with
// Redis, g keeps the client.
func (g *Gateway) newStores(cfg *config.Config, codec *session.Codec, cookie session.CookieConfig, log *slog.Logger, m *metrics.Metrics) (stores, error) {
	if cfg.SessionStore != "redis" {
		return stores{store: m.Store("cookie", session.NewCookieStore(codec, cookie))}, nil
	}
	var err error
	g.redis, err = session.NewRedisClient(redisConfig(cfg))
	if err != nil {
		return stores{}, fmt.Errorf("redis: %w", err)
	}
	rs := session.NewRedisStore(g.redis, codec, cookie, cfg.RedisKeyPrefix, cfg.RedisTimeout, session.WithIndex(cfg.CookieSecretKeys))
	return stores{store: m.Store("redis", rs), redis: rs, ready: rs.Ping, locker: lock.NewRedis(g.redis, cfg.RedisKeyPrefix+"lock:", 0, log)}, nil
}

// configuredProviders are the providers with their per-provider settings.
type configuredProviders struct {
	list    []providers.Provider
	pending []pendingProvider // discovery failed at start-up: retried
	// lookup finds a ready provider by id once the handler exists (it
	// takes pending providers when they become ready).
	lookup    func(id string) (providers.Provider, bool)
	redirects map[string]string // provider id → callback URL
	rules     map[string]proxy.ProviderRule
}

// newProviders builds every configured provider, in order.
func newProviders(ctx context.Context, cfg *config.Config, res resources) (configuredProviders, error) {
	out := configuredProviders{redirects: map[string]string{}, rules: map[string]proxy.ProviderRule{}}
	for _, po := range cfg.Providers {
		p, pending, err := firstAttempt(ctx, po, res)
		switch {
		case err != nil:
			return out, err
		case pending:
			out.pending = append(out.pending, pendingProvider{po: po})
		default:
			res.metrics.ProviderReady(po.ID, true)
			out.list = append(out.list, p)
		}
		if po.RedirectURL != "" {
			out.redirects[po.ID] = po.RedirectURL
		}
		if len(po.AllowedUsers) > 0 || len(po.AllowedGroups) > 0 {
			out.rules[po.ID] = proxy.ProviderRule{Users: po.AllowedUsers, Groups: po.AllowedGroups}
		}
	}
	return out, nil
}

// newHandler builds the HTTP handler and the refresher it uses.
func newHandler(cfg *config.Config, d Deps, provs configuredProviders, st stores, flowCodec *session.Codec, cookie session.CookieConfig, lc lifecycle) (*proxy.Handler, error) {
	var h *proxy.Handler // the refresher looks providers up in it once built
	pending := make([]providers.Info, len(provs.pending))
	for i, p := range provs.pending {
		pending[i] = p.info()
	}
	refresher := session.NewRefresher(session.RefreshConfig{
		Window:  cfg.RefreshWindow,
		Period:  cfg.CookieRefresh,
		Timeout: cfg.RefreshTimeout,
		Wait:    cfg.RefreshWait,
	}, session.RefreshDeps{
		Store: st.store,
		Provider: func(id string) (providers.Provider, bool) {
			return h.Provider(id)
		},
		Locker:  st.locker,
		Now:     d.Now,
		Logger:  d.Logger,
		Observe: d.Metrics.Refresh,
	})
	var err error
	h, err = proxy.New(proxy.Config{
		Cookie:                  cookie,
		SessionLifetime:         cfg.CookieExpire,
		RedirectURLs:            provs.redirects,
		Upstream:                cfg.Upstream,
		UpstreamTimeout:         cfg.UpstreamTimeout,
		PassAccessToken:         cfg.PassAccessToken,
		SetAuthorizationHeader:  cfg.SetAuthorizationHeader,
		ProviderSignOut:         cfg.ProviderSignOut,
		SignOutGET:              cfg.SignOutGET,
		TrustedProxies:          cfg.TrustedProxies,
		ForwardAuthPrefixRoute:  cfg.ForwardAuthPrefixRoute,
		Routes:                  proxyRoutes(cfg),
		SkipJWTBearerTokens:     cfg.SkipJWTBearerTokens,
		BodyTimeout:             cfg.RequestBodyTimeout,
		UpstreamBodyIdleTimeout: upstreamBodyIdle(cfg.UpstreamBodyIdleTimeout),
		Pages:                   pagesConfig(cfg),
	}, proxy.Deps{
		Providers:         provs.list,
		Pending:           pending,
		Store:             st.store,
		Refresher:         refresher,
		Codec:             flowCodec,
		Authorizer:        proxy.NewAuthorizer(cfg.EmailDomains, provs.rules),
		Redirects:         redirect.NewValidator(redirectHosts(cfg)),
		Ready:             readiness(namedCheck("session store "+cfg.SessionStore, st.ready, d.Logger), namedCheck("jwt_bearer keys", bearerReady(lc.bearer), d.Logger)),
		Bearer:            bearerVerifier(lc.bearer),
		Assertions:        lc.signer,
		BackchannelLogout: lc.backchannel,
		UpstreamTransport: d.UpstreamTransport,
		Logger:            d.Logger,
		Now:               d.Now,
	})
	return h, err
}

// upstreamBodyIdle maps --upstream-body-idle-timeout (0 disables) to
// proxy.Config's (0 is the default, negative disables).
func upstreamBodyIdle(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
