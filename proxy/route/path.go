// Package route decides which configured route a request belongs to: it
// normalises the request path into the one form the upstream will act on
// (or refuses it when that form is ambiguous) and matches host, method and
// path against a table of routes compiled once at start-up, the first
// match winning.
package route

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// ErrAmbiguousPath is returned (wrapped) by NormalizePath for a path whose
// meaning depends on who decodes it; the request is answered 400.
var ErrAmbiguousPath = errors.New("ambiguous request path")

// maxPathLen bounds the paths NormalizePath works on.
const maxPathLen = 8192

// NormalizePath turns the escaped path of a request (r.URL.EscapedPath(),
// or the path part of a forwarded URI; anything from '?' on is ignored)
// into the decoded, cleaned path routes are matched against and the
// upstream receives.
//
// It decodes percent-escapes once and cleans the result ("//", "/./",
// "/../"; a trailing slash is kept). It refuses, wrapping
// ErrAmbiguousPath, what different servers read differently: an encoded
// or raw '/' '\' NUL or other control character ("%2F", "%5C", "%00"), a
// double encoding ("%252F"), a malformed or overlong escape or invalid
// UTF-8, ';' path parameters, '#', and segments of dots and spaces other
// than "." and ".." (Windows servers read "..." and ".. " as "..").
func NormalizePath(escaped string) (string, error) {
	if i := strings.IndexByte(escaped, '?'); i >= 0 {
		escaped = escaped[:i]
	}
	if escaped == "" {
		escaped = "/"
	}
	if escaped[0] != '/' || len(escaped) > maxPathLen {
		return "", ambiguousErr{"does not start with '/' or is too long"}
	}
	if plain(escaped) {
		return escaped, nil // the common case: nothing to decode or clean
	}
	decoded, err := decode(escaped)
	if err != nil {
		return "", err
	}
	return clean(decoded)
}

// ambiguousErr wraps ErrAmbiguousPath.
type ambiguousErr struct{ why string }

func (e ambiguousErr) Error() string { return ErrAmbiguousPath.Error() + ": " + e.why }
func (e ambiguousErr) Unwrap() error { return ErrAmbiguousPath }

// plain reports whether p is already normal: printable ASCII without '%',
// '\\', ';' or '#', and no empty, "." or ".." segment (but a trailing slash),
// nor a segment ending in a dot or space.
func plain(p string) bool {
	for i := 1; i < len(p); i++ {
		c := p[i]
		switch {
		case c <= 0x20 || c >= 0x7f || c == '%' || c == '\\' || c == ';' || c == '#':
			return false
		case c == '/' && (p[i-1] == '/' || p[i-1] == '.'):
			return false
		}
	}
	last := p[len(p)-1]
	return last != '.' && (len(p) == 1 || p[len(p)-2] != '/' || last != '/')
}

// decode percent-decodes s once, refusing the bytes and escapes that make a
// path ambiguous.
func decode(s string) (string, error) {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", ambiguousErr{"malformed percent-encoding"}
			}
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			switch {
			case c == '/' || c == '\\' || c == ';' || c == '#':
				return "", ambiguousErr{"encoded '/', '\\', ';' or '#'"}
			case c == '%' && i+4 < len(s) && isHex(s[i+3]) && isHex(s[i+4]):
				return "", ambiguousErr{"double percent-encoding"}
			}
			i += 2
		} else if c == '\\' || c == ';' || c == '#' {
			return "", ambiguousErr{"'\\', ';' or '#' in the path"}
		}
		if c < 0x20 || c == 0x7f {
			return "", ambiguousErr{"control character"}
		}
		b.WriteByte(c)
	}
	out := b.String()
	if !utf8.ValidString(out) {
		return "", ambiguousErr{"invalid or overlong UTF-8"}
	}
	return out, nil
}

// clean resolves "." and ".." segments and merges slashes; a trailing
// slash (or a last segment of "." or "..") keeps the path a directory.
func clean(p string) (string, error) {
	segs := strings.Split(p[1:], "/")
	out := make([]string, 0, len(segs))
	dir := false
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case seg == "" || seg == ".":
			dir = last
		case seg == "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			dir = last
		case strings.Trim(seg, ". ") == "" || strings.TrimRight(seg, ". ") == "..":
			return "", ambiguousErr{"a segment of dots and spaces"}
		default:
			out = append(out, seg)
			dir = false
		}
	}
	if len(out) == 0 {
		return "/", nil
	}
	res := "/" + strings.Join(out, "/")
	if dir {
		res += "/"
	}
	return res, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// fold is the form protected patterns compare in: lower case, each
// segment without trailing dots and spaces, no trailing slash. Servers that
// ignore case or trailing dots (Windows, some frameworks) act on "/Admin."
// as on "/admin"; a protected route must therefore catch it. Public routes
// compare exactly, so none of these spellings makes a path public.
func fold(p string) string {
	if p == "/" {
		return p
	}
	p = strings.ToLower(strings.TrimSuffix(p, "/"))
	if !strings.ContainsAny(p, ". ") {
		return p
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = strings.TrimRight(s, ". ")
	}
	return strings.Join(segs, "/")
}
