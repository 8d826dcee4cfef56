package proxy_test

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// TestNginxAuthEndpointUnreachable is defect 2 through the real nginx and
// the shipped example: no spelling of /oauth2/auth reaches Gatehouse from
// a browser, so a signed-in page's JavaScript cannot read the access token
// or the session cookies from an answer meant for nginx.
func TestNginxAuthEndpointUnreachable(t *testing.T) {
	t.Parallel()
	s := startNginxSetup(t, func(o *config.Options) {
		o.PassAccessToken = true
		o.SetAuthorizationHeader = true
	}, nil)
	browser := testutil.NewBrowser(t)
	s.login(t, browser)
	for _, path := range []string{
		"/oauth2/auth",
		"/oauth2/auth?allowed_groups=admins",
		"/oauth2/auth/x",
		"/oauth2/auth/",
		"/oauth2/%61uth/x",
		"/oauth2/%61uth",
		"/oauth2//auth/x",
		"/oauth2/./auth/x",
		"/oauth2/x/../auth",
		"/oauth2/auth%2Fx",
		"/oauth2/authx",
	} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.nginx.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.Opaque = path // sent byte for byte
		req.Header.Set("Accept", "*/*")
		req.Header.Set("Cookie", cookieHeader(t, browser, s.nginx.URL()))
		resp, err := testutil.NewBrowser(t).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		// nginx's own 404 (the internal location), not one of Gatehouse's
		// answers relayed: those all carry X-Content-Type-Options.
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("X-Content-Type-Options") != "" {
			t.Errorf("GET %s: status %d (X-Content-Type-Options %q), want nginx's own 404 from the internal location",
				path, resp.StatusCode, resp.Header.Get("X-Content-Type-Options"))
		}
		for name := range resp.Header {
			if l := strings.ToLower(name); strings.HasPrefix(l, "x-auth-request-") || l == "authorization" || strings.HasPrefix(l, "x-gatehouse-") {
				t.Errorf("GET %s: answer carries %s", path, name)
			}
		}
	}
}

// chunksFor logs a user with n groups in directly at the gateway and
// returns how many session cookie chunks the login set (MaxChunks+1 when
// the session was refused as too large).
func (s *nginxSetup) chunksFor(t *testing.T, n int) int {
	t.Helper()
	if err := s.gw.IdP.SetUser(devidp.User{Username: "carol", Email: "carol@example.com", EmailVerified: true, Groups: manyGroups(n)}); err != nil {
		t.Fatal(err)
	}
	b := testutil.NewBrowser(t)
	start := testutil.Do(t, b, s.gw.Server.URL+"/oauth2/start?rd=/")
	resp := testutil.Do(t, b, s.gw.IdP.Authorize(t, b, testutil.Location(t, start), "carol"))
	if resp.StatusCode == http.StatusInternalServerError {
		return session.MaxChunks + 1
	}
	chunks := 0
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "_gatehouse_") && !strings.Contains(c.Name, "flow") && c.MaxAge > 0 {
			chunks++
		}
	}
	return chunks
}

// TestNginxLargestSessions is defect 5 through the real nginx and the
// shipped example: a session of exactly session.MaxChunks chunks signs in
// and survives a refresh (every chunk reaches the browser, nginx's buffers
// hold the answers), and one just beyond gets the session_too_large page at
// the callback, not a 502.
func TestNginxLargestSessions(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	s := startNginx(t, nginxSetupConfig{
		Options: func(o *config.Options) { o.CookieRefresh = time.Hour },
		Now:     now,
		Users:   []devidp.User{{Username: "carol", Email: "carol@example.com", EmailVerified: true}},
	})
	// The fewest groups giving MaxChunks chunks, and the fewest giving more
	// (bounded binary searches; chunk counts grow with the groups).
	fewest := func(atLeast int) int {
		lo, hi := 1, 4000
		for range 14 {
			if lo >= hi {
				break
			}
			mid := (lo + hi) / 2
			if s.chunksFor(t, mid) >= atLeast {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		return lo
	}
	// Token sizes vary a little from login to login: take the middle of
	// the band of MaxChunks chunks, and a margin beyond it.
	lo, hi := fewest(session.MaxChunks), fewest(session.MaxChunks+1)
	atMax, over := (lo+hi)/2, hi+(hi-lo)/4+1
	if got := s.chunksFor(t, atMax); got != session.MaxChunks {
		t.Fatalf("%d groups give %d chunks, want %d", atMax, got, session.MaxChunks)
	}
	if got := s.chunksFor(t, over); got <= session.MaxChunks {
		t.Fatalf("%d groups give %d chunks, want more than %d", over, got, session.MaxChunks)
	}
	t.Logf("%d groups: %d chunks; %d groups: too large", atMax, session.MaxChunks, over)

	t.Run("at the maximum", func(t *testing.T) {
		if err := s.gw.IdP.SetUser(devidp.User{Username: "carol", Email: "carol@example.com", EmailVerified: true, Groups: manyGroups(atMax)}); err != nil {
			t.Fatal(err)
		}
		browser := testutil.NewBrowser(t)
		resp, visited := s.loginAs(t, browser, "carol", s.pageURL)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("login through nginx: status %d after %q", resp.StatusCode, visited)
		}
		testutil.DecodeEcho(t, resp)
		refreshes := s.gw.IdP.RefreshCalls()
		offset.Add(int64(2 * time.Hour)) // past --cookie-refresh
		resp = send(t, browser, http.MethodGet, s.pageURL, nil, "Accept", "application/json")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("refresh through nginx: status %d", resp.StatusCode)
		}
		testutil.DecodeEcho(t, resp)
		if n := len(resp.Header.Values("Set-Cookie")); n < session.MaxChunks {
			t.Fatalf("nginx passed %d Set-Cookie lines, want all %d chunks", n, session.MaxChunks)
		}
		for range 2 {
			resp = send(t, browser, http.MethodGet, s.pageURL, nil, "Accept", "application/json")
			if got := testutil.DecodeEcho(t, resp).Header.Get("X-Email"); got != "carol@example.com" {
				t.Errorf("with the refreshed cookies: X-Email %q", got)
			}
		}
		if got := s.gw.IdP.RefreshCalls() - refreshes; got != 1 {
			t.Errorf("provider saw %d refreshes, want 1: the refreshed chunks did not all arrive", got)
		}
	})
	t.Run("just beyond", func(t *testing.T) {
		if err := s.gw.IdP.SetUser(devidp.User{Username: "carol", Email: "carol@example.com", EmailVerified: true, Groups: manyGroups(over)}); err != nil {
			t.Fatal(err)
		}
		b := testutil.NewBrowser(t)
		start := send(t, b, http.MethodGet, s.nginx.URL()+"/oauth2/start?rd=%2F", nil, "Accept", browserAccept)
		last := s.gw.IdP.Authorize(t, b, testutil.Location(t, start), "carol")
		resp := send(t, b, http.MethodGet, last, nil, "Accept", browserAccept)
		body, _ := io.ReadAll(resp.Body)
		if !strings.HasPrefix(last, s.nginx.URL()+"/oauth2/callback") || resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "session_too_large") {
			t.Errorf("too large a session: %s answered %d, want the session_too_large page (500):\n%.300s", last, resp.StatusCode, body)
		}
	})
}
