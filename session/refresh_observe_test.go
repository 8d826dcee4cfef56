package session

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

// outcomes counts RefreshDeps.Observe's reports.
type outcomes struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *outcomes) observe(provider, result string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[provider+"/"+result]++
}

func (o *outcomes) get(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[key]
}

// TestRefresherObserve: one refresh shared by concurrent requests is one
// success (the others, if they joined it, waited); a refresh token the
// provider rejects is reported as ended.
func TestRefresherObserve(t *testing.T) {
	t.Parallel()
	e := newRefreshEnv(t, RefreshConfig{Window: time.Minute}, 0)
	var o outcomes
	r := e.withDeps(RefreshConfig{Window: time.Minute}, RefreshDeps{Observe: o.observe})
	e.srv.allow("rt-0")
	b := e.login(t, providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: e.clock.Now().Add(-time.Minute)}, time.Hour)

	const n = 20
	var wg sync.WaitGroup
	for range n {
		req := b.request()
		s, err := e.store.Load(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if _, err := r.Ensure(t.Context(), httptest.NewRecorder(), req, s); err != nil {
				t.Errorf("Ensure: %v", err)
			}
		})
	}
	wg.Wait()
	if got := o.get("test/" + RefreshSuccess); got != 1 {
		t.Errorf("%d successes reported for one refresh, want 1 (%v)", got, o.n)
	}
	if got := o.get("test/" + RefreshWaited); got > n-1 {
		t.Errorf("%d waits reported for %d requests", got, n)
	}

	// The provider no longer honours the refresh token: the session ends.
	b2 := e.login(t, providers.Tokens{AccessToken: "at-x", RefreshToken: "not-allowed", Expiry: e.clock.Now().Add(-time.Minute)}, time.Hour)
	req := b2.request()
	s, err := e.store.Load(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Ensure(t.Context(), httptest.NewRecorder(), req, s); err == nil {
		t.Fatal("a rejected refresh token did not end the session")
	}
	if got := o.get("test/" + RefreshEnded); got != 1 {
		t.Errorf("%d ended reported, want 1 (%v)", got, o.n)
	}
}
