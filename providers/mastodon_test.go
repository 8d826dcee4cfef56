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

	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

// mastodonFake implements the parts of Mastodon's API a login uses:
// POST /api/v1/apps, RFC 8414 metadata (4.3+) or 404 (older), /oauth/authorize
// with optional PKCE S256, /oauth/token with the client secret in the body
// only (as GoToSocial requires), and verify_credentials.
type mastodonFake struct {
	*fake
	srv           *httptest.Server
	host          string
	pkce          bool // Mastodon 4.3+: metadata lists S256 and "profile"
	registrations atomic.Int64
	appsMu        sync.Mutex
	apps          map[string]mastodonApp // client_id → app
	tokenScopes   map[string]string      // access token → scope
	user          atomic.Value           // username who consents at authorize
}

type mastodonApp struct {
	secret, redirect, scopes string
}

var mastodonAccounts = map[string]map[string]any{
	"alice": {"id": "109", "username": "alice", "acct": "alice", "display_name": "Alice", "avatar": "https://files/alice.png", "url": "https://HOST/@alice", "uri": "https://HOST/users/alice"},
	"Bob":   {"id": "110", "username": "Bob", "acct": "Bob", "display_name": "Bob B", "avatar": "https://files/bob.png", "url": "https://HOST/@Bob", "uri": "https://HOST/users/Bob"},
}

