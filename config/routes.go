package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/proxy/route"
)

// RouteOptions configures one entry of the YAML 'routes' list (see
// docs/routes.md). Routes are evaluated in order; the first that takes a
// request decides its upstream and rules.
type RouteOptions struct {
	Name          string       `yaml:"name" help:"unique name of the route, used in logs, metrics and errors (required; letters, digits, '.', '_', '-')"`
	Host          string       `yaml:"host" help:"exact host (any case, port and trailing dot ignored) or '*.example.com' for its subdomains; default any host"`
	Path          string       `yaml:"path" help:"'/prefix' (on segment boundaries: /admin takes /admin and /admin/..., never /administrator), '=/exact' or '~regexp' (RE2, anchored); default every path"`
	Methods       []string     `yaml:"methods" help:"request methods the route takes (default all)"`
	Upstream      string       `yaml:"upstream" help:"where the route's requests go, http:// or https:// (default: the top-level upstream)"`
	Public        bool         `yaml:"public" help:"no authentication at all (health checks, webhooks, static assets); client identity headers are still stripped; not with allow or bearer"`
	API           bool         `yaml:"api" help:"never redirect to sign in: 401 and 403 answer JSON"`
	Bearer        bool         `yaml:"bearer" help:"also accept 'Authorization: Bearer <JWT>' from a jwt_bearer issuer (machine clients)"`
	ForwardBearer bool         `yaml:"forward_bearer" help:"with bearer: send the client's bearer token upstream (default: removed)"`
	PreserveHost  bool         `yaml:"preserve_host" help:"send the client's Host header upstream rather than the upstream's host"`
	StripPrefix   bool         `yaml:"strip_prefix" help:"remove the route's path prefix before proxying (/app/x reaches the upstream as /x); only with a '/prefix' path"`
	Allow         AllowOptions `yaml:"allow" help:"who may use the route: any one entry admits; absent, any user the global rules admit; checked after --email-domain"`
}

// AllowOptions is a route's allow list; any one matching entry admits.
type AllowOptions struct {
	Emails       []string          `yaml:"emails" help:"email addresses (domain in any case, local part exact)"`
	EmailDomains []string          `yaml:"email_domains" help:"email domains: 'example.com', '*.example.com' for subdomains"`
	Groups       []string          `yaml:"groups" help:"groups, exact"`
	Users        []string          `yaml:"users" help:"X-Forwarded-User values (or subjects), exact"`
	Providers    []string          `yaml:"providers" help:"provider ids"`
	Claims       map[string]string `yaml:"claims" help:"claim name to value: the claim equals the value, or contains it when it is a list"`
}

// empty reports whether a has no entries.
func (a AllowOptions) empty() bool {
	return len(a.Emails) == 0 && len(a.EmailDomains) == 0 && len(a.Groups) == 0 &&
		len(a.Users) == 0 && len(a.Providers) == 0 && len(a.Claims) == 0
}

// JWTBearerOptions is one issuer of the YAML 'jwt_bearer' list whose JWTs
// machine clients may present on bearer routes.
type JWTBearerOptions struct {
	IssuerURL   string   `yaml:"issuer_url" help:"issuer URL (https; http only for loopback hosts); discovered at start-up and retried in the background until it answers (/ready fails meanwhile)"`
	Audiences   []string `yaml:"audiences" help:"accepted aud values; a token must carry one (required)"`
	UserClaim   string   `yaml:"user_claim" help:"claim that becomes X-Forwarded-User (default sub)"`
	GroupsClaim string   `yaml:"groups_claim" help:"claim holding the token's groups (default groups)"`
}

// Route is a validated route: its options with the upstream parsed.
type Route struct {
	RouteOptions
	// UpstreamURL is the parsed upstream; nil for the top-level one.
	UpstreamURL *url.URL
	// HasAllow reports whether Allow restricts the route.
	HasAllow bool
}

var routeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

var methodRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// routes checks the 'routes' and 'jwt_bearer' lists.
func (v *validator) routes(o *Options) []Route {
	v.jwtBearer(o)
	out := make([]Route, 0, len(o.Routes))
	seen := map[string]int{}
	for i, r := range o.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		if r.Name != "" {
			key = fmt.Sprintf("routes[%d] (%q)", i, r.Name)
		}
		switch first, dup := seen[r.Name]; {
		case r.Name == "":
			v.add(key+".name", "is required", "name every route (e.g. name: admin); the name appears in logs and errors")
		case !routeNameRE.MatchString(r.Name):
			v.add(key+".name", "may only hold letters, digits, '.', '_' and '-'", "e.g. name: grafana-admin")
		case dup:
			v.add(key+".name", fmt.Sprintf("is also the name of routes[%d]", first), "give every route its own name")
		default:
			seen[r.Name] = i
		}
		out = append(out, v.route(o, key, r))
	}
	return out
}

// route checks one route.
func (v *validator) route(o *Options, key string, r RouteOptions) Route {
	out := Route{RouteOptions: r, HasAllow: !r.Allow.empty()}
	if _, err := route.Compile([]route.Spec{{Name: r.Name, Host: r.Host, Path: r.Path}}); err != nil {
		v.add(key, strings.TrimPrefix(err.Error(), fmt.Sprintf("route %q: ", r.Name)), "see docs/routes.md for host and path patterns")
	}
	for _, m := range r.Methods {
		if !methodRE.MatchString(m) {
			v.add(key+".methods", fmt.Sprintf("holds %q, which is not a method name", m), "write methods such as GET, POST")
		}
	}
	if r.Upstream != "" {
		if p, fix := checkURL(r.Upstream, false); p != "" {
			v.add(key+".upstream", p, fix)
		} else {
			out.UpstreamURL, _ = url.Parse(r.Upstream)
		}
	}
	if r.Public && out.HasAllow {
		v.add(key, "is public and has allow rules, which would never apply", "remove public: true to protect it, or remove allow")
	}
	if r.Public && r.Bearer {
		v.add(key, "is public and accepts bearer tokens", "remove bearer: a public route takes no credentials")
	}
	if r.Bearer && len(o.JWTBearer) == 0 {
		v.add(key+".bearer", "is true, but no jwt_bearer issuer is configured", "add a jwt_bearer entry (issuer_url, audiences) or remove bearer")
	}
	if r.ForwardBearer && !r.Bearer && !o.SkipJWTBearerTokens {
		v.add(key+".forward_bearer", "is true without bearer", "set bearer: true too, or remove forward_bearer")
	}
	if r.StripPrefix && !strings.HasPrefix(r.Path, "/") {
		v.add(key+".strip_prefix", "needs a '/prefix' path", "give the route a prefix path, or remove strip_prefix")
	}
	return out
}

// jwtBearer checks the 'jwt_bearer' issuers.
func (v *validator) jwtBearer(o *Options) {
	if o.SkipJWTBearerTokens && len(o.JWTBearer) == 0 {
		v.add("skip-jwt-bearer-tokens", "is true, but no jwt_bearer issuer is configured", "add a jwt_bearer entry (issuer_url, audiences)")
	}
	seen := map[string]bool{}
	for i, j := range o.JWTBearer {
		key := fmt.Sprintf("jwt_bearer[%d]", i)
		if p, fix := checkURL(j.IssuerURL, true); p != "" {
			v.add(key+".issuer_url", p, fix)
		}
		if seen[j.IssuerURL] {
			v.add(key+".issuer_url", "is listed twice", "keep one entry per issuer")
		}
		seen[j.IssuerURL] = true
		if len(j.Audiences) == 0 {
			v.add(key+".audiences", "is required", "list the aud values the tokens are issued for (e.g. [gatehouse])")
		}
	}
}
