package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

const (
	testClientID     = "gatehouse"
	testClientSecret = "client-secret"
)

// tokenServer is an OAuth2 authorization server's token endpoint (RFC 6749
// §6, refresh_token grant with rotation) plus a bearer-protected
// verify_credentials endpoint, counting calls. It rejects any request the
// specification does not allow.
type tokenServer struct {
	*httptest.Server
	t testing.TB

	tokenCalls, verifyCalls atomic.Int32
	unavailable             atomic.Bool // answer 503 temporarily_unavailable

	mu      sync.Mutex
	seq     int
	valid   map[string]bool // refresh tokens that may be redeemed
	revoked map[string]bool // access tokens verify rejects
	arrived chan struct{}   // if set, receives a value per token request
	gate    chan struct{}   // if set, token requests wait until it is closed
}

func newTokenServer(t testing.TB) *tokenServer {
	t.Helper()
	ts := &tokenServer{t: t, valid: map[string]bool{}, revoked: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", ts.token)
	mux.HandleFunc("GET /verify", ts.verify)
	ts.Server = httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func (ts *tokenServer) token(w http.ResponseWriter, r *http.Request) {
	ts.tokenCalls.Add(1)
	ts.mu.Lock()
	arrived, gate := ts.arrived, ts.gate
	ts.mu.Unlock()
	if arrived != nil {
		arrived <- struct{}{}
	}
	if gate != nil {
		<-gate
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok || id != testClientID || secret != testClientSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "refresh_token" || r.URL.RawQuery != "" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
		return
	}
	if ts.unavailable.Load() {
		oauthError(w, http.StatusServiceUnavailable, "temporarily_unavailable")
		return
	}
	rt := r.PostForm.Get("refresh_token")
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if !ts.valid[rt] {
		oauthError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	delete(ts.valid, rt) // rotation: a refresh token is good once
	ts.seq++
	next := fmt.Sprintf("rt-%d", ts.seq)
	ts.valid[next] = true
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token":  fmt.Sprintf("at-%d", ts.seq),
		"token_type":    "Bearer",
		"expires_in":    3600,
		"refresh_token": next,
	})
}

func (ts *tokenServer) verify(w http.ResponseWriter, r *http.Request) {
	ts.verifyCalls.Add(1)
	at, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	ts.mu.Lock()
	revoked := ts.revoked[at]
	ts.mu.Unlock()
	if !ok || at == "" || revoked {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		oauthError(w, http.StatusUnauthorized, "invalid_token")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"id":"1"}`))
}

func (ts *tokenServer) allow(refreshToken string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.valid[refreshToken] = true
}

func (ts *tokenServer) revoke(accessToken string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.revoked[accessToken] = true
}

// hold makes token requests signal arrived and then wait for release.
func (ts *tokenServer) hold() (arrived <-chan struct{}, release func()) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.arrived, ts.gate = make(chan struct{}, 1), make(chan struct{})
	return ts.arrived, sync.OnceFunc(func() { close(ts.gate) })
}

// testProvider is a minimal Provider on golang.org/x/oauth2 talking to a
// tokenServer: only Refresh is exercised.
type testProvider struct {
	cfg oauth2.Config
}

func newTestProvider(ts *tokenServer) *testProvider {
	return &testProvider{cfg: oauth2.Config{
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		Endpoint:     oauth2.Endpoint{AuthURL: ts.URL + "/authorize", TokenURL: ts.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader},
	}}
}

func (p *testProvider) Info() providers.Info {
	return providers.Info{ID: "test", Type: "oauth2", DisplayName: "Test"}
}

func (p *testProvider) AuthCodeURL(_ context.Context, ap providers.AuthParams) (string, error) {
	return p.cfg.AuthCodeURL(ap.State), nil
}

func (p *testProvider) Redeem(context.Context, string, providers.AuthParams) (providers.Grant, error) {
	return providers.Grant{}, errors.New("testProvider: login is not part of these tests")
}

func (p *testProvider) Refresh(ctx context.Context, g providers.Grant) (providers.Grant, error) {
	if g.Tokens.RefreshToken == "" {
		return providers.Grant{}, providers.ErrNoRefreshToken
	}
	tok, err := p.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: g.Tokens.RefreshToken}).Token()
	if err != nil {
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok && re.ErrorCode == "invalid_grant" {
			return providers.Grant{}, fmt.Errorf("%w: %w", providers.ErrInvalidGrant, err)
		}
		return providers.Grant{}, fmt.Errorf("refresh: %w", err)
	}
	id := g.Identity
	id.Name = "Alice (refreshed)"
	return providers.Grant{Identity: id, Tokens: providers.Tokens{
		AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry,
	}}, nil
}

// validatingProvider adds periodic token validation (like Mastodon's
// verify_credentials) to testProvider.
type validatingProvider struct {
	*testProvider
	verifyURL string
	every     time.Duration
}

func (p *validatingProvider) ValidateEvery() time.Duration { return p.every }

func (p *validatingProvider) Validate(ctx context.Context, g providers.Grant) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.verifyURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+g.Tokens.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized:
		return fmt.Errorf("%w: token revoked", providers.ErrInvalidGrant)
	default:
		return fmt.Errorf("verify: status %d", resp.StatusCode)
	}
}

// clock is time.Now shifted by an adjustable offset.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

type refreshEnv struct {
	srv   *tokenServer
	store *CookieStore
	clock *clock
	r     *Refresher
}

func newRefreshEnv(t testing.TB, c RefreshConfig, validateEvery time.Duration) *refreshEnv {
	t.Helper()
	e := &refreshEnv{srv: newTokenServer(t), clock: &clock{}}
	e.store = NewCookieStore(mustCodec(t, newSecret(t)), testOptions())
	e.store.now = e.clock.Now
	var p providers.Provider = newTestProvider(e.srv)
	if validateEvery > 0 {
		p = &validatingProvider{testProvider: newTestProvider(e.srv), verifyURL: e.srv.URL + "/verify", every: validateEvery}
	}
	e.r = NewRefresher(c, RefreshDeps{Store: e.store, Now: e.clock.Now, Provider: func(id string) (providers.Provider, bool) {
		if id == "test" {
			return p, true
		}
		return nil, false
	}})
	return e
}

// withDeps returns a Refresher like e.r with c, and d's Locker and Now
// (the env's clock when d.Now is nil).
func (e *refreshEnv) withDeps(c RefreshConfig, d RefreshDeps) *Refresher {
	d.Store, d.Provider = e.store, e.r.d.Provider
	if d.Now == nil {
		d.Now = e.clock.Now
	}
	return NewRefresher(c, d)
}

// login stores a session with tokens, logged in (and last refreshed) age
// ago, and returns the browser holding its cookie.
func (e *refreshEnv) login(t testing.TB, tokens providers.Tokens, age time.Duration) browser {
	t.Helper()
	s := New("test", providers.Grant{
		Identity: providers.Identity{Subject: "sub-1", User: "alice", Name: "Alice"},
		Tokens:   tokens,
	}, e.clock.Now().Add(-age), 12*time.Hour)
	b := browser{}
	save(t, e.store, b, s)
	return b
}

// ensure runs one request of browser b through Load and Ensure.
func (e *refreshEnv) ensure(t testing.TB, b browser) (*Session, *Session, *httptest.ResponseRecorder, error) {
	t.Helper()
	req := b.request()
	s, err := e.store.Load(t.Context(), req)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	rec := httptest.NewRecorder()
	got, err := e.r.Ensure(t.Context(), rec, req, s)
	return s, got, rec, err
}

// loadFrom returns the session the browser holds after applying rec.
func (e *refreshEnv) loadFrom(t testing.TB, b browser, rec *httptest.ResponseRecorder) (*Session, error) {
	t.Helper()
	nb := maps.Clone(b)
	nb.apply(t, rec)
	return e.store.Load(t.Context(), nb.request())
}

func TestRefresherConcurrentSingleRefresh(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, RefreshConfig{Window: time.Minute}, 0)
	e.srv.allow("rt-0")
	b := e.login(t, providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0", IDToken: "id-0", Expiry: e.clock.Now().Add(-time.Minute)}, time.Hour)

	const n = 100
	type result struct {
		s   *Session
		err error
	}
	results := make([]result, n)
	recs := make([]*httptest.ResponseRecorder, n)
	reqs := make([]*http.Request, n)
	sessions := make([]*Session, n)
	for i := range n {
		recs[i] = httptest.NewRecorder()
		reqs[i] = b.request()
		s, err := e.store.Load(t.Context(), reqs[i])
		if err != nil {
			t.Fatal(err)
		}
		sessions[i] = s
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			s, err := e.r.Ensure(t.Context(), recs[i], reqs[i], sessions[i])
			results[i] = result{s, err}
		})
	}
	close(start)
	wg.Wait()

	if got := e.srv.tokenCalls.Load(); got != 1 {
		t.Fatalf("token endpoint called %d times, want exactly 1", got)
	}
	for i, res := range results {
		if res.err != nil {
			t.Fatalf("request %d: Ensure: %v", i, res.err)
		}
		if res.s.Tokens.AccessToken != "at-1" || res.s.Tokens.RefreshToken != "rt-1" {
			t.Fatalf("request %d got tokens %q/%q, want at-1/rt-1", i, res.s.Tokens.AccessToken, res.s.Tokens.RefreshToken)
		}
		if res.s.ID != sessions[i].ID || !res.s.CreatedAt.Equal(sessions[i].CreatedAt) || !res.s.ExpiresAt.Equal(sessions[i].ExpiresAt) {
			t.Fatalf("request %d: refresh changed the session's id or lifetime", i)
		}
		if res.s.Tokens.IDToken != "id-0" || res.s.Identity.Name != "Alice (refreshed)" {
			t.Fatalf("request %d: merge lost the ID token or kept the old identity: %+v", i, res.s)
		}
		if !res.s.RefreshedAt.After(sessions[i].RefreshedAt) {
			t.Fatalf("request %d: RefreshedAt not advanced", i)
		}
		saved, err := e.loadFrom(t, b, recs[i])
		if err != nil {
			t.Fatalf("request %d: response cookie does not load: %v", i, err)
		}
		if saved.Tokens.AccessToken != "at-1" {
			t.Fatalf("request %d: response cookie carries %q, want the new token", i, saved.Tokens.AccessToken)
		}
	}

	// A request the browser sent with the old cookie before receiving the
	// new one gets the same refresh, not a second one (whose rotated refresh
	// token would be rejected).
	_, late, rec, err := e.ensure(t, b)
	if err != nil || late.Tokens.AccessToken != "at-1" {
		t.Fatalf("late request: %v, %v", late, err)
	}
	if saved, err := e.loadFrom(t, b, rec); err != nil || saved.Tokens.AccessToken != "at-1" {
		t.Fatalf("late request's cookie: %v", err)
	}
	if got := e.srv.tokenCalls.Load(); got != 1 {
		t.Fatalf("token endpoint called %d times after a late request, want 1", got)
	}
}

func TestRefresherOutcomes(t *testing.T) {
	t.Parallel()
	type want int
	const (
		refreshed   want = iota // new tokens, new cookie
		unchanged               // same tokens, no cookie
		ended                   // ErrNotFound, cookie cleared
		unavailable             // ErrRefreshUnavailable, no cookie
	)
	tests := []struct {
		name   string
		o      RefreshConfig
		tokens func(now time.Time) providers.Tokens
		age    time.Duration // since login; 0 means an hour
		setup  func(*tokenServer)
		want   want
		calls  int32
		steady bool // nothing due: Ensure must not even read the store
	}{
		{
			name:   "not due: no store or provider call",
			steady: true,
			o:      RefreshConfig{Window: time.Minute},
			tokens: func(now time.Time) providers.Tokens {
				return providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: now.Add(time.Hour)}
			},
			want: unchanged, calls: 0,
		},
		{
			name: "within window",
			o:    RefreshConfig{Window: time.Minute},
			tokens: func(now time.Time) providers.Tokens {
				return providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: now.Add(30 * time.Second)}
			},
			want: refreshed, calls: 1,
		},
		{
			name:   "period elapsed, token without expiry",
			o:      RefreshConfig{Period: time.Hour},
			tokens: func(time.Time) providers.Tokens { return providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0"} },
			age:    2 * time.Hour,
			want:   refreshed, calls: 1,
		},
		{
			name:   "period not elapsed",
			steady: true,
			o:      RefreshConfig{Period: time.Hour},
			tokens: func(time.Time) providers.Tokens { return providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0"} },
			age:    30 * time.Minute,
			want:   unchanged, calls: 0,
		},
		{
			name: "invalid_grant ends the session",
			tokens: func(now time.Time) providers.Tokens {
				return providers.Tokens{AccessToken: "at-0", RefreshToken: "revoked", Expiry: now.Add(-time.Second)}
			},
			want: ended, calls: 1,
		},
		{
			name: "invalid_grant ends the session even with a valid access token",
			o:    RefreshConfig{Window: time.Minute},
			tokens: func(now time.Time) providers.Tokens {
				return providers.Tokens{AccessToken: "at-0", RefreshToken: "revoked", Expiry: now.Add(time.Second)}
			},
			want: ended, calls: 1,
		},
		{
			name: "no refresh token and expired ends the session",
			tokens: func(now time.Time) providers.Tokens {
				return providers.Tokens{AccessToken: "at-0", Expiry: now.Add(-time.Second)}
			},
			want: ended, calls: 0,
		},
		{
			name: "no refresh token but still valid",
			o:    RefreshConfig{Window: time.Minute},
			tokens: func(now time.Time) providers.Tokens {
				return providers.Tokens{AccessToken: "at-0", Expiry: now.Add(time.Second)}
			},
			want: unchanged, calls: 0,
		},
		{
			name: "provider down, token still valid",
			o:    RefreshConfig{Window: time.Minute},
			tokens: func(now time.Time) providers.Tokens {
				return providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: now.Add(30 * time.Second)}
			},
			setup: func(ts *tokenServer) { ts.Close() },
			want:  unchanged, calls: 0,
		},
		{
			name: "provider down, token expired",
			o:    RefreshConfig{Window: time.Minute},
			tokens: func(now time.Time) providers.Tokens {
				return providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: now.Add(-time.Second)}
			},
			setup: func(ts *tokenServer) { ts.Close() },
			want:  unavailable, calls: 0,
		},
		{
			name: "provider answers 503, token expired",
			tokens: func(now time.Time) providers.Tokens {
				return providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: now.Add(-time.Second)}
			},
			setup: func(ts *tokenServer) { ts.unavailable.Store(true) },
			want:  unavailable, calls: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newRefreshEnv(t, tt.o, 0)
			e.srv.allow("rt-0")
			age := tt.age
			if age == 0 {
				age = time.Hour // long-lived tokens, not renewed just now
			}
			b := e.login(t, tt.tokens(e.clock.Now()), age)
			if tt.setup != nil {
				tt.setup(e.srv)
			}

			req := b.request()
			s, err := e.store.Load(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if tt.steady {
				// The steady path must not touch the store: give it a
				// request whose cookie would not load.
				req = httptest.NewRequest(http.MethodGet, "/", nil)
			}
			rec := httptest.NewRecorder()
			got, err := e.r.Ensure(t.Context(), rec, req, s)
			setCookies := rec.Result().Cookies()

			switch tt.want {
			case refreshed:
				if err != nil || got.Tokens.AccessToken != "at-1" {
					t.Fatalf("Ensure = %v, %v; want refreshed tokens", got, err)
				}
				if saved, err := e.loadFrom(t, b, rec); err != nil || saved.Tokens.AccessToken != "at-1" {
					t.Fatalf("refreshed session not in the response cookie: %v", err)
				}
			case unchanged:
				if err != nil || got.Tokens.AccessToken != "at-0" || got.ID != s.ID {
					t.Fatalf("Ensure = %v, %v; want the current session", got, err)
				}
				if len(setCookies) != 0 {
					t.Fatalf("Ensure set %d cookies, want none", len(setCookies))
				}
			case ended:
				if !errors.Is(err, ErrNotFound) || got != nil {
					t.Fatalf("Ensure = %v, %v; want ErrNotFound", got, err)
				}
				if len(setCookies) != 1 || setCookies[0].Name != testCookie || setCookies[0].MaxAge >= 0 {
					t.Fatalf("Ensure set cookies %v, want the session cookie expired", setCookies)
				}
			case unavailable:
				if !errors.Is(err, ErrRefreshUnavailable) || got != nil || errors.Is(err, ErrNotFound) {
					t.Fatalf("Ensure = %v, %v; want ErrRefreshUnavailable", got, err)
				}
				if len(setCookies) != 0 {
					t.Fatalf("Ensure set %d cookies, want none (the session is kept)", len(setCookies))
				}
			}
			if calls := e.srv.tokenCalls.Load(); calls != tt.calls {
				t.Fatalf("token endpoint called %d times, want %d", calls, tt.calls)
			}
		})
	}
}

func TestRefresherBacksOffAfterTransientFailure(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, RefreshConfig{Window: 10 * time.Minute}, 0)
	e.srv.allow("rt-0")
	e.srv.unavailable.Store(true)
	b := e.login(t, providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: e.clock.Now().Add(5 * time.Minute)}, time.Hour)

	for range 3 {
		if _, got, _, err := e.ensure(t, b); err != nil || got.Tokens.AccessToken != "at-0" {
			t.Fatalf("Ensure = %v, %v; want the current session", got, err)
		}
	}
	if calls := e.srv.tokenCalls.Load(); calls != 1 {
		t.Fatalf("token endpoint called %d times in the back-off period, want 1", calls)
	}

	e.srv.unavailable.Store(false)
	e.clock.Advance(backoffMin) // the first back-off is at most backoffMin
	_, got, _, err := e.ensure(t, b)
	if err != nil || got.Tokens.AccessToken != "at-1" {
		t.Fatalf("Ensure after back-off = %v, %v; want refreshed tokens", got, err)
	}
	if calls := e.srv.tokenCalls.Load(); calls != 2 {
		t.Fatalf("token endpoint called %d times, want 2", calls)
	}

	// Once the old token has expired during the back-off, requests get
	// ErrRefreshUnavailable at once, without resending the refresh token;
	// after the back-off, one request tries again.
	e2 := newRefreshEnv(t, RefreshConfig{Window: 10 * time.Minute}, 0)
	e2.srv.allow("rt-0")
	e2.srv.unavailable.Store(true)
	b2 := e2.login(t, providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: e2.clock.Now().Add(500 * time.Millisecond)}, time.Hour)
	if _, _, _, err := e2.ensure(t, b2); err != nil {
		t.Fatalf("first Ensure: %v", err)
	}
	e2.clock.Advance(900 * time.Millisecond) // expired; the back-off is at least backoffMin/2
	for range 3 {
		if _, _, _, err := e2.ensure(t, b2); !errors.Is(err, ErrRefreshUnavailable) {
			t.Fatalf("Ensure with the token expired during back-off = %v, want ErrRefreshUnavailable", err)
		}
	}
	if calls := e2.srv.tokenCalls.Load(); calls != 1 {
		t.Fatalf("token endpoint called %d times during the back-off, want 1", calls)
	}
	e2.clock.Advance(backoffMin)
	if _, _, _, err := e2.ensure(t, b2); !errors.Is(err, ErrRefreshUnavailable) {
		t.Fatalf("Ensure after the back-off, provider still down = %v, want ErrRefreshUnavailable", err)
	}
	if calls := e2.srv.tokenCalls.Load(); calls != 2 {
		t.Fatalf("token endpoint called %d times, want 2", calls)
	}
}

func TestRefresherValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		age     time.Duration
		setup   func(*tokenServer)
		wantErr error
		fresh   bool // ValidatedAt advanced and saved
		calls   int32
	}{
		{name: "not due", age: 30 * time.Second, calls: 0},
		{name: "due and valid", age: 2 * time.Minute, fresh: true, calls: 1},
		{name: "due and revoked", age: 2 * time.Minute, setup: func(ts *tokenServer) { ts.revoke("at-0") }, wantErr: ErrNotFound, calls: 1},
		{name: "due, provider down", age: 2 * time.Minute, setup: func(ts *tokenServer) { ts.Close() }, calls: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newRefreshEnv(t, RefreshConfig{}, time.Minute)
			b := e.login(t, providers.Tokens{AccessToken: "at-0", TokenType: "Bearer"}, tt.age)
			if tt.setup != nil {
				tt.setup(e.srv)
			}
			s, got, rec, err := e.ensure(t, b)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Ensure error = %v, want %v", err, tt.wantErr)
				}
				if saved, err := e.loadFrom(t, b, rec); !errors.Is(err, ErrNotFound) {
					t.Fatalf("revoked session still in the browser: %v, %v", saved, err)
				}
			} else {
				if err != nil || got.Tokens.AccessToken != "at-0" {
					t.Fatalf("Ensure = %v, %v", got, err)
				}
				saved, err := e.loadFrom(t, b, rec)
				if err != nil {
					t.Fatal(err)
				}
				if advanced := saved.ValidatedAt.After(s.RefreshedAt); advanced != tt.fresh {
					t.Fatalf("saved ValidatedAt advanced = %v, want %v", advanced, tt.fresh)
				}
			}
			if calls := e.srv.verifyCalls.Load(); calls != tt.calls {
				t.Fatalf("verify called %d times, want %d", calls, tt.calls)
			}
			if calls := e.srv.tokenCalls.Load(); calls != 0 {
				t.Fatalf("token endpoint called %d times during validation", calls)
			}
		})
	}
}

func TestRefresherSurvivesLeaderCancellation(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, RefreshConfig{}, 0)
	e.srv.allow("rt-0")
	arrived, release := e.srv.hold()
	defer release()
	b := e.login(t, providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: e.clock.Now().Add(-time.Second)}, time.Hour)

	// The first request starts the refresh, then its client goes away.
	ctx, cancel := context.WithCancel(t.Context())
	req := b.request()
	s, err := e.store.Load(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	leader := make(chan error, 1)
	go func() {
		_, err := e.r.Ensure(ctx, httptest.NewRecorder(), req, s)
		leader <- err
	}()
	<-arrived
	cancel()
	if err := <-leader; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: Ensure error = %v, want context.Canceled", err)
	}

	// The refresh goes on and serves the next request.
	release()
	_, got, rec, err := e.ensure(t, b)
	if err != nil || got.Tokens.AccessToken != "at-1" {
		t.Fatalf("Ensure = %v, %v; want the refreshed session", got, err)
	}
	if saved, err := e.loadFrom(t, b, rec); err != nil || saved.Tokens.AccessToken != "at-1" {
		t.Fatalf("response cookie: %v", err)
	}
	if calls := e.srv.tokenCalls.Load(); calls != 1 {
		t.Fatalf("token endpoint called %d times, want 1", calls)
	}
}

func TestRefresherUnknownProvider(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, RefreshConfig{}, 0)
	s := testSession(0) // provider "oidc", not configured here
	_, err := e.r.Ensure(t.Context(), httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil), s)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Ensure error = %v, want ErrNotFound", err)
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	now := testNow.Add(time.Hour)
	cur := testSession(2)
	cur.ValidatedAt = testNow
	newTokens := providers.Tokens{AccessToken: "at-1", TokenType: "Bearer", Expiry: now.Add(time.Hour)}
	tests := []struct {
		name    string
		g       providers.Grant
		wantErr bool
		check   func(t *testing.T, got *Session)
	}{
		{
			name: "keeps refresh and ID token when not returned, replaces identity",
			g:    providers.Grant{Identity: providers.Identity{Subject: "sub-1", User: "alice", Groups: []string{"new"}}, Tokens: newTokens},
			check: func(t *testing.T, got *Session) {
				if got.Tokens.AccessToken != "at-1" || got.Tokens.RefreshToken != "rt-0" || got.Tokens.IDToken != "eyJ.header.sig" {
					t.Errorf("tokens = %+v", got.Tokens)
				}
				if len(got.Identity.Groups) != 1 || got.Identity.Groups[0] != "new" {
					t.Errorf("identity not replaced: %+v", got.Identity)
				}
			},
		},
		{
			name: "takes a rotated refresh token",
			g: providers.Grant{Identity: providers.Identity{Subject: "sub-1"},
				Tokens: providers.Tokens{AccessToken: "at-1", RefreshToken: "rt-1", IDToken: "id-1"}},
			check: func(t *testing.T, got *Session) {
				if got.Tokens.RefreshToken != "rt-1" || got.Tokens.IDToken != "id-1" {
					t.Errorf("tokens = %+v", got.Tokens)
				}
			},
		},
		{
			name: "keeps identity when the provider returned none",
			g:    providers.Grant{Tokens: newTokens},
			check: func(t *testing.T, got *Session) {
				if got.Identity.Subject != "sub-1" || len(got.Identity.Groups) != 2 {
					t.Errorf("identity = %+v", got.Identity)
				}
			},
		},
		{name: "another subject", g: providers.Grant{Identity: providers.Identity{Subject: "mallory"}, Tokens: newTokens}, wantErr: true},
		{name: "another issuer", g: providers.Grant{Identity: providers.Identity{Subject: "sub-1", Issuer: "https://evil.example"}, Tokens: newTokens}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := merge(cur, tt.g, now)
			if tt.wantErr {
				if !errors.Is(err, providers.ErrInvalidGrant) {
					t.Fatalf("merge error = %v, want ErrInvalidGrant", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != cur.ID || got.ProviderID != cur.ProviderID || !got.CreatedAt.Equal(cur.CreatedAt) ||
				!got.ExpiresAt.Equal(cur.ExpiresAt) || !got.ValidatedAt.Equal(cur.ValidatedAt) || !got.RefreshedAt.Equal(now) {
				t.Errorf("merge changed what it must keep: %+v", got)
			}
			tt.check(t, got)
		})
	}
	if cur.Tokens.AccessToken != "at-0" {
		t.Fatal("merge modified its input")
	}
}

func TestRefresherUsesSessionRenewedElsewhere(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, RefreshConfig{Window: time.Minute}, 0)
	e.srv.allow("rt-0")
	b := e.login(t, providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: e.clock.Now().Add(-time.Second)}, time.Hour)
	old, got, rec, err := e.ensure(t, b)
	if err != nil || got.Tokens.AccessToken != "at-1" {
		t.Fatalf("first refresh: %v, %v", got, err)
	}
	b.apply(t, rec) // the browser now holds the renewed session

	// Another replica, whose clock runs two hours ahead (so the renewed
	// token already looks due), gets a request whose session it loaded
	// before the renewal, while the store already has the renewed one. It
	// must use the renewed session, not refresh again.
	skewed := &clock{}
	skewed.Advance(2 * time.Hour)
	other := e.withDeps(RefreshConfig{Window: time.Minute}, RefreshDeps{Now: skewed.Now})
	rec = httptest.NewRecorder()
	got, err = other.Ensure(t.Context(), rec, b.request(), old)
	if err != nil || got.Tokens.AccessToken != "at-1" {
		t.Fatalf("Ensure on the other replica = %v, %v; want the renewed session", got, err)
	}
	if calls := e.srv.tokenCalls.Load(); calls != 1 {
		t.Fatalf("token endpoint called %d times, want 1", calls)
	}
}
