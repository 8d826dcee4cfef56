package session

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

func TestLocalLockerMutualExclusion(t *testing.T) {
	t.Parallel()
	var l LocalLocker // the zero value is ready
	var holders, maxHolders, acquired atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			unlock, err := l.Lock(t.Context(), "session-1")
			if err != nil {
				t.Error(err)
				return
			}
			n := holders.Add(1)
			for {
				m := maxHolders.Load()
				if n <= m || maxHolders.CompareAndSwap(m, n) {
					break
				}
			}
			acquired.Add(1)
			holders.Add(-1)
			unlock()
		})
	}
	wg.Wait()
	if got := maxHolders.Load(); got != 1 {
		t.Fatalf("%d goroutines held the lock at once, want 1", got)
	}
	if got := acquired.Load(); got != 50 {
		t.Fatalf("lock acquired %d times, want 50", got)
	}
	if n := len(l.locks); n != 0 {
		t.Fatalf("%d keys still tracked after every unlock", n)
	}
}

func TestLocalLockerContextAndKeys(t *testing.T) {
	t.Parallel()
	var l LocalLocker
	unlockA, err := l.Lock(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}

	// Another key is independent.
	unlockB, err := l.Lock(t.Context(), "b")
	if err != nil {
		t.Fatalf("lock on another key: %v", err)
	}
	unlockB()

	// A held key makes Lock wait until ctx is done.
	done, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Lock(done, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock on a held key with a done context = %v, want context.Canceled", err)
	}

	// Unlocking twice must not release the next holder's lock.
	unlockA()
	unlockA2, err := l.Lock(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	unlockA()
	if _, err := l.Lock(done, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a stale unlock released the current holder: Lock = %v", err)
	}
	unlockA2()
	if n := len(l.locks); n != 0 {
		t.Fatalf("%d keys still tracked after every unlock", n)
	}
}

func TestRefresherWithLocker(t *testing.T) {
	t.Parallel()
	l := &LocalLocker{}
	e := newRefreshEnv(t, RefreshOptions{Locker: l, Timeout: 50 * time.Millisecond}, 0)
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
	if calls := e.srv.tokenCalls.Load(); calls != 0 {
		t.Fatalf("token endpoint called %d times without the lock", calls)
	}

	unlock()
	// Once released, a refresher (one with the default timeout, so that a
	// slow test machine cannot fail this) refreshes normally.
	e.r = NewRefresher(e.store, e.r.lookup, RefreshOptions{Locker: l, Now: e.clock.Now})
	_, got, rec, err := e.ensure(t, b)
	if err != nil || got.Tokens.AccessToken != "at-1" {
		t.Fatalf("Ensure = %v, %v", got, err)
	}
	if saved, err := e.loadFrom(t, b, rec); err != nil || saved.Tokens.AccessToken != "at-1" {
		t.Fatalf("response cookie: %v", err)
	}
}
