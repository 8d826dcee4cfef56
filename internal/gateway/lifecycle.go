package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/replay"
	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/proxy"
	"github.com/gatehouse-proxy/gatehouse/proxy/accesslog"
	"github.com/gatehouse-proxy/gatehouse/proxy/assertion"
	"github.com/gatehouse-proxy/gatehouse/proxy/backchannel"
	"github.com/gatehouse-proxy/gatehouse/proxy/bearer"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// lifecycle are the handler's parts for signed identity and logout.
type lifecycle struct {
	signer      *assertion.Signer // nil: no assertions
	backchannel http.Handler      // nil: no back-channel logout
	bearer      *bearer.Verifier  // nil: no jwt_bearer issuers
}

// newAssertions returns the signer of --signing-key-file, nil without
// keys, warning about key files others may read.
func newAssertions(cfg *config.Config, now func() time.Time, log *slog.Logger) (*assertion.Signer, error) {
	if len(cfg.SigningKeys) == 0 {
		return nil, nil
	}
	for _, k := range cfg.SigningKeys {
		if k.ReadableByOthers() {
			log.Warn("signing key file is readable by its group or other users; whoever reads it can forge identities for your upstreams",
				"file", k.File(), "fix", "chmod 600 (or 400) the file")
		}
	}
	s, err := assertion.NewSigner(assertion.Config{Keys: cfg.SigningKeys, Issuer: cfg.AssertionIssuer, Now: now})
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	log.Info("signing identity assertions", "issuer", cfg.AssertionIssuer, "kid", s.KeyID(), "keys_published", len(cfg.SigningKeys))
	return s, nil
}

// newBackchannel returns the back-channel logout handler for the providers
// that have it on, nil when none has. Validation allows it only with the
// Redis store, whose index it revokes through.
func newBackchannel(cfg *config.Config, provs configuredProviders, st stores, client redis.UniversalClient, log *slog.Logger) (http.Handler, error) {
	var verifiers []providers.LogoutTokenVerifier
	byID := map[string]providers.Provider{}
	for _, p := range provs.list {
		byID[p.Info().ID] = p
	}
	for _, po := range cfg.Providers {
		if po.BackchannelLogout == nil || !*po.BackchannelLogout {
			continue
		}
		p, built := byID[po.ID]
		if !built {
			// Discovery is being retried: accept its logout tokens once
			// it is ready.
			verifiers = append(verifiers, &pendingVerifier{info: providers.Info{ID: po.ID, Type: po.Type, DisplayName: po.DisplayName}, lookup: provs.lookup})
			continue
		}
		v, ok := p.(providers.LogoutTokenVerifier)
		if !ok {
			return nil, fmt.Errorf("provider %q: type %s has no back-channel logout", po.ID, po.Type)
		}
		verifiers = append(verifiers, v)
		logBackchannel(log, po, v)
	}
	if len(verifiers) == 0 {
		return nil, nil
	}
	rs := st.redis
	if rs == nil || client == nil {
		return nil, errors.New("back-channel logout needs --session-store redis")
	}
	return backchannel.New(backchannel.Deps{
		Providers: verifiers,
		Replay:    replay.NewRedis(client, cfg.RedisKeyPrefix, cfg.RedisTimeout),
		Sessions:  rs,
		Logger:    log,
	})
}

// logBackchannel says at start-up where the provider must send logout
// tokens and what its discovery document promises.
func logBackchannel(log *slog.Logger, po config.ProviderOptions, v providers.LogoutTokenVerifier) {
	register := "https://<gatehouse host>" + backchannel.Path
	if u, err := url.Parse(po.RedirectURL); err == nil && u.Host != "" {
		register = u.Scheme + "://" + u.Host + backchannel.Path
	}
	attrs := []any{"provider", po.ID, "backchannel_logout_uri", register}
	if o, ok := v.(interface{ BackchannelLogoutSupport() (*bool, *bool) }); ok {
		supported, session := o.BackchannelLogoutSupport()
		attrs = append(attrs, "backchannel_logout_supported", describe(supported), "backchannel_logout_session_supported", describe(session))
		if supported != nil && !*supported {
			log.Warn("back-channel logout is on, but the provider's discovery says it does not send logout tokens", attrs...)
			return
		}
	}
	log.Info("back-channel logout on; register the URI with the provider", attrs...)
}

func describe(b *bool) string {
	if b == nil {
		return "not advertised"
	}
	return strconv.FormatBool(*b)
}

