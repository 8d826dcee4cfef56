package session

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/lock"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

// TestRefresherAcrossReplicas runs two gateway replicas (each its own
// RedisStore, lock.Redis and Refresher) against one real redis-server: a
// burst of requests of one session spread over both refreshes its tokens
// once, and every request gets the new tokens.
func TestRefresherAcrossReplicas(t *testing.T) {
	t.Parallel()
	rds := redistest.StartRedis(t)
	ts := newTokenServer(t)
	ts.allow("rt-0")
	p := newTestProvider(ts)
	secret := make([]byte, SecretSize)
	_, _ = rand.Read(secret)
	codec, err := NewCodec([][]byte{secret})
	if err != nil {
		t.Fatal(err)
	}
	cookie := CookieConfig{Name: "_gh_replica", Secure: true, SameSite: http.SameSiteLaxMode, Lifetime: time.Hour}
	lookup := func(id string) (providers.Provider, bool) { return p, id == "test" }

	type replica struct {
		store *RedisStore
		r     *Refresher
	}
	var replicas [2]replica
	for i := range replicas {
		client, err := NewRedisClient(RedisConfig{URL: rds.URL()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = client.Close() })
		store := NewRedisStore(client, codec, cookie, "gh-replica:", 10*time.Second) // generous: a loaded CI machine must not fail the lock test on a slow load
		replicas[i] = replica{store, NewRefresher(RefreshConfig{Window: time.Minute}, RefreshDeps{
			Store:    store,
			Provider: lookup,
			Locker:   lock.NewRedis(client, "gh-replica:lock:", 0, nil),
		})}
	}

	s := New("test", providers.Grant{
		Identity: providers.Identity{Subject: "sub-1", User: "alice"},
		Tokens:   providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: time.Now().Add(-time.Second)},
	}, time.Now(), time.Hour)
	rec := httptest.NewRecorder()
	if err := replicas[0].store.Save(t.Context(), rec, httptest.NewRequest(http.MethodGet, "/", nil), s); err != nil {
		t.Fatal(err)
	}
	login := rec.Result().Cookies()
	if len(login) != 1 {
		t.Fatalf("login set %d cookies, want the ticket", len(login))
	}
	request := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "https://app.example/", nil)
		r.AddCookie(&http.Cookie{Name: login[0].Name, Value: login[0].Value})
		return r
	}

	const perReplica = 25
	type result struct {
		s   *Session
		err error
		rec *httptest.ResponseRecorder
	}
	results := make([]result, 2*perReplica)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range results {
		rep := replicas[i%2]
		wg.Go(func() {
			<-start
			req := request()
			cur, err := rep.store.Load(t.Context(), req)
			if err != nil {
				results[i].err = err
				return
			}
			rec := httptest.NewRecorder()
			got, err := rep.r.Ensure(t.Context(), rec, req, cur)
			results[i] = result{got, err, rec}
		})
	}
	close(start)
	wg.Wait()

	if calls := ts.tokenCalls.Load(); calls != 1 {
		t.Fatalf("token endpoint called %d times by two replicas, want exactly 1", calls)
	}
	for i, res := range results {
		if res.err != nil {
			t.Fatalf("request %d (replica %d): %v", i, i%2, res.err)
		}
		if res.s.Tokens.AccessToken != "at-1" || res.s.Tokens.RefreshToken != "rt-1" {
			t.Fatalf("request %d (replica %d) got tokens %q/%q, want at-1/rt-1", i, i%2,
				res.s.Tokens.AccessToken, res.s.Tokens.RefreshToken)
		}
		if n := len(res.rec.Header().Values("Set-Cookie")); n != 0 {
			t.Fatalf("request %d: the ticket cookie changed on refresh (%d Set-Cookie)", i, n)
		}
	}
	// The refreshed session is what both replicas now load.
	for i, rep := range replicas {
		got, err := rep.store.Load(t.Context(), request())
		if err != nil || got.Tokens.AccessToken != "at-1" {
			t.Fatalf("replica %d loads %v, %v after the refresh", i, got, err)
		}
	}
}
