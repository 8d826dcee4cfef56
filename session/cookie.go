package session

import (
	"net/http"
	"time"
)

// CookieConfig are the attributes of the cookies Gatehouse sets: the
// session cookie (or its chunks, or the Redis ticket) and the short-lived
// per-login flow cookie. The zero value is host-only, Path=/, not Secure,
// SameSite unset; config fills in the production defaults.
type CookieConfig struct {
	// Name is the session cookie's name; chunks are Name_0, Name_1, ...
	Name string
	// Domain is the Domain attribute; empty means a host-only cookie.
	Domain string
	// Path is the Path attribute; empty means "/".
	Path string
	// Secure sets the Secure attribute (HTTPS only).
	Secure bool
	// SameSite is the SameSite attribute; http.SameSiteDefaultMode omits it.
	SameSite http.SameSite
	// Lifetime is the session lifetime. CookieStore uses it as the cookie
	// Max-Age when a session has no ExpiresAt.
	Lifetime time.Duration
}

// NewCookie returns an HttpOnly cookie called name with value and o's
// attributes. A positive maxAge sets Max-Age (rounded down to whole seconds,
// at least one); maxAge <= 0 makes a browser-session cookie.
func (o CookieConfig) NewCookie(name, value string, maxAge time.Duration) *http.Cookie {
	c := o.base(name)
	c.Value = value
	if maxAge > 0 {
		c.MaxAge = max(int(maxAge/time.Second), 1)
	}
	return c
}

// ExpiredCookie returns a cookie that makes the browser delete the cookie
// called name set with o's Domain and Path.
func (o CookieConfig) ExpiredCookie(name string) *http.Cookie {
	c := o.base(name)
	c.MaxAge = -1               // sent as Max-Age=0
	c.Expires = time.Unix(0, 0) // for clients that ignore Max-Age
	return c
}

func (o CookieConfig) base(name string) *http.Cookie {
	path := o.Path
	if path == "" {
		path = "/"
	}
	return &http.Cookie{
		Name:     name,
		Path:     path,
		Domain:   o.Domain,
		Secure:   o.Secure,
		HttpOnly: true,
		SameSite: o.SameSite,
	}
}
