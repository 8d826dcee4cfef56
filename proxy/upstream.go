package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/proxy/accesslog"
	"github.com/gatehouse-proxy/gatehouse/proxy/assertion"
	"github.com/gatehouse-proxy/gatehouse/session"
)

type sessionKey struct{}

func withSession(ctx context.Context, s *session.Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// SessionFrom returns the session the request was authenticated with, for
// handlers wrapped after the gateway; nil when there is none.
func SessionFrom(ctx context.Context) *session.Session {
	s, _ := ctx.Value(sessionKey{}).(*session.Session)
	return s
}

// newTransport is a transport to an upstream, tuned for many concurrent
// requests (NewUpstreamTransport: a keep-alive pool per upstream host),
// with Config.UpstreamTimeout as response-header timeout;
// Deps.UpstreamTransport when set.
func (h *Handler) newTransport() http.RoundTripper {
	if h.d.UpstreamTransport != nil {
		return h.d.UpstreamTransport
	}
	return NewUpstreamTransport(UpstreamTransportConfig{ResponseHeaderTimeout: h.c.UpstreamTimeout})
}

// newReverseProxy forwards authenticated requests to target, the default
// upstream, keeping the client's Host as Gatehouse always did.
func (h *Handler) newReverseProxy(target *url.URL) *httputil.ReverseProxy {
	return h.newReverseProxyWith(target, h.newTransport(), true)
}

// newReverseProxyWith forwards requests to target through transport, with
// identity headers for an authenticated request. The client's identity
// headers were stripped in ServeHTTP; Gatehouse's own cookies are removed
// so the upstream never sees them. preserveHost keeps the client's Host;
// otherwise the upstream's host is sent. Streaming answers
// (text/event-stream) are flushed as they come, and upgrades (WebSockets)
// are relayed, by httputil.ReverseProxy.
func (h *Handler) newReverseProxyWith(target *url.URL, transport http.RoundTripper, preserveHost bool) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Transport:  accesslog.Transport(transport),
		BufferPool: NewBufferPool(),
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			if preserveHost {
				pr.Out.Host = pr.In.Host
			}
			// X-Forwarded-For: the peer is appended to a trusted proxy's
			// chain; an untrusted peer's chain was deleted on arrival, so
			// it starts anew. -Host and -Proto: the client's view, which
			// is a trusted proxy's or the request's own.
			if xff := pr.In.Header["X-Forwarded-For"]; len(xff) > 0 {
				pr.Out.Header["X-Forwarded-For"] = xff
			}
			pr.SetXForwarded()
			if v := h.view(pr.In); v.Forwarded {
				pr.Out.Header.Set("X-Forwarded-Host", v.Host)
				pr.Out.Header.Set("X-Forwarded-Proto", v.Scheme)
			}
			h.dropOwnCookies(pr.Out)
			accesslog.ForwardRequestID(pr.In.Context(), pr.Out.Header)
			if isBearer(pr.In.Context()) {
				if rt := routeOf(pr.In.Context()); rt == nil || !rt.ForwardBearer {
					// The client's credential, not Gatehouse's: kept
					// from the upstream unless the route asks for it.
					pr.Out.Header.Del("Authorization")
				}
			}
			s := SessionFrom(pr.In.Context())
			if s == nil {
				return // a public route: no identity
			}
			for _, kv := range identityValues(s, h.c.PassAccessToken, upstreamNames) {
				pr.Out.Header.Set(kv[0], cleanHeaderValue(kv[1]))
			}
			pr.Out.Header.Set(headerProvider, s.ProviderID)
			if a := assertionFrom(pr.In.Context()); a != "" {
				pr.Out.Header.Set(assertion.UpstreamHeader, a)
			}
			if h.c.SetAuthorizationHeader && !isBearer(pr.In.Context()) {
				// The upstream trusts this header to come from Gatehouse: a
				// client's own never passes, even when there is no token.
				pr.Out.Header.Del("Authorization")
				if s.Tokens.AccessToken != "" {
					pr.Out.Header.Set("Authorization", "Bearer "+s.Tokens.AccessToken)
				}
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if bodyStalled(r) {
				// The client stopped sending its body: it may still read
				// an answer before the connection closes.
				h.log.InfoContext(r.Context(), "request body stalled; dropped", "path", r.URL.Path)
				h.fail(w, r, http.StatusRequestTimeout, "request_timeout", "The request took too long to arrive.")
				return
			}
			if r.Context().Err() != nil {
				// The client went away; nobody is left to answer.
				h.log.DebugContext(r.Context(), "client gone before the upstream answered", "path", r.URL.Path, "err", err)
				return
			}
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				h.log.ErrorContext(r.Context(), "upstream timed out", "path", r.URL.Path, "err", err)
				h.fail(w, r, http.StatusGatewayTimeout, "upstream_timeout", "The application took too long to answer. Please try again in a moment.")
				return
			}
			h.log.ErrorContext(r.Context(), "upstream unreachable", "path", r.URL.Path, "err", err)
			h.fail(w, r, http.StatusBadGateway, "upstream_unavailable", "The application is not responding. Please try again in a moment.")
		},
	}
}

// dropOwnCookies removes Gatehouse's session and flow cookies from the
// Cookie header of an upstream request. The application's own cookies are
// kept byte for byte: re-serializing them through net/http would drop the
// values it considers invalid (JSON, quotes) and unquote quoted ones.
func (h *Handler) dropOwnCookies(r *http.Request) {
	lines := r.Header.Values("Cookie")
	if len(lines) == 0 {
		return
	}
	var kept []string
	for _, line := range lines {
		for pair := range strings.SplitSeq(line, ";") {
			pair = strings.TrimSpace(pair)
			if pair == "" {
				continue
			}
			name, _, _ := strings.Cut(pair, "=")
			if h.isOwnCookie(strings.TrimSpace(name)) {
				continue
			}
			kept = append(kept, pair)
		}
	}
	r.Header.Del("Cookie")
	if len(kept) > 0 {
		r.Header.Set("Cookie", strings.Join(kept, "; "))
	}
}

// isOwnCookie reports whether name is the session cookie, one of its chunks
// or a flow cookie.
func (h *Handler) isOwnCookie(name string) bool {
	if name == h.sessionNm {
		return true
	}
	rest, ok := strings.CutPrefix(name, h.sessionNm+"_")
	if !ok {
		return false
	}
	if strings.HasPrefix(name, h.flowName) {
		return true
	}
	for _, r := range rest {
		if r < '0' || r > '9' {
			return false
		}
	}
	return rest != ""
}
