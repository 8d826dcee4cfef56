package providers_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

// newMastodon builds the provider on the fake instances (every instance
// allowed unless c says otherwise; loopback addresses allowed).
func newMastodon(t *testing.T, c providers.MastodonConfig, instances ...*fakes.Mastodon) *providers.Mastodon {
	t.Helper()
	if c.InstanceURL == nil {
		c.InstanceURL = fakes.Instances(t, instances...)
	}
	if c.AllowedInstances == nil {
		c.AllowedInstances = []string{"*"}
	}
	c.AllowPrivateAddresses = true
	c.Logger = slog.New(slog.DiscardHandler)
	m, err := providers.NewMastodon(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mastodonLogin runs one login and returns the grant.
func mastodonLogin(t *testing.T, m *providers.Mastodon, instance string) (providers.Grant, error) {
	t.Helper()
	ap := providers.AuthParams{State: randomToken(), CodeVerifier: providers.NewCodeVerifier(), RedirectURL: gateCallback, Instance: instance}
	authURL, err := m.AuthCodeURL(t.Context(), ap)
	if err != nil {
		return providers.Grant{}, err
	}
	cb := browse(t, authURL)
	if cb.Get("state") != ap.State {
		t.Fatalf("state = %q", cb.Get("state"))
	}
	return m.Redeem(t.Context(), cb.Get("code"), ap)
}

func TestMastodonTwoInstances(t *testing.T) {
	t.Parallel()
	a := fakes.NewMastodon(t, "a.example", true)
	b := fakes.NewMastodon(t, "b.example", false) // pre-4.3: no PKCE, read:accounts
	b.User.Store("Bob")
	m := newMastodon(t, providers.MastodonConfig{AllowedInstances: []string{"a.example", "*.example"}, ValidateEvery: 0}, a, b)
	if !m.Info().NeedsInstance || m.Info().Type != "mastodon" {
		t.Errorf("Info = %+v", m.Info())
	}

	ga, err := mastodonLogin(t, m, "@alice@A.example")
	if err != nil {
		t.Fatal(err)
	}
	gb, err := mastodonLogin(t, m, "https://b.example/about")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		g                                 providers.Grant
		sub, user, pref, iss, name, urlOf string
	}{
		{ga, "109", "alice@a.example", "alice@a.example", "a.example", "Alice", "https://a.example/@alice"},
		{gb, "110", "bob@b.example", "Bob@b.example", "b.example", "Bob B", "https://b.example/@Bob"},
	} {
		id := c.g.Identity
		if id.Subject != c.sub || id.User != c.user || id.PreferredUsername != c.pref || id.Issuer != c.iss || id.Name != c.name ||
			id.Extra["acct"] != c.user || id.Extra["url"] != c.urlOf || id.Email != "" {
			t.Errorf("identity = %+v", id)
		}
		if !c.g.Tokens.Expiry.IsZero() || c.g.Tokens.RefreshToken != "" {
			t.Errorf("tokens = %+v, want no expiry and no refresh token", c.g.Tokens)
		}
		if _, err := m.Refresh(t.Context(), c.g); !errors.Is(err, providers.ErrNoRefreshToken) {
			t.Errorf("Refresh = %v", err)
		}
	}
	// Further logins reuse the apps.
	if _, err := mastodonLogin(t, m, "a.example"); err != nil {
		t.Fatal(err)
	}
	if a.Registrations.Load() != 1 || b.Registrations.Load() != 1 {
		t.Errorf("registrations a=%d b=%d, want 1 each", a.Registrations.Load(), b.Registrations.Load())
	}
}

func TestMastodonConcurrentFirstLogins(t *testing.T) {
	t.Parallel()
	f := fakes.NewMastodon(t, "busy.example", true)
	m := newMastodon(t, providers.MastodonConfig{}, f)
	var wg sync.WaitGroup
	clients := make(chan string, 20)
	for range 20 {
		wg.Go(func() {
			authURL, err := m.AuthCodeURL(context.Background(), providers.AuthParams{State: randomToken(), CodeVerifier: providers.NewCodeVerifier(), RedirectURL: gateCallback, Instance: "busy.example"})
			if err != nil {
				t.Error(err)
				return
			}
			u, _ := url.Parse(authURL)
			clients <- u.Query().Get("client_id")
		})
	}
	wg.Wait()
	close(clients)
	if n := f.Registrations.Load(); n != 1 {
		t.Errorf("%d apps registered, want 1", n)
	}
	var ids []string
	for c := range clients {
		ids = append(ids, c)
	}
	if distinct := slices.Compact(slices.Sorted(slices.Values(ids))); len(ids) != 20 || len(distinct) != 1 {
		t.Errorf("logins used client ids %q, want 20 logins with one", distinct)
	}
}

func TestMastodonInvalidClientReregisters(t *testing.T) {
	t.Parallel()
	f := fakes.NewMastodon(t, "flaky.example", true)
	store := providers.NewMemoryCredentialStore()
	m := newMastodon(t, providers.MastodonConfig{Store: store}, f)
	if _, err := mastodonLogin(t, m, "flaky.example"); err != nil {
		t.Fatal(err)
	}

	// The admin deletes the app while a login is under way: the token
	// exchange fails with invalid_client, Gatehouse registers again and
	// asks the user to sign in again, which then works.
	ap := providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: gateCallback, Instance: "flaky.example"}
	cb := browse(t, must(m.AuthCodeURL(t.Context(), ap)))
	f.RevokeApps()
	_, err := m.Redeem(t.Context(), cb.Get("code"), ap)
	wantCode(t, err, providers.CodeInvalidClient)
	if n := f.Registrations.Load(); n != 2 {
		t.Fatalf("registrations = %d, want 2 (re-registered)", n)
	}
	if _, err := mastodonLogin(t, m, "flaky.example"); err != nil {
		t.Fatalf("login after re-registration: %v", err)
	}

	// Revoked between logins: a fresh Gatehouse (no cached app check) with
	// the same store notices before sending the browser to the instance.
	f.RevokeApps()
	m2 := newMastodon(t, providers.MastodonConfig{Store: store}, f)
	if _, err := mastodonLogin(t, m2, "flaky.example"); err != nil {
		t.Fatalf("login with revoked stored app: %v", err)
	}
	if n := f.Registrations.Load(); n != 3 {
		t.Errorf("registrations = %d, want 3", n)
	}
}

