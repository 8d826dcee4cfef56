package proxy

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/proxy/accesslog"
	"github.com/gatehouse-proxy/gatehouse/proxy/policy"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
	"github.com/gatehouse-proxy/gatehouse/proxy/route"
)

// Route is one entry of the route table (Config.Routes): which requests it
// takes, where they go and who may pass. See docs/routes.md.
type Route struct {
	// Name identifies the route in logs, metrics and error answers.
	Name string
	// Host, Path and Methods select requests (see route.Spec).
	Host, Path string
	Methods    []string
	// Upstream is where the route's requests go; nil: Config.Upstream.
	Upstream *url.URL
	// Public routes need no authentication at all.
	Public bool
	// API routes never redirect: 401 and 403 answer JSON.
	API bool
	// Bearer accepts "Authorization: Bearer <JWT>" (Deps.Bearer);
	// ForwardBearer sends that token upstream (by default it is removed).
	Bearer, ForwardBearer bool
	// PreserveHost sends the client's Host to a route's own upstream
	// (requests to Config.Upstream always keep it, as without routes).
	PreserveHost bool
	// StripPrefix removes the route's prefix path before proxying.
	StripPrefix bool
	// Allow admits, after the global rules, the identities that match one
	// of its entries; an empty Rule admits everyone the global rules do.
	Allow policy.Rule

	proxy *httputil.ReverseProxy // set by newRouting; nil: the default upstream
}

// routing is the compiled route table with each route's reverse proxy.
type routing struct {
	table  *route.Table
	routes []Route
	// hostsOnly: every route names a host, so a request's Host that no
	// route knows is not trusted for return addresses.
	hostsOnly bool
}

// newRouting compiles routes and builds one reverse proxy per route with
// its own upstream, sharing one transport per distinct upstream.
func (h *Handler) newRouting(routes []Route) (*routing, error) {
	specs := make([]route.Spec, len(routes))
	for i, r := range routes {
		if r.Public && !r.Allow.Empty() {
			return nil, fmt.Errorf("proxy: route %q is public and has allow rules", r.Name)
		}
		specs[i] = route.Spec{Name: r.Name, Host: r.Host, Path: r.Path, Methods: r.Methods, Public: r.Public}
	}
	table, err := route.Compile(specs)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	rt := &routing{table: table, routes: slices.Clone(routes)}
	rt.hostsOnly = !slices.ContainsFunc(routes, func(r Route) bool { return r.Host == "" })
	transports := map[string]http.RoundTripper{}
	for i, r := range routes {
		if r.Upstream == nil {
			continue
		}
		key := r.Upstream.Scheme + "://" + r.Upstream.Host
		if transports[key] == nil {
			transports[key] = h.newTransport()
		}
		rt.routes[i].proxy = h.newReverseProxyWith(r.Upstream, transports[key], r.PreserveHost)
	}
	return rt, nil
}

type routeKey struct{}

// routeOf returns the route r was matched to, nil when none.
func routeOf(ctx context.Context) *Route {
	rt, _ := ctx.Value(routeKey{}).(*Route)
	return rt
}

// RouteFrom returns the name of the route that took the request, "" when
// none did (or no routes are configured): for access logs and metrics
// wrapped around the handler. It is set before the request is proxied or
// refused.
func RouteFrom(ctx context.Context) string {
	if rt := routeOf(ctx); rt != nil {
		return rt.Name
	}
	if n, ok := ctx.Value(routeNameKey{}).(*string); ok && n != nil {
		return *n
	}
	return ""
}

type routeNameKey struct{}

// WithRouteSlot returns ctx carrying a slot in which the handler records
// the name of the route it chose, so that a middleware wrapped around the
// handler (an access log) can read it with RouteFrom after ServeHTTP
// returns.
func WithRouteSlot(ctx context.Context) context.Context {
	return context.WithValue(ctx, routeNameKey{}, new(string))
}

