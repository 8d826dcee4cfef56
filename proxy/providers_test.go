package proxy_test

// Logins through the real handler for each built-in provider, against the
// in-test services of internal/testutil/fakes.

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/proxy"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// provGateway is a gateway in front of an echo upstream whose loopback
// address is known before it is built, so fake services can register its
// callback URL.
type provGateway struct {
	URL, Callback string
	Upstream      *httptest.Server
	ln            net.Listener
}

func newProvGateway(t *testing.T) *provGateway {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(testutil.EchoUpstream())
	t.Cleanup(up.Close)
	g := &provGateway{URL: "http://" + ln.Addr().String(), Upstream: up, ln: ln}
	g.Callback = g.URL + "/oauth2/callback"
	t.Cleanup(func() { _ = ln.Close() }) // when serve never ran
	return g
}

// options returns valid options for the given providers.
func (g *provGateway) options(ps ...config.ProviderOptions) *config.Options {
	o := config.Defaults()
	o.Upstream = g.Upstream.URL
	o.CookieSecret = testutil.TestCookieSecret
	o.CookieSecure = false
	o.EmailDomains = []string{"*"}
	o.PassAccessToken = true
	// Long enough that a Quaily token (30 days) expires before the session.
	o.CookieExpire = 90 * 24 * time.Hour
	o.Providers = ps
	return o
}

// build validates o, builds the gateway and serves it.
func (g *provGateway) build(t *testing.T, o *config.Options, b gateway.Deps) {
	t.Helper()
	cfg, err := o.Validate()
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	gw, err := gateway.New(t.Context(), cfg, b)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	g.serve(t, gw)
}

func (g *provGateway) serve(t *testing.T, h http.Handler) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	_ = srv.Listener.Close()
	srv.Listener = g.ln
	srv.Start()
	t.Cleanup(srv.Close)
}

// startLogin plays the browser from path to the provider's redirect back
// to the gateway: protected page → sign-in page → /oauth2/start → the
// provider's authorize endpoint. It returns the callback URL unvisited.
func (g *provGateway) startLogin(t *testing.T, c *http.Client, path, provider string, extra url.Values) string {
	t.Helper()
	resp := testutil.Do(t, c, g.URL+path)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: status %d, want 302 to sign in", path, resp.StatusCode)
	}
	signIn, _ := url.Parse(testutil.Location(t, resp))
	if signIn.Path != "/oauth2/sign_in" {
		t.Fatalf("GET %s: redirected to %s, want the sign-in page", path, signIn)
	}
	page := readBody(t, testutil.Do(t, c, signIn.String()))
	if !strings.Contains(page, `name="provider" value="`+provider+`"`) {
		t.Fatalf("sign-in page has no form for %q", provider)
	}
	q := url.Values{"provider": {provider}, "rd": {signIn.Query().Get("rd")}}
	for k, v := range extra {
		q[k] = v
	}
	resp = testutil.Do(t, c, g.URL+"/oauth2/start?"+q.Encode())
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET /oauth2/start: status %d, want 302 to the provider: %s", resp.StatusCode, readBody(t, resp))
	}
	return g.authorize(t, c, testutil.Location(t, resp))
}

// authorize visits the provider's authorize URL (the fake consents at
// once) and returns where it sends the browser, which must be our callback.
func (g *provGateway) authorize(t *testing.T, c *http.Client, authURL string) string {
	t.Helper()
	resp := testutil.Do(t, c, authURL)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("provider authorize: status %d, want 302 back: %s", resp.StatusCode, readBody(t, resp))
	}
	cb := testutil.Location(t, resp)
	if !strings.HasPrefix(cb, g.Callback+"?") {
		t.Fatalf("provider redirected to %s, want %s", cb, g.Callback)
	}
	return cb
}

// finishLogin visits the callback and follows its redirect to the upstream.
func (g *provGateway) finishLogin(t *testing.T, c *http.Client, callback string) testutil.Echo {
	t.Helper()
	resp := testutil.Do(t, c, callback)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("callback: status %d, want 302: %s", resp.StatusCode, readBody(t, resp))
	}
	return testutil.DecodeEcho(t, testutil.Do(t, c, testutil.Location(t, resp)))
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return string(b)
}

