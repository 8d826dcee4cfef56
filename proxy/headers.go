package proxy

import (
	"net/http"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-proxy/gatehouse/proxy/policy"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// Identity header names: upstream requests carry them after
// upstreamHeaderPrefix ("X-Forwarded-User", ...) with X-Forwarded-Provider;
// /oauth2/auth answers carry them after authHeaderPrefix for nginx
// (upstreamNames and authNames).
const (
	upstreamHeaderPrefix = "X-Forwarded-"
	headerProvider       = "X-Forwarded-Provider"
	authHeaderPrefix     = "X-Auth-Request-"
)

// identityHeaderPrefixes are the normalised (lower-case, '_' → '-') header
// name prefixes that only Gatehouse may set. A client sending any of them
// has them removed before anything else looks at the request; the prefix
// form also covers X-Forwarded-User-<Extra> headers.
var identityHeaderPrefixes = []string{
	"x-forwarded-user",
	"x-forwarded-email",
	"x-forwarded-groups",
	"x-forwarded-preferred-username",
	"x-forwarded-access-token",
	"x-forwarded-provider",
	"x-auth-request-",
	"x-gatehouse-assertion",
}

// stripIdentityHeaders deletes every client-supplied identity header from h,
// including spellings with underscores that some upstreams (CGI, PHP,
// nginx with underscores_in_headers) treat as the same name. It allocates
// nothing for the usual ASCII names.
func stripIdentityHeaders(h http.Header) {
	for name := range h {
		if isIdentityHeader(name) {
			delete(h, name)
		}
	}
}

// isIdentityHeader reports whether name, normalised (lower-case, '_' →
// '-'), starts with one of identityHeaderPrefixes.
func isIdentityHeader(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] >= utf8.RuneSelf {
			// Unicode case folding can turn other letters into ASCII
			// ones (the Kelvin sign into 'k'): judge as strings.ToLower.
			normal := strings.ReplaceAll(strings.ToLower(name), "_", "-")
			for _, prefix := range identityHeaderPrefixes {
				if strings.HasPrefix(normal, prefix) {
					return true
				}
			}
			return false
		}
	}
	if len(name) < 2 || name[0]|0x20 != 'x' {
		return false // every prefix starts with "x-"
	}
	for _, prefix := range identityHeaderPrefixes {
		if len(name) >= len(prefix) && foldedPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// foldedPrefix reports whether the ASCII name starts with the lower-case
// prefix, ignoring case and taking '_' for '-'.
func foldedPrefix(name, prefix string) bool {
	for i := 0; i < len(prefix); i++ {
		c := name[i]
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// identityNames are the names of the identity headers after one prefix,
// built once so that no request concatenates them.
type identityNames struct {
	prefix, user, email, groups, preferred, token string
}

func namesFor(prefix string) *identityNames {
	return &identityNames{prefix: prefix, user: prefix + "User", email: prefix + "Email", groups: prefix + "Groups",
		preferred: prefix + "Preferred-Username", token: prefix + "Access-Token"}
}

// The identity header names upstream requests carry, and /oauth2/auth
// answers.
var (
	upstreamNames = namesFor(upstreamHeaderPrefix)
	authNames     = namesFor(authHeaderPrefix)
)

// identityValues lists the identity headers for s as name, value pairs:
// names.user, names.email, ... Extra provider attributes become
// <prefix>User-<Key> (e.g. X-Forwarded-User-Uuid).
func identityValues(s *session.Session, passAccessToken bool, names *identityNames) [][2]string {
	id := s.Identity
	// The rule view holds only the email and groups that parse: a value
	// no rule could match never reaches a header either.
	checked := policy.NewIdentity(s.ProviderID, id)
	out := make([][2]string, 1, 5+len(id.Extra))
	out[0] = [2]string{names.user, checked.User}
	if !checked.Email.IsZero() {
		out = append(out, [2]string{names.email, checked.Email.String()})
	}
	if len(checked.Groups) > 0 {
		out = append(out, [2]string{names.groups, strings.Join(checked.Groups, ",")})
	}
	if id.PreferredUsername != "" {
		out = append(out, [2]string{names.preferred, id.PreferredUsername})
	}
	if len(id.Extra) > 0 {
		keys := make([]string, 0, len(id.Extra))
		for k := range id.Extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if name := headerToken(k); name != "" && id.Extra[k] != "" {
				out = append(out, [2]string{names.user + "-" + name, id.Extra[k]})
			}
		}
	}
	if passAccessToken && s.Tokens.AccessToken != "" {
		out = append(out, [2]string{names.token, s.Tokens.AccessToken})
	}
	return out
}

// headerToken turns an Extra key into a header name part, or "" if it has
// characters that do not belong in a header name.
func headerToken(k string) string {
	if k == "" || len(k) > 32 {
		return ""
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return ""
		}
	}
	return http.CanonicalHeaderKey(k)
}

// cleanHeaderValue drops characters that must not appear in a header value;
// values come from the provider and are not trusted to be well-formed.
func cleanHeaderValue(v string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return -1
		}
		return r
	}, v)
}
