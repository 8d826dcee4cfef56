package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

// Locker grants exclusive locks on string keys. The Refresher takes one per
// session ID around a token refresh, so that replicas sharing a server-side
// store refresh a session once between them. internal/lock implements it
// for one process (lock.Local) and for every replica of one Redis
// (lock.Redis).
type Locker interface {
	// Lock blocks until the lock on key is held or ctx is done; in the latter
	// case it returns an error wrapping ctx.Err(). unlock releases the lock;
	// calling it more than once is harmless.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// ErrRefreshUnavailable means the session's access token has expired and
// could not be renewed because the provider (or the refresh lock) is not
// answering: the session is kept, the caller answers 503.
var ErrRefreshUnavailable = errors.New("token refresh unavailable")

// Defaults of RefreshConfig's durations.
const (
	// DefaultRefreshTimeout is RefreshConfig.Timeout when zero.
	DefaultRefreshTimeout = 30 * time.Second
	// DefaultRefreshWait is RefreshConfig.Wait when zero.
	DefaultRefreshWait = 10 * time.Second
)

// Outcomes of a refresh are remembered per session ID for a while, so that
// requests the browser sent with the old cookie before it received the new
// one get the refreshed session instead of refreshing again (which, with
// rotating refresh tokens, would fail and end the session).
const (
	// recentGrace is how long a successful refresh is remembered.
	recentGrace = 30 * time.Second
	// minRenewInterval: a session renewed less than this long ago is not
	// refreshed again unless its access token has expired.
	minRenewInterval = 5 * time.Second
	// lockMargin is how much longer than one refresh run a lock lives, so
	// that it outlives the provider call it guards.
	lockMargin = 5 * time.Second
)

// RefreshConfig says when a Refresher renews tokens. The zero value
// refreshes tokens when they have expired.
type RefreshConfig struct {
	// Window refreshes access tokens that expire within this duration
	// (refresh-window), or within half their lifetime when that is shorter,
	// so that a token living no longer than the window is not due again as
	// soon as it is issued. Zero refreshes only tokens that have expired.
	Window time.Duration
	// Period refreshes tokens last refreshed longer ago than this
	// (cookie-refresh), whatever their expiry. Zero disables.
	Period time.Duration
	// Timeout bounds one refresh run (lock, store and provider calls),
	// independently of the requests waiting for it: a slow provider's
	// answer, which carries the rotated refresh token, is still stored when
	// nobody waits any more (refresh-timeout). Zero means
	// DefaultRefreshTimeout.
	Timeout time.Duration
	// Wait bounds how long a request waits for a refresh before it is
	// served with the current tokens if they are still valid, or answered
	// ErrRefreshUnavailable (refresh-wait). Zero means DefaultRefreshWait;
	// it is at most Timeout.
	Wait time.Duration
}

// RefreshDeps are what a Refresher works with.
type RefreshDeps struct {
	// Store loads, saves and clears the sessions being refreshed; required.
	Store Store
	// Provider finds a session's provider by id; required.
	Provider func(id string) (providers.Provider, bool)
	// Locker serializes refreshes of one session across replicas sharing a
	// server-side store. Nil coordinates the goroutines of this process
	// only, which is all a CookieStore can use. A Locker that is also a
	// LeaseLocker (lock.Redis) shares the back-off after a failed refresh
	// with the other replicas and lets requests whose tokens are still
	// valid go on without waiting for another replica's refresh.
	Locker Locker
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger receives refresh failures; nil means slog.Default().
	Logger *slog.Logger
	// Observe, when set, is told the outcome of each refresh or
	// re-validation by provider id: RefreshSuccess, RefreshFailed,
	// RefreshEnded or RefreshWaited (metrics).
	Observe func(provider, result string)
}

// Refresh outcomes given to RefreshDeps.Observe.
const (
	// RefreshSuccess: the provider renewed or confirmed the tokens.
	RefreshSuccess = "success"
	// RefreshFailed: the provider could not be reached or answered an
	// error; the current tokens are used while they last.
	RefreshFailed = "failed"
	// RefreshEnded: the provider no longer honours the grant; the session
	// ended.
	RefreshEnded = "ended"
	// RefreshWaited: another request or replica did the refresh, whose
	// result this one used.
	RefreshWaited = "waited"
)

// observe reports one outcome to d.Observe.
func (r *Refresher) observe(provider, result string) {
	if r.d.Observe != nil {
		r.d.Observe(provider, result)
	}
}

// Refresher renews a session's tokens before they expire, transparently to
// the request that finds them due: it wraps a Store and the providers.
//
// However many requests of one session arrive at once, the provider sees one
// refresh: requests of this process share it (keyed by Session.ID), and with
// a Locker so do replicas. Every request sharing a refresh gets the
// Set-Cookie headers the store wrote for it, so a CookieStore's browser
// receives the new cookie whichever response arrives first. Stores used with
// a Refresher must only set headers in Save and Clear (they must not write a
// body or status), as all of this package's stores do.
//
// The outcome of a refresh is remembered in process for a short while (30 s,
// 5 s after a failure) so that requests still carrying the old version of a
// session reuse it. That memory is consulted only for a session the store
// has just loaded, and it is keyed by that version: it cannot serve a
// session the store no longer has, so a sign-out on another replica of a
// RedisStore takes effect at the next request all the same.
//
// A Refresher is safe for concurrent use.
type Refresher struct {
	c RefreshConfig
	d RefreshDeps

	flights singleflight.Group

	mu        sync.Mutex
	recent    map[string]recentOutcome // by Session.ID
	failures  map[string]failure       // by Session.ID: back-off after failed refreshes
	nextSweep time.Time
	warned    map[string]bool // provider IDs warned about short-lived tokens
}

// outcome is what one refresh yields to every request that shares it.
type outcome struct {
	s       *Session      // nil when the session ended or is unavailable
	cookies []string      // Set-Cookie header values to send
	backoff time.Duration // after a failure: how long before the next attempt
}

// recentOutcome remembers the outcome of refreshing one version of a session
// (identified by its RefreshedAt and ValidatedAt).
type recentOutcome struct {
	refreshedAt, validatedAt time.Time
	out                      *outcome
	stale                    bool // out.s is the unrefreshed session after a failure
	until                    time.Time
}

// NewRefresher returns a Refresher renewing tokens as c says, saving
// refreshed sessions to d.Store.
func NewRefresher(c RefreshConfig, d RefreshDeps) *Refresher {
	if d.Now == nil {
		d.Now = time.Now
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultRefreshTimeout
	}
	if c.Wait <= 0 {
		c.Wait = DefaultRefreshWait
	}
	c.Wait = min(c.Wait, c.Timeout)
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Refresher{c: c, d: d}
}

// Ensure returns the session to use for req: s itself when nothing is due
// (without touching the store), otherwise s with refreshed or re-validated
// tokens, saved to the store with its cookies written to w.
//
// Errors: ErrNotFound (wrapped) when the session has ended — the provider
// rejected the refresh token or revoked the grant (the session is cleared
// and its cookies expired in w), or its provider is no longer configured;
// ErrRefreshUnavailable when the access token has expired and could not be
// renewed — the provider cannot be reached, or is still answering after
// the Wait — (if the token is still valid, s is returned and the failure
// only logged); the store's errors (ErrUnavailable) as they are; ctx's
// error if ctx ends first.
//
// The returned session may be shared with concurrent requests: treat it as
// read-only.
func (r *Refresher) Ensure(ctx context.Context, w http.ResponseWriter, req *http.Request, s *Session) (*Session, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: no session to refresh", ErrNotFound)
	}
	p, ok := r.d.Provider(s.ProviderID)
	if !ok {
		return nil, fmt.Errorf("%w: session provider %q is not configured", ErrNotFound, s.ProviderID)
	}
	now := r.d.Now()
	if !r.refreshDue(s, now) && !validateDue(p, s, now) {
		return s, nil
	}
	r.warnShortLived(ctx, s)
	if out, ok := r.cached(s, now); ok {
		writeCookies(w, out.cookies)
		return out.s, nil
	}
	if until, ok := r.backingOff(s.ID, now); ok {
		return r.current(s, fmt.Errorf("backing off after a failed refresh until %s", until.Format(time.RFC3339)))
	}

	// The flight runs to its own deadline (Timeout), whoever still waits
	// for it: its result, a rotated refresh token included, is saved even
	// when every request has given up.
	var led bool // this request ran the flight (read after ch delivers)
	ch := r.flights.DoChan(s.ID, func() (any, error) {
		led = true
		return r.run(ctx, req, s, p)
	})
	t := time.NewTimer(r.c.Wait)
	defer t.Stop()
	select {
	case res := <-ch:
		if res.Shared && !led {
			r.observe(s.ProviderID, RefreshWaited)
		}
		out, _ := res.Val.(*outcome)
		if out != nil {
			writeCookies(w, out.cookies)
		}
		if res.Err != nil {
			return nil, res.Err
		}
		return out.s, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("session refresh: %w", ctx.Err())
	case <-t.C:
		r.d.Logger.DebugContext(ctx, "token refresh still running, answering with the current tokens while they last",
			"provider", s.ProviderID, "user", s.Identity.User, "waited", r.c.Wait)
		return r.current(s, fmt.Errorf("still running after %v", r.c.Wait))
	}
}

