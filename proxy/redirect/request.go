// Package redirect decides where a browser may be sent: it reads the
// return address a request carries (?rd=, X-Auth-Request-Redirect, the
// original URL a proxy in front forwards) and validates it into a Target,
// the only form in which a return address travels further.
package redirect

import (
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/internal/hostport"
)

// HeaderAuthRedirect is where the browser was going, set by a proxy in
// front of Gatehouse's own pages (oauth2-proxy's convention for nginx:
// proxy_set_header X-Auth-Request-Redirect $request_uri). Like ?rd= it is
// only a wish that the Validator judges.
const HeaderAuthRedirect = "X-Auth-Request-Redirect"

// View is a request as its client addressed it: the scheme, host, URI and
// method the browser used, which a trusted proxy in front of Gatehouse
// (nginx auth_request, Traefik, an ingress) reports in forwarding headers.
type View struct {
	// Scheme is "http" or "https".
	Scheme string
	// Host is host[:port].
	Host string
	// URI is the request URI (path and query), or the original one a
	// trusted proxy forwards.
	URI string
	// Method is the request's method, or the original one a trusted proxy
	// forwards (X-Forwarded-Method, X-Original-Method).
	Method string
	// Forwarded is true when r came from a trusted proxy, whose headers
	// then describe the request rather than r alone.
	Forwarded bool
}

// NewView returns how the client addressed r. When trusted (r's peer is a
// trusted proxy; see TrustedProxies.Prepare), X-Forwarded-Proto,
// X-Forwarded-Host with X-Forwarded-Port, X-Forwarded-Uri (or
// X-Original-URI, or X-Original-URL as a path or a full URL, of which only
// the path and query count) and X-Forwarded-Method replace what r says.
func NewView(r *http.Request, trusted bool) View {
	v := View{Scheme: "http", Host: r.Host, URI: r.URL.RequestURI(), Method: r.Method, Forwarded: trusted}
	if r.TLS != nil {
		v.Scheme = "https"
	}
	if !trusted {
		return v
	}
	if s := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))); s == "http" || s == "https" {
		v.Scheme = s
	}
	if h := firstValue(r.Header.Get("X-Forwarded-Host")); validHostPort(h) {
		v.Host = h
		p := firstValue(r.Header.Get("X-Forwarded-Port"))
		if _, _, err := net.SplitHostPort(h); err != nil && p != defaultPort(v.Scheme) && hostport.ValidPort(p, false) {
			v.Host = net.JoinHostPort(strings.Trim(h, "[]"), p)
		}
	}
	for _, name := range []string{"X-Forwarded-Uri", "X-Original-Uri", "X-Original-Url"} {
		if u := r.Header.Get(name); u != "" {
			v.URI = requestURI(u)
			break
		}
	}
	for _, name := range []string{"X-Forwarded-Method", "X-Original-Method"} {
		if m := strings.ToUpper(strings.TrimSpace(r.Header.Get(name))); m != "" {
			v.Method = m
			break
		}
	}
	return v
}

// requestURI is the path and query of u, an original URI a proxy forwards:
// a path, or a full URL (X-Original-URL) whose scheme and host are not
// taken (they come from X-Forwarded-Proto and -Host, or the request), so a
// forwarded URL can never name the host return addresses are checked
// against. What does not parse is kept as it is, for the validator to
// refuse.
func requestURI(u string) string {
	if strings.HasPrefix(u, "/") {
		return u
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return u
	}
	return p.RequestURI()
}

// validHostPort reports whether h is host[:port] as a Host header writes it
// (a DNS name, an IPv4 address or a bracketed IPv6 one).
func validHostPort(h string) bool {
	host, port := splitHostPort(strings.ToLower(h))
	if port != "" && !hostport.ValidPort(port, false) {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return hostport.ValidHost(host) && !strings.HasSuffix(h, ":")
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}

// firstValue is the first of a comma-separated header's values, trimmed.
func firstValue(h string) string {
	first, _, _ := strings.Cut(h, ",")
	return strings.TrimSpace(first)
}

// Origin is "scheme://host".
func (v View) Origin() string { return v.Scheme + "://" + v.Host }

// Original is the URL of the request a proxy asks about, or "/" if that is
// one of Gatehouse's own pages: with a trusted proxy, the original URL it
// forwards (X-Forwarded-Proto/-Host/-Uri or X-Original-URI, which nginx
// also sends to Gatehouse's pages after "error_page 401 = /oauth2/sign_in"),
// absolute so that the host the proxy saw is kept; else the original path
// Envoy's path_prefix appends to /oauth2/auth/; else the request's own URI.
// The result is not validated.
func (v View) Original() string {
	uri := v.URI
	if rest, ok := strings.CutPrefix(uri, "/oauth2/auth/"); ok {
		uri = "/" + rest
	}
	switch {
	case IsOwnPath(uri):
		return "/"
	case v.Forwarded && strings.HasPrefix(uri, "/"):
		return v.Origin() + uri
	}
	return uri // without a trusted proxy: r's own; or X-Original-URL
}

// Implied is where the browser was going when no ?rd= says so:
// X-Auth-Request-Redirect, else v.Original(). Gatehouse's own pages
// (/oauth2/...) are skipped: nobody wants to land on one after signing in.
// The result is not validated.
func Implied(r *http.Request, v View) string {
	if h := r.Header.Get(HeaderAuthRedirect); h != "" && !IsOwnPath(h) {
		return h
	}
	return v.Original()
}

// Wanted is the unvalidated place a browser asks to go back to after
// signing in from Gatehouse's own pages (/oauth2/sign_in, /oauth2/start):
// ?rd= when given, otherwise what Implied finds.
func Wanted(r *http.Request, v View) string {
	if rd := Param(r.URL.RawQuery); rd != "" {
		return rd
	}
	return Implied(r, v)
}

// IsOwnPath reports whether v, a path or an absolute URL, is one of
// Gatehouse's own pages.
func IsOwnPath(v string) bool {
	if !strings.HasPrefix(v, "/") {
		u, err := url.Parse(v)
		if err != nil {
			return false
		}
		v = u.EscapedPath()
	}
	p, _, _ := strings.Cut(v, "?")
	return p == "/oauth2" || strings.HasPrefix(p, "/oauth2/")
}

// ownParams are the query parameters of /oauth2/sign_in and /oauth2/start.
var ownParams = map[string]bool{"rd": true, "provider": true, "instance": true}

// Param returns the first rd query parameter of rawQuery, "" if none.
//
// A proxy that cannot URL-encode (nginx: "?rd=$scheme://$http_host
// $request_uri") sends the original URL raw, so the original URL's own
// query parameters arrive as separate parameters of ours. A raw rd value
// holding "?" (which an encoder would have written %3F) is such a URL: the
// parameters after it that are not Gatehouse's own are put back, raw. The
// result is validated like any rd.
func Param(rawQuery string) string {
	parts := strings.Split(rawQuery, "&")
	for i, part := range parts {
		key, value, _ := strings.Cut(part, "=")
		if key != "rd" {
			continue
		}
		if !strings.Contains(value, "?") {
			v, err := url.QueryUnescape(value)
			if err != nil {
				return ""
			}
			return v
		}
		rd := value
		for _, next := range parts[i+1:] {
			if k, _, _ := strings.Cut(next, "="); ownParams[k] {
				break
			}
			rd += "&" + next
		}
		return rd
	}
	return ""
}
