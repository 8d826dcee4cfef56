package session

import (
	"context"
	"fmt"
	"sync"
)

// Locker grants exclusive locks on string keys. The Refresher takes one per
// session ID around a token refresh, so that replicas sharing a server-side
// store refresh a session once between them.
type Locker interface {
	// Lock blocks until the lock on key is held or ctx is done; in the latter
	// case it returns an error wrapping ctx.Err(). unlock releases the lock;
	// calling it more than once is harmless. Implementations backed by a
	// network service return an error wrapping ErrUnavailable when it
	// cannot be reached.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// LocalLocker is a Locker for the goroutines of one process. Its zero value
// is ready to use; it must not be copied after first use.
type LocalLocker struct {
	mu    sync.Mutex
	locks map[string]*localLock
}

// localLock is one key's lock: a one-slot semaphore and the number of
// goroutines holding or waiting for it, so that unused keys are forgotten.
type localLock struct {
	sem  chan struct{}
	refs int
}

// Lock implements Locker.
func (l *LocalLocker) Lock(ctx context.Context, key string) (func(), error) {
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

func (l *LocalLocker) release(key string, e *localLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e.refs--
	if e.refs == 0 {
		delete(l.locks, key)
	}
}