// current returns s when its access token is still valid now, and
// ErrRefreshUnavailable (wrapping cause) once it has expired.
func (r *Refresher) current(s *Session, cause error) (*Session, error) {
	if tokenExpired(s, r.d.Now()) {
		return nil, fmt.Errorf("%w: %w", ErrRefreshUnavailable, cause)
	}
	return s, nil
}

// run is the one refresh of s shared by concurrent requests. It is detached
// from the cancellation of the request that started it (its result serves
// the others, and later requests, too) and ends after Timeout.
func (r *Refresher) run(parent context.Context, req *http.Request, s *Session, p providers.Provider) (*outcome, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), r.c.Timeout)
	defer cancel()
	// A refresh of this version may have finished between the caller's
	// check and this flight.
	if out, ok := r.cached(s, r.d.Now()); ok {
		return out, nil
	}
	req = req.WithContext(ctx)

	hold := time.Duration(0) // how long the lock outlives this run (back-off)
	if r.d.Locker != nil {
		release, err := r.acquire(ctx, s)
		if errors.Is(err, errLockBusy) {
			// Another replica refreshes (or backs off): these tokens
			// are still valid, use them rather than wait.
			out := &outcome{s: s}
			r.remember(s, out, true, time.Second, r.d.Now())
			return out, nil
		}
		if err != nil {
			return r.failed(s, s, fmt.Errorf("lock: %w", err))
		}
		defer func() { release(hold) }()
	}
	// Another replica may have refreshed the session while we waited.
	cur, err := r.d.Store.Load(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("session refresh: reload: %w", err)
	}
	if cur.ID != s.ID || cur.ProviderID != s.ProviderID {
		return nil, fmt.Errorf("%w: session changed during refresh", ErrNotFound)
	}
	now := r.d.Now()
	refresh, validate := r.refreshDue(cur, now), validateDue(p, cur, now)
	// Renewed since the version this request carried: another flight did
	// the work. Use it even if it looks due again (clock skew between
	// replicas): refreshing again would only waste, or with rotation burn,
	// the refresh token.
	renewed := cur.RefreshedAt.After(s.RefreshedAt) || cur.ValidatedAt.After(s.ValidatedAt)
	if renewed || (!refresh && !validate) {
		if renewed {
			r.observe(s.ProviderID, RefreshWaited)
		}
		out := &outcome{s: cur}
		r.remember(s, out, false, recentGrace, now)
		return out, nil
	}

	out, err := r.renew(ctx, req, s, cur, p, refresh)
	if out != nil && out.backoff > 0 {
		hold = out.backoff
	}
	return out, err
}

