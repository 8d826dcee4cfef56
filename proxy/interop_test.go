package proxy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/oidcprovider"
)

// interop is Gatehouse in front of an echo upstream, signing in against
// panva/oidc-provider (an OpenID Certified implementation) run by node.
type interop struct {
	op      *oidcprovider.Provider
	gateway *httptest.Server
	browser *http.Client
}

const (
	interopClientID = "gatehouse-interop"
	interopSecret   = "interop-client-secret-0123456789"
)

// startInterop starts the provider and a gateway whose redirect URL is
// registered with it. The gateway's listener is reserved first so its
// callback URL is known before the provider's client is.
func startInterop(t *testing.T, accessTokenTTL time.Duration, opts func(o *config.Options)) *interop {
	t.Helper()
	return startInteropWith(t, accessTokenTTL, opts, gateway.Deps{})
}

// startInteropWith is startInterop with the gateway's non-config inputs
// (a clock).
func startInteropWith(t *testing.T, accessTokenTTL time.Duration, opts func(o *config.Options), deps gateway.Deps) *interop {
	t.Helper()
	// Without node or its packages: skip (plain go test) or fail
	// (GATEHOUSE_TEST_STRICT=1, as ./scripts/test.sh and CI run).
	oidcprovider.Require(t)
	upstream := httptest.NewServer(testutil.EchoUpstream())
	t.Cleanup(upstream.Close)

	gwSrv := httptest.NewUnstartedServer(nil)
	gwURL := "http://" + gwSrv.Listener.Addr().String()
	op := oidcprovider.StartWithOptions(t, oidcprovider.Options{
		ClientID:       interopClientID,
		ClientSecret:   interopSecret,
		RedirectURIs:   []string{gwURL + "/oauth2/callback"},
		AccessTokenTTL: accessTokenTTL,
	})

	o := config.Defaults()
	o.Upstream = upstream.URL
	o.Provider = "oidc"
	o.OIDCIssuerURL = op.Issuer()
	o.ClientID = interopClientID
	o.ClientSecret = interopSecret
	o.RedirectURL = gwURL + "/oauth2/callback"
	o.Scope = "openid email profile groups"
	o.CookieSecret = testutil.TestCookieSecret
	o.CookieSecure = false
	o.EmailDomains = []string{"*"}
	if opts != nil {
		opts(o)
	}
	cfg, err := o.Validate()
	if err != nil {
		t.Fatalf("gateway config: %v", err)
	}
	gw, err := gateway.New(t.Context(), cfg, deps)
	if err != nil {
		t.Fatalf("gateway.New against oidc-provider: %v", err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	gwSrv.Config.Handler = gw
	gwSrv.Start()
	t.Cleanup(gwSrv.Close)
	return &interop{op: op, gateway: gwSrv, browser: testutil.NewBrowser(t)}
}

// login signs user in through the gateway from path and returns the
// upstream's view of the request that follows the callback.
func (e *interop) login(t *testing.T, path, user, password string) testutil.Echo {
	t.Helper()
	resp := testutil.Do(t, e.browser, e.gateway.URL+"/oauth2/start?rd="+url.QueryEscape(path))
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("/oauth2/start: status %d, want 302 to the provider", resp.StatusCode)
	}
	authURL := testutil.Location(t, resp)
	q, _ := url.Parse(authURL)
	if !strings.HasPrefix(authURL, e.op.Issuer()+"/auth?") || q.Query().Get("code_challenge_method") != "S256" {
		t.Fatalf("/oauth2/start redirected to %s, want the provider's authorization endpoint with S256 PKCE", authURL)
	}
	callback := e.op.Login(t, e.browser, authURL, user, password)
	if !strings.HasPrefix(callback, e.gateway.URL+"/oauth2/callback?") {
		t.Fatalf("provider redirected to %s, want the gateway's callback", callback)
	}
	resp = testutil.Do(t, e.browser, callback)
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("callback: status %d, want 302: %s", resp.StatusCode, body)
	}
	return testutil.DecodeEcho(t, testutil.Do(t, e.browser, e.gateway.URL+path))
}