func newMastodonFake(t *testing.T, host string, pkce bool) *mastodonFake {
	f := &mastodonFake{fake: newFake(t, "mastodon "+host), host: host, pkce: pkce, apps: map[string]mastodonApp{}, tokenScopes: map[string]string{}}
	f.user.Store("alice")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/apps", func(w http.ResponseWriter, r *http.Request) {
		form, ok := f.form(w, r, []string{"client_name", "redirect_uris", "scopes"}, []string{"website"})
		if !ok {
			return
		}
		if u, err := url.Parse(form.Get("redirect_uris")); err != nil || !u.IsAbs() {
			writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "Validation failed: Redirect URI must be an absolute URI."})
			return
		}
		for s := range strings.FieldsSeq(form.Get("scopes")) {
			if s != "read:accounts" && !(s == "profile" && f.pkce) {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "Validation failed: Scopes are invalid"})
				return
			}
		}
		n := f.registrations.Add(1)
		id, secret := fmt.Sprintf("client-%s-%d", f.host, n), randomToken()
		f.appsMu.Lock()
		f.apps[id] = mastodonApp{secret: secret, redirect: form.Get("redirect_uris"), scopes: form.Get("scopes")}
		f.appsMu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"id": fmt.Sprint(n), "name": form.Get("client_name"), "website": nil,
			"redirect_uri": form.Get("redirect_uris"), "client_id": id, "client_secret": secret, "vapid_key": "BCk-QqERU0q"})
	})
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		if !f.pkce {
			http.NotFound(w, r)
			return
		}
		base := "https://" + f.host
		writeJSON(w, http.StatusOK, map[string]any{"issuer": base + "/", "authorization_endpoint": base + "/oauth/authorize", "token_endpoint": base + "/oauth/token",
			"scopes_supported": []string{"read", "write", "push", "profile", "read:accounts"}, "response_types_supported": []string{"code"},
			"code_challenge_methods_supported": []string{"S256"}, "grant_types_supported": []string{"authorization_code", "client_credentials"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"}})
	})
	mux.HandleFunc("GET /oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		req := []string{"response_type", "client_id", "redirect_uri", "scope", "state"}
		if f.pkce {
			req = append(req, "code_challenge", "code_challenge_method")
		}
		if !f.checkParams(w, r, q, req, nil) {
			return
		}
		f.appsMu.Lock()
		app, ok := f.apps[q.Get("client_id")]
		f.appsMu.Unlock()
		if !ok {
			// Doorkeeper shows an error page; the browser is stuck there.
			f.violation(w, r, "authorize with unknown client %q", q.Get("client_id"))
			return
		}
		if q.Get("redirect_uri") != app.redirect || q.Get("response_type") != "code" || (f.pkce && q.Get("code_challenge_method") != "S256") {
			f.violation(w, r, "bad authorize parameters")
			return
		}
		for s := range strings.FieldsSeq(q.Get("scope")) {
			if !slices.Contains(strings.Fields(app.scopes), s) {
				f.violation(w, r, "scope %q not registered", s)
				return
			}
		}
		code := f.issueCode(codeGrant{user: f.user.Load().(string), clientID: q.Get("client_id"), redirect: app.redirect, challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"), scope: q.Get("scope")})
		authorizeRedirect(w, r, app.redirect, q.Get("state"), code, false)
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			f.violation(w, r, "client secret must be sent in the body")
			return
		}
		if err := r.ParseForm(); err != nil {
			f.violation(w, r, "%v", err)
			return
		}
		var form url.Values
		var ok bool
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			form, ok = f.form(w, r, []string{"grant_type", "code", "client_id", "client_secret", "redirect_uri"}, []string{"code_verifier", "scope"})
		case "client_credentials":
			form, ok = f.form(w, r, []string{"grant_type", "client_id", "client_secret"}, []string{"scope"})
		default:
			f.violation(w, r, "grant_type %q", r.PostForm.Get("grant_type"))
			return
		}
		if !ok {
			return
		}
		f.appsMu.Lock()
		app, known := f.apps[form.Get("client_id")]
		f.appsMu.Unlock()
		if !known || app.secret != form.Get("client_secret") {
			oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.")
			return
		}
		if form.Get("grant_type") == "client_credentials" {
			at, _ := f.issueTokens("", false)
			writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "scope": app.scopes, "created_at": 1700000000})
			return
		}
		g, ok := f.takeCode(form.Get("code"))
		if !ok || g.clientID != form.Get("client_id") || g.redirect != form.Get("redirect_uri") {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.")
			return
		}
		if !checkPKCE(g, form.Get("code_verifier")) {
			f.violation(w, r, "PKCE mismatch")
			return
		}
		at, _ := f.issueTokens(g.user, false)
		f.appsMu.Lock()
		f.tokenScopes[at] = g.scope
		f.appsMu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "scope": g.scope, "created_at": 1700000000})
	})
	mux.HandleFunc("GET /api/v1/accounts/verify_credentials", func(w http.ResponseWriter, r *http.Request) {
		user, ok := f.bearer(r)
		if !ok || user == "" {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "The access token is invalid"})
			return
		}
		// Mastodon 4.3+ reads the account with "profile"; every version
		// with read:accounts (or its parent, read).
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.appsMu.Lock()
		granted := strings.Fields(f.tokenScopes[tok])
		f.appsMu.Unlock()
		if !slices.ContainsFunc(granted, func(s string) bool { return s == "profile" || s == "read:accounts" || s == "read" }) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "This action is outside the authorized scopes"})
			return
		}
		acct := map[string]any{}
		for k, v := range mastodonAccounts[user] {
			if s, ok := v.(string); ok {
				v = strings.ReplaceAll(s, "HOST", f.host)
			}
			acct[k] = v
		}
		writeJSON(w, http.StatusOK, acct)
	})
	f.srv = f.serve(t, mux)
	return f
}

// revokeApps forgets every registered app, as an admin deleting them would.
func (f *mastodonFake) revokeApps() {
	f.appsMu.Lock()
	defer f.appsMu.Unlock()
	clear(f.apps)
}

const mastodonCallback = "https://gate.example/oauth2/callback"

// instances maps fake instance hosts to their servers.
func instances(t *testing.T, fakes ...*mastodonFake) func(string) string {
	m := map[string]string{}
	for _, f := range fakes {
		m[f.host] = f.srv.URL
	}
	return func(host string) string {
		u, ok := m[host]
		if !ok {
			t.Errorf("request to unknown instance %q", host)
			return "http://127.0.0.1:9"
		}
		return u
	}
}

