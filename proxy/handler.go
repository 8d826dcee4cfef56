// Package proxy is Gatehouse's HTTP handler: the /oauth2/* routes, the
// authorization rules, and the reverse proxy that forwards authenticated
// requests upstream with identity headers.
package proxy

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/proxy/accesslog"
	"github.com/gatehouse-proxy/gatehouse/proxy/assertion"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
	"github.com/gatehouse-proxy/gatehouse/proxy/route"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// Config is how the handler behaves: the values configuration decides.
type Config struct {
	// Cookie holds the cookie attributes; its Name is the session cookie's.
	Cookie session.CookieConfig
	// SessionLifetime is the lifetime of a new session (cookie-expire).
	SessionLifetime time.Duration
	// RedirectURLs maps a provider id to its absolute callback URL; a
	// provider without one derives it from the request.
	RedirectURLs map[string]string
	// Upstream is where authenticated requests go; nil answers 404 for
	// anything but /oauth2/* (auth_request-only deployments).
	Upstream *url.URL
	// UpstreamTimeout bounds the wait for the upstream's response headers.
	UpstreamTimeout time.Duration
	// PassAccessToken sends X-Forwarded-Access-Token upstream.
	PassAccessToken bool
	// SetAuthorizationHeader sends "Authorization: Bearer <token>" upstream.
	SetAuthorizationHeader bool
	// ProviderSignOut sends the browser to the provider's logout endpoint.
	ProviderSignOut bool
	// SignOutGET also signs out on GET /oauth2/sign_out (a link); off,
	// GET shows a confirmation form and only a same-site POST (or one
	// carrying the form's token) signs out.
	SignOutGET bool
	// TrustedProxies are the peers (CIDR ranges) whose forwarding headers
	// (redirect.ForwardingHeaders) are honoured; from any other peer they
	// are deleted on arrival. Empty trusts nobody.
	TrustedProxies []netip.Prefix
	// BodyTimeout bounds how long a request body to one of Gatehouse's own
	// endpoints may take to arrive; 0 means DefaultBodyTimeout.
	BodyTimeout time.Duration
	// UpstreamBodyIdleTimeout bounds how long a request body on its way to
	// the upstream may stall between reads; 0 means
	// DefaultUpstreamBodyIdleTimeout, negative disables the bound.
	UpstreamBodyIdleTimeout time.Duration
	// ForwardAuthPrefixRoute also answers /oauth2/auth/<original path>
	// (Envoy ext_authz's path_prefix); off, only /oauth2/auth answers.
	ForwardAuthPrefixRoute bool
	// Pages brands the HTML pages (templates, banner, footer, logo).
	Pages PagesConfig
	// Routes are the route table, in order (the first match wins); with
	// none, every request goes to Upstream under the global rules. With
	// routes, request paths are normalised (route.NormalizePath) and an
	// ambiguous one is answered 400.
	Routes []Route
	// SkipJWTBearerTokens accepts bearer tokens (Deps.Bearer) on every
	// route and on requests no route takes.
	SkipJWTBearerTokens bool
}

// Deps are what the handler works with; New checks them.
type Deps struct {
	// Providers are the configured identity providers, in sign-in page order.
	Providers []providers.Provider
	// Pending are providers configured but not ready yet (their discovery
	// is being retried); they follow Providers on the sign-in page, their
	// logins answer 503 and /ready names them until ProviderReady.
	Pending []providers.Info
	// Store keeps sessions.
	Store session.Store
	// Refresher refreshes tokens before they expire; nil disables refresh.
	Refresher *session.Refresher
	// Codec encrypts the short-lived per-login flow cookies.
	Codec *session.Codec
	// Authorizer decides who may pass once authenticated.
	Authorizer *Authorizer
	// Redirects validates return addresses (?rd= and the like); nil
	// accepts same-site paths and the request's own host only.
	Redirects *redirect.Validator
	// Assertions signs the identity sent upstream as X-Gatehouse-Assertion
	// (X-Auth-Request-Assertion on /oauth2/auth) and serves its JWKS at
	// JWKSPath; nil sends no assertion.
	Assertions *assertion.Signer
	// BackchannelLogout serves POST /oauth2/backchannel_logout
	// (backchannel.Handler); nil does not serve it.
	BackchannelLogout http.Handler
	// Ready reports readiness (e.g. Redis reachable); nil is always ready.
	Ready func(ctx context.Context) error
	// Bearer verifies machine clients' bearer tokens on routes that
	// accept them; nil accepts none.
	Bearer BearerVerifier
	// UpstreamTransport is used to reach Config.Upstream; nil uses a
	// transport with Config.UpstreamTimeout as response-header timeout.
	UpstreamTransport http.RoundTripper
	// Logger receives structured logs; never tokens, cookies or secrets.
	Logger *slog.Logger
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
}

