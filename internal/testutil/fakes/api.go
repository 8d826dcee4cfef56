package fakes

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Endpoints counts requests per route of the fakes that imitate a REST
// API (GitHub, GitLab, Google, Microsoft Graph, Keycloak), keyed by the
// route's pattern as written in the fake ("GET /user/orgs").
type Endpoints struct {
	emu   sync.Mutex
	calls map[string]int
}

// Calls returns how many requests reached the route pattern.
func (e *Endpoints) Calls(pattern string) int {
	e.emu.Lock()
	defer e.emu.Unlock()
	return e.calls[pattern]
}

// handle registers h on mux under prefix+pattern's path and counts its
// calls under pattern.
func (e *Endpoints) handle(mux *http.ServeMux, prefix, pattern string, h http.HandlerFunc) {
	full := prefix + pattern
	if method, path, ok := strings.Cut(pattern, " "); ok {
		full = method + " " + prefix + path
	}
	mux.HandleFunc(full, func(w http.ResponseWriter, r *http.Request) {
		e.emu.Lock()
		if e.calls == nil {
			e.calls = map[string]int{}
		}
		e.calls[pattern]++
		e.emu.Unlock()
		h(w, r)
	})
}

// Throttle makes the next requests of a fake's API answer as its service
// does when a rate limit is hit (each fake documents the exact answer).
type Throttle struct {
	mu         sync.Mutex
	left       int
	status     int
	retryAfter int
}

// Set makes the next n API requests answer status (403 or 429, as the
// service documents) with a Retry-After of retryAfter seconds when
// retryAfter > 0. n = 0 turns throttling off.
func (th *Throttle) Set(n, status, retryAfter int) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.left, th.status, th.retryAfter = n, status, retryAfter
}

// take reports whether this request is throttled, with its status and
// Retry-After.
func (th *Throttle) take() (status, retryAfter int, throttled bool) {
	th.mu.Lock()
	defer th.mu.Unlock()
	if th.left <= 0 {
		return 0, 0, false
	}
	th.left--
	return th.status, th.retryAfter, true
}

// setRetryAfter writes Retry-After when secs > 0.
func setRetryAfter(w http.ResponseWriter, secs int) {
	if secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
}

// pageOf returns the items of the 1-based page of size, and whether a
// later page exists.
func pageOf[T any](items []T, page, size int) ([]T, bool) {
	start := (page - 1) * size
	if page < 1 || size < 1 || start >= len(items) {
		return []T{}, false
	}
	end := min(start+size, len(items))
	return items[start:end], end < len(items)
}

// lastPage is the number of pages of n items of size (at least 1).
func lastPage(n, size int) int {
	if n == 0 {
		return 1
	}
	return (n + size - 1) / size
}

// report records a violation like violation does, leaving the answer to
// the caller (for services whose answer to the mistake is documented).
func (s *Service) report(r *http.Request, format string, args ...any) {
	s.t.Helper()
	s.t.Errorf("%s fake: %s %s: %s", s.name, r.Method, r.URL.Path, fmt.Sprintf(format, args...))
}
