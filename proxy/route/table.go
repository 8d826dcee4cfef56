package route

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
)

// Spec is one route as configured: what requests it takes. Everything
// else a route decides (upstream, rules) is kept by the caller, by index.
type Spec struct {
	// Name identifies the route in errors.
	Name string
	// Host is "" (any host), an exact host name, or "*.example.com" (its
	// subdomains, not example.com itself); compared case-insensitively,
	// without port or trailing dot.
	Host string
	// Path is a prefix on segment boundaries ("/admin" and "/admin/" both
	// take /admin and everything under /admin/), "=/exact" for one path,
	// or "~regexp" (RE2, anchored at both ends, matched against the
	// normalised path); "" takes every path.
	Path string
	// Methods, when given, are the only request methods the route takes.
	Methods []string
	// Public routes compare paths exactly; others also take the spellings
	// case-insensitive servers read the same (see NormalizePath).
	Public bool
}

// Request is what a route is chosen by: the host the client addressed,
// its method, and its path as NormalizePath returned it.
type Request struct {
	Host, Method, Path string
}

// Table is a compiled list of routes; the zero Table matches nothing.
type Table struct {
	routes []compiled
}

type pathKind int

const (
	anyPath pathKind = iota
	prefixPath
	exactPath
	regexpPath
)

type compiled struct {
	host     string // lower-case, no trailing dot; "" any
	wildcard bool   // host is ".example.com" (subdomains only)
	kind     pathKind
	path     string // prefix without trailing slash, or the exact path
	folded   string // fold(path), for protected routes
	re       *regexp.Regexp
	methods  []string
	public   bool
}

// Compile checks and compiles specs, in order.
func Compile(specs []Spec) (*Table, error) {
	t := &Table{routes: make([]compiled, 0, len(specs))}
	for _, s := range specs {
		c, err := compile(s)
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", s.Name, err)
		}
		t.routes = append(t.routes, c)
	}
	return t, nil
}

func compile(s Spec) (compiled, error) {
	c := compiled{public: s.Public}
	for _, m := range s.Methods {
		c.methods = append(c.methods, strings.ToUpper(strings.TrimSpace(m)))
	}
	host := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s.Host)), ".")
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		host, c.wildcard = "."+rest, true
		if rest == "" || strings.ContainsAny(rest, "*:/") {
			return c, fmt.Errorf("host %q: write '*.example.com' for the subdomains of example.com", s.Host)
		}
	} else if strings.ContainsAny(host, "*:/ ") {
		return c, fmt.Errorf("host %q: write a host name without scheme, port or path, or '*.example.com'", s.Host)
	}
	c.host = host
	switch p := s.Path; {
	case p == "":
		c.kind = anyPath
	case strings.HasPrefix(p, "~"):
		re, err := regexp.Compile(`^(?:` + p[1:] + `)$`)
		if err != nil {
			return c, fmt.Errorf("path %q does not compile: %w", p, err)
		}
		c.kind, c.re = regexpPath, re
	case strings.HasPrefix(p, "=/"):
		n, err := NormalizePath(p[1:])
		if err != nil || n != p[1:] {
			return c, fmt.Errorf("path %q is not a clean path; write it as its requests reach the upstream", p)
		}
		c.kind, c.path = exactPath, n
	case strings.HasPrefix(p, "/"):
		n, err := NormalizePath(p)
		if err != nil || n != p {
			return c, fmt.Errorf("path %q is not a clean path; write it as its requests reach the upstream", p)
		}
		c.kind, c.path = prefixPath, strings.TrimSuffix(n, "/")
	default:
		return c, fmt.Errorf("path %q: start it with '/' (prefix), '=/' (exact) or '~' (regexp)", p)
	}
	c.folded = fold(c.path)
	return c, nil
}

// Match returns the index of the first route that takes r, or -1.
func (t *Table) Match(r Request) int {
	if t == nil || len(t.routes) == 0 {
		return -1
	}
	host := canonicalHost(r.Host)
	var folded string
	for i := range t.routes {
		c := &t.routes[i]
		if !c.hostMatches(host) || (len(c.methods) > 0 && !slices.Contains(c.methods, r.Method)) {
			continue
		}
		if !c.public && folded == "" {
			folded = fold(r.Path)
		}
		if c.pathMatches(r.Path, folded) {
			return i
		}
	}
	return -1
}

// canonicalHost is host without port or trailing dot, in lower case.
func canonicalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.Trim(h, "[]")
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// CanonicalHost is the form hosts are compared in: lower case, without
// port, brackets or trailing dot.
func CanonicalHost(h string) string { return canonicalHost(h) }

func (c *compiled) hostMatches(host string) bool {
	switch {
	case c.host == "":
		return true
	case c.wildcard:
		return len(host) > len(c.host) && strings.HasSuffix(host, c.host)
	}
	return host == c.host
}

func (c *compiled) pathMatches(p, folded string) bool {
	switch c.kind {
	case anyPath:
		return true
	case regexpPath:
		return c.re.MatchString(p) || (!c.public && c.re.MatchString(folded))
	case exactPath:
		return p == c.path || (!c.public && folded == c.folded)
	}
	if c.public {
		return underPrefix(p, c.path)
	}
	return underPrefix(folded, c.folded)
}

// underPrefix reports whether p is prefix or lies under prefix/ (prefix has
// no trailing slash; "" is the root).
func underPrefix(p, prefix string) bool {
	if prefix == "" {
		return true
	}
	return strings.HasPrefix(p, prefix) && (len(p) == len(prefix) || p[len(prefix)] == '/')
}