// Handler is Gatehouse's http.Handler.
type Handler struct {
	c         Config
	d         Deps
	providers *providerSet
	mux       *http.ServeMux
	upstream  *httputil.ReverseProxy
	routing   *routing // nil without routes
	pages     *pages
	log       *slog.Logger
	now       func() time.Time
	flowMax   time.Duration
	flowName  string
	sessionNm string
	trust     redirect.TrustedProxies

	bodyTimeout      time.Duration
	upstreamBodyIdle time.Duration // <= 0: unbounded

	storeOutage, refreshOutage *outageLog // rate-limited outage reports
}

// FlowLifetime bounds how long a login may take between /oauth2/start and
// /oauth2/callback.
const FlowLifetime = 10 * time.Minute

// New builds the handler.
func New(c Config, d Deps) (*Handler, error) {
	if len(d.Providers)+len(d.Pending) == 0 {
		return nil, errors.New("proxy: at least one provider is required")
	}
	if d.Store == nil || d.Codec == nil {
		return nil, errors.New("proxy: Store and Codec are required")
	}
	if c.Cookie.Name == "" {
		return nil, errors.New("proxy: Cookie.Name is required")
	}
	if d.Authorizer == nil {
		return nil, errors.New("proxy: Authorizer is required")
	}
	if d.Redirects == nil {
		d.Redirects = redirect.NewValidator(nil)
	}
	if c.SessionLifetime <= 0 {
		c.SessionLifetime = 7 * 24 * time.Hour
	}
	h := &Handler{
		c:         c,
		d:         d,
		log:       d.Logger,
		now:       d.Now,
		flowMax:   FlowLifetime,
		flowName:  c.Cookie.Name + "_flow_",
		sessionNm: c.Cookie.Name,
		trust:     redirect.NewTrustedProxies(c.TrustedProxies...),

		bodyTimeout:      cmp.Or(max(c.BodyTimeout, 0), DefaultBodyTimeout),
		upstreamBodyIdle: cmp.Or(c.UpstreamBodyIdleTimeout, DefaultUpstreamBodyIdleTimeout),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.storeOutage = newOutageLog(h.log, "session store", time.Now)
	h.refreshOutage = newOutageLog(h.log, "token refresh", time.Now)
	var err error
	if h.providers, err = newProviderSet(d.Providers, d.Pending); err != nil {
		return nil, err
	}
	if h.pages, err = newPages(c.Pages); err != nil {
		return nil, err
	}
	if c.Upstream != nil {
		h.upstream = h.newReverseProxy(c.Upstream)
	}
	if len(c.Routes) > 0 {
		if h.routing, err = h.newRouting(c.Routes); err != nil {
			return nil, err
		}
	}
	h.mux = h.routes()
	return h, nil
}

// routes maps Gatehouse's paths to their handlers.
func (h *Handler) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", h.ping)
	mux.HandleFunc("GET /ready", h.ready)
	mux.HandleFunc("GET /oauth2/sign_in", h.signIn)
	mux.HandleFunc("GET /oauth2/start", h.start)
	mux.HandleFunc("GET /oauth2/callback", h.callback)
	mux.HandleFunc("GET /oauth2/sign_out", h.signOut)
	mux.HandleFunc("POST /oauth2/sign_out", h.signOut)
	mux.HandleFunc("/oauth2/auth", h.auth)
	if h.c.ForwardAuthPrefixRoute {
		mux.HandleFunc("/oauth2/auth/", h.auth)
	}
	mux.HandleFunc("GET /oauth2/userinfo", h.userinfo)
	h.routeAssertions(mux)
	h.routeBackchannel(mux)
	// Gatehouse's own routes answer other methods 405 with Allow, rather
	// than a 404 or, for /ping and /ready, passing them to the upstream.
	for path, allow := range map[string]string{
		"/ping": "GET, HEAD", "/ready": "GET, HEAD",
		"/oauth2/sign_in": "GET, HEAD", "/oauth2/start": "GET, HEAD",
		"/oauth2/callback": "GET, HEAD", "/oauth2/userinfo": "GET, HEAD",
		"/oauth2/sign_out": "GET, HEAD, POST",
	} {
		mux.HandleFunc(path, h.methodNotAllowed(allow))
	}
	mux.HandleFunc("/oauth2/", h.notFound)
	mux.HandleFunc("/", h.protected)
	return mux
}

