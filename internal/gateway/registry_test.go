package gateway

import (
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

// gateCallback is the Gatehouse callback URL registered with the fakes.
const gateCallback = "https://gate.example/oauth2/callback"

// testResources are resources without Redis, discarding logs.
func testResources() resources {
	return resources{httpClient: &http.Client{Timeout: 10 * time.Second}, log: slog.New(slog.DiscardHandler)}
}

// TestRegistryMatchesConfig: every provider type config validates has a
// builder, and every builder a type config knows.
func TestRegistryMatchesConfig(t *testing.T) {
	t.Parallel()
	if got, want := slices.Sorted(maps.Keys(registry)), slices.Sorted(slices.Values(config.ProviderTypes())); !slices.Equal(got, want) {
		t.Fatalf("registry has %v, config validates %v", got, want)
	}
}

func TestNewProviderBuildsEveryType(t *testing.T) {
	t.Parallel()
	idp, err := devidp.New(devidp.Options{ClientID: "gatehouse-test", ClientSecret: "test-client-secret"})
	if err != nil {
		t.Fatal(err)
	}
	idpSrv := httptest.NewServer(idp.Handler())
	t.Cleanup(idpSrv.Close)
	idp.SetIssuer(idpSrv.URL)
	for _, c := range []struct {
		o        config.ProviderOptions
		id, typ  string
		instance bool
	}{
		{config.ProviderOptions{ID: "oidc", Type: "oidc", IssuerURL: idpSrv.URL, ClientID: "gatehouse-test", ClientSecret: "test-client-secret"}, "oidc", "oidc", false},
		{config.ProviderOptions{ID: "gh", Type: "oauth2", ClientID: "c", ClientSecret: "s", AuthURL: "https://github.com/login/oauth/authorize",
			TokenURL: "https://github.com/login/oauth/access_token", UserinfoURL: "https://api.github.com/user", ClientAuth: "basic", PKCE: "off"}, "gh", "oauth2", false},
		{config.ProviderOptions{ID: "osdn", Type: "osdn", ClientID: "c", ClientSecret: "s"}, "osdn", "osdn", false},
		{config.ProviderOptions{ID: "quaily", Type: "quaily", ClientID: "c"}, "quaily", "quaily", false},
		{config.ProviderOptions{ID: "osu", Type: "osu", ClientID: "1", ClientSecret: "osu-secret"}, "osu", "osu", false},
		{config.ProviderOptions{ID: "fedi", Type: "mastodon", AllowedInstances: []string{"*"}}, "fedi", "mastodon", true},
	} {
		p, err := newProvider(t.Context(), c.o, testResources())
		if err != nil {
			t.Errorf("%s: %v", c.o.Type, err)
			continue
		}
		if info := p.Info(); info.ID != c.id || info.Type != c.typ || info.NeedsInstance != c.instance || info.DisplayName == "" {
			t.Errorf("%s: Info = %+v", c.o.Type, info)
		}
	}
	for _, o := range []config.ProviderOptions{
		{ID: "saml", Type: "saml"},
		{ID: "osu", Type: "osu", ClientID: "not-numeric", ClientSecret: "s"},
		{ID: "oauth2", Type: "oauth2", ClientID: "c", ClientSecret: "s"}, // no endpoints
		{ID: "mastodon", Type: "mastodon"},                               // no allow-list
	} {
		if _, err := newProvider(t.Context(), o, testResources()); err == nil {
			t.Errorf("newProvider(%+v) accepted", o)
		}
	}
}

func TestNewProviderOsu(t *testing.T) {
	t.Parallel()
	f := fakes.NewOsu(t, gateCallback)
	p, err := newProvider(t.Context(), config.ProviderOptions{ID: "osu", Type: "osu", ClientID: f.ClientID, ClientSecret: f.ClientSecret, APIBase: f.URL, RefuseRestricted: true}, testResources())
	if err != nil {
		t.Fatal(err)
	}
	ap := providers.AuthParams{State: "s", RedirectURL: f.Callback}
	authURL, err := p.AuthCodeURL(t.Context(), ap)
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Redeem(t.Context(), browse(t, authURL).Get("code"), ap)
	if err != nil || g.Identity.User != "osu:123" {
		t.Fatalf("login: %v %+v", err, g.Identity)
	}
}

// toServer sends every request to one test server, whatever its URL says:
// it stands in for DNS so registry-built providers reach fake instances.
type toServer struct{ target *url.URL }

func (ts toServer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host = ts.target.Scheme, ts.target.Host
	return http.DefaultTransport.RoundTrip(r)
}

func TestNewProviderMastodonStoreSelection(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { rdb.Close() })
	f := fakes.NewMastodon(t, "store.example", true)
	target, _ := url.Parse(f.Server.URL)
	res := resources{httpClient: &http.Client{Transport: toServer{target}}, log: slog.New(slog.DiscardHandler)}
	file := t.TempDir() + "/apps.json"
	o := config.ProviderOptions{ID: "mastodon", Type: "mastodon", AllowedInstances: []string{"store.example"}, CredentialsFile: file}

	login := func(res resources) {
		t.Helper()
		p, err := newProvider(t.Context(), o, res)
		if err != nil {
			t.Fatal(err)
		}
		ap := providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: gateCallback, Instance: "store.example"}
		authURL, err := p.AuthCodeURL(t.Context(), ap)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(authURL, "https://store.example/oauth/authorize?") {
			t.Fatalf("auth URL %s", authURL)
		}
		u, _ := url.Parse(authURL)
		u.Scheme, u.Host = target.Scheme, target.Host
		g, err := p.Redeem(t.Context(), browse(t, u.String()).Get("code"), ap)
		if err != nil || g.Identity.User != "alice@store.example" {
			t.Fatalf("login: %v %+v", err, g.Identity)
		}
	}

	// With Redis configured the credentials go to Redis, not to the file.
	withRedis := res
	withRedis.redis, withRedis.redisKeyPrefix = rdb, "sel:"
	login(withRedis)
	if n, err := rdb.Exists(t.Context(), "sel:mastodon:app:store.example").Result(); err != nil || n != 1 {
		t.Errorf("redis credentials key: %d %v", n, err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("credentials file written although Redis is configured: %v", err)
	}
	// Without Redis, the file.
	login(res)
	b, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(b), `"store.example"`) {
		t.Errorf("credentials file: %q %v", b, err)
	}
	if n := f.Registrations.Load(); n != 2 {
		t.Errorf("registrations = %d, want one per store", n)
	}
}

// browse plays the browser: it GETs the authorization URL and returns the
// callback query the provider redirected to.
func browse(t testing.TB, authURL string) url.Values {
	t.Helper()
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("authorize: bad Location: %v", err)
	}
	return loc.Query()
}
