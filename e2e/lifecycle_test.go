package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestBrowserTokenRefresh is scenario 3: the provider's access tokens live
// a few seconds; the user keeps browsing past the first token's expiry;
// every page loads, the provider saw exactly one refresh grant and no
// second login, and the upstream got a new access token.
func TestBrowserTokenRefresh(t *testing.T) {
	t.Parallel()
	// With a token lifetime ttl and a refresh window w, the first refresh
	// comes at the first request after (issue + ttl - w) and a second one
	// no sooner than (start + 2ttl - 2w). Browsing stops one second after
	// the first token expired at the latest (signedIn + ttl + 1s), so
	// exactly one refresh is expected as long as signing in took less than
	// ttl - 2w - 1s.
	const (
		ttl    = 20 * time.Second
		window = 2 * time.Second
	)
	s := startStack(t, "gatehouse", stackOptions{
		accessTokenTTL: ttl,
		config:         gatehouseConfig{"refresh_window": window.String(), "pass_access_token": true},
	})
	b := newWindow(t, "alice")
	alice := s.op.Account(t, "alice")

	start := time.Now()
	p := signIn(b, s, "/s3/start?x=1", "alice", "")
	signedIn := time.Now()
	if took := signedIn.Sub(start); took >= ttl-2*window-time.Second {
		t.Fatalf("signing in took %s: too slow for a %s token lifetime to tell one refresh from two", took, ttl)
	}
	first := wantUpstreamPage(t, s, p, "/s3/start?x=1", alice.Email).Header.Get("X-Forwarded-Access-Token")
	if first == "" {
		t.Fatal("the upstream received no X-Forwarded-Access-Token (pass_access_token)")
	}
	before := s.op.AccountStats(t, "alice")

	// Browse like a user, a page every half second, until the first token
	// has certainly expired.
	expired := signedIn.Add(ttl + time.Second)
	var last upstreamRequest
	pages := 0
	for ; time.Now().Before(expired) || pages == 0; pages++ {
		path := fmt.Sprintf("/s3/page?n=%d", pages)
		p := b.open(s.gw.URL() + path)
		if p.URL != s.gw.URL()+path {
			t.Fatalf("page %d: the browser went to %s, want %s (the user must not see a sign-in)", pages, p.URL, path)
		}
		last = wantUpstreamPage(t, s, p, path, alice.Email)
		time.Sleep(500 * time.Millisecond) // a user reading the page
	}
	after := s.op.AccountStats(t, "alice")
	if got := after.RefreshTokenGrants - before.RefreshTokenGrants; got != 1 {
		t.Errorf("the provider saw %d refresh grants over %d pages past the token's expiry, want 1", got, pages)
	}
	if after.Logins != before.Logins || after.AuthorizationCodeGrants != before.AuthorizationCodeGrants {
		t.Errorf("the user signed in again while browsing: provider saw %+v, then %+v", before, after)
	}
	if tok := last.Header.Get("X-Forwarded-Access-Token"); tok == "" || tok == first {
		t.Errorf("after the token's expiry the upstream still received the first access token (or none)")
	}
	t.Logf("%d pages over %s; refresh grants %d", pages, time.Since(signedIn).Round(time.Millisecond), after.RefreshTokenGrants-before.RefreshTokenGrants)
}

// TestBrowserSessionSurvivesRestartAndRedisOutage is scenario 4, with the
// Redis session store: the user stays signed in across a restart of
// Gatehouse; while Redis is down the browser gets a clear "temporarily
// unavailable" page (not the sign-in page); once Redis is back, the same
// session works again without a new login.
func TestBrowserSessionSurvivesRestartAndRedisOutage(t *testing.T) {
	t.Parallel()
	s := startStack(t, "gatehouse", stackOptions{redis: true})
	b := newWindow(t, "alice")
	alice := s.op.Account(t, "alice")
	wantUpstreamPage(t, s, signIn(b, s, "/s4/before?x=1", "alice", ""), "/s4/before?x=1", alice.Email)
	logins := s.op.AccountStats(t, "alice").Logins

	s.gw.Restart()
	wantUpstreamPage(t, s, b.open(s.gw.URL()+"/s4/restarted?x=2"), "/s4/restarted?x=2", alice.Email)

	s.redis.Stop()
	const down = "/s4/redis-down?x=3"
	p := b.open(s.gw.URL() + down)
	if p.URL != s.gw.URL()+down {
		t.Fatalf("with Redis down the browser was sent to %s, want to stay on %s", p.URL, down)
	}
	if p.Status != 503 || p.H1 != "Temporarily unavailable" || !strings.Contains(p.Text, "temporarily unavailable") {
		t.Fatalf("with Redis down the browser shows %s, want the 503 temporarily-unavailable page", p)
	}
	if strings.Contains(p.Text, "Sign in with") {
		t.Errorf("with Redis down the page offers to sign in again:\n%s", p.Text)
	}
	checkPage(b, "unavailable")
	if n := s.app.CountOf(down); n != 0 {
		t.Errorf("the upstream received %d requests while the session could not be checked", n)
	}

	s.redis.Restart() // same port, same append-only file: the sessions are back
	// The user presses "Try again" until the gateway's Redis client has
	// reconnected (bounded: the page must come within a few tries).
	for try := 1; ; try++ {
		b.clickText("Try again")
		p = b.waitPage("the page after Try again", func(p pageState) bool { return p.URL == s.gw.URL()+down && p.H1 != "" })
		if p.H1 == "Upstream app" {
			t.Logf("signed in again after %d tries of Try again", try)
			break
		}
		if try == 20 {
			t.Fatalf("Redis is back, but after %d tries the browser shows %s", try, p)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantUpstreamPage(t, s, p, down, alice.Email)
	if st := s.op.AccountStats(t, "alice"); st.Logins != logins {
		t.Errorf("the provider asked alice to sign in again (%d logins, were %d)", st.Logins, logins)
	}
}
