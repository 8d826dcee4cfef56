package redirect

import (
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxLen bounds a return address; longer ones become "/".
const MaxLen = 4096

// Target is a checked return address: a path on this site, or an http(s)
// URL of the request's own host or of an allowed host. Only a Validator
// makes one (and UnmarshalText, from a value a Target wrote); its zero
// value is "/".
type Target struct{ s string }

// String returns the address, "/" for the zero Target.
func (t Target) String() string {
	if t.s == "" {
		return "/"
	}
	return t.s
}

// IsAbs reports whether the address is an absolute URL rather than a path.
func (t Target) IsAbs() bool { return !strings.HasPrefix(t.String(), "/") }

// MarshalText stores a Target, in the encrypted login-flow cookie.
func (t Target) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText reads a Target back from storage Gatehouse authenticates
// (the flow cookie). It applies every check that does not depend on the
// request, so that not even a forged value could hold a scheme-relative,
// script or malformed address; what does not pass becomes "/".
func (t *Target) UnmarshalText(b []byte) error {
	*t = Target{}
	if s, ok := check(string(b), func(string) bool { return true }); ok {
		t.s = s
	}
	return nil
}

// Validator decides where a browser may be sent after login or sign-out.
// Anything it does not positively accept becomes "/".
type Validator struct {
	// allowed holds the --whitelist-domain entries.
	allowed []AllowedHost
}

// NewValidator returns a validator accepting same-site paths, the
// request's own host, and the allowed hosts.
func NewValidator(allowed []AllowedHost) *Validator {
	return &Validator{allowed: allowed}
}

// Validate returns rd as a Target if it is a safe return address for a
// request to requestHost (host[:port]), and the "/" Target otherwise.
func (v *Validator) Validate(rd, requestHost string) Target {
	if safe, ok := check(rd, func(hostport string) bool { return v.hostAllowed(hostport, requestHost) }); ok {
		return Target{s: safe}
	}
	return Target{}
}

// check returns rd if it is a same-site path, or an absolute http(s) URL
// whose host[:port] hostOK accepts, free of every trick browsers and
// later hops could turn into another destination.
func check(rd string, hostOK func(hostport string) bool) (string, bool) {
	if rd == "" || len(rd) > MaxLen || !utf8.ValidString(rd) {
		return "", false
	}
	// The raw value may hold no control characters, whitespace or
	// backslashes anywhere. Its path part (which decides where a browser
	// goes) is also checked once percent-decoded, so that encoded tricks
	// (%2f%2f, %5c, %09) are judged like their plain forms; the query may
	// carry any encoded data.
	if hasUnsafeRune(rd, true) {
		return "", false
	}
	pathPart := rd
	if end := strings.IndexAny(rd, "?#"); end >= 0 {
		pathPart = rd[:end]
	}
	decoded, err := url.PathUnescape(pathPart)
	if err != nil || hasUnsafeRune(decoded, false) {
		return "", false
	}
	if lower := strings.ToLower(pathPart); strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return "", false
	}
	if strings.HasPrefix(rd, "/") {
		// A path on this site; "//host" and "/\host" are scheme-relative to
		// browsers and leave the site, and so is a path whose dot segments
		// collapse to "//host" (/.//host, /x/..//host) once a later hop
		// normalises it.
		if strings.HasPrefix(decoded, "//") || strings.HasPrefix(removeDotSegments(decoded), "//") {
			return "", false
		}
		u, err := url.Parse(rd)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
			return "", false
		}
		return rd, true
	}
	u, err := url.Parse(rd)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	// Reject authority tricks that url.Parse tolerates.
	authority := strings.TrimPrefix(strings.TrimPrefix(rd, u.Scheme+":"), "//")
	if end := strings.IndexAny(authority, "/?#"); end >= 0 {
		authority = authority[:end]
	}
	if strings.ContainsAny(authority, "@%") || !isASCII(authority) {
		// Internationalised hosts must be written in punycode (xn--...):
		// url.URL.String would percent-encode a raw one, which no later
		// check (and no browser) reads as the same host.
		return "", false
	}
	if !hostOK(u.Host) {
		return "", false
	}
	if strings.HasPrefix(removeDotSegments(u.Path), "//") {
		return "", false
	}
	return u.String(), true
}

// removeDotSegments resolves the "." and ".." segments of an absolute,
// percent-decoded path the way browsers do (WHATWG URL): unlike
// path.Clean, empty segments are kept, so "/x/..//host" becomes "//host".
func removeDotSegments(p string) string {
	if !strings.HasPrefix(p, "/") {
		return p
	}
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	for i, seg := range segs {
		last := i == len(segs)-1
		switch seg {
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		case ".":
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, seg)
		}
	}
	return "/" + strings.Join(out, "/")
}

// hasUnsafeRune reports backslashes and control characters, which browsers
// strip or rewrite in URLs, and, when spaces is true, whitespace.
func hasUnsafeRune(s string, spaces bool) bool {
	for _, r := range s {
		if r == '\\' || unicode.IsControl(r) || r == utf8.RuneError || (spaces && unicode.IsSpace(r)) {
			return true
		}
	}
	return false
}

// hostAllowed reports whether hostport (from the redirect URL) is the
// request's own host or matches the allow-list.
func (v *Validator) hostAllowed(hostport, requestHost string) bool {
	host, port := splitHostPort(strings.ToLower(hostport))
	if host == "" {
		return false
	}
	if requestHost != "" {
		rh, rp := splitHostPort(strings.ToLower(requestHost))
		if host == rh && port == rp {
			return true
		}
	}
	for _, a := range v.allowed {
		if a.matches(host, port) {
			return true
		}
	}
	return false
}

// splitHostPort splits "host:port", "[v6]:port", "host" and "[v6]".
func splitHostPort(hp string) (host, port string) {
	if h, p, err := net.SplitHostPort(hp); err == nil {
		return h, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(hp, "["), "]"), ""
}

// isASCII reports whether s is plain ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