// selectRoute normalises r's path and finds its route. With routes
// configured, the returned request carries the normalised path (what the
// upstream receives, its route's prefix stripped when asked) and the route
// in its context; an ambiguous path is answered 400 and ok is false.
// Without routes, r is returned as is.
func (h *Handler) selectRoute(w http.ResponseWriter, r *http.Request) (_ *Route, _ *http.Request, ok bool) {
	if h.routing == nil {
		return nil, r, true
	}
	p, err := route.NormalizePath(r.URL.EscapedPath())
	if err != nil {
		h.log.InfoContext(r.Context(), "ambiguous request path refused", "reason", err)
		h.fail(w, r, http.StatusBadRequest, "bad_request", "This address is not valid.")
		return nil, nil, false
	}
	rt := h.match(r.Context(), h.view(r).Host, r.Method, p)
	ctx := r.Context()
	if rt != nil {
		ctx = context.WithValue(ctx, routeKey{}, rt)
		if rt.StripPrefix {
			p = stripSegments(p, rt.Path)
		}
	}
	r = r.WithContext(ctx)
	u := *r.URL
	u.Path, u.RawPath = p, ""
	r.URL = &u
	return rt, r, true
}

// match returns the first route that takes host, method and path (a
// normalised path), nil when none does, and records its name in ctx's
// route slot (WithRouteSlot).
func (h *Handler) match(ctx context.Context, host, method, path string) *Route {
	i := h.routing.table.Match(route.Request{Host: host, Method: method, Path: path})
	if i < 0 {
		return nil
	}
	rt := &h.routing.routes[i]
	if slot, ok := ctx.Value(routeNameKey{}).(*string); ok {
		*slot = rt.Name
	}
	accesslog.FromContext(ctx).SetRoute(rt.Name)
	return rt
}

// authRoute finds the route of the request a forward-auth proxy asks
// about, from the original host, method and URI a trusted proxy forwards
// (X-Forwarded-Host, -Method, -Uri, X-Original-URL; redirect.NewView) or
// the path Envoy appends to /oauth2/auth/. Without them (the URI is
// /oauth2/auth itself) no route applies. ok is false for an ambiguous
// original path, answered 400.
func (h *Handler) authRoute(r *http.Request) (_ *Route, ok bool) {
	if h.routing == nil {
		return nil, true
	}
	v := h.view(r)
	uri := v.URI
	if rest, cut := strings.CutPrefix(uri, "/oauth2/auth/"); cut && h.c.ForwardAuthPrefixRoute {
		uri = "/" + rest
	}
	if redirect.IsOwnPath(uri) {
		return nil, true
	}
	p, err := route.NormalizePath(uri)
	if err != nil {
		return nil, false
	}
	return h.match(r.Context(), v.Host, v.Method, p), true
}

// stripSegments removes from p as many leading segments as prefix has
// (p matched prefix, perhaps in another case).
func stripSegments(p, prefix string) string {
	n := strings.Count(strings.Trim(prefix, "/"), "/") + 1
	if strings.Trim(prefix, "/") == "" {
		return p
	}
	rest := p
	for range n {
		i := strings.IndexByte(rest[1:], '/')
		if i < 0 {
			return "/"
		}
		rest = rest[i+1:]
	}
	return rest
}

// proxyFor is the reverse proxy of rt (the default upstream's when rt has
// none); nil when there is no upstream.
func (h *Handler) proxyFor(rt *Route) *httputil.ReverseProxy {
	if rt != nil && rt.proxy != nil {
		return rt.proxy
	}
	return h.upstream
}

// bearerOn reports whether rt (nil: no route) accepts bearer tokens.
func (h *Handler) bearerOn(rt *Route) bool {
	return h.d.Bearer != nil && (h.c.SkipJWTBearerTokens || rt != nil && rt.Bearer)
}

// routeName is rt's name for logs, "" without a route.
func routeName(rt *Route) string {
	if rt == nil {
		return ""
	}
	return rt.Name
}
