package session

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCookieOptions(t *testing.T) {
	t.Parallel()
	o := CookieConfig{Name: "_gh", Domain: "example.com", Secure: true, SameSite: http.SameSiteLaxMode}
	tests := []struct {
		name   string
		cookie *http.Cookie
		want   string
	}{
		{"with max age", o.NewCookie("_gh", "v", 90*time.Minute),
			"_gh=v; Path=/; Domain=example.com; Max-Age=5400; HttpOnly; Secure; SameSite=Lax"},
		{"sub-second max age rounds up to one", o.NewCookie("_gh", "v", time.Millisecond),
			"_gh=v; Path=/; Domain=example.com; Max-Age=1; HttpOnly; Secure; SameSite=Lax"},
		{"browser-session cookie", o.NewCookie("_gh_flow", "v", 0),
			"_gh_flow=v; Path=/; Domain=example.com; HttpOnly; Secure; SameSite=Lax"},
		{"expired", o.ExpiredCookie("_gh_1"),
			"_gh_1=; Path=/; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Secure; SameSite=Lax"},
		{"custom path, host-only, strict",
			CookieConfig{Path: "/app", SameSite: http.SameSiteStrictMode}.NewCookie("a", "b", time.Hour),
			"a=b; Path=/app; Max-Age=3600; HttpOnly; SameSite=Strict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.cookie.String(); got != tt.want {
				t.Fatalf("cookie =\n %s\nwant\n %s", got, tt.want)
			}
			if !strings.Contains(tt.cookie.String(), "HttpOnly") {
				t.Fatal("cookie is not HttpOnly")
			}
		})
	}
}