// userinfo asks the provider's userinfo endpoint who token belongs to.
func (e *interop) userinfo(t *testing.T, token string) (status int, sub string) {
	t.Helper()
	resp := testutil.Do(t, http.DefaultClient, e.op.Issuer()+"/me", "Authorization", "Bearer "+token)
	var claims struct {
		Sub string `json:"sub"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&claims)
	return resp.StatusCode, claims.Sub
}

func TestInteropOIDCProviderLoginHeadersAndSignOut(t *testing.T) {
	t.Parallel()
	e := startInterop(t, 0, func(o *config.Options) { o.PassAccessToken = true })
	alice := oidcprovider.DefaultAccounts()[0]

	if resp := testutil.Do(t, e.browser, e.gateway.URL+"/app", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("before login: status %d, want 401", resp.StatusCode)
	}

	echo := e.login(t, "/app?x=1", alice.Username, alice.Password)
	if echo.Path != "/app?x=1" {
		t.Errorf("upstream path = %q, want /app?x=1", echo.Path)
	}
	want := map[string]string{
		"X-Forwarded-User":               alice.Sub,
		"X-Forwarded-Email":              alice.Email,
		"X-Forwarded-Preferred-Username": alice.Username,
		"X-Forwarded-Groups":             "admins,engineering",
	}
	for k, v := range want {
		if got := echo.Header.Get(k); got != v {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
	token := echo.Header.Get("X-Forwarded-Access-Token")
	if status, sub := e.userinfo(t, token); status != http.StatusOK || sub != alice.Sub {
		t.Errorf("the access token sent upstream: provider userinfo status %d sub %q, want 200 %q", status, sub, alice.Sub)
	}

	resp := testutil.Do(t, e.browser, e.gateway.URL+"/oauth2/auth")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("/oauth2/auth: status %d, want 202", resp.StatusCode)
	}
	for k, v := range map[string]string{
		"X-Auth-Request-User":               alice.Sub,
		"X-Auth-Request-Email":              alice.Email,
		"X-Auth-Request-Preferred-Username": alice.Username,
		"X-Auth-Request-Groups":             "admins,engineering",
	} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("/oauth2/auth %s = %q, want %q", k, got, v)
		}
	}

	// The sign-out link's confirmation page, then its button (a POST).
	form := signOutForm(t, testutil.Do(t, e.browser, e.gateway.URL+"/oauth2/sign_out?rd=%2F"))
	resp = send(t, e.browser, http.MethodPost, e.gateway.URL+"/oauth2/sign_out", strings.NewReader(form.Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", e.gateway.URL, "Sec-Fetch-Site", "same-origin")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign_out: status %d, want 302 to the provider's end_session_endpoint", resp.StatusCode)
	}
	endSession := testutil.Location(t, resp)
	if !strings.HasPrefix(endSession, e.op.Issuer()+"/session/end?") {
		t.Fatalf("sign_out redirected to %s, want the provider's end_session_endpoint", endSession)
	}
	// The provider accepts Gatehouse's id_token_hint and
	// post_logout_redirect_uri and sends the browser back.
	if back := e.op.Logout(t, e.browser, endSession); back != e.gateway.URL+"/" {
		t.Errorf("provider sent the browser to %s after sign-out, want %s/", back, e.gateway.URL)
	}
	if resp := testutil.Do(t, e.browser, e.gateway.URL+"/app", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after sign-out: status %d, want 401", resp.StatusCode)
	}
	// The provider's own session ended too: signing in again asks for the
	// password, and a wrong one is refused.
	resp = testutil.Do(t, e.browser, e.gateway.URL+"/oauth2/start?rd=%2F")
	authURL := testutil.Location(t, resp)
	resp = testutil.Do(t, e.browser, authURL)
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("authorization after sign-out: status %d, want a redirect to the sign-in page", resp.StatusCode)
	}
	if loc := testutil.Location(t, resp); !strings.Contains(loc, "/interaction/") {
		t.Errorf("authorization after sign-out went to %s, want the provider's sign-in page", loc)
	}
}

func TestInteropOIDCProviderWrongPasswordRefused(t *testing.T) {
	t.Parallel()
	e := startInterop(t, 0, nil)
	resp := testutil.Do(t, e.browser, e.gateway.URL+"/oauth2/start?rd=%2F")
	resp = testutil.Do(t, e.browser, testutil.Location(t, resp))
	interaction := testutil.Location(t, resp)
	form := url.Values{"login": {"alice"}, "password": {"bob-password"}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, interaction+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := e.browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d, want 401 from the provider", resp.StatusCode)
	}
	if resp := testutil.Do(t, e.browser, e.gateway.URL+"/", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("gateway after a refused provider login: status %d, want 401", resp.StatusCode)
	}
}

func TestInteropOIDCProviderRefresh(t *testing.T) {
	t.Parallel()
	// Access tokens live 60 s, no longer than the 2 min refresh window:
	// they are due at half their lifetime. The gateway's clock moves on
	// 40 s (the provider's refresh token is still good in real time).
	clk := &clock{}
	e := startInteropWith(t, time.Minute, func(o *config.Options) {
		o.PassAccessToken = true
		o.RefreshWindow = 2 * time.Minute
	}, gateway.Deps{Now: clk.Now})
	bob := oidcprovider.DefaultAccounts()[1]
	first := e.login(t, "/", bob.Username, bob.Password)
	if first.Header.Get("X-Forwarded-User") != bob.Sub {
		t.Fatalf("upstream user = %q, want %q", first.Header.Get("X-Forwarded-User"), bob.Sub)
	}
	tokenA := first.Header.Get("X-Forwarded-Access-Token")
	clk.Advance(40 * time.Second)
	second := testutil.DecodeEcho(t, testutil.Do(t, e.browser, e.gateway.URL+"/again"))
	tokenB := second.Header.Get("X-Forwarded-Access-Token")
	if tokenB == "" || tokenB == tokenA {
		t.Fatalf("access token not refreshed although it expires within the refresh window")
	}
	if status, sub := e.userinfo(t, tokenB); status != http.StatusOK || sub != bob.Sub {
		t.Errorf("refreshed access token: provider userinfo status %d sub %q, want 200 %q", status, sub, bob.Sub)
	}
	// The identity survives the refresh (the provider's refreshed ID token
	// carries only sub; the rest comes from the session or userinfo).
	for k, v := range map[string]string{
		"X-Forwarded-User":   bob.Sub,
		"X-Forwarded-Email":  bob.Email,
		"X-Forwarded-Groups": "engineering",
	} {
		if got := second.Header.Get(k); got != v {
			t.Errorf("after refresh, upstream %s = %q, want %q", k, got, v)
		}
	}
}