// redisConfig is how cfg reaches Redis.
func redisConfig(cfg *config.Config) session.RedisConfig {
	return session.RedisConfig{
		URL:              cfg.RedisURL,
		Password:         cfg.RedisPassword,
		SentinelMaster:   cfg.RedisSentinelMaster,
		SentinelAddrs:    cfg.RedisSentinelAddrs,
		SentinelPassword: cfg.RedisSentinelPassword,
		ClusterAddrs:     cfg.RedisClusterAddrs,
		CAFile:           cfg.RedisCAFile,
		Timeout:          cfg.RedisTimeout,
	}
}

// ErrNotRedis means an operation needs the Redis session store.
var ErrNotRedis = errors.New("sessions are kept in cookies (--session-store cookie), which no server can list or revoke; this needs --session-store redis")

// OpenSessions returns the Redis session store cfg describes, with its
// index, as serve builds it (without providers or a handler), for tools
// that list and revoke sessions; close releases its connections.
func OpenSessions(cfg *config.Config) (store *session.RedisStore, close func() error, err error) {
	if !cfg.Validated() {
		return nil, nil, errors.New("gateway: the configuration was not made by config.Options.Validate")
	}
	if cfg.SessionStore != "redis" {
		return nil, nil, ErrNotRedis
	}
	codec, err := session.NewCodec(cfg.CookieSecretKeys, session.WithMaxAge(cfg.CookieExpire))
	if err != nil {
		return nil, nil, fmt.Errorf("cookie secret: %w", err)
	}
	client, err := session.NewRedisClient(redisConfig(cfg))
	if err != nil {
		return nil, nil, fmt.Errorf("redis: %w", err)
	}
	cookie := session.CookieConfig{Name: cfg.CookieName, Lifetime: cfg.CookieExpire}
	return session.NewRedisStore(client, codec, cookie, cfg.RedisKeyPrefix, cfg.RedisTimeout, session.WithIndex(cfg.CookieSecretKeys)), client.Close, nil
}

// accessLog wraps h with the access log (cfg.AccessLog) and the request
// metrics; X-Request-Id is taken from trusted proxies only.
func accessLog(cfg *config.Config, d Deps, h http.Handler) http.Handler {
	trust := redirect.NewTrustedProxies(cfg.TrustedProxies...)
	c := accesslog.Config{TrustRequestID: trust.Trusts, Observe: d.Metrics.ObserveRequest, Now: d.Now}
	if d.Metrics == nil {
		c.Observe = nil
	}
	if cfg.AccessLog {
		c.Logger = cmp.Or(d.AccessLogger, d.Logger)
	}
	return accesslog.Middleware(h, c)
}

// pendingVerifier is the back-channel logout verifier of a provider whose
// discovery is being retried: it accepts no token until the provider is
// ready, then defers to it.
type pendingVerifier struct {
	info   providers.Info
	lookup func(id string) (providers.Provider, bool)
}

func (v *pendingVerifier) ready() (providers.LogoutTokenVerifier, bool) {
	if v.lookup == nil {
		return nil, false
	}
	p, ok := v.lookup(v.info.ID)
	if !ok {
		return nil, false
	}
	lv, ok := p.(providers.LogoutTokenVerifier)
	return lv, ok
}

// Info describes the provider.
func (v *pendingVerifier) Info() providers.Info { return v.info }

// AcceptsLogoutToken defers to the provider once it is ready.
func (v *pendingVerifier) AcceptsLogoutToken(issuer string, audience []string) bool {
	lv, ok := v.ready()
	return ok && lv.AcceptsLogoutToken(issuer, audience)
}

// VerifyLogoutToken defers to the provider once it is ready.
func (v *pendingVerifier) VerifyLogoutToken(ctx context.Context, raw string) (providers.LogoutClaims, error) {
	lv, ok := v.ready()
	if !ok {
		return providers.LogoutClaims{}, fmt.Errorf("provider %q is not discovered yet", v.info.ID)
	}
	return lv.VerifyLogoutToken(ctx, raw)
}

// Check does the start-up checks of cfg that contact nothing (the custom
// page templates), for 'gatehouse config check'.
func Check(cfg *config.Config) error {
	return proxy.CheckPages(pagesConfig(cfg))
}

// pagesConfig is how cfg brands the pages.
func pagesConfig(cfg *config.Config) proxy.PagesConfig {
	return proxy.PagesConfig{TemplatesDir: cfg.CustomTemplatesDir, Banner: cfg.Banner, Footer: cfg.Footer, LogoURL: cfg.LogoURL}
}
