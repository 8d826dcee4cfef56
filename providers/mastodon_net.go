package providers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// publicOnlyClient returns a copy of c whose connections to non-public
// addresses fail. The check applies to the address actually connected to,
// so DNS answers that change between check and use (rebinding) and
// redirects cannot get around it. Connections through an HTTP proxy are
// checked at the proxy's address. Clients with a RoundTripper other than
// *http.Transport are used as given.
func publicOnlyClient(c *http.Client) *http.Client {
	var t *http.Transport
	switch rt := c.Transport.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = nil // replaced by the checking dialer below
	case *http.Transport:
		t = rt.Clone()
	default:
		return c
	}
	if t.DialContext == nil {
		// Refuse before connecting: not even a SYN reaches the address.
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
			return checkPublicAddress(address)
		}}
		t.DialContext = d.DialContext
	} else {
		// The caller's dialer may not be a net.Dialer: check where it
		// connected before anything is sent.
		t.DialContext = checkedDial(t.DialContext)
	}
	if t.DialTLSContext != nil {
		t.DialTLSContext = checkedDial(t.DialTLSContext)
	}
	cc := *c
	cc.Transport = t
	return &cc
}

type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

func checkedDial(dial dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := checkPublicAddress(conn.RemoteAddr().String()); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
}

// checkPublicAddress refuses an "ip:port" that is not a public unicast
// address.
func checkPublicAddress(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to connect to %q: %w", address, err)
	}
	if !publicAddr(ap.Addr()) {
		return fmt.Errorf("refusing to connect to non-public address %s", ap.Addr().Unmap())
	}
	return nil
}

// nonPublicPrefixes are special-purpose ranges (RFC 6890 and successors)
// that netip's predicates do not cover: shared (carrier-grade NAT) space,
// "this network", IETF protocol assignments, documentation, benchmarking,
// reserved, and IPv6 discard, Teredo, ORCHID and documentation prefixes.
var nonPublicPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2001:10::/28"),
	netip.MustParsePrefix("2001:20::/28"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// Prefixes whose addresses embed an IPv4 address: NAT64 (RFC 6052), whose
// embedded address is in the last 4 bytes, and 6to4 (RFC 3056), in bytes
// 2 to 5. The embedded address must be public too.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// publicAddr reports whether a is a public unicast address.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublicPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return publicAddr(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return publicAddr(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return true
}
