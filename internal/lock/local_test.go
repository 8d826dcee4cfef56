package lock

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

func TestLocalLockerMutualExclusion(t *testing.T) {
	t.Parallel()
	var l Local // the zero value is ready
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
			// Yield inside the critical section so that, were the lock
			// broken, other goroutines would run here too and be counted.
			for range 10 {
				runtime.Gosched()
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
	var l Local
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
