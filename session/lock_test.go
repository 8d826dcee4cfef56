package session

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/lock"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

func TestRefresherWithLocker(t *testing.T) {
	t.Parallel()
	l := &lock.Local{}
	e := newRefreshEnv(t, RefreshConfig{}, 0)
	e.r = e.withDeps(RefreshConfig{Timeout: 50 * time.Millisecond}, RefreshDeps{Locker: l})
	e.srv.allow("rt-0")
	b := e.login(t, providers.Tokens{AccessToken: "at-0", RefreshToken: "rt-0", Expiry: e.clock.Now().Add(-time.Second)}, time.Hour)
	s, err := e.store.Load(t.Context(), b.request())
	if err != nil {
		t.Fatal(err)
	}

	// Another holder (a replica stuck mid-refresh) keeps the lock past the
	// timeout: the expired session cannot be served, and is kept.
	unlock, err := l.Lock(t.Context(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, _, rec, err := e.ensure(t, b)
	if !errors.Is(err, ErrRefreshUnavailable) {
		t.Fatalf("Ensure while the lock is held elsewhere = %v, want ErrRefreshUnavailable", err)
	}
	if n := len(rec.Header().Values("Set-Cookie")); n != 0 {
		t.Fatalf("Ensure set %d cookies, want none", n)
	}
	// The request stopped waiting after the Wait (50 ms), but the flight
	// it started may still be polling for the lock until its own Timeout:
	// join it (singleflight's Do waits for the call in flight) before
	// releasing the lock, or on a loaded machine it takes the lock after
	// unlock and spends rt-0 in a refresher this test no longer uses.
	_, _, _ = e.r.flights.Do(s.ID, func() (any, error) { return nil, nil })
	if calls := e.srv.tokenCalls.Load(); calls != 0 {
		t.Fatalf("token endpoint called %d times without the lock", calls)
	}

	unlock()
	// Once released, a refresher (one with the default timeout, so that a
	// slow test machine cannot fail this) refreshes normally.
	e.r = e.withDeps(RefreshConfig{}, RefreshDeps{Locker: l})
	_, got, rec, err := e.ensure(t, b)
	if err != nil || got.Tokens.AccessToken != "at-1" {
		t.Fatalf("Ensure = %v, %v", got, err)
	}
	if saved, err := e.loadFrom(t, b, rec); err != nil || saved.Tokens.AccessToken != "at-1" {
		t.Fatalf("response cookie: %v", err)
	}
}
