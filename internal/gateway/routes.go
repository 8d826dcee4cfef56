package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/proxy"
	"github.com/gatehouse-proxy/gatehouse/proxy/bearer"
	"github.com/gatehouse-proxy/gatehouse/proxy/policy"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
	"github.com/gatehouse-proxy/gatehouse/proxy/route"
)

// proxyRoutes turns the configured routes into the handler's.
func proxyRoutes(cfg *config.Config) []proxy.Route {
	out := make([]proxy.Route, 0, len(cfg.Routes))
	for _, r := range cfg.Routes {
		a := r.Allow
		claims := make(map[string][]string, len(a.Claims))
		for _, k := range slices.Sorted(maps.Keys(a.Claims)) {
			claims[k] = []string{a.Claims[k]}
		}
		out = append(out, proxy.Route{
			Name: r.Name, Host: r.Host, Path: r.Path, Methods: r.Methods, Upstream: r.UpstreamURL,
			Public: r.Public, API: r.API, Bearer: r.Bearer, ForwardBearer: r.ForwardBearer,
			PreserveHost: r.PreserveHost, StripPrefix: r.StripPrefix,
			Allow: policy.Rule{
				Name: fmt.Sprintf("route %q", r.Name), Emails: a.Emails, EmailDomains: a.EmailDomains,
				Groups: a.Groups, Users: a.Users, Providers: a.Providers, Claims: claims,
			},
		})
	}
	return out
}

// newBearer starts verifying the jwt_bearer issuers (discovery retried in
// the background while ctx lasts); nil without issuers.
func newBearer(ctx context.Context, cfg *config.Config, client *http.Client, log *slog.Logger) *bearer.Verifier {
	if len(cfg.JWTBearer) == 0 {
		return nil
	}
	issuers := make([]bearer.IssuerConfig, 0, len(cfg.JWTBearer))
	for _, j := range cfg.JWTBearer {
		issuers = append(issuers, bearer.IssuerConfig{
			IssuerURL: j.IssuerURL, Audiences: j.Audiences, UserClaim: j.UserClaim, GroupsClaim: j.GroupsClaim,
		})
	}
	return bearer.New(ctx, issuers, client, log)
}

// readiness combines the readiness checks that exist (nil ones skipped).
func readiness(checks ...func(context.Context) error) func(context.Context) error {
	checks = slices.DeleteFunc(checks, func(c func(context.Context) error) bool { return c == nil })
	if len(checks) == 0 {
		return nil
	}
	return func(ctx context.Context) error {
		var errs []error
		for _, c := range checks {
			if err := c(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
}

// redirectHosts are --whitelist-domain with the hosts of the routes, which
// return addresses may name without being listed.
func redirectHosts(cfg *config.Config) []redirect.AllowedHost {
	out := slices.Clone(cfg.WhitelistDomains)
	for _, r := range cfg.Routes {
		if r.Host == "" {
			continue
		}
		h := route.CanonicalHost(r.Host)
		if rest, ok := cutWildcard(h); ok {
			h = "." + rest
		}
		if a, err := redirect.ParseAllowedHost(h + ":*"); err == nil {
			out = append(out, a)
		}
	}
	return out
}

func cutWildcard(h string) (string, bool) {
	if len(h) > 2 && h[:2] == "*." {
		return h[2:], true
	}
	return h, false
}

// bearerReady is v's readiness check, nil without v.
func bearerReady(v *bearer.Verifier) func(context.Context) error {
	if v == nil {
		return nil
	}
	return v.Ready
}

// bearerVerifier is v as the handler takes it: a nil interface without v.
func bearerVerifier(v *bearer.Verifier) proxy.BearerVerifier {
	if v == nil {
		return nil
	}
	return v
}
