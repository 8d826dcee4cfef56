package proxy_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/oidcprovider"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
)

// TestInteropBackchannelLogout: two replicas sharing one Redis sign in
// against panva/oidc-provider (which implements Back-Channel Logout 1.0);
// the user signs out at the provider, which posts a logout token to the
// first replica; the next request on either replica is signed out. With
// backchannel_logout_session_required the token names the sid of the
// login, without it only the subject.
func TestInteropBackchannelLogout(t *testing.T) {
	t.Parallel()
	for name, sid := range map[string]bool{"by sid": true, "by subject": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			oidcprovider.Require(t)
			r := redistest.StartRedis(t)
			upstream := httptest.NewServer(testutil.EchoUpstream())
			t.Cleanup(upstream.Close)
			a, b := httptest.NewUnstartedServer(nil), httptest.NewUnstartedServer(nil)
			urlOf := func(s *httptest.Server) string { return "http://" + s.Listener.Addr().String() }
			op := oidcprovider.StartWithOptions(t, oidcprovider.Options{
				ClientID: interopClientID, ClientSecret: interopSecret,
				RedirectURIs:                     []string{urlOf(a) + "/oauth2/callback", urlOf(b) + "/oauth2/callback"},
				BackchannelLogoutURI:             urlOf(a) + "/oauth2/backchannel_logout",
				BackchannelLogoutSessionRequired: sid,
			})
			for _, s := range []*httptest.Server{a, b} {
				startReplica(t, s, op, upstream.URL, r.URL())
			}
			var doc struct {
				Supported bool   `json:"backchannel_logout_supported"`
				EndURL    string `json:"end_session_endpoint"`
			}
			if err := jsonDecode(testutil.Do(t, http.DefaultClient, op.Issuer()+"/.well-known/openid-configuration"), &doc); err != nil || !doc.Supported {
				t.Fatalf("discovery: backchannel_logout_supported %v (%v)", doc.Supported, err)
			}

			browser := testutil.NewBrowser(t)
			other := testutil.NewBrowser(t) // bob, elsewhere
			interopLogin(t, browser, op, urlOf(b), "alice")
			interopLogin(t, other, op, urlOf(b), "bob")
			for _, s := range []*httptest.Server{a, b} {
				if !interopSignedIn(t, browser, urlOf(s)) || !interopSignedIn(t, other, urlOf(s)) {
					t.Fatal("not signed in on both replicas")
				}
			}

			// Alice signs out at the provider itself (not through Gatehouse).
			end := doc.EndURL + "?" + url.Values{"client_id": {interopClientID}, "post_logout_redirect_uri": {urlOf(a) + "/"}}.Encode()
			if back := op.Logout(t, browser, end); !strings.HasPrefix(back, urlOf(a)+"/") {
				t.Fatalf("provider logout returned to %s", back)
			}
			for _, s := range []*httptest.Server{a, b} {
				if interopSignedIn(t, browser, urlOf(s)) {
					t.Errorf("replica %s still serves alice after the provider's back-channel logout", urlOf(s))
				}
				if !interopSignedIn(t, other, urlOf(s)) {
					t.Errorf("replica %s signed bob out too", urlOf(s))
				}
			}
		})
	}
}

// startReplica serves on s a gateway using op and the Redis at redisURL.
func startReplica(t *testing.T, s *httptest.Server, op *oidcprovider.Provider, upstream, redisURL string) {
	t.Helper()
	o := config.Defaults()
	o.Upstream, o.OIDCIssuerURL = upstream, op.Issuer()
	o.ClientID, o.ClientSecret = interopClientID, interopSecret
	o.RedirectURL = "http://" + s.Listener.Addr().String() + "/oauth2/callback"
	o.Scope = "openid email profile groups"
	o.CookieSecret, o.CookieSecure, o.EmailDomains = testutil.TestCookieSecret, false, []string{"*"}
	o.SessionStore, o.RedisURL = "redis", redisURL
	cfg, err := o.Validate()
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(t.Context(), cfg, gateway.Deps{Logger: slog.New(slog.NewTextHandler(tWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	s.Config.Handler = gw
	s.Start()
	t.Cleanup(s.Close)
}

// interopLogin signs user in through the gateway at base with browser.
func interopLogin(t *testing.T, browser *http.Client, op *oidcprovider.Provider, base, user string) {
	t.Helper()
	resp := testutil.Do(t, browser, base+"/oauth2/start?rd=%2F")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("/oauth2/start: status %d", resp.StatusCode)
	}
	a := op.Account(t, user)
	callback := op.Login(t, browser, testutil.Location(t, resp), a.Username, a.Password)
	if resp := testutil.Do(t, browser, callback); resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: status %d", resp.StatusCode)
	}
}

// interopSignedIn reports whether browser has a session at base.
func interopSignedIn(t *testing.T, browser *http.Client, base string) bool {
	t.Helper()
	resp := testutil.Do(t, browser, base+"/oauth2/userinfo", "Accept", "application/json")
	var u struct {
		User string `json:"user"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&u)
	return resp.StatusCode == http.StatusOK && u.User != ""
}

// tWriter sends a gateway's log lines to the test's log (shown when it
// fails, or with -v).
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
