// Package accesslog writes one structured line per request and carries,
// in the request's context, what the handlers learn about it (user,
// provider, route, authorization, upstream answer) to that line and to
// the request metrics. It never records tokens, cookies, secrets or the
// query string.
package accesslog

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Entry is the per-request annotation the handlers fill in. Its methods
// are safe for concurrent use and do nothing on a nil *Entry, so code
// running outside Middleware needs no checks.
type Entry struct {
	mu               sync.Mutex
	requestID        string
	user             string
	provider         string
	route            string
	authz            string
	upstreamStatus   int
	upstreamDuration time.Duration
	upstreamError    bool
}

type entryKey struct{}

// NewContext returns ctx carrying e.
func NewContext(ctx context.Context, e *Entry) context.Context {
	return context.WithValue(ctx, entryKey{}, e)
}

// FromContext returns the request's Entry; nil outside Middleware (every
// method of a nil Entry is a no-op).
func FromContext(ctx context.Context) *Entry {
	e, _ := ctx.Value(entryKey{}).(*Entry)
	return e
}

// RequestID is the request's X-Request-Id (a trusted proxy's, or
// generated); "" outside Middleware.
func (e *Entry) RequestID() string {
	if e == nil {
		return ""
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requestID
}

// SetUser records the signed-in user (the X-Forwarded-User value) and the
// provider they signed in with.
func (e *Entry) SetUser(user, provider string) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.user, e.provider = user, provider
}

// SetProvider records the provider a login goes through.
func (e *Entry) SetProvider(provider string) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.provider = provider
}

// SetRoute records the name of the configured route that matched; it
// must come from configuration (bounded), never from the request.
func (e *Entry) SetRoute(route string) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.route = route
}

// Authorization results for SetAuthorization.
const (
	Allowed = "allowed"
	Denied  = "denied"
)

// SetAuthorization records the authorization decision (Allowed or
// Denied) taken for the request.
func (e *Entry) SetAuthorization(result string) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.authz = result
}

// setUpstream records the upstream's answer: its status (0 when it
// failed) and how long it took to send its headers.
func (e *Entry) setUpstream(status int, d time.Duration, failed bool) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.upstreamStatus, e.upstreamDuration, e.upstreamError = status, d, failed
}

// Record is what is known of a finished request: the access-log line and
// the input of the request metrics.
type Record struct {
	// Class is the route class: ClassProxied, ClassAuthRequest,
	// ClassLogin, ClassCallback or ClassStatic.
	Class                 string
	Method, Host, Path    string
	Status                int
	Bytes                 int64
	Duration              time.Duration
	RequestID             string
	User, Provider, Route string
	Authorization         string // Allowed, Denied or "" (not decided)
	UpstreamStatus        int    // 0: not proxied, or the upstream failed
	UpstreamDuration      time.Duration
	UpstreamError         bool
	upstreamCalled        bool
}

// UpstreamCalled reports whether the request was sent to the upstream.
func (r Record) UpstreamCalled() bool { return r.upstreamCalled }

// snapshot copies e's fields into r.
func (e *Entry) snapshot(r *Record) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r.RequestID, r.User, r.Provider, r.Route, r.Authorization = e.requestID, e.user, e.provider, e.route, e.authz
	r.UpstreamStatus, r.UpstreamDuration, r.UpstreamError = e.upstreamStatus, e.upstreamDuration, e.upstreamError
	r.upstreamCalled = e.upstreamStatus != 0 || e.upstreamError
}

// ForwardRequestID sets the request's id on h, the headers of the request
// to the upstream (nothing outside Middleware).
func ForwardRequestID(ctx context.Context, h http.Header) {
	if id := FromContext(ctx).RequestID(); id != "" {
		h.Set(HeaderRequestID, id)
	}
}