// ServeHTTP strips client-supplied identity headers (from everyone), and
// forwarding headers unless the peer is a trusted proxy, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rd := r.Header.Values(redirect.HeaderAuthRedirect)
	stripIdentityHeaders(r.Header)
	if len(rd) > 0 && redirect.IsOwnPath(r.URL.Path) {
		// Not identity but a return URL for Gatehouse's own pages, judged
		// like ?rd=; it never travels upstream.
		r.Header[redirect.HeaderAuthRedirect] = rd
	}
	v := h.trust.Prepare(r)
	r = r.WithContext(context.WithValue(r.Context(), viewKey{}, v))
	if h.routing != nil {
		// Before the mux, which would redirect "/a/..;/b" to its cleaned
		// form: an ambiguous path is refused, never reinterpreted.
		if _, err := route.NormalizePath(r.URL.EscapedPath()); err != nil {
			h.log.InfoContext(r.Context(), "ambiguous request path refused", "reason", err)
			h.fail(w, r, http.StatusBadRequest, "bad_request", "This address is not valid.")
			return
		}
	}
	h.guardBody(w, r, h.ownRoute(r.URL.Path), h.mux.ServeHTTP)
}

// ownRoute reports whether path is answered by Gatehouse itself rather
// than proxied to the upstream.
func (h *Handler) ownRoute(path string) bool {
	return (h.upstream == nil && h.routing == nil) || path == "/ping" || path == "/ready" || redirect.IsOwnPath(path)
}

type viewKey struct{}

func (h *Handler) ping(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("OK\n"))
}

func (h *Handler) ready(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var problems []string
	for _, id := range h.providers.notReady() {
		problems = append(problems, "provider "+id+": not discovered yet (retrying)")
	}
	if h.d.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := h.d.Ready(ctx); err != nil {
			h.log.WarnContext(r.Context(), "not ready", "err", err)
			problems = append(problems, strings.Split(err.Error(), "\n")...)
		}
	}
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(readyText(problems)))
		return
	}
	_, _ = w.Write([]byte("OK\n"))
}

// methodNotAllowed answers 405 naming the allowed methods.
func (h *Handler) methodNotAllowed(allow string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		h.fail(w, r, http.StatusMethodNotAllowed, "method_not_allowed", "This address does not accept this request method.")
	}
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, http.StatusNotFound, "not_found", "There is nothing at this address.")
}

// authenticated loads, refreshes and authorizes the request's session.
// It returns the session, or an HTTP status and error code explaining why
// there is none usable: 401 (no session), 403 (not allowed), 503 (store or
// provider unavailable).
func (h *Handler) authenticated(w http.ResponseWriter, r *http.Request) (*session.Session, int, string) {
	s, status, code := h.loadSession(w, r)
	if s == nil {
		return nil, status, code
	}
	entry := accesslog.FromContext(r.Context())
	entry.SetUser(s.Identity.User, s.ProviderID)
	if err := h.d.Authorizer.Allow(s); err != nil {
		entry.SetAuthorization(accesslog.Denied)
		h.log.InfoContext(r.Context(), "access denied", "user", s.Identity.User, "provider", s.ProviderID, "path", r.URL.Path, "reason", err)
		return nil, http.StatusForbidden, "forbidden"
	}
	entry.SetAuthorization(accesslog.Allowed)
	return s, 0, ""
}