// renew refreshes (refresh) or re-validates cur, the stored version of s,
// and saves the result; only a grant the provider explicitly no longer
// honours (invalid_grant) ends the session.
func (r *Refresher) renew(ctx context.Context, req *http.Request, s, cur *Session, p providers.Provider, refresh bool) (*outcome, error) {
	var next *Session
	if refresh {
		g, err := p.Refresh(ctx, cur.Grant())
		now := r.d.Now()
		if err == nil {
			next, err = merge(cur, g, now)
		}
		switch {
		case err == nil:
		case errors.Is(err, providers.ErrInvalidGrant),
			errors.Is(err, providers.ErrNoRefreshToken) && tokenExpired(cur, now):
			return r.end(ctx, req, cur, err)
		case errors.Is(err, providers.ErrNoRefreshToken):
			// Nothing to refresh with, but the tokens still work.
			out := &outcome{s: cur}
			r.remember(s, out, true, cur.Tokens.Expiry.Sub(now)+time.Second, now)
			return out, nil
		default:
			return r.failed(s, cur, err)
		}
	} else {
		err := p.(providers.Validator).Validate(ctx, cur.Grant())
		switch {
		case err == nil:
			v := *cur
			v.ValidatedAt = r.d.Now()
			next = &v
		case errors.Is(err, providers.ErrInvalidGrant):
			return r.end(ctx, req, cur, err)
		default:
			return r.failed(s, cur, err)
		}
	}

	rec := newHeaderRecorder()
	if err := r.d.Store.Save(ctx, rec, req, next); err != nil {
		return nil, fmt.Errorf("session refresh: save: %w", err)
	}
	out := &outcome{s: next, cookies: rec.Header().Values("Set-Cookie")}
	r.observe(s.ProviderID, RefreshSuccess)
	r.succeeded(s.ID)
	r.remember(s, out, false, recentGrace, r.d.Now())
	r.d.Logger.DebugContext(ctx, "session tokens renewed", "provider", next.ProviderID, "user", next.Identity.User, "refreshed", refresh)
	return out, nil
}

