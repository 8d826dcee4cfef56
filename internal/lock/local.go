// Package lock grants exclusive locks on string keys: Local for the
// goroutines of one process, Redis for every process sharing one Redis.
// Session refresh and Mastodon app registration both take their locks here.
package lock

import (
	"context"
	"fmt"
	"sync"
)

// Local is a keyed mutex for the goroutines of one process: one lock per
// key, which a waiter abandons when its context ends. Its zero value is
// ready to use; it must not be copied after first use.
type Local struct {
	mu    sync.Mutex
	locks map[string]*localLock
}

// localLock is one key's lock: a one-slot semaphore and the number of
// goroutines holding or waiting for it, so that unused keys are forgotten.
type localLock struct {
	sem  chan struct{}
	refs int
}

// Lock blocks until the lock on key is held or ctx is done; in the latter
// case it returns an error wrapping ctx.Err(). unlock releases the lock;
// calling it more than once is harmless.
func (l *Local) Lock(ctx context.Context, key string) (unlock func(), err error) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = make(map[string]*localLock)
	}
	e := l.locks[key]
	if e == nil {
		e = &localLock{sem: make(chan struct{}, 1)}
		l.locks[key] = e
	}
	e.refs++
	l.mu.Unlock()

	select {
	case e.sem <- struct{}{}:
		var once sync.Once
		return func() {
			once.Do(func() {
				<-e.sem
				l.release(key, e)
			})
		}, nil
	case <-ctx.Done():
		l.release(key, e)
		return nil, fmt.Errorf("lock: %w", ctx.Err())
	}
}

func (l *Local) release(key string, e *localLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.refs--
	if e.refs == 0 {
		delete(l.locks, key)
	}
}