// loadSession loads and refreshes the request's session, without
// authorizing it; see authenticated for the statuses.
func (h *Handler) loadSession(w http.ResponseWriter, r *http.Request) (*session.Session, int, string) {
	ctx := r.Context()
	s, err := h.d.Store.Load(ctx, r)
	switch {
	case errors.Is(err, session.ErrUnavailable):
		h.storeOutage.failed(ctx, r.URL.Path, err)
		return nil, http.StatusServiceUnavailable, "session_store_unavailable"
	case err == nil:
		h.storeOutage.ok(ctx)
	default:
		if !errors.Is(err, session.ErrNotFound) {
			h.log.WarnContext(ctx, "session load failed", "path", r.URL.Path, "err", err)
		} else {
			// Tampered, expired or foreign-secret cookies end here too; the
			// cause helps with a mistyped --cookie-secret and names no value.
			h.log.DebugContext(ctx, "no usable session", "path", r.URL.Path, "err", err)
		}
		return nil, http.StatusUnauthorized, "unauthorized"
	}
	if s.Expired(h.now()) {
		return nil, http.StatusUnauthorized, "unauthorized"
	}
	if h.providers.isPending(s.ProviderID) {
		// Keep the session: its provider is coming back.
		return nil, http.StatusServiceUnavailable, "provider_unavailable"
	}
	if _, ok := h.providers.get(s.ProviderID); !ok {
		// The provider was removed from the configuration: the session can
		// no longer be refreshed or signed out properly.
		return nil, http.StatusUnauthorized, "unauthorized"
	}
	if h.d.Refresher != nil {
		s, err = h.d.Refresher.Ensure(ctx, w, r, s)
		switch {
		case errors.Is(err, session.ErrNotFound):
			h.log.InfoContext(ctx, "session ended by provider", "path", r.URL.Path)
			return nil, http.StatusUnauthorized, "unauthorized"
		case errors.Is(err, session.ErrUnavailable):
			h.storeOutage.failed(ctx, r.URL.Path, err)
			return nil, http.StatusServiceUnavailable, "refresh_unavailable"
		case err != nil:
			h.refreshOutage.failed(ctx, r.URL.Path, err)
			return nil, http.StatusServiceUnavailable, "refresh_unavailable"
		default:
			h.refreshOutage.ok(ctx)
		}
	}
	return s, 0, ""
}

// protected serves every non-/oauth2 path: it finds the request's route,
// proxies public routes at once, and otherwise proxies with a session (or
// a bearer token where accepted) that the rules admit; browsers without
// one are sent to sign in, API clients get 401.
func (h *Handler) protected(w http.ResponseWriter, r *http.Request) {
	rt, r, ok := h.selectRoute(w, r)
	if !ok {
		return
	}
	if rt != nil && rt.Public {
		h.log.DebugContext(r.Context(), "access granted", "route", rt.Name, "path", r.URL.Path, "rule", "public")
		h.forward(w, r, rt, access{})
		return
	}
	a := h.authorize(w, r, rt)
	h.logDecision(r, rt, a)
	if a.status != 0 {
		h.refuse(w, r, rt, a)
		return
	}
	h.forward(w, r, rt, a)
}

// forward proxies r to rt's upstream with a's identity (none for a public
// route).
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, rt *Route, a access) {
	p := h.proxyFor(rt)
	if p == nil {
		h.fail(w, r, http.StatusNotFound, "not_found", "No upstream is configured for this address.")
		return
	}
	if a.s != nil {
		ctx := withSession(r.Context(), a.s)
		if a.bearer {
			ctx = context.WithValue(ctx, bearerKey{}, true)
		}
		r = r.WithContext(ctx)
		var ok bool
		if r, ok = h.signAssertion(w, r, a.s); !ok {
			return
		}
	}
	p.ServeHTTP(w, r)
}

// view is how the client addressed r, decided once in ServeHTTP from r's
// peer (a trusted proxy's forwarding headers, or r alone).
func (h *Handler) view(r *http.Request) redirect.View {
	if v, ok := r.Context().Value(viewKey{}).(redirect.View); ok {
		return v
	}
	return redirect.NewView(r, false)
}

// redirectURL is the callback URL for provider id.
func (h *Handler) redirectURL(r *http.Request, id string) string {
	if u := h.c.RedirectURLs[id]; u != "" {
		return u
	}
	return h.view(r).Origin() + "/oauth2/callback"
}

// safeRedirect validates rd for this request. The request's own host is
// trusted as a return address unless every route names a host: then only
// the hosts of the routes and --whitelist-domain are (the gateway adds the
// route hosts to the validator), never a Host header no route knows.
func (h *Handler) safeRedirect(r *http.Request, rd string) redirect.Target {
	host := h.view(r).Host
	if h.routing != nil && h.routing.hostsOnly {
		host = ""
	}
	return h.d.Redirects.Validate(rd, host)
}
