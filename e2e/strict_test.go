package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestBrowserSameSiteStrict signs in with --cookie-samesite=strict, the
// case only a real browser can prove: the provider's redirect back is a
// cross-site navigation (the gateway is "localhost", the provider
// "127.0.0.1": two sites), so the browser withholds Strict cookies from
// it. Gatehouse's short "You are signed in" page makes the last step
// same-site; the user must end on the page asked for, signed in, with no
// sign-in loop.
func TestBrowserSameSiteStrict(t *testing.T) {
	t.Parallel()
	require(t, needChromium, needNode, needAxe)
	app := startUpstream(t)
	port := freePort(t)
	gwURL := "http://localhost:" + strconv.Itoa(port)
	s := &stack{app: app, op: startProvider(t, 0, gwURL)}
	cfg := baseConfig(t, s.op, app.URL(), gwURL)
	cfg["cookie_samesite"] = "strict"
	startGatehouse(t, "gatehouse", port, cfg)
	s.gw = &gatehouse{publicURL: gwURL}

	t.Run("EndsOnThePageSignedIn", func(t *testing.T) {
		t.Parallel()
		b := newWindow(t, "alice")
		alice := s.op.Account(t, "alice")
		wantUpstreamPage(t, s, signIn(b, s, protectedPage, "alice", ""), protectedPage, alice.Email)
		for _, c := range sessionCookies(b, gwURL) {
			if c.SameSite != network.CookieSameSiteStrict || !c.HTTPOnly {
				t.Errorf("session cookie %s: SameSite=%q HttpOnly=%v, want Strict and HttpOnly", c.Name, c.SameSite, c.HTTPOnly)
			}
		}
		if st := s.op.AccountStats(t, "alice"); st.Logins != 1 || st.AuthorizationCodeGrants != 1 {
			t.Errorf("provider saw %+v, want exactly one login and one code grant (no loop)", st)
		}
	})

	// The "You are signed in" page moves on by itself at once (a Refresh
	// header); with that header held back, as in a browser that ignores
	// it, the page is checked and its Continue button gets the user on.
	t.Run("SignedInPageAndItsContinueButton", func(t *testing.T) {
		t.Parallel()
		b := newWindow(t, "dave")
		dropRefreshHeader(b, gwURL+"/oauth2/callback")
		const page = "/strict/continue?x=1"
		b.open(gwURL + page)
		b.waitURL(gwURL + "/oauth2/sign_in?")
		b.clickText("Sign in with " + ssoName)
		providerLogin(b, s.op, "dave")
		p := b.waitURL(gwURL + "/oauth2/callback")
		if p.H1 != "You are signed in" {
			t.Fatalf("the callback shows %s, want the signed-in page", p)
		}
		checkPage(b, "signed-in-continue")
		b.clickText("Continue")
		p = b.waitPage("the page asked for", func(p pageState) bool { return p.URL == gwURL+page })
		wantUpstreamPage(t, s, p, page, s.op.Account(t, "dave").Email)
	})
}

// dropRefreshHeader makes the tab receive responses from URLs starting
// with prefix without their Refresh header.
func dropRefreshHeader(b *tab, prefix string) {
	b.t.Helper()
	paused := chromedp.Events(b.ctx, fetch.RequestPaused)
	b.do("intercept responses", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
			{URLPattern: prefix + "*", RequestStage: fetch.RequestStageResponse},
		}})
		return err
	}))
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			var headers []*fetch.HeaderEntry
			for _, h := range ev.ResponseHeaders {
				if !strings.EqualFold(h.Name, "Refresh") {
					headers = append(headers, h)
				}
			}
			// The protocol takes new headers only with the status code.
			_, _ = chromedp.Call(b.ctx, fetch.ContinueResponse, fetch.ContinueResponseParams{
				RequestID: ev.RequestID, ResponseCode: ev.ResponseStatusCode, ResponseHeaders: headers,
			})
		}
	}()
}
