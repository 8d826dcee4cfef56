package lock

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
)

// newClient connects to a standalone Redis; timeout bounds every call.
func newClient(t testing.TB, addr string, timeout time.Duration) redis.UniversalClient {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, MaxRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestRedisMutualExclusion(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	// Two replicas, each with its own client and locker, same Redis.
	lockers := []*Redis{
		NewRedis(newClient(t, r.Addr(), time.Second), "gh-test:lock:", 0, nil),
		NewRedis(newClient(t, r.Addr(), time.Second), "gh-test:lock:", 0, nil),
	}
	const (
		workers = 8
		rounds  = 10
	)
	var inside, maxInside, entered atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		l := lockers[i%len(lockers)]
		wg.Go(func() {
			for range rounds {
				ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
				unlock, err := l.Lock(ctx, "session-1")
				cancel()
				if err != nil {
					errs <- err
					return
				}
				n := inside.Add(1)
				for {
					m := maxInside.Load()
					if n <= m || maxInside.CompareAndSwap(m, n) {
						break
					}
				}
				entered.Add(1)
				time.Sleep(time.Millisecond) // give an intruder a chance
				inside.Add(-1)
				unlock()
				unlock() // harmless twice
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Lock: %v", err)
	}
	if m := maxInside.Load(); m != 1 {
		t.Fatalf("at most %d holders were inside at once, want 1", m)
	}
	if n := entered.Load(); n != workers*rounds {
		t.Fatalf("%d entries, want %d", n, workers*rounds)
	}
}

func TestRedisKeysAreIndependent(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	l := NewRedis(newClient(t, r.Addr(), time.Second), "gh-test:lock:", 0, nil)
	ctx := t.Context()
	unlockA, err := l.Lock(ctx, "a")
	if err != nil {
		t.Fatalf("Lock a: %v", err)
	}
	defer unlockA()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	unlockB, err := l.Lock(short, "b")
	if err != nil {
		t.Fatalf("Lock b while a is held: %v", err)
	}
	unlockB()
}

func TestRedisContextDone(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	l := NewRedis(newClient(t, r.Addr(), time.Second), "gh-test:lock:", 0, nil)
	unlock, err := l.Lock(t.Context(), "k")
	if err != nil {
		t.Fatalf("Lock: %v", err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := l.Lock(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock of a held key: err = %v, want context.DeadlineExceeded", err)
	}
}

func TestRedisReleaseOnlyByOwner(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	client := newClient(t, r.Addr(), time.Second)
	// A's lock lives 200 ms: A is a slow holder whose lock expires.
	a := NewRedis(client, "gh-test:lock:", 200*time.Millisecond, nil)
	b := NewRedis(client, "gh-test:lock:", time.Minute, nil)
	ctx := t.Context()

	unlockA, err := a.Lock(ctx, "k")
	if err != nil {
		t.Fatalf("A Lock: %v", err)
	}
	// B waits until A's lock expires, then holds it.
	unlockB, err := b.Lock(ctx, "k")
	if err != nil {
		t.Fatalf("B Lock after A's expiry: %v", err)
	}
	// A finally releases: that must not release B's lock.
	unlockA()
	if n, err := client.Exists(ctx, "gh-test:lock:k").Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS lock after the former owner's unlock = %d, %v; want B's lock kept", n, err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := a.Lock(short, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while B holds it: err = %v, want context.DeadlineExceeded", err)
	}
	// B's own unlock does release it.
	unlockB()
	if n, err := client.Exists(ctx, "gh-test:lock:k").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS lock after the owner's unlock = %d, %v; want 0", n, err)
	}
	unlockC, err := a.Lock(ctx, "k")
	if err != nil {
		t.Fatalf("Lock after B's release: %v", err)
	}
	unlockC()
}

func TestRedisUnavailable(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	l := NewRedis(newClient(t, r.Addr(), 500*time.Millisecond), "gh-test:lock:", 0, nil)
	r.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := l.Lock(ctx, "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Lock with Redis down: err = %v, want ErrUnavailable", err)
	}
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t)
	l := NewRedis(newClusterClient(t, cl.Addrs()), "gh-test:lock:", 0, nil)
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c", "d"} { // several slots
		unlock, err := l.Lock(ctx, k)
		if err != nil {
			t.Fatalf("Lock %s: %v", k, err)
		}
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err = l.Lock(short, k)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("second Lock %s: err = %v, want context.DeadlineExceeded", k, err)
		}
		unlock()
		again, err := l.Lock(ctx, k)
		if err != nil {
			t.Fatalf("Lock %s after unlock: %v", k, err)
		}
		again()
	}
}

func newClusterClient(t testing.TB, addrs []string) redis.UniversalClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestRedisTryLockLease: TryLock never waits, a held lock refuses every
// other process, and release(keep) keeps it for keep (a back-off shared by
// replicas) before anyone may take it again; release(0) frees it at once.
func TestRedisTryLockLease(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	a := NewRedis(newClient(t, r.Addr(), time.Second), "gh-test:lease:", 0, nil)
	b := NewRedis(newClient(t, r.Addr(), time.Second), "gh-test:lease:", 0, nil)
	ctx := t.Context()

	release, ok, err := a.TryLock(ctx, "k", time.Minute)
	if err != nil || !ok {
		t.Fatalf("TryLock on a free key = %v, %v", ok, err)
	}
	if _, ok, err := b.TryLock(ctx, "k", time.Minute); err != nil || ok {
		t.Fatalf("TryLock on a held key = %v, %v; want false at once", ok, err)
	}
	release(3 * time.Second)
	if _, ok, _ := b.TryLock(ctx, "k", time.Minute); ok {
		t.Fatal("the lock was free right after release(keep): the back-off is not shared")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rb, ok, err := b.TryLock(ctx, "k", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			rb(0)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the kept lock never expired")
		}
		time.Sleep(20 * time.Millisecond) // poll for the lease to end
	}
	if _, ok, err := a.TryLock(ctx, "k", time.Minute); err != nil || !ok {
		t.Fatalf("TryLock after release(0) = %v, %v; want the lock", ok, err)
	}
}
