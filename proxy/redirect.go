package proxy

import (
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxRedirectLen bounds a return address; longer ones become "/".
const maxRedirectLen = 4096

// RedirectValidator decides where a browser may be sent after login or
// sign-out. Anything it does not positively accept becomes "/".
type RedirectValidator struct {
	// allowed holds the --whitelist-domain entries, lower-cased: "host",
	// ".suffix" (the domain and its subdomains), each optionally ":port".
	allowed []string
}

// NewRedirectValidator returns a validator accepting same-site paths, the
// request's own host, and the given allow-list of hosts.
func NewRedirectValidator(whitelist []string) *RedirectValidator {
	v := &RedirectValidator{}
	for _, d := range whitelist {
		d = strings.ToLower(strings.TrimSpace(d))
		if d != "" {
			v.allowed = append(v.allowed, d)
		}
	}
	return v
}

// Validate returns rd if it is a safe redirect target for a request to
// requestHost, and "/" otherwise.
func (v *RedirectValidator) Validate(rd, requestHost string) string {
	if safe, ok := v.check(rd, requestHost); ok {
		return safe
	}
	return "/"
}

func (v *RedirectValidator) check(rd, requestHost string) (string, bool) {
	if rd == "" || len(rd) > maxRedirectLen || !utf8.ValidString(rd) {
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
	if strings.ContainsAny(authority, "@%") {
		return "", false
	}
	if !v.hostAllowed(u.Host, requestHost) {
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
func (v *RedirectValidator) hostAllowed(hostport, requestHost string) bool {
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
	for _, entry := range v.allowed {
		eh, ep := splitHostPort(entry)
		if ep != "" && ep != "*" && ep != port {
			continue
		}
		if strings.HasPrefix(eh, ".") {
			if host == eh[1:] || strings.HasSuffix(host, eh) {
				return true
			}
			continue
		}
		if host == eh {
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