func TestMastodonInstanceChecks(t *testing.T) {
	t.Parallel()
	allowed := fakes.NewMastodon(t, "good.example", true)
	off := fakes.NewMastodon(t, "evil.example", true)
	m := newMastodon(t, providers.MastodonConfig{AllowedInstances: []string{"good.example", "*.friends.example"}}, allowed, off)
	for _, c := range []struct{ input, code string }{
		{"evil.example", providers.CodeInstanceNotAllowed},
		{"@mallory@evil.example", providers.CodeInstanceNotAllowed},
		{"friends.example", providers.CodeInstanceNotAllowed},
		{"127.0.0.1", providers.CodeInvalidInstance},
		{"localhost", providers.CodeInvalidInstance},
		{"https://user:pw@good.example", providers.CodeInvalidInstance},
		{"good.example:8443", providers.CodeInvalidInstance},
		{"", providers.CodeInvalidInstance},
	} {
		ap := providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: gateCallback, Instance: c.input}
		_, err := m.AuthCodeURL(t.Context(), ap)
		wantCode(t, err, c.code)
		_, err = m.Redeem(t.Context(), "code", ap)
		wantCode(t, err, c.code)
	}
	if n := off.Requests.Load(); n != 0 {
		t.Errorf("%d requests reached the instance off the allow-list", n)
	}
	// A session from an instance later removed from the allow-list ends.
	err := m.Validate(t.Context(), providers.Grant{Identity: providers.Identity{Subject: "1", Issuer: "evil.example"}, Tokens: providers.Tokens{AccessToken: "x"}})
	if !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("Validate for a disallowed instance = %v", err)
	}
	if n := off.Requests.Load(); n != 0 {
		t.Errorf("%d requests reached the instance off the allow-list", n)
	}
}