// wantHeaders checks the upstream saw exactly these identity values; ""
// means the header must be absent.
func wantHeaders(t *testing.T, echo testutil.Echo, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := echo.Header.Get(k); got != v {
			t.Errorf("upstream %s = %q, want %q", k, got, v)
		}
	}
}

// builtinCase is one built-in provider configured from options.
type builtinCase struct {
	name string
	// setup starts the fake for the gateway's callback and returns the
	// provider's options and the fake.
	setup func(t *testing.T, callback string) (config.ProviderOptions, *fakes.Service)
	// want are the identity headers after login ("" = absent).
	want map[string]string
	// lifetime is the access tokens' lifetime at the fake.
	lifetime time.Duration
	// rotates says the service issues a new refresh token on every refresh.
	rotates bool
}

var builtinCases = []builtinCase{
	{
		name: "osdn",
		setup: func(t *testing.T, cb string) (config.ProviderOptions, *fakes.Service) {
			f := fakes.NewOSDN(t, cb)
			return config.ProviderOptions{Type: "osdn", ClientID: f.ClientID, ClientSecret: f.ClientSecret, AllowUnverifiedEmail: true,
				AuthURL: f.URL + fakes.OSDNAuthPath, TokenURL: f.URL + fakes.OSDNTokenPath, UserinfoURL: f.URL + fakes.OSDNProfilePath}, f.Service
		},
		want: map[string]string{"X-Forwarded-User": "osdn:42", "X-Forwarded-Preferred-Username": "alice", "X-Forwarded-Email": "alice@example.org",
			"X-Forwarded-Groups": "", "X-Forwarded-Provider": "osdn"},
		lifetime: 24 * time.Hour,
	},
	{
		name: "quaily",
		setup: func(t *testing.T, cb string) (config.ProviderOptions, *fakes.Service) {
			f := fakes.NewQuaily(t, cb)
			return config.ProviderOptions{Type: "quaily", ClientID: f.ClientID, AuthURL: f.Auth.URL + "/oauth/authorize", APIBase: f.API.URL}, f.Service
		},
		want: map[string]string{"X-Forwarded-User": "quaily:" + fakes.QuailyUUID, "X-Forwarded-User-Uuid": fakes.QuailyUUID,
			"X-Forwarded-Email": "q@example.com", "X-Forwarded-Provider": "quaily"},
		lifetime: 30 * 24 * time.Hour,
		rotates:  true,
	},
	{
		name: "osu",
		setup: func(t *testing.T, cb string) (config.ProviderOptions, *fakes.Service) {
			f := fakes.NewOsu(t, cb)
			return config.ProviderOptions{Type: "osu", ClientID: f.ClientID, ClientSecret: f.ClientSecret, APIBase: f.URL, Scopes: []string{"public"}}, f.Service
		},
		want: map[string]string{"X-Forwarded-User": "osu:123", "X-Forwarded-Preferred-Username": "peppy", "X-Forwarded-Groups": "gmt,dev",
			"X-Forwarded-User-Country": "AU", "X-Forwarded-Email": "", "X-Forwarded-Provider": "osu"},
		lifetime: 24 * time.Hour,
		rotates:  true,
	},
	{
		name: "generic oauth2",
		setup: func(t *testing.T, cb string) (config.ProviderOptions, *fakes.Service) {
			f := fakes.NewOAuth2(t, fakes.OAuth2Options{Callback: cb, ClientAuth: "basic", PKCE: "S256", Scope: "read:user,user:email"})
			return config.ProviderOptions{Type: "oauth2", ID: "gh", DisplayName: "Example Hub", ClientID: f.ClientID, ClientSecret: f.ClientSecret,
				AuthURL: f.URL + "/authorize", TokenURL: f.URL + "/token", UserinfoURL: f.URL + "/userinfo",
				ClientAuth: "basic", PKCE: "S256", Scopes: []string{"read:user", "user:email"}, ScopeSeparator: ",",
				Claims: providers.ClaimMapping{Subject: "id", Username: "login"}}, f.Service
		},
		want: map[string]string{"X-Forwarded-User": "gh:7", "X-Forwarded-Preferred-Username": "octocat", "X-Forwarded-Email": "octo@example.com",
			"X-Forwarded-Groups": "staff", "X-Forwarded-Provider": "gh"},
		lifetime: time.Hour,
	},
}