func newMastodon(t *testing.T, c providers.MastodonConfig, fakes ...*mastodonFake) *providers.Mastodon {
	t.Helper()
	if c.InstanceURL == nil {
		c.InstanceURL = instances(t, fakes...)
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
	ap := providers.AuthParams{State: randomToken(), CodeVerifier: providers.NewCodeVerifier(), RedirectURL: mastodonCallback, Instance: instance}
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
	a := newMastodonFake(t, "a.example", true)
	b := newMastodonFake(t, "b.example", false) // pre-4.3: no PKCE, read:accounts
	b.user.Store("Bob")
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
	if a.registrations.Load() != 1 || b.registrations.Load() != 1 {
		t.Errorf("registrations a=%d b=%d, want 1 each", a.registrations.Load(), b.registrations.Load())
	}
}

func TestMastodonConcurrentFirstLogins(t *testing.T) {
	t.Parallel()
	f := newMastodonFake(t, "busy.example", true)
	m := newMastodon(t, providers.MastodonConfig{}, f)
	var wg sync.WaitGroup
	clients := make(chan string, 20)
	for range 20 {
		wg.Go(func() {
			authURL, err := m.AuthCodeURL(context.Background(), providers.AuthParams{State: randomToken(), CodeVerifier: providers.NewCodeVerifier(), RedirectURL: mastodonCallback, Instance: "busy.example"})
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
	if n := f.registrations.Load(); n != 1 {
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
	f := newMastodonFake(t, "flaky.example", true)
	store := providers.NewMemoryCredentialStore()
	m := newMastodon(t, providers.MastodonConfig{Store: store}, f)
	if _, err := mastodonLogin(t, m, "flaky.example"); err != nil {
		t.Fatal(err)
	}

	// The admin deletes the app while a login is under way: the token
	// exchange fails with invalid_client, Gatehouse registers again and
	// asks the user to sign in again, which then works.
	ap := providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: mastodonCallback, Instance: "flaky.example"}
	cb := browse(t, must(m.AuthCodeURL(t.Context(), ap)))
	f.revokeApps()
	_, err := m.Redeem(t.Context(), cb.Get("code"), ap)
	wantCode(t, err, providers.CodeInvalidClient)
	if n := f.registrations.Load(); n != 2 {
		t.Fatalf("registrations = %d, want 2 (re-registered)", n)
	}
	if _, err := mastodonLogin(t, m, "flaky.example"); err != nil {
		t.Fatalf("login after re-registration: %v", err)
	}

	// Revoked between logins: a fresh Gatehouse (no cached app check) with
	// the same store notices before sending the browser to the instance.
	f.revokeApps()
	m2 := newMastodon(t, providers.MastodonConfig{Store: store}, f)
	if _, err := mastodonLogin(t, m2, "flaky.example"); err != nil {
		t.Fatalf("login with revoked stored app: %v", err)
	}
	if n := f.registrations.Load(); n != 3 {
		t.Errorf("registrations = %d, want 3", n)
	}
}

func TestMastodonInstanceChecks(t *testing.T) {
	t.Parallel()
	allowed := newMastodonFake(t, "good.example", true)
	off := newMastodonFake(t, "evil.example", true)
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
		ap := providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: mastodonCallback, Instance: c.input}
		_, err := m.AuthCodeURL(t.Context(), ap)
		wantCode(t, err, c.code)
		_, err = m.Redeem(t.Context(), "code", ap)
		wantCode(t, err, c.code)
	}
	if n := off.requests.Load(); n != 0 {
		t.Errorf("%d requests reached the instance off the allow-list", n)
	}
	// A session from an instance later removed from the allow-list ends.
	err := m.Validate(t.Context(), providers.Grant{Identity: providers.Identity{Subject: "1", Issuer: "evil.example"}, Tokens: providers.Tokens{AccessToken: "x"}})
	if !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("Validate for a disallowed instance = %v", err)
	}
	if n := off.requests.Load(); n != 0 {
		t.Errorf("%d requests reached the instance off the allow-list", n)
	}
}

func TestMastodonRefusesPrivateAddressesWithWildcard(t *testing.T) {
	t.Parallel()
	f := newMastodonFake(t, "internal.example", true)
	m, err := providers.NewMastodon(providers.MastodonConfig{AllowedInstances: []string{"*"}, InstanceURL: instances(t, f)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.AuthCodeURL(t.Context(), providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: mastodonCallback, Instance: "internal.example"})
	wantCode(t, err, providers.CodeProviderUnavailable)
	if f.requests.Load() != 0 {
		t.Error("a request reached a loopback instance")
	}
}

func TestMastodonValidate(t *testing.T) {
	t.Parallel()
	f := newMastodonFake(t, "v.example", false)
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
	f.down.Store(true)
	if err := m.Validate(t.Context(), g); err == nil || errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("Validate with the instance down = %v, want a transient error", err)
	}
	f.down.Store(false)
	f.revokeAccess("alice")
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
	r := testutil.StartRedis(t)
	f := newMastodonFake(t, "shared.example", true)
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
			_, err := replicas[i%2].AuthCodeURL(context.Background(), providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: mastodonCallback, Instance: "shared.example"})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.registrations.Load(); n != 1 {
		t.Fatalf("replicas registered %d apps, want 1", n)
	}

	// "Restart": a new provider with a new Redis connection logs in with the
	// stored app.
	restarted := newReplica()
	g, err := mastodonLogin(t, restarted, "shared.example")
	if err != nil {
		t.Fatal(err)
	}
	if g.Identity.User != "alice@shared.example" || f.registrations.Load() != 1 {
		t.Errorf("after restart: user %q, registrations %d", g.Identity.User, f.registrations.Load())
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
	f := newMastodonFake(t, "file.example", false)
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
	if n := f.registrations.Load(); n != 1 {
		t.Errorf("registrations = %d, want 1 across restart", n)
	}
	s := providers.NewFileCredentialStore(path)
	if err := s.Delete(t.Context(), "file.example"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(t.Context(), "file.example", mastodonCallback); ok || err != nil {
		t.Errorf("after Delete: ok=%v err=%v", ok, err)
	}
}

func TestRedisCredentialStoreLock(t *testing.T) {
	t.Parallel()
	r := testutil.StartRedis(t)
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
	good := newMastodonFake(t, "good.example", true)
	evil := newMastodonFake(t, "evil.example", true)
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
			ap := providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: mastodonCallback, Instance: c.input}
			_, err := m.AuthCodeURL(t.Context(), ap)
			wantCode(t, err, c.code)
			_, err = m.Redeem(t.Context(), "code", ap)
			wantCode(t, err, c.code)
		})
	}
	if n := evil.requests.Load(); n != 0 {
		t.Errorf("%d requests reached the instance off the allow-list", n)
	}
	if n := good.requests.Load(); n != 0 {
		t.Errorf("%d requests reached good.example although every input was refused", n)
	}
	// Spellings of allowed instances still work.
	for _, in := range []string{"GOOD.example.", "https://good.example/@alice", "@alice@good.example", "alice@Good.Example"} {
		if _, err := m.AuthCodeURL(t.Context(), providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: mastodonCallback, Instance: in}); err != nil {
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
			f := newMastodonFake(t, "redir.example", false)
			proxyTo := func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == path {
					http.Redirect(w, r, target.URL+path, http.StatusTemporaryRedirect)
					return
				}
				f.srv.Config.Handler.ServeHTTP(w, r)
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
	f := newMastodonFake(t, "multi.example", true)
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
	if n := f.registrations.Load(); n != 2 {
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
	if n := f.registrations.Load(); n != 5 || refused != 7 {
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
	r := testutil.StartRedis(t)
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
	r := testutil.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { rdb.Close() })
	f := newMastodonFake(t, "odd.example", true)
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
	if n := f.registrations.Load(); n != 1 {
		t.Errorf("registrations = %d, want 1", n)
	}
}

// TestMastodonPublicOnlyKeepsCustomDialer: with a wildcard allow-list the
// private-address refusal also holds when the HTTP client has its own
// dialer (which Gatehouse wraps instead of replacing).
func TestMastodonPublicOnlyKeepsCustomDialer(t *testing.T) {
	t.Parallel()
	f := newMastodonFake(t, "dialer.example", true)
	target, _ := url.Parse(f.srv.URL)
	var dials atomic.Int64
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, target.Host)
	}}
	m, err := providers.NewMastodon(providers.MastodonConfig{AllowedInstances: []string{"*.example"}, HTTPClient: &http.Client{Transport: tr},
		InstanceURL: func(h string) string { return "http://" + h }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.AuthCodeURL(t.Context(), providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: mastodonCallback, Instance: "dialer.example"})
	wantCode(t, err, providers.CodeProviderUnavailable)
	if dials.Load() == 0 {
		t.Error("the client's own dialer was not used")
	}
	if n := f.requests.Load(); n != 0 {
		t.Errorf("%d requests reached a loopback instance", n)
	}
}
