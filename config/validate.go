package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/internal/hostport"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
)

// CallbackPath is the path of the OAuth2 callback Gatehouse serves; a
// configured redirect URL must point at it.
const CallbackPath = "/oauth2/callback"

// cookieSecretFix tells how to make a cookie secret.
const cookieSecretFix = "run 'gatehouse secret' (or 'openssl rand -base64 32') and use its output"

// validator collects problems.
type validator struct {
	errs []error
}

func (v *validator) add(key, problem, fix string) {
	v.errs = append(v.errs, &Error{Key: key, Problem: problem, Fix: fix})
}

// oneOf lower-cases *value and checks it is one of allowed.
func (v *validator) oneOf(key string, value *string, allowed ...string) {
	*value = strings.ToLower(strings.TrimSpace(*value))
	if !slices.Contains(allowed, *value) {
		v.add(key, fmt.Sprintf("is %q; must be %s", *value, orList(allowed)), "")
	}
}

// orList renders "a, b or c".
func orList(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func (v *validator) server(o *Options) {
	if p := checkHostPort(o.HTTPAddress, true); p != "" && o.HTTPAddress != "" {
		v.add("http-address", p, "write host:port, e.g. 127.0.0.1:4180 or :4180 for every interface")
	}
	if o.ShutdownTimeout < 0 {
		v.add("shutdown-timeout", "is negative", "use 0 or more, e.g. 15s")
	}
	if o.MaxConnections < 1 {
		v.add("max-connections", "must be at least 1", "e.g. 4096 (the default)")
	}
	if o.RequestBodyTimeout <= 0 {
		v.add("request-body-timeout", "must be more than 0", "e.g. 10s (the default)")
	}
	if o.UpstreamBodyIdleTimeout < 0 {
		v.add("upstream-body-idle-timeout", "is negative", "use 0 to disable, or e.g. 60s (the default)")
	}
	v.oneOf("log-level", &o.LogLevel, "debug", "info", "warn", "error")
	v.oneOf("log-format", &o.LogFormat, "text", "json")
}

// trustedProxies parses --trusted-proxy and adds loopback for
// --reverse-proxy.
func (v *validator) trustedProxies(o *Options) []netip.Prefix {
	var out []netip.Prefix
	if o.ReverseProxy {
		out = append(out, redirect.Loopback...)
	}
	for _, e := range o.TrustedProxies {
		p, err := redirect.ParseTrustedProxy(e)
		if err != nil {
			v.add("trusted-proxy", fmt.Sprintf("entry %q is not an IP address or CIDR range", strings.TrimSpace(e)),
				"write the proxy's address (192.0.2.10) or its network (10.0.0.0/8, fd00::/8); use --reverse-proxy for a proxy on this machine")
			continue
		}
		if p.Bits() == 0 {
			v.add("trusted-proxy", fmt.Sprintf("entry %q trusts every address", strings.TrimSpace(e)),
				"name the proxies' own network; trusting everyone lets any client forge X-Forwarded-Host and steer return addresses")
			continue
		}
		out = append(out, p)
	}
	return out
}

// upstream checks the upstream options and returns the parsed upstream
// URL, nil when none is configured.
func (v *validator) upstream(o *Options) *url.URL {
	if o.UpstreamTimeout <= 0 {
		v.add("upstream-timeout", "must be more than 0", "e.g. 30s")
	}
	if o.Upstream == "" {
		return nil
	}
	if p, fix := checkURL(o.Upstream, false); p != "" {
		v.add("upstream", p, fix)
		return nil
	}
	u, _ := url.Parse(o.Upstream) // checkURL parsed it
	return u
}

func (v *validator) redirectURL(raw string, cookieSecure bool) {
	if raw == "" {
		return
	}
	if p := checkRedirectURL(raw); p != "" {
		v.add("redirect-url", p, "give the absolute callback URL registered with the provider, e.g. https://app.example.com"+CallbackPath)
		return
	}
	if u, _ := url.Parse(raw); u.Scheme == "http" && cookieSecure && !isLoopback(u.Hostname()) {
		v.add("redirect-url", "uses http://, but --cookie-secure is true, so the browser would drop the cookies and every login would fail",
			"serve Gatehouse over https://, or set --cookie-secure=false for plain-HTTP development")
	}
}

// checkRedirectURL checks a redirect (callback) URL.
func checkRedirectURL(raw string) string {
	if p, _ := checkURL(raw, false); p != "" {
		return p
	}
	u, _ := url.Parse(raw)
	if u.Path != CallbackPath {
		return "must have the path " + CallbackPath + ", which is where Gatehouse receives the provider's answer"
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "must not have a query or fragment"
	}
	return ""
}

// authorization checks and normalises the email domains and returns the
// parsed --whitelist-domain entries.
func (v *validator) authorization(o *Options) []redirect.AllowedHost {
	if len(o.EmailDomains) == 0 {
		// The authorizer would refuse everyone; say so at start-up instead.
		v.add("email-domain", "is empty, so nobody could sign in",
			"give the allowed domain, e.g. --email-domain=example.com, or '*' to admit everyone the providers authenticate")
	}
	for i, d := range o.EmailDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if strings.HasPrefix(d, ".") && !strings.HasPrefix(d, "..") {
			// '.example.com' is how --whitelist-domain and cookie domains
			// write "the subdomains of"; accept it here too.
			d = "*" + d
		}
		o.EmailDomains[i] = d
		switch {
		case d == "*":
		case strings.HasPrefix(d, "*.") && hostport.ValidHost(d[2:]):
		case strings.Contains(d, "@"):
			v.add("email-domain", fmt.Sprintf("entry %q contains '@'", d), "give only the domain, the part after '@'")
		case !hostport.ValidHost(d):
			v.add("email-domain", fmt.Sprintf("entry %q is not a domain", d), "write a domain such as example.com, or '*' for any")
		}
	}
	var allowed []redirect.AllowedHost
	for _, d := range o.WhitelistDomains {
		a, err := redirect.ParseAllowedHost(d)
		if e, ok := errors.AsType[*redirect.EntryError](err); ok {
			v.add("whitelist-domain", fmt.Sprintf("entry %q %s", strings.ToLower(strings.TrimSpace(d)), e.Problem), e.Fix)
			continue
		}
		allowed = append(allowed, a)
	}
	return allowed
}