func TestBuiltinProviderLoginAndRefresh(t *testing.T) {
	t.Parallel()
	for _, tc := range builtinCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{}
			g := newProvGateway(t)
			po, svc := tc.setup(t, g.Callback)
			g.build(t, g.options(po), gateway.Deps{Now: clk.Now})
			id := po.ID
			if id == "" {
				id = po.Type
			}

			browser := testutil.NewBrowser(t)
			echo := g.finishLogin(t, browser, g.startLogin(t, browser, "/app?x=1", id, nil))
			if echo.Path != "/app?x=1" {
				t.Errorf("upstream path = %q, want the page asked for before login", echo.Path)
			}
			wantHeaders(t, echo, tc.want)
			first := echo.Header.Get("X-Forwarded-Access-Token")
			if !svc.AccessTokenValid(first) {
				t.Fatalf("upstream access token is not one the service issued")
			}

			// Within the refresh window (1m) of expiry: the next request
			// refreshes and the upstream sees the new token.
			token := first
			for i := range 2 {
				clk.Advance(tc.lifetime - 30*time.Second)
				echo = testutil.DecodeEcho(t, testutil.Do(t, browser, g.URL+"/app"))
				got := echo.Header.Get("X-Forwarded-Access-Token")
				if got == token || !svc.AccessTokenValid(got) {
					t.Fatalf("refresh %d: upstream token unchanged or unknown to the service", i+1)
				}
				if echo.Header.Get("X-Forwarded-User") != tc.want["X-Forwarded-User"] {
					t.Errorf("refresh %d: user = %q", i+1, echo.Header.Get("X-Forwarded-User"))
				}
				token = got
			}
			// The second refresh succeeding means the gateway kept the
			// token the first one returned: a rotating service revoked
			// the original at the first refresh.
			if n, bad := svc.Refreshes.Load(), svc.RefreshRejected.Load(); n != 2 || bad != 0 {
				t.Errorf("refresh grants: %d accepted, %d rejected; want 2 and 0", n, bad)
			}
			// Without a further expiry no refresh happens.
			testutil.DecodeEcho(t, testutil.Do(t, browser, g.URL+"/app"))
			if n := svc.Refreshes.Load(); n != 2 {
				t.Errorf("refreshes = %d after a request with a fresh token, want 2", n)
			}
		})
	}
}

// TestOsuRotatedRefreshTokenReplay checks that the refresh token the
// gateway holds after a refresh is the rotated one: a copy of the cookie
// from before the refresh carries the revoked token and its refresh fails,
// ending that (stale) session, while the current one keeps working.
func TestOsuRotatedRefreshTokenReplay(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	g := newProvGateway(t)
	f := fakes.NewOsu(t, g.Callback)
	g.build(t, g.options(config.ProviderOptions{Type: "osu", ClientID: f.ClientID, ClientSecret: f.ClientSecret, APIBase: f.URL}), gateway.Deps{Now: clk.Now})

	browser := testutil.NewBrowser(t)
	g.finishLogin(t, browser, g.startLogin(t, browser, "/", "osu", nil))
	u, _ := url.Parse(g.URL)
	stale := browser.Jar.Cookies(u)

	clk.Advance(24*time.Hour - 30*time.Second)
	testutil.DecodeEcho(t, testutil.Do(t, browser, g.URL+"/"))
	if f.Refreshes.Load() != 1 {
		t.Fatalf("refreshes = %d, want 1", f.Refreshes.Load())
	}

	// Past the refresher's memory of recent refreshes (30 s), so the stale
	// copy is refreshed on its own rather than answered with the new session.
	clk.Advance(31 * time.Second)
	replay := testutil.NewBrowser(t)
	replay.Jar.SetCookies(u, stale)
	resp := testutil.Do(t, replay, g.URL+"/", "Accept", "application/json")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("stale session after rotation: status %d, want 401", resp.StatusCode)
	}
	if f.RefreshRejected.Load() != 1 {
		t.Errorf("rejected refreshes = %d, want 1 (the revoked token was presented)", f.RefreshRejected.Load())
	}
	echo := testutil.DecodeEcho(t, testutil.Do(t, browser, g.URL+"/"))
	if echo.Header.Get("X-Forwarded-User") != "osu:123" {
		t.Errorf("current session lost: user %q", echo.Header.Get("X-Forwarded-User"))
	}
}