func TestMastodonRefusesPrivateAddressesWithWildcard(t *testing.T) {
	t.Parallel()
	f := fakes.NewMastodon(t, "internal.example", true)
	m, err := providers.NewMastodon(providers.MastodonConfig{AllowedInstances: []string{"*"}, InstanceURL: fakes.Instances(t, f)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.AuthCodeURL(t.Context(), providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: gateCallback, Instance: "internal.example"})
	wantCode(t, err, providers.CodeProviderUnavailable)
	if f.Requests.Load() != 0 {
		t.Error("a request reached a loopback instance")
	}
}

func TestMastodonValidate(t *testing.T) {
	t.Parallel()
	f := fakes.NewMastodon(t, "v.example", false)
	m := newMastodon(t, providers.MastodonConfig{ValidateEvery: 5 * time.Minute}, f)
	if m.ValidateEvery() != 5*60e9 {
		t.Errorf("ValidateEvery = %v", m.ValidateEvery())
	}
	g, err := mastodonLogin(t, m, "v.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(t.Context(), g); err != nil {
		t.Fatalf("Validate of a live token: %v", err)
	}
	f.Down.Store(true)
	if err := m.Validate(t.Context(), g); err == nil || errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("Validate with the instance down = %v, want a transient error", err)
	}
	f.Down.Store(false)
	f.RevokeAccess("alice")
	if err := m.Validate(t.Context(), g); !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("Validate of a revoked token = %v, want ErrInvalidGrant", err)
	}
}

func TestNormalizeInstance(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"example.social":                  "example.social",
		" Example.Social. ":               "example.social",
		"https://example.social":          "example.social",
		"https://example.social/@alice":   "example.social",
		"example.social/about?x=1":        "example.social",
		"@alice@example.social":           "example.social",
		"alice@example.social":            "example.social",
		"xn--bcher-kva.example":           "xn--bcher-kva.example",
		"http://mastodon.example.org/web": "mastodon.example.org",
	} {
		got, err := providers.NormalizeInstance(in)
		if err != nil || got != want {
			t.Errorf("NormalizeInstance(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "localhost", "10.0.0.1", "[::1]", "https://u@example.social", "example.social:443", "ftp://example.social",
		"bücher.example", "-bad.example", "a..example", "@@example.social", "@a b@example.social", "exa_mple.social"} {
		if got, err := providers.NormalizeInstance(in); err == nil {
			t.Errorf("NormalizeInstance(%q) = %q, want error", in, got)
		}
	}
}

func TestMastodonCredentialsSurviveRestartWithRedis(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	f := fakes.NewMastodon(t, "shared.example", true)
	newReplica := func() *providers.Mastodon {
		rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
		t.Cleanup(func() { rdb.Close() })
		return newMastodon(t, providers.MastodonConfig{Store: providers.NewRedisCredentialStore(rdb, "gh-test:")}, f)
	}

	// Two replicas, ten concurrent first logins each: one app.
	replicas := []*providers.Mastodon{newReplica(), newReplica()}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			_, err := replicas[i%2].AuthCodeURL(context.Background(), providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: gateCallback, Instance: "shared.example"})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.Registrations.Load(); n != 1 {
		t.Fatalf("replicas registered %d apps, want 1", n)
	}

	// "Restart": a new provider with a new Redis connection logs in with the
	// stored app.
	restarted := newReplica()
	g, err := mastodonLogin(t, restarted, "shared.example")
	if err != nil {
		t.Fatal(err)
	}
	if g.Identity.User != "alice@shared.example" || f.Registrations.Load() != 1 {
		t.Errorf("after restart: user %q, registrations %d", g.Identity.User, f.Registrations.Load())
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()
	if n, err := rdb.Exists(t.Context(), "gh-test:mastodon:app:shared.example").Result(); err != nil || n != 1 {
		t.Errorf("credentials key: %d %v", n, err)
	}
}

func TestFileCredentialStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "mastodon.json")
	f := fakes.NewMastodon(t, "file.example", false)
	m := newMastodon(t, providers.MastodonConfig{Store: providers.NewFileCredentialStore(path)}, f)
	if _, err := mastodonLogin(t, m, "file.example"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	restarted := newMastodon(t, providers.MastodonConfig{Store: providers.NewFileCredentialStore(path)}, f)
	if _, err := mastodonLogin(t, restarted, "file.example"); err != nil {
		t.Fatal(err)
	}
	if n := f.Registrations.Load(); n != 1 {
		t.Errorf("registrations = %d, want 1 across restart", n)
	}
	s := providers.NewFileCredentialStore(path)
	if err := s.Delete(t.Context(), "file.example"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(t.Context(), "file.example", gateCallback); ok || err != nil {
		t.Errorf("after Delete: ok=%v err=%v", ok, err)
	}
}

func TestRedisCredentialStoreLock(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { rdb.Close() })
	s := providers.NewRedisCredentialStore(rdb, "lk:")
	unlock, err := s.Lock(t.Context(), "l.example")
	if err != nil {
		t.Fatal(err)
	}
	// A second holder waits, and gives up with its context.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(ctx, "l.example"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Lock = %v, want deadline exceeded", err)
	}
	// Other instances are independent.
	u2, err := s.Lock(t.Context(), "other.example")
	if err != nil {
		t.Fatal(err)
	}
	u2()
	unlock()
	u3, err := s.Lock(t.Context(), "l.example")
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	// A holder whose lock expired must not release the next holder's lock.
	unlock()
	if n, _ := rdb.Exists(t.Context(), "lk:mastodon:app:l.example:lock").Result(); n != 1 {
		t.Error("stale unlock released another holder's lock")
	}
	u3()
	if n, _ := rdb.Exists(t.Context(), "lk:mastodon:app:l.example:lock").Result(); n != 0 {
		t.Error("unlock left the lock behind")
	}
}