// failed handles a transient failure (anything but invalid_grant): the
// session is kept, the next attempt waits for a growing, jittered back-off,
// and the current tokens are used only if they are still valid at the
// moment of the failure.
func (r *Refresher) failed(from, cur *Session, cause error) (*outcome, error) {
	r.observe(cur.ProviderID, RefreshFailed)
	now := r.d.Now()
	backoff := r.noteFailure(from.ID, now)
	if tokenExpired(cur, now) {
		r.d.Logger.Warn("token refresh failed and the access token has expired; answering 503 until a refresh succeeds",
			"provider", cur.ProviderID, "user", cur.Identity.User, "retry_in", backoff.Round(time.Millisecond), "error", cause)
		return &outcome{backoff: backoff}, fmt.Errorf("%w: %w", ErrRefreshUnavailable, cause)
	}
	r.d.Logger.Warn("token refresh failed, using the current tokens while they last",
		"provider", cur.ProviderID, "user", cur.Identity.User, "retry_in", backoff.Round(time.Millisecond), "error", cause)
	out := &outcome{s: cur, backoff: backoff}
	r.remember(from, out, true, backoff, now)
	return out, nil
}

// end clears a session the provider no longer honours.
func (r *Refresher) end(ctx context.Context, req *http.Request, cur *Session, cause error) (*outcome, error) {
	r.observe(cur.ProviderID, RefreshEnded)
	r.d.Logger.InfoContext(ctx, "session ended by provider", "provider", cur.ProviderID, "user", cur.Identity.User, "error", cause)
	rec := newHeaderRecorder()
	if err := r.d.Store.Clear(ctx, rec, req); err != nil {
		// The session is unusable either way; the next request retries.
		r.d.Logger.WarnContext(ctx, "clearing ended session failed", "provider", cur.ProviderID, "error", err)
	}
	return &outcome{cookies: rec.Header().Values("Set-Cookie")},
		fmt.Errorf("%w: session ended by provider: %w", ErrNotFound, cause)
}

// merge returns cur renewed with the refreshed grant g. The identity is
// replaced by g's, unless the provider returned none (empty Subject); a
// different user is an error. Tokens the provider did not return again (the
// refresh token, the ID token) are kept.
func merge(cur *Session, g providers.Grant, now time.Time) (*Session, error) {
	next := *cur
	if g.Identity.Subject != "" {
		if g.Identity.Subject != cur.Identity.Subject ||
			(g.Identity.Issuer != "" && cur.Identity.Issuer != "" && g.Identity.Issuer != cur.Identity.Issuer) {
			return nil, fmt.Errorf("%w: refreshed grant names another user", providers.ErrInvalidGrant)
		}
		next.Identity = g.Identity
	}
	next.Tokens = g.Tokens
	if next.Tokens.RefreshToken == "" {
		next.Tokens.RefreshToken = cur.Tokens.RefreshToken
	}
	if next.Tokens.IDToken == "" {
		next.Tokens.IDToken = cur.Tokens.IDToken
	}
	next.RefreshedAt = now
	return &next, nil
}

// validateDue reports whether p wants s's grant re-checked at now. A refresh
// counts as a check.
func validateDue(p providers.Provider, s *Session, now time.Time) bool {
	v, ok := p.(providers.Validator)
	if !ok {
		return false
	}
	every := v.ValidateEvery()
	if every <= 0 {
		return false
	}
	last := s.ValidatedAt
	if s.RefreshedAt.After(last) {
		last = s.RefreshedAt
	}
	return now.Sub(last) >= every
}

// tokenExpired reports whether s's access token has expired at now.
func tokenExpired(s *Session, now time.Time) bool {
	return !s.Tokens.Expiry.IsZero() && !now.Before(s.Tokens.Expiry)
}

func writeCookies(w http.ResponseWriter, cookies []string) {
	if w == nil {
		return
	}
	for _, c := range cookies {
		w.Header().Add("Set-Cookie", c)
	}
}

// headerRecorder is the ResponseWriter a shared refresh gives the store: it
// keeps the headers (the cookies) to copy to every waiting response.
type headerRecorder struct{ h http.Header }

func newHeaderRecorder() headerRecorder { return headerRecorder{h: make(http.Header)} }

func (h headerRecorder) Header() http.Header { return h.h }

func (headerRecorder) Write([]byte) (int, error) {
	return 0, errors.New("session refresh: a store wrote a response body")
}

func (headerRecorder) WriteHeader(int) {}
