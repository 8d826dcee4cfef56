package redirect

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Loopback are the addresses --reverse-proxy trusts: a proxy on the same
// machine (the shipped nginx example), never anyone else.
var Loopback = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

// ForwardingHeaders describe the request a proxy in front of Gatehouse
// received (who sent it, with which scheme, host, port, URI and method).
// They are honoured only from a trusted proxy; from anyone else they are
// deleted before anything reads them, so they can neither steer a return
// address nor reach the upstream. Identity headers are another matter:
// they are never honoured from anyone (see package proxy).
var ForwardingHeaders = []string{
	"Forwarded",
	"X-Forwarded-For",
	"X-Forwarded-Proto",
	"X-Forwarded-Host",
	"X-Forwarded-Port",
	"X-Forwarded-Uri",
	"X-Forwarded-Method",
	"X-Forwarded-Prefix",
	"X-Forwarded-Ssl",
	"X-Original-Uri",
	"X-Original-Url",
	"X-Original-Method",
	"X-Real-Ip",
	"X-Request-Id",
}

// TrustedProxies are the peers (by TCP source address) whose forwarding
// headers Gatehouse honours. The zero value trusts nobody.
type TrustedProxies struct {
	prefixes []netip.Prefix
}

// NewTrustedProxies trusts peers in any of prefixes.
func NewTrustedProxies(prefixes ...netip.Prefix) TrustedProxies {
	out := make([]netip.Prefix, 0, len(prefixes))
	for _, p := range prefixes {
		out = append(out, p.Masked())
	}
	return TrustedProxies{prefixes: out}
}

// ErrNotCIDR is returned by ParseTrustedProxy.
var ErrNotCIDR = errors.New("not an IP address or CIDR range")

// ParseTrustedProxy reads one --trusted-proxy entry: a CIDR range
// ("10.0.0.0/8", "fd00::/8") or a single address ("192.0.2.7", "::1").
func ParseTrustedProxy(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, ErrNotCIDR
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, ErrNotCIDR
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Trusts reports whether remoteAddr (an http.Request's RemoteAddr, ip:port)
// is a trusted proxy. Addresses that do not parse are not trusted.
func (t TrustedProxies) Trusts(remoteAddr string) bool {
	if len(t.prefixes) == 0 {
		return false
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, p := range t.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Prepare decides, once, whether r comes from a trusted proxy: if not, it
// deletes r's ForwardingHeaders (in every spelling, underscores included)
// so that nothing later can read or forward them. It returns the client's
// view of r.
func (t TrustedProxies) Prepare(r *http.Request) View {
	trusted := t.Trusts(r.RemoteAddr)
	if !trusted {
		for name := range r.Header {
			if isForwardingHeader(name) {
				delete(r.Header, name)
			}
		}
	}
	return NewView(r, trusted)
}

func isForwardingHeader(name string) bool {
	normal := strings.ReplaceAll(name, "_", "-")
	for _, h := range ForwardingHeaders {
		if strings.EqualFold(normal, h) {
			return true
		}
	}
	return false
}
