package redirect

import (
	"net"
	"net/netip"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/internal/hostport"
)

// AllowedHost is one checked --whitelist-domain entry: a host, or
// ".suffix" for a domain and its subdomains, each with an optional port
// (":*" for any).
type AllowedHost struct {
	host   string // without the leading dot of a suffix
	suffix bool
	port   string // "", "*" or a port
}

// EntryError says why an allow-list entry was refused and how to write it.
type EntryError struct {
	// Problem follows the entry in a sentence ("has a scheme").
	Problem string
	// Fix says how to write it instead.
	Fix string
}

func (e *EntryError) Error() string { return e.Problem }

// ParseAllowedHost checks one --whitelist-domain entry (lower-cased and
// trimmed first): "app.example.com", ".example.com", either with an
// optional ":port" or ":*", or an IP address ("[::1]:8443"). Wildcards
// that would allow any host, schemes and paths are refused with an
// *EntryError.
func ParseAllowedHost(s string) (AllowedHost, error) {
	const example = "write a host such as app.example.com, '.example.com' for its subdomains, optionally with ':port'"
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "*" || s == ".":
		return AllowedHost{}, &EntryError{"would allow redirects to any host (an open redirect)", example}
	case strings.HasPrefix(s, "*."):
		return AllowedHost{}, &EntryError{"uses '*.'", "write '.example.com' to allow the subdomains of example.com"}
	case strings.Contains(s, "://"):
		return AllowedHost{}, &EntryError{"has a scheme", example}
	case strings.Contains(s, "/"):
		return AllowedHost{}, &EntryError{"has a path", example}
	case !isASCII(s):
		return AllowedHost{}, &EntryError{"has non-ASCII characters", "write internationalised host names in punycode, e.g. xn--bcher-kva.example for bücher.example (as browsers send them)"}
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			if !strings.HasSuffix(s, "]") {
				return AllowedHost{}, &EntryError{"is not a host", example}
			}
			h = strings.Trim(s, "[]")
		}
		host, port = h, p
		if _, err := netip.ParseAddr(host); err != nil {
			return AllowedHost{}, &EntryError{"is not a host", example}
		}
	} else {
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i+1:]
			if port == "" {
				return AllowedHost{}, &EntryError{"has an empty port", example}
			}
		}
		h := strings.TrimPrefix(host, ".")
		if _, err := netip.ParseAddr(h); err != nil && !hostport.ValidHost(h) {
			return AllowedHost{}, &EntryError{"is not a host", example}
		}
	}
	if port != "" && port != "*" && !hostport.ValidPort(port, false) {
		return AllowedHost{}, &EntryError{"has an invalid port", example}
	}
	suffix := strings.HasPrefix(host, ".")
	return AllowedHost{host: strings.TrimPrefix(host, "."), suffix: suffix, port: port}, nil
}

// String returns the entry as it is written in configuration.
func (a AllowedHost) String() string {
	s := a.host
	if strings.Contains(s, ":") {
		s = "[" + s + "]"
	}
	if a.suffix {
		s = "." + s
	}
	if a.port != "" {
		s += ":" + a.port
	}
	return s
}

// matches reports whether host and port (lower-case, from a return URL)
// are allowed by a.
func (a AllowedHost) matches(host, port string) bool {
	if a.port != "" && a.port != "*" && a.port != port {
		return false
	}
	if a.suffix {
		return host == a.host || strings.HasSuffix(host, "."+a.host)
	}
	return host == a.host
}