// TestMastodonHostileInstanceInput checks that nothing a user can type
// into the instance field makes Gatehouse contact a host that is not on
// the allow-list: every request below would reach evil.example (or fail
// the test as an unknown instance) if it slipped through.
func TestMastodonHostileInstanceInput(t *testing.T) {
	t.Parallel()
	good := fakes.NewMastodon(t, "good.example", true)
	evil := fakes.NewMastodon(t, "evil.example", true)
	m := newMastodon(t, providers.MastodonConfig{AllowedInstances: []string{"good.example", "*.friends.example"}}, good, evil)
	for _, c := range []struct{ input, code string }{
		{"evil.example/good.example", providers.CodeInstanceNotAllowed},
		{"evil.example?good.example", providers.CodeInstanceNotAllowed},
		{"evil.example#good.example", providers.CodeInstanceNotAllowed},
		{"good.example@evil.example", providers.CodeInstanceNotAllowed},
		{"@good.example@evil.example", providers.CodeInstanceNotAllowed},
		{"https://evil.example#@good.example", providers.CodeInstanceNotAllowed},
		{"https://evil.example/@alice@good.example", providers.CodeInstanceNotAllowed},
		{"good.example.evil.example", providers.CodeInstanceNotAllowed},
		{"evilfriends.example", providers.CodeInstanceNotAllowed},
		{"friends.example.evil.example", providers.CodeInstanceNotAllowed},
		{"EVIL.EXAMPLE.", providers.CodeInstanceNotAllowed},
		{"https://good.example@evil.example", providers.CodeInvalidInstance},
		{"https://good.example:x@evil.example", providers.CodeInvalidInstance},
		{`https://evil.example\@good.example`, providers.CodeInvalidInstance},
		{`evil.example\@good.example`, providers.CodeInvalidInstance},
		{"user@evil.example:8080", providers.CodeInvalidInstance},
		{"good.example:8080", providers.CodeInvalidInstance},
		{"https://good.example:443@evil.example", providers.CodeInvalidInstance},
		{"//evil.example", providers.CodeInvalidInstance},
		{"javascript:alert(1)", providers.CodeInvalidInstance},
		{"file:///etc/passwd", providers.CodeInvalidInstance},
		{"good.example\r\nHost: evil.example", providers.CodeInvalidInstance},
		{"good.example%2f@evil.example", providers.CodeInvalidInstance},
		{"good.example%00.evil.example", providers.CodeInvalidInstance},
		{"good\u3002example", providers.CodeInvalidInstance}, // ideographic full stop
		{"gооd.example", providers.CodeInvalidInstance},      // Cyrillic o
		{"127.0.0.1", providers.CodeInvalidInstance},
		{"2130706433", providers.CodeInvalidInstance},
		{"0x7f.0x1", providers.CodeInvalidInstance},
		{"1.2.3.0x4", providers.CodeInvalidInstance},
		{"[::1]", providers.CodeInvalidInstance},
		{"https://[::ffff:127.0.0.1]/", providers.CodeInvalidInstance},
		{"localhost", providers.CodeInvalidInstance},
		{"localhost.", providers.CodeInvalidInstance},
		{strings.Repeat("a.", 200) + "good.example", providers.CodeInvalidInstance},
	} {
		t.Run(c.input, func(t *testing.T) {
			ap := providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: gateCallback, Instance: c.input}
			_, err := m.AuthCodeURL(t.Context(), ap)
			wantCode(t, err, c.code)
			_, err = m.Redeem(t.Context(), "code", ap)
			wantCode(t, err, c.code)
		})
	}
	if n := evil.Requests.Load(); n != 0 {
		t.Errorf("%d requests reached the instance off the allow-list", n)
	}
	if n := good.Requests.Load(); n != 0 {
		t.Errorf("%d requests reached good.example although every input was refused", n)
	}
	// Spellings of allowed instances still work.
	for _, in := range []string{"GOOD.example.", "https://good.example/@alice", "@alice@good.example", "alice@Good.Example"} {
		if _, err := m.AuthCodeURL(t.Context(), providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: gateCallback, Instance: in}); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