// readFile reads a file named by an option; the problem names the path,
// never the content.
func readFile(path string) ([]byte, string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Sprintf("cannot read %q: %s", path, fileErrText(err))
	}
	return data, ""
}

// readSecretFile reads a one-line secret, trimming the trailing newline.
func readSecretFile(path string) (string, string) {
	data, problem := readFile(path)
	if problem != "" {
		return "", problem
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" {
		return "", fmt.Sprintf("%q is empty", path)
	}
	return s, ""
}

// checkURL checks an absolute http(s) URL with a host. With strict, plain
// http is allowed only for loopback hosts: provider endpoints carry codes,
// tokens and secrets. The problem never includes the URL, which may hold
// credentials.
func checkURL(raw string, strict bool) (problem, fix string) {
	if !strings.Contains(raw, "://") {
		if strict {
			return "has no scheme", "add https://"
		}
		return "has no scheme", "add http:// or https://"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URL", ""
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("has the scheme %q; must be http or https", u.Scheme), ""
	}
	if u.Host == "" || u.Hostname() == "" {
		return "has no host", ""
	}
	if u.User != nil {
		return "must not carry a user name or password", "remove the user:password@ part"
	}
	if strict && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return "uses http:// with a host that is not loopback, so tokens and secrets would cross the network unencrypted", "use https://"
	}
	return "", ""
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkHostPort checks host:port; for a listen address the host may be
// empty and the port 0.
func checkHostPort(s string, listen bool) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("is %q, not host:port", s)
	}
	if host == "" && !listen {
		return "has no host"
	}
	if host != "" && !hostport.ValidHost(strings.ToLower(host)) {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Sprintf("has the invalid host %q", host)
		}
	}
	if !hostport.ValidPort(port, listen) {
		return fmt.Sprintf("has the invalid port %q", port)
	}
	return ""
}
