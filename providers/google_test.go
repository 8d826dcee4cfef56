package providers_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

// testClock is a settable clock for cache expiry.
type testClock struct {
	mu sync.Mutex
	d  time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.d)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.d += d
}

func googleProvider(t *testing.T, f *fakes.Google, mod func(*providers.GoogleConfig)) *providers.OIDC {
	t.Helper()
	c := providers.GoogleConfig{IssuerURL: f.Issuer, Common: providers.Common{ClientID: f.ClientID, ClientSecret: f.ClientSecret, Logger: slog.New(slog.DiscardHandler)}}
	if mod != nil {
		mod(&c)
	}
	p, err := providers.NewGoogle(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// withDirectory configures the Directory API with f's service account.
func withDirectory(t *testing.T, f *fakes.Google, admin string) func(*providers.GoogleConfig) {
	key, err := os.ReadFile(f.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *providers.GoogleConfig) {
		c.ServiceAccountKey, c.AdminEmail, c.DirectoryURL = key, admin, f.APIs.URL
	}
}

func TestGoogleHostedDomain(t *testing.T) {
	t.Parallel()
	f := fakes.NewGoogle(t, fakes.GoogleOptions{Callback: gateCallback})
	f.SetUser(fakes.GoogleUser{Email: "carol@other.example", Name: "Carol", HostedDomain: "other.example"})
	for _, c := range []struct {
		domains []string
		user    string
		admit   bool
	}{
		{[]string{"example.com"}, "alice@example.com", true},
		{[]string{"Example.COM"}, "alice@example.com", true},
		{[]string{"example.com"}, "bob@gmail.com", false}, // hd is only a hint: Google lets any account through
		{[]string{"example.com"}, "carol@other.example", false},
		{[]string{"*"}, "carol@other.example", true},
		{[]string{"*"}, "bob@gmail.com", false},
		{nil, "bob@gmail.com", true},
		{[]string{"example.com", "other.example"}, "carol@other.example", true},
	} {
		f.SignIn(c.user)
		p := googleProvider(t, f, func(g *providers.GoogleConfig) { g.HostedDomains = c.domains })
		g, err := presetLogin(t, p, f.Callback)
		if c.admit != (err == nil) {
			t.Errorf("%v, %s: %v, want admitted=%v", c.domains, c.user, err, c.admit)
			continue
		}
		if err != nil {
			wantProviderError(t, err, providers.CodeAccountNotAllowed, "not in an allowed Google Workspace domain")
			continue
		}
		if g.Identity.Email != c.user || !g.Identity.EmailVerified || g.Identity.Extra["hd"] != map[string]string{"alice@example.com": "example.com", "carol@other.example": "other.example"}[c.user] {
			t.Errorf("%s: identity %+v", c.user, g.Identity)
		}
	}
	u, _ := url.Parse(must(googleProvider(t, f, func(g *providers.GoogleConfig) { g.HostedDomains = []string{"example.com"} }).AuthCodeURL(t.Context(),
		providers.AuthParams{State: "s", Nonce: "n", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.Callback})))
	if q := u.Query(); q.Get("hd") != "example.com" || q.Get("access_type") != "offline" {
		t.Errorf("authorize query %v: want hd and access_type=offline", q)
	}
}

func TestGoogleRefresh(t *testing.T) {
	t.Parallel()
	f := fakes.NewGoogle(t, fakes.GoogleOptions{Callback: gateCallback})
	p := googleProvider(t, f, func(g *providers.GoogleConfig) { g.HostedDomains = []string{"example.com"} })
	g, err := presetLogin(t, p, f.Callback)
	if err != nil {
		t.Fatal(err)
	}
	if g.Tokens.RefreshToken == "" {
		t.Fatal("no refresh token: access_type=offline not sent?")
	}
	if _, err := p.Refresh(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	// The organisation's domain changed: the refreshed ID token's hd decides.
	f.SetUser(fakes.GoogleUser{Email: "alice@example.com", Name: "Alice", HostedDomain: "example.org"})
	if _, err := p.Refresh(t.Context(), g); !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("refresh with another hd: %v, want ErrInvalidGrant", err)
	}
	// Once consented, Google issues no refresh token without prompt=consent.
	f.Consented.Store(true)
	f.SetUser(fakes.GoogleUser{Email: "alice@example.com", Name: "Alice", HostedDomain: "example.com"})
	g, err = presetLogin(t, p, f.Callback)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Refresh(t.Context(), g); !errors.Is(err, providers.ErrNoRefreshToken) {
		t.Errorf("refresh without a refresh token: %v", err)
	}
}

func TestGoogleDirectoryGroups(t *testing.T) {
	t.Parallel()
	f := fakes.NewGoogle(t, fakes.GoogleOptions{Callback: gateCallback})
	f.SetUser(fakes.GoogleUser{Email: "dave@example.com", Name: "Dave", HostedDomain: "example.com",
		Groups: []string{"a@example.com", "B@example.com", "c@example.com", "d@example.com", "e@example.com"}})
	f.MaxResults.Store(2)
	clk := &testClock{}
	p := googleProvider(t, f, func(g *providers.GoogleConfig) {
		withDirectory(t, f, "admin@example.com")(g)
		g.Now = clk.Now
	})
	f.SignIn("dave@example.com")
	g, err := presetLogin(t, p, f.Callback)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"}; !slices.Equal(g.Identity.Groups, want) {
		t.Errorf("groups = %v, want %v", g.Identity.Groups, want)
	}
	if n := f.Calls("GET /admin/directory/v1/groups"); n != 3 {
		t.Errorf("directory pages read = %d, want 3", n)
	}
	// Cached for the next login and refresh ...
	if _, err := p.Refresh(t.Context(), g); err != nil || f.Calls("GET /admin/directory/v1/groups") != 3 {
		t.Errorf("refresh within the cache time: %v, %d calls", err, f.Calls("GET /admin/directory/v1/groups"))
	}
	// ... until it expires; the service account's token is reused.
	clk.Advance(11 * time.Minute)
	f.SetUser(fakes.GoogleUser{Email: "dave@example.com", Name: "Dave", HostedDomain: "example.com", Groups: []string{"a@example.com"}})
	g2, err := p.Refresh(t.Context(), g)
	if err != nil || !slices.Equal(g2.Identity.Groups, []string{"a@example.com"}) {
		t.Errorf("refresh after the cache time: %v, groups %v", err, g2.Identity.Groups)
	}

	// A consumer account is not in the directory: no groups, no call.
	f.SignIn("bob@gmail.com")
	calls := f.Calls("GET /admin/directory/v1/groups")
	if g, err := presetLogin(t, p, f.Callback); err != nil || g.Identity.Groups != nil || f.Calls("GET /admin/directory/v1/groups") != calls {
		t.Errorf("consumer account: %v, groups %v", err, g.Identity.Groups)
	}
}

func TestGoogleDirectoryFailures(t *testing.T) {
	t.Parallel()
	f := fakes.NewGoogle(t, fakes.GoogleOptions{Callback: gateCallback})
	for _, c := range []struct {
		name     string
		admin    string
		throttle int
		code     string
	}{
		{"quota per minute", "admin@example.com", http.StatusTooManyRequests, providers.CodeRateLimited},
		{"user rate limit (403)", "admin@example.com", http.StatusForbidden, providers.CodeRateLimited},
		{"acting as a non-admin", "alice@example.com", 0, providers.CodeProviderError},
		{"acting as an unknown user", "nobody@example.com", 0, providers.CodeProviderError},
	} {
		p := googleProvider(t, f, withDirectory(t, f, c.admin))
		f.Throttle.Set(min(c.throttle, 1), c.throttle, 0)
		_, err := presetLogin(t, p, f.Callback)
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Code != c.code || errors.Is(err, providers.ErrInvalidGrant) {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	if _, err := providers.NewGoogle(t.Context(), providers.GoogleConfig{IssuerURL: f.Issuer, AdminEmail: "admin@example.com",
		Common: providers.Common{ClientID: "c", ClientSecret: "s"}, ServiceAccountKey: []byte(`{"type":"authorized_user"}`)}); err == nil {
		t.Error("a user's credentials file accepted as a service account key")
	}
}
