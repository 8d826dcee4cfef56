package session

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Back-off after failed refreshes of one session: the first retry waits
// about backoffMin, each further failure doubles it up to backoffMax, with
// jitter so that replicas and sessions do not retry in step.
const (
	backoffMin = 2 * time.Second
	backoffMax = time.Minute
)

// LeaseLocker is a Locker whose locks are leases: TryLock never waits, and
// a lock can be kept for a while after its holder is done. The Refresher
// uses it, when its Locker is one, to let requests with still-valid tokens
// go on while another replica refreshes, and to share the back-off after a
// failed refresh with every replica (the lock is kept for the back-off).
type LeaseLocker interface {
	Locker
	// TryLock takes the lock on key for at most ttl. ok is false, at once,
	// when another holder has it. release(keep) gives it up after keep (at
	// once when keep <= 0); calling release more than once is harmless.
	TryLock(ctx context.Context, key string, ttl time.Duration) (release func(keep time.Duration), ok bool, err error)
}

// errLockBusy means another replica holds the session's refresh lock while
// the tokens in hand are still valid.
var errLockBusy = errors.New("refresh lock held by another replica")

// failure is the back-off state of one session after failed refreshes.
type failure struct {
	count int
	until time.Time
}

// refreshDue reports whether s's tokens should be refreshed at now: when
// the access token has expired, or expires within the smaller of Window
// and half its lifetime (measured from the last refresh), or Period has
// passed — but never within minRenewInterval of the last refresh unless
// the token has expired.
func (r *Refresher) refreshDue(s *Session, now time.Time) bool {
	if tokenExpired(s, now) {
		return true
	}
	if now.Sub(s.RefreshedAt) < minRenewInterval {
		return false
	}
	if !s.Tokens.Expiry.IsZero() && !now.Before(s.Tokens.Expiry.Add(-r.window(s))) {
		return true
	}
	return r.c.Period > 0 && now.Sub(s.RefreshedAt) >= r.c.Period
}

// window is how long before its expiry s's access token is due: Window, or
// half the token's lifetime when that is shorter.
func (r *Refresher) window(s *Session) time.Duration {
	w := r.c.Window
	if life := s.Tokens.Expiry.Sub(s.RefreshedAt); !s.RefreshedAt.IsZero() && life > 0 && life/2 < w {
		w = life / 2
	}
	return w
}

// warnShortLived logs once per provider that its access tokens live no
// longer than Window, so they are refreshed at half their lifetime.
func (r *Refresher) warnShortLived(ctx context.Context, s *Session) {
	life := s.Tokens.Expiry.Sub(s.RefreshedAt)
	if s.Tokens.Expiry.IsZero() || s.RefreshedAt.IsZero() || life <= 0 || life > r.c.Window {
		return
	}
	r.mu.Lock()
	if r.warned == nil {
		r.warned = make(map[string]bool)
	}
	first := !r.warned[s.ProviderID]
	r.warned[s.ProviderID] = true
	r.mu.Unlock()
	if first {
		r.d.Logger.WarnContext(ctx, "the provider's access tokens live no longer than --refresh-window; they are refreshed at half their lifetime instead (lower --refresh-window, or lengthen the provider's token lifetime)",
			"provider", s.ProviderID, "token_lifetime", life.Round(time.Second), "refresh_window", r.c.Window)
	}
}

// backingOff reports whether a refresh of session id failed recently
// enough that the next attempt must wait, and until when.
func (r *Refresher) backingOff(id string, now time.Time) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.failures[id]
	return f.until, ok && now.Before(f.until)
}

// noteFailure records a failed refresh of session id and returns the
// jittered back-off before the next attempt.
func (r *Refresher) noteFailure(id string, now time.Time) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures == nil {
		r.failures = make(map[string]failure)
	}
	f := r.failures[id]
	f.count++
	d := backoffMin << min(f.count-1, 10)
	d = min(d, backoffMax)
	d = d/2 + rand.N(d/2+1)
	f.until = now.Add(d)
	r.failures[id] = f
	return d
}

// succeeded forgets the failures of session id.
func (r *Refresher) succeeded(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failures, id)
}

// acquire takes s's refresh lock. With a LeaseLocker the lock lives longer
// than one run (Timeout plus a margin) so that no other replica can send
// the same refresh token while this one waits for the provider; when
// another replica holds it, acquire returns errLockBusy at once if s's
// token is still valid, and otherwise polls until ctx ends.
func (r *Refresher) acquire(ctx context.Context, s *Session) (release func(keep time.Duration), err error) {
	ll, ok := r.d.Locker.(LeaseLocker)
	if !ok {
		unlock, err := r.d.Locker.Lock(ctx, s.ID)
		if err != nil {
			return nil, err
		}
		return func(time.Duration) { unlock() }, nil
	}
	delay := 10 * time.Millisecond
	for {
		release, ok, err := ll.TryLock(ctx, s.ID, r.c.Timeout+lockMargin)
		switch {
		case err != nil:
			return nil, err
		case ok:
			return release, nil
		case !tokenExpired(s, r.d.Now()):
			return nil, errLockBusy
		}
		t := time.NewTimer(delay/2 + rand.N(delay/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("waiting for another replica's refresh: %w", ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 500*time.Millisecond)
		// The other replica may have renewed the session meanwhile: the
		// caller reloads it once it holds the lock.
	}
}

// cached returns the remembered outcome of refreshing this version of s.
func (r *Refresher) cached(s *Session, now time.Time) (*outcome, bool) {
	r.mu.Lock()
	e, ok := r.recent[s.ID]
	r.mu.Unlock()
	if !ok || !now.Before(e.until) ||
		!e.refreshedAt.Equal(s.RefreshedAt) || !e.validatedAt.Equal(s.ValidatedAt) {
		return nil, false
	}
	if e.stale && tokenExpired(e.out.s, now) {
		return nil, false // the old tokens have run out
	}
	return e.out, true
}

// remember records out as the outcome of refreshing the version from, for
// ttl.
func (r *Refresher) remember(from *Session, out *outcome, stale bool, ttl time.Duration, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recent == nil {
		r.recent = make(map[string]recentOutcome)
	}
	if !now.Before(r.nextSweep) {
		for id, e := range r.recent {
			if !now.Before(e.until) {
				delete(r.recent, id)
			}
		}
		for id, f := range r.failures {
			if now.Sub(f.until) > backoffMax {
				delete(r.failures, id)
			}
		}
		r.nextSweep = now.Add(recentGrace)
	}
	r.recent[from.ID] = recentOutcome{
		refreshedAt: from.RefreshedAt,
		validatedAt: from.ValidatedAt,
		out:         out,
		stale:       stale,
		until:       now.Add(ttl),
	}
}
