package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/proxy"
)

// Retry timing of providers that could not be discovered at start-up.
const (
	firstAttemptTimeout = 10 * time.Second
	retryAttemptTimeout = 30 * time.Second
	retryFirstDelay     = time.Second
	retryMaxDelay       = time.Minute
)

// discovers are the provider types that fetch a discovery document when
// built, and so may fail only because the provider is down.
var discovers = map[string]bool{
	config.TypeOIDC: true, config.TypeGitLab: true, config.TypeGoogle: true, config.TypeEntra: true, config.TypeKeycloak: true,
}

// pendingProvider is a configured provider whose discovery failed at
// start-up and is being retried.
type pendingProvider struct {
	po config.ProviderOptions
}

// info describes p on the sign-in page before it is ready.
func (p pendingProvider) info() providers.Info {
	return providers.Info{ID: p.po.ID, Type: p.po.Type, DisplayName: p.po.DisplayName}
}

// retryable reports whether a provider that failed to build may succeed
// later: it discovers over the network (and was not told to skip it).
func retryable(po config.ProviderOptions) bool {
	return discovers[po.Type] && !po.SkipDiscovery
}

// discoveryFix is the hint logged with a failed discovery.
const discoveryFix = "check that the issuer URL is right and reachable from Gatehouse (DNS, firewall, proxy, TLS trust); Gatehouse keeps retrying and the provider's logins answer 503 meanwhile"

// retryDiscovery retries building p in the background with capped
// exponential backoff and jitter until it succeeds (then h takes it) or
// ctx ends.
func (g *Gateway) retryDiscovery(ctx context.Context, p pendingProvider, res resources, h *proxy.Handler) {
	delay := retryFirstDelay
	for attempt := 2; ; attempt++ {
		t := time.NewTimer(jitter(delay))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		actx, cancel := context.WithTimeout(ctx, retryAttemptTimeout)
		built, err := newProvider(actx, p.po, res)
		cancel()
		if err == nil {
			if err := h.ProviderReady(built); err != nil {
				res.log.Error("provider became ready but could not be added", "provider", p.po.ID, "err", err)
				return
			}
			res.metrics.ProviderReady(p.po.ID, true)
			res.log.Info("provider discovered; its logins work now", "provider", p.po.ID, "attempt", attempt)
			return
		}
		if ctx.Err() != nil {
			return
		}
		delay = min(delay*2, retryMaxDelay)
		res.log.Warn("provider discovery failed; retrying", "provider", p.po.ID, "attempt", attempt, "retry_in", delay.String(), "err", err.Error(), "fix", discoveryFix)
	}
}

// jitter spreads d over [0.8d, 1.2d) so that replicas do not retry in step.
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// firstAttempt builds po at start-up; a retryable failure makes it pending
// (pending true) instead of ending start-up.
func firstAttempt(ctx context.Context, po config.ProviderOptions, res resources) (p providers.Provider, pending bool, err error) {
	actx, cancel := context.WithTimeout(ctx, firstAttemptTimeout)
	defer cancel()
	p, err = newProvider(actx, po, res)
	switch {
	case err == nil:
		return p, false, nil
	case ctx.Err() != nil:
		return nil, false, ctx.Err()
	case retryable(po):
		res.metrics.ProviderReady(po.ID, false)
		res.log.Error("provider discovery failed at start-up; starting without it and retrying", "provider", po.ID, "err", err.Error(), "fix", discoveryFix)
		return nil, true, nil
	}
	return nil, false, providerError(po.ID, err)
}

// providerError names the provider once (the providers' own errors may
// already start with it) and ends with the fix.
func providerError(id string, err error) error {
	if !strings.HasPrefix(err.Error(), fmt.Sprintf("provider %q", id)) {
		err = fmt.Errorf("provider %q: %w", id, err)
	}
	return fmt.Errorf("%w. Fix: correct this provider's configuration, then run 'gatehouse config check'", err)
}

// namedCheck reports a failed readiness check as "what: unavailable",
// which /ready shows, and logs its cause (which may name internal
// addresses) instead of showing it. A nil check stays nil.
func namedCheck(what string, check func(context.Context) error, log *slog.Logger) func(context.Context) error {
	if check == nil {
		return nil
	}
	return func(ctx context.Context) error {
		if err := check(ctx); err != nil {
			log.WarnContext(ctx, "not ready: "+what, "err", err)
			return errors.New(what + ": unavailable")
		}
		return nil
	}
}
