package providers_test

import (
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

func TestNewBuildsEveryType(t *testing.T) {
	t.Parallel()
	idp := testutil.StartIdP(t, devidp.Options{AutoLogin: "alice"})
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("osu-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o        config.ProviderOptions
		id, typ  string
		instance bool
	}{
		{config.ProviderOptions{Type: "oidc", IssuerURL: idp.Server.URL, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret}, "oidc", "oidc", false},
		{config.ProviderOptions{ID: "gh", Type: "oauth2", ClientID: "c", ClientSecret: "s", AuthURL: "https://github.com/login/oauth/authorize",
			TokenURL: "https://github.com/login/oauth/access_token", UserinfoURL: "https://api.github.com/user", ClientAuth: "basic", PKCE: "off"}, "gh", "oauth2", false},
		{config.ProviderOptions{Type: "osdn", ClientID: "c", ClientSecret: "s"}, "osdn", "osdn", false},
		{config.ProviderOptions{Type: "quaily", ClientID: "c"}, "quaily", "quaily", false},
		{config.ProviderOptions{Type: "osu", ClientID: "1", ClientSecretFile: secretFile}, "osu", "osu", false},
		{config.ProviderOptions{ID: "fedi", Type: "mastodon", AllowedInstances: []string{"*"}}, "fedi", "mastodon", true},
	} {
		p, err := providers.New(t.Context(), c.o, providers.Deps{})
		if err != nil {
			t.Errorf("%s: %v", c.o.Type, err)
			continue
		}
		if info := p.Info(); info.ID != c.id || info.Type != c.typ || info.NeedsInstance != c.instance || info.DisplayName == "" {
			t.Errorf("%s: Info = %+v", c.o.Type, info)
		}
	}
	for _, o := range []config.ProviderOptions{
		{Type: "saml"},
		{Type: "osu", ClientID: "not-numeric", ClientSecret: "s"},
		{Type: "oauth2", ClientID: "c", ClientSecret: "s"}, // no endpoints
		{Type: "mastodon"}, // no allow-list
		{Type: "osu", ClientID: "1", ClientSecretFile: filepath.Join(t.TempDir(), "missing")},
	} {
		if _, err := providers.New(t.Context(), o, providers.Deps{}); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestNewOsuFromOptions(t *testing.T) {
	t.Parallel()
	f := fakes.NewOsu(t, gateCallback)
	p, err := providers.New(t.Context(), config.ProviderOptions{Type: "osu", ClientID: f.ClientID, ClientSecret: f.ClientSecret, APIBase: f.URL, RefuseRestricted: true}, providers.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ap := providers.AuthParams{State: "s", RedirectURL: f.Callback}
	g, err := p.Redeem(t.Context(), browse(t, must(p.AuthCodeURL(t.Context(), ap))).Get("code"), ap)
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

func TestNewMastodonStoreSelection(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { rdb.Close() })
	f := fakes.NewMastodon(t, "store.example", true)
	target, _ := url.Parse(f.Server.URL)
	deps := providers.Deps{HTTPClient: &http.Client{Transport: toServer{target}}, Logger: slog.New(slog.DiscardHandler)}
	file := filepath.Join(t.TempDir(), "apps.json")
	o := config.ProviderOptions{Type: "mastodon", AllowedInstances: []string{"store.example"}, CredentialsFile: file}

	login := func(d providers.Deps) {
		t.Helper()
		p, err := providers.New(t.Context(), o, d)
		if err != nil {
			t.Fatal(err)
		}
		ap := providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: gateCallback, Instance: "store.example"}
		authURL := must(p.AuthCodeURL(t.Context(), ap))
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
	withRedis := deps
	withRedis.Redis, withRedis.RedisKeyPrefix = rdb, "sel:"
	login(withRedis)
	if n, err := rdb.Exists(t.Context(), "sel:mastodon:app:store.example").Result(); err != nil || n != 1 {
		t.Errorf("redis credentials key: %d %v", n, err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("credentials file written although Redis is configured: %v", err)
	}
	// Without Redis, the file.
	login(deps)
	b, err := os.ReadFile(file)
	if err != nil || !strings.Contains(string(b), `"store.example"`) {
		t.Errorf("credentials file: %q %v", b, err)
	}
	if n := f.Registrations.Load(); n != 2 {
		t.Errorf("registrations = %d, want one per store", n)
	}
}