// TestMastodonDoesNotFollowRedirects: an instance answering an API call
// with a redirect cannot send Gatehouse (with its app secret or a user's
// token) to another host.
func TestMastodonDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
		writeJSON(w, http.StatusOK, map[string]any{"client_id": "x", "client_secret": "y", "id": "1", "username": "root"})
	}))
	t.Cleanup(target.Close)
	for _, path := range []string{"/api/v1/apps", "/oauth/token", "/api/v1/accounts/verify_credentials"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			f := fakes.NewMastodon(t, "redir.example", false)
			proxyTo := func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == path {
					http.Redirect(w, r, target.URL+path, http.StatusTemporaryRedirect)
					return
				}
				f.Server.Config.Handler.ServeHTTP(w, r)
			}
			front := httptest.NewServer(http.HandlerFunc(proxyTo))
			t.Cleanup(front.Close)
			m := newMastodon(t, providers.MastodonConfig{AllowedInstances: []string{"redir.example"},
				InstanceURL: func(string) string { return front.URL }})
			// For /oauth/token the app check (client_credentials) is
			// redirected first; its odd answer is not held against the
			// app, and the code exchange then fails the same way.
			_, err := mastodonLogin(t, m, "redir.example")
			wantCode(t, err, providers.CodeBadResponse)
			if n := elsewhere.Load(); n != 0 {
				t.Errorf("%d requests followed the redirect", n)
			}
		})
	}
}

// TestMastodonAppPerCallbackURL: a Gatehouse reached under two host names
// (no redirect_url configured) keeps one app per callback URL instead of
// replacing one with the other, so logins under both names, even
// interleaved, work; made-up names cannot make it register without bound.
func TestMastodonAppPerCallbackURL(t *testing.T) {
	t.Parallel()
	f := fakes.NewMastodon(t, "multi.example", true)
	store := providers.NewMemoryCredentialStore()
	m := newMastodon(t, providers.MastodonConfig{Store: store}, f)
	start := func(redirect string) (providers.AuthParams, url.Values, error) {
		ap := providers.AuthParams{State: randomToken(), CodeVerifier: providers.NewCodeVerifier(), RedirectURL: redirect, Instance: "multi.example"}
		authURL, err := m.AuthCodeURL(t.Context(), ap)
		if err != nil {
			return ap, nil, err
		}
		return ap, browse(t, authURL), nil
	}
	a, b := "https://a.gate.example/oauth2/callback", "https://b.gate.example/oauth2/callback"
	apA, cbA, err := start(a)
	if err != nil {
		t.Fatal(err)
	}
	apB, cbB, err := start(b)
	if err != nil {
		t.Fatal(err)
	}
	// Both flows finish although B's app was registered after A's started.
	for _, c := range []struct {
		ap providers.AuthParams
		cb url.Values
	}{{apA, cbA}, {apB, cbB}} {
		if g, err := m.Redeem(t.Context(), c.cb.Get("code"), c.ap); err != nil || g.Identity.User != "alice@multi.example" {
			t.Errorf("redeem for %s: %v %+v", c.ap.RedirectURL, err, g.Identity)
		}
	}
	for range 2 {
		for _, r := range []string{a, b} {
			if _, _, err := start(r); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := f.Registrations.Load(); n != 2 {
		t.Errorf("registrations = %d, want 2 (one per callback URL)", n)
	}

	// Made-up host names: a few more registrations, then Gatehouse stops
	// registering on this instance for a while; the known names still work.
	var refused int
	for i := range 10 {
		_, _, err := start(fmt.Sprintf("https://made-up-%d.example/oauth2/callback", i))
		if err != nil {
			wantCode(t, err, providers.CodeProviderUnavailable)
			refused++
		}
	}
	if n := f.Registrations.Load(); n != 5 || refused != 7 {
		t.Errorf("registrations = %d and %d refused, want 5 in all (the bound) and 7 refused", n, refused)
	}
	for _, r := range []string{a, b} {
		ap, cb, err := start(r)
		if err != nil {
			t.Fatalf("login for %s after the flood: %v", r, err)
		}
		if _, err := m.Redeem(t.Context(), cb.Get("code"), ap); err != nil {
			t.Errorf("redeem for %s after the flood: %v", r, err)
		}
	}
}

// TestCredentialStoresBoundAppsPerInstance checks every store keeps at
// most MaxAppsPerInstance callback URLs per instance, the newest ones.
func TestCredentialStoresBoundAppsPerInstance(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { rdb.Close() })
	for name, s := range map[string]providers.CredentialStore{
		"memory": providers.NewMemoryCredentialStore(),
		"file":   providers.NewFileCredentialStore(filepath.Join(t.TempDir(), "apps.json")),
		"redis":  providers.NewRedisCredentialStore(rdb, "bound:"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			created := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			n := providers.MaxAppsPerInstance + 3
			for i := range n {
				c := providers.MastodonCredentials{ClientID: fmt.Sprint("id-", i), ClientSecret: "s", RedirectURI: fmt.Sprint("https://h", i, "/cb"), Scopes: "profile", CreatedAt: created.Add(time.Duration(i) * time.Minute)}
				if err := s.Put(t.Context(), "i.example", c); err != nil {
					t.Fatal(err)
				}
			}
			for i := range n {
				c, ok, err := s.Get(t.Context(), "i.example", fmt.Sprint("https://h", i, "/cb"))
				if err != nil {
					t.Fatal(err)
				}
				if want := i >= 3; ok != want || ok && c.ClientID != fmt.Sprint("id-", i) {
					t.Errorf("app %d: present %v (%+v), want %v", i, ok, c, want)
				}
			}
			if _, ok, _ := s.Get(t.Context(), "other.example", "https://h5/cb"); ok {
				t.Error("credentials of one instance returned for another")
			}
			if err := s.Delete(t.Context(), "i.example"); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := s.Get(t.Context(), "i.example", fmt.Sprint("https://h", n-1, "/cb")); ok || err != nil {
				t.Errorf("after Delete: %v %v", ok, err)
			}
		})
	}
}