// newHandler builds a Handler by hand, as gateway.New would, for providers
// that need code-only settings (Mastodon's InstanceURL).
func newHandler(t *testing.T, upstream string, ps ...providers.Provider) *proxy.Handler {
	t.Helper()
	return newHandlerAt(t, upstream, nil, ps...)
}

// newHandlerAt is newHandler on the clock now (nil: time.Now).
func newHandlerAt(t *testing.T, upstream string, now func() time.Time, ps ...providers.Provider) *proxy.Handler {
	t.Helper()
	secrets := [][]byte{[]byte("0123456789abcdef0123456789abcdef")}
	sessionCodec, err := session.NewCodec(secrets)
	if err != nil {
		t.Fatal(err)
	}
	flowCodec, err := session.NewCodec(secrets, session.WithMaxAge(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	cookie := session.CookieConfig{Name: "_gatehouse", Path: "/", SameSite: http.SameSiteLaxMode, Lifetime: time.Hour}
	store := session.NewCookieStore(sessionCodec, cookie)
	byID := map[string]providers.Provider{}
	for _, p := range ps {
		byID[p.Info().ID] = p
	}
	up, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	h, err := proxy.New(proxy.Config{
		Cookie:          cookie,
		SessionLifetime: time.Hour,
		Upstream:        up,
		PassAccessToken: true,
	}, proxy.Deps{
		Providers: ps,
		Store:     store,
		Refresher: session.NewRefresher(session.RefreshConfig{Window: time.Minute}, session.RefreshDeps{
			Store: store,
			Provider: func(id string) (providers.Provider, bool) {
				p, ok := byID[id]
				return p, ok
			},
			Now:    now,
			Logger: slog.New(slog.DiscardHandler),
		}),
		Codec:      flowCodec,
		Authorizer: proxy.NewAuthorizer([]string{"*"}, nil),
		Redirects:  redirect.NewValidator(nil),
		Now:        now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestMastodonTwoInstancesThroughHandler(t *testing.T) {
	t.Parallel()
	a := fakes.NewMastodon(t, "a.example", true)
	b := fakes.NewMastodon(t, "b.example", false) // before 4.3: no PKCE
	b.User.Store("Bob")
	evil := fakes.NewMastodon(t, "evil.example", true)
	m, err := providers.NewMastodon(providers.MastodonConfig{
		Common:                providers.Common{Logger: slog.New(slog.DiscardHandler)},
		AllowedInstances:      []string{"a.example", "b.example"},
		InstanceURL:           fakes.Instances(t, a, b, evil),
		AllowPrivateAddresses: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	g := newProvGateway(t)
	g.serve(t, newHandler(t, g.Upstream.URL, m))

	t.Run("sign-in page asks for the instance", func(t *testing.T) {
		t.Parallel()
		resp := testutil.Do(t, testutil.NewBrowser(t), g.URL+"/oauth2/sign_in")
		page := readBody(t, resp)
		for _, want := range []string{`name="provider" value="mastodon"`, `name="instance"`, "Sign in with Mastodon"} {
			if !strings.Contains(page, want) {
				t.Errorf("sign-in page lacks %q", want)
			}
		}
	})

	for _, c := range []struct {
		instance               string
		fake                   *fakes.Mastodon
		user, preferred, local string
	}{
		{"@alice@a.example", a, "alice@a.example", "alice@a.example", "a.example"},
		{"https://B.example/about", b, "bob@b.example", "Bob@b.example", "b.example"},
	} {
		t.Run(c.instance, func(t *testing.T) {
			t.Parallel()
			for i := range 2 { // the second login reuses the registered app
				browser := testutil.NewBrowser(t)
				echo := g.finishLogin(t, browser, g.startLogin(t, browser, "/toot", "mastodon", url.Values{"instance": {c.instance}}))
				wantHeaders(t, echo, map[string]string{
					"X-Forwarded-User": c.user, "X-Forwarded-Preferred-Username": c.preferred,
					"X-Forwarded-User-Instance": c.local, "X-Forwarded-Provider": "mastodon", "X-Forwarded-Email": "",
				})
				if !c.fake.AccessTokenValid(echo.Header.Get("X-Forwarded-Access-Token")) {
					t.Errorf("login %d: upstream token unknown to %s", i+1, c.fake.Host)
				}
			}
			if n := c.fake.Registrations.Load(); n != 1 {
				t.Errorf("%s: %d apps registered, want 1", c.fake.Host, n)
			}
		})
	}

	t.Run("instance off the allow-list", func(t *testing.T) {
		t.Parallel()
		for _, accept := range []string{"text/html", "application/json"} {
			resp := testutil.Do(t, testutil.NewBrowser(t), g.URL+"/oauth2/start?provider=mastodon&instance=%40mallory%40evil.example", "Accept", accept)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: status %d, want 403", accept, resp.StatusCode)
			}
			if accept == "text/html" && !strings.Contains(body, "Try again") {
				t.Errorf("error page lacks Try again: %s", body)
			}
			if accept == "application/json" && jsonError(t, body) != providers.CodeInstanceNotAllowed {
				t.Errorf("JSON error = %s, want %s", body, providers.CodeInstanceNotAllowed)
			}
		}
		if n := evil.Requests.Load(); n != 0 {
			t.Errorf("%d requests reached the instance off the allow-list", n)
		}
	})

	t.Run("missing instance", func(t *testing.T) {
		t.Parallel()
		resp := testutil.Do(t, testutil.NewBrowser(t), g.URL+"/oauth2/start?provider=mastodon&rd=%2Ftoot")
		page := readBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
		for _, want := range []string{`action="/oauth2/start"`, `name="instance"`, `aria-invalid="true"`, "Enter the server", `name="rd" value="/toot"`} {
			if !strings.Contains(page, want) {
				t.Errorf("sign-in page lacks %q", want)
			}
		}
	})
}

// TestMastodonErrorsThroughHandler: what can go wrong with an instance
// ends in an error page with a way back to sign in (or a JSON error), and
// an instance that forgot Gatehouse's app gets a new one.
func TestMastodonErrorsThroughHandler(t *testing.T) {
	t.Parallel()
	down := fakes.NewMastodon(t, "down.example", true)
	down.Down.Store(true)
	forgetful := fakes.NewMastodon(t, "forgetful.example", true)
	m, err := providers.NewMastodon(providers.MastodonConfig{
		Common:                providers.Common{Logger: slog.New(slog.DiscardHandler)},
		AllowedInstances:      []string{"down.example", "forgetful.example"},
		InstanceURL:           fakes.Instances(t, down, forgetful),
		AllowPrivateAddresses: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	g := newProvGateway(t)
	g.serve(t, newHandler(t, g.Upstream.URL, m))

	for _, c := range []struct {
		instance string
		status   int
		code     string
	}{
		{"down.example", http.StatusBadGateway, providers.CodeProviderUnavailable},
		{"http://[::1]/", http.StatusBadRequest, providers.CodeInvalidInstance},
		{"localhost", http.StatusBadRequest, providers.CodeInvalidInstance},
		{"forgetful.example.evil.example", http.StatusForbidden, providers.CodeInstanceNotAllowed},
	} {
		for _, accept := range []string{"text/html", "application/json"} {
			start := g.URL + "/oauth2/start?" + url.Values{"provider": {"mastodon"}, "instance": {c.instance}, "rd": {"/toot"}}.Encode()
			resp := testutil.Do(t, testutil.NewBrowser(t), start, "Accept", accept)
			body := readBody(t, resp)
			if resp.StatusCode != c.status {
				t.Errorf("%s (%s): status %d, want %d", c.instance, accept, resp.StatusCode, c.status)
			}
			if accept == "application/json" {
				if got := jsonError(t, body); got != c.code {
					t.Errorf("%s: JSON error %q, want %q", c.instance, got, c.code)
				}
			} else if !strings.Contains(body, `href="/oauth2/sign_in?rd=%2Ftoot"`) || !strings.Contains(body, "Try again") {
				t.Errorf("%s: error page lacks a Try again link: %s", c.instance, body)
			}
		}
	}

	// The instance forgets the app between authorize and callback: the
	// user is asked to sign in again, which then works with a new app.
	browser := testutil.NewBrowser(t)
	cb := g.startLogin(t, browser, "/toot", "mastodon", url.Values{"instance": {"forgetful.example"}})
	forgetful.RevokeApps()
	resp := testutil.Do(t, browser, cb)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "sign in again") || !strings.Contains(body, "Try again") {
		t.Errorf("callback with a forgotten app: status %d: %s", resp.StatusCode, body)
	}
	echo := g.finishLogin(t, browser, g.startLogin(t, browser, "/toot", "mastodon", url.Values{"instance": {"forgetful.example"}}))
	wantHeaders(t, echo, map[string]string{"X-Forwarded-User": "alice@forgetful.example"})
	if n := forgetful.Registrations.Load(); n != 2 {
		t.Errorf("registrations = %d, want 2 (the first app and its replacement)", n)
	}
}

// TestMastodonRevokedTokenEndsSession: Mastodon tokens never expire, so
// with ValidateEvery the gateway re-checks them with verify_credentials;
// once the user revokes Gatehouse's access at the instance the session
// ends at the next check, and not before it is due.
func TestMastodonRevokedTokenEndsSession(t *testing.T) {
	t.Parallel()
	f := fakes.NewMastodon(t, "revoke.example", true)
	m, err := providers.NewMastodon(providers.MastodonConfig{
		Common:                providers.Common{Logger: slog.New(slog.DiscardHandler)},
		AllowedInstances:      []string{"revoke.example"},
		InstanceURL:           fakes.Instances(t, f),
		ValidateEvery:         5 * time.Minute,
		AllowPrivateAddresses: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{}
	g := newProvGateway(t)
	g.serve(t, newHandlerAt(t, g.Upstream.URL, clk.Now, m))
	browser := testutil.NewBrowser(t)
	echo := g.finishLogin(t, browser, g.startLogin(t, browser, "/", "mastodon", url.Values{"instance": {"revoke.example"}}))
	wantHeaders(t, echo, map[string]string{"X-Forwarded-User": "alice@revoke.example"})

	// Long past any usual token lifetime: still signed in (no expiry, no refresh).
	clk.Advance(4 * time.Minute)
	if resp := testutil.Do(t, browser, g.URL+"/", "Accept", "application/json"); resp.StatusCode != http.StatusOK {
		t.Fatalf("before the check is due: status %d, want 200", resp.StatusCode)
	}
	f.RevokeAccess("alice")
	if resp := testutil.Do(t, browser, g.URL+"/", "Accept", "application/json"); resp.StatusCode != http.StatusOK {
		t.Errorf("revoked but the check is not due: status %d, want 200", resp.StatusCode)
	}
	clk.Advance(2 * time.Minute)
	if resp := testutil.Do(t, browser, g.URL+"/", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token after the check: status %d, want 401", resp.StatusCode)
	}
	if resp := testutil.Do(t, browser, g.URL+"/", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the ended session came back: status %d", resp.StatusCode)
	}
}

// provLogs collects a logger's output; safe for concurrent writes.
type provLogs struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *provLogs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *provLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// jsonError returns the "error" of a JSON error body.
func jsonError(t *testing.T, body string) string {
	t.Helper()
	var e map[string]string
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("not a JSON error: %v: %s", err, body)
	}
	if e["message"] == "" {
		t.Errorf("JSON error without a message: %s", body)
	}
	return e["error"]
}

func TestSeveralProvidersOnOneSignInPage(t *testing.T) {
	t.Parallel()
	idp := testutil.StartIdP(t, devidp.Options{})
	g := newProvGateway(t)
	osu := fakes.NewOsu(t, g.Callback)
	o := g.options(
		config.ProviderOptions{Type: "oidc", IssuerURL: idp.Issuer(), ClientID: idp.ClientID, ClientSecret: idp.ClientSecret,
			AllowedUsers: []string{devidp.Subject("alice")}},
		config.ProviderOptions{Type: "osu", ClientID: osu.ClientID, ClientSecret: osu.ClientSecret, APIBase: osu.URL,
			AllowedGroups: []string{"gmt"}},
		config.ProviderOptions{Type: "mastodon", AllowedInstances: []string{"mastodon.example"}},
	)
	g.build(t, o, gateway.Deps{})

	t.Run("sign-in page", func(t *testing.T) {
		t.Parallel()
		page := readBody(t, testutil.Do(t, testutil.NewBrowser(t), g.URL+"/oauth2/sign_in?rd=%2Fwiki"))
		if n := strings.Count(page, "<form "); n != 3 {
			t.Errorf("%d forms, want one per provider (3)", n)
		}
		if n := strings.Count(page, `name="rd" value="/wiki"`); n != 3 {
			t.Errorf("%d forms carry rd, want 3", n)
		}
		if n := strings.Count(page, `name="instance"`); n != 1 {
			t.Errorf("%d instance inputs, want 1 (Mastodon's)", n)
		}
		want := []string{`type="hidden" name="provider" value="oidc"`, `type="hidden" name="provider" value="osu"`, `type="hidden" name="provider" value="mastodon"`,
			"Sign in with OpenID Connect", "Sign in with osu!", "Sign in with Mastodon"}
		last := -1
		for _, w := range want[:3] {
			i := strings.Index(page, w)
			if i < 0 {
				t.Errorf("sign-in page lacks %q", w)
				continue
			}
			if i < last {
				t.Errorf("%q out of the configured order", w)
			}
			last = i
		}
		for _, w := range want[3:] {
			if !strings.Contains(page, w) {
				t.Errorf("sign-in page lacks %q", w)
			}
		}
	})

	t.Run("start without provider", func(t *testing.T) {
		t.Parallel()
		resp := testutil.Do(t, testutil.NewBrowser(t), g.URL+"/oauth2/start?rd=%2Fwiki")
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status %d, want 302", resp.StatusCode)
		}
		loc, _ := url.Parse(testutil.Location(t, resp))
		if loc.Path != "/oauth2/sign_in" || loc.Query().Get("rd") != "/wiki" {
			t.Errorf("Location = %s, want /oauth2/sign_in?rd=/wiki", loc)
		}
	})

	userinfo := func(t *testing.T, c *http.Client) map[string]any {
		t.Helper()
		resp := testutil.Do(t, c, g.URL+"/oauth2/userinfo", "Accept", "application/json")
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("userinfo: status %d, %v", resp.StatusCode, err)
		}
		return v
	}

	t.Run("osu", func(t *testing.T) {
		t.Parallel()
		browser := testutil.NewBrowser(t)
		echo := g.finishLogin(t, browser, g.startLogin(t, browser, "/", "osu", nil))
		wantHeaders(t, echo, map[string]string{"X-Forwarded-Provider": "osu", "X-Forwarded-User": "osu:123"})
		if v := userinfo(t, browser); v["provider"] != "osu" || v["user"] != "osu:123" {
			t.Errorf("userinfo = %v, want provider osu, user osu:123", v)
		}
	})

	t.Run("oidc", func(t *testing.T) {
		t.Parallel()
		browser := testutil.NewBrowser(t)
		resp := testutil.Do(t, browser, g.URL+"/oauth2/start?provider=oidc&rd=%2Fdocs")
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("start: status %d", resp.StatusCode)
		}
		echo := g.finishLogin(t, browser, idp.Authorize(t, browser, testutil.Location(t, resp), "alice"))
		wantHeaders(t, echo, map[string]string{"X-Forwarded-Provider": "oidc", "X-Forwarded-User": devidp.Subject("alice")})
		if echo.Path != "/docs" {
			t.Errorf("upstream path = %q, want /docs", echo.Path)
		}
		if v := userinfo(t, browser); v["provider"] != "oidc" {
			t.Errorf("userinfo = %v, want provider oidc", v)
		}
	})

	t.Run("oidc user outside the provider's allowed users", func(t *testing.T) {
		t.Parallel()
		browser := testutil.NewBrowser(t)
		resp := testutil.Do(t, browser, g.URL+"/oauth2/start?provider=oidc")
		resp = testutil.Do(t, browser, idp.Authorize(t, browser, testutil.Location(t, resp), "bob"))
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not allowed") {
			t.Errorf("callback for bob: status %d, want 403 not allowed: %s", resp.StatusCode, body)
		}
		if resp := testutil.Do(t, browser, g.URL+"/", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("after a refused login: status %d, want 401 (no session)", resp.StatusCode)
		}
	})
}

func TestProviderRuleRefusesAtCallback(t *testing.T) {
	t.Parallel()
	g := newProvGateway(t)
	f := fakes.NewOsu(t, g.Callback)
	g.build(t, g.options(config.ProviderOptions{Type: "osu", ClientID: f.ClientID, ClientSecret: f.ClientSecret, APIBase: f.URL,
		AllowedUsers: []string{"osu:999"}, AllowedGroups: []string{"nat"}}), gateway.Deps{})
	browser := testutil.NewBrowser(t)
	resp := testutil.Do(t, browser, g.startLogin(t, browser, "/", "osu", nil))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("callback: status %d, want 403", resp.StatusCode)
	}
	if resp := testutil.Do(t, browser, g.URL+"/", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("after a refused login: status %d, want 401", resp.StatusCode)
	}
}

func TestProviderErrorsThroughHandler(t *testing.T) {
	t.Parallel()
	type env struct {
		g   *provGateway
		osu *fakes.Osu
	}
	for _, c := range []struct {
		name string
		// opts adjusts the osu provider's options before the build.
		opts func(t *testing.T, po *config.ProviderOptions)
		// before runs after authorize, before the callback is visited.
		before func(e env)
		deny   bool
		status int
		code   string
	}{
		{name: "user denied consent", deny: true, status: http.StatusForbidden, code: "access_denied"},
		{name: "token endpoint down", before: func(e env) { e.osu.Down.Store(true) }, status: http.StatusBadGateway, code: providers.CodeProviderUnavailable},
		{name: "token endpoint closed", opts: func(t *testing.T, po *config.ProviderOptions) {
			closed := httptest.NewServer(http.NotFoundHandler())
			closed.Close()
			po.TokenURL = closed.URL + "/oauth/token"
		}, status: http.StatusBadGateway, code: providers.CodeProviderUnavailable},
		{name: "bad client credentials", opts: func(t *testing.T, po *config.ProviderOptions) { po.ClientSecret = "not-the-osu-secret" },
			status: http.StatusBadGateway, code: providers.CodeInvalidClient},
		{name: "unexpected userinfo JSON", before: func(e env) { e.osu.SetProfile(map[string]any{"username": "peppy", "groups": "not-a-list"}) },
			status: http.StatusBadGateway, code: providers.CodeBadResponse},
	} {
		for _, accept := range []string{"text/html", "application/json"} {
			t.Run(c.name+"/"+accept, func(t *testing.T) {
				t.Parallel()
				g := newProvGateway(t)
				f := fakes.NewOsu(t, g.Callback)
				po := config.ProviderOptions{Type: "osu", ClientID: f.ClientID, ClientSecret: f.ClientSecret, APIBase: f.URL}
				if c.opts != nil {
					c.opts(t, &po)
				}
				var logs provLogs
				g.build(t, g.options(po), gateway.Deps{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
				f.Deny.Store(c.deny)
				browser := testutil.NewBrowser(t)
				cb := g.startLogin(t, browser, "/private", "osu", nil)
				if c.before != nil {
					c.before(env{g: g, osu: f})
				}
				resp := testutil.Do(t, browser, cb, "Accept", accept)
				body := readBody(t, resp)
				if resp.StatusCode != c.status {
					t.Errorf("status %d, want %d: %s", resp.StatusCode, c.status, body)
				}
				if accept == "application/json" {
					if got := jsonError(t, body); got != c.code {
						t.Errorf("JSON error %q, want %q", got, c.code)
					}
				} else {
					if !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
						t.Errorf("content type %q, want HTML", resp.Header.Get("Content-Type"))
					}
					if !strings.Contains(body, `href="/oauth2/sign_in?rd=%2Fprivate"`) || !strings.Contains(body, "Try again") {
						t.Errorf("error page lacks a Try again link back to sign-in for /private: %s", body)
					}
					if !strings.Contains(body, c.code) {
						t.Errorf("error page lacks the code %q", c.code)
					}
				}
				secrets := append(f.Issued(), f.ClientSecret, po.ClientSecret)
				if q, err := url.Parse(cb); err == nil && q.Query().Get("code") != "" {
					secrets = append(secrets, q.Query().Get("code"))
				}
				for _, s := range secrets {
					if strings.Contains(body, s) {
						t.Errorf("response contains a secret, code or token")
					}
					if strings.Contains(logs.String(), s) {
						t.Errorf("log contains a secret, code or token")
					}
				}
				// One line tells the operator what happened, by provider and code.
				if !strings.Contains(logs.String(), "provider=osu") || !strings.Contains(logs.String(), c.code) {
					t.Errorf("no log line names the provider and %q:\n%s", c.code, logs.String())
				}
				if resp := testutil.Do(t, browser, g.URL+"/private", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("after a failed login: status %d, want 401 (no session)", resp.StatusCode)
				}
			})
		}
	}
}