// TestRedisCredentialStoreForeignKey: a key of another type or an
// undecodable value under the store's name means "no credentials" (the
// app is registered again), not an outage.
func TestRedisCredentialStoreForeignKey(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { rdb.Close() })
	f := fakes.NewMastodon(t, "odd.example", true)
	s := providers.NewRedisCredentialStore(rdb, "odd:")
	if err := rdb.Set(t.Context(), "odd:mastodon:app:odd.example", `{"client_id":"old"}`, 0).Err(); err != nil {
		t.Fatal(err)
	}
	m := newMastodon(t, providers.MastodonConfig{Store: s}, f)
	if _, err := mastodonLogin(t, m, "odd.example"); err != nil {
		t.Fatalf("login over a string key: %v", err)
	}
	if err := rdb.HSet(t.Context(), "odd:mastodon:app:odd.example", "https://x/cb", "not json").Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(t.Context(), "odd.example", "https://x/cb"); ok || err != nil {
		t.Errorf("undecodable value: ok=%v err=%v, want no credentials", ok, err)
	}
	if n := f.Registrations.Load(); n != 1 {
		t.Errorf("registrations = %d, want 1", n)
	}
}

// TestMastodonPublicOnlyKeepsCustomDialer: with a wildcard allow-list the
// private-address refusal also holds when the HTTP client has its own
// dialer (which Gatehouse wraps instead of replacing).
func TestMastodonPublicOnlyKeepsCustomDialer(t *testing.T) {
	t.Parallel()
	f := fakes.NewMastodon(t, "dialer.example", true)
	target, _ := url.Parse(f.Server.URL)
	var dials atomic.Int64
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, target.Host)
	}}
	m, err := providers.NewMastodon(providers.MastodonConfig{
		Common:           providers.Common{HTTPClient: &http.Client{Transport: tr}, Logger: slog.New(slog.DiscardHandler)},
		AllowedInstances: []string{"*.example"},
		InstanceURL:      func(h string) string { return "http://" + h },
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.AuthCodeURL(t.Context(), providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: gateCallback, Instance: "dialer.example"})
	wantCode(t, err, providers.CodeProviderUnavailable)
	if dials.Load() == 0 {
		t.Error("the client's own dialer was not used")
	}
	if n := f.Requests.Load(); n != 0 {
		t.Errorf("%d requests reached a loopback instance", n)
	}
}
