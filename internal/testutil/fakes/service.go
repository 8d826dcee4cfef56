// Package fakes runs in-test servers that speak the documented OAuth APIs
// of the services Gatehouse supports (OSDN, Quaily, osu!, Mastodon,
// GitHub, GitLab, Google, Microsoft Entra ID with Graph, Keycloak and a
// generic RFC 6749 server). Each rejects, with HTTP 400 and a test failure,
// any request a correct client would not send: wrong path or method,
// missing or extra parameters, the wrong client-authentication method, a
// bad PKCE verifier. See /work/shared/providers.md for the APIs. The
// OpenID Connect ones put the service's strict endpoints in front of a
// real internal/devidp provider, which signs their ID tokens.
package fakes

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Service is what every fake shares: the codes and tokens it issued, a
// request counter and switches a test flips to make it misbehave.
type Service struct {
	t    testing.TB
	name string

	// Requests counts every request the service received.
	Requests atomic.Int64
	// Down makes every endpoint answer 503.
	Down atomic.Bool
	// Deny makes the authorize endpoint send the browser back with
	// error=access_denied, as when the user declines consent.
	Deny atomic.Bool
	// Refreshes counts successful refresh_token grants; RefreshRejected
	// counts refresh_token grants refused as invalid_grant.
	Refreshes, RefreshRejected atomic.Int64

	mu      sync.Mutex
	codes   map[string]codeGrant
	access  map[string]string // access token → user key
	refresh map[string]string // refresh token → user key
	profile map[string]any    // what the user endpoint answers (per fake)
	issued  []string          // every code and token ever issued
}

type codeGrant struct {
	user, clientID, redirect, challenge, method, scope string
}

func newService(t testing.TB, name string) *Service {
	return &Service{t: t, name: name, codes: map[string]codeGrant{}, access: map[string]string{}, refresh: map[string]string{}}
}

// RandomToken returns 32 random hex characters.
func RandomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SetProfile replaces the JSON document the service's user endpoint
// answers (userinfo, /api/v2/me, /api/v0/user); tests use it to send
// unexpected shapes.
func (s *Service) SetProfile(p map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.profile = p
}

// Profile returns a copy of the current user document.
func (s *Service) Profile() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]any, len(s.profile))
	for k, v := range s.profile {
		out[k] = v
	}
	return out
}

// AccessTokenValid reports whether tok is an access token the service
// issued and has not revoked.
func (s *Service) AccessTokenValid(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.access[tok]
	return ok
}

// RefreshTokenValid reports whether tok is a live refresh token.
func (s *Service) RefreshTokenValid(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.refresh[tok]
	return ok
}

// Issued returns every code, access token, refresh token and (Mastodon)
// app secret the service has issued, so tests can check none of them
// leaks into a page or log.
func (s *Service) Issued() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

// RevokeAccess invalidates every access token of user.
func (s *Service) RevokeAccess(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, u := range s.access {
		if u == user {
			delete(s.access, k)
		}
	}
}

// violation fails the test: the client sent something the service's
// documentation does not allow.
func (s *Service) violation(w http.ResponseWriter, r *http.Request, format string, args ...any) {
	s.t.Helper()
	s.t.Errorf("%s fake: %s %s: %s", s.name, r.Method, r.URL.Path, fmt.Sprintf(format, args...))
	http.Error(w, "bad request", http.StatusBadRequest)
}

// WriteJSON writes v as a JSON response with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// OAuthError writes an RFC 6749 §5.2 error.
func OAuthError(w http.ResponseWriter, status int, code, desc string) {
	WriteJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// form parses a POST form body, refusing query parameters and fields
// outside required and optional; required fields must be non-empty.
func (s *Service) form(w http.ResponseWriter, r *http.Request, required, optional []string) (url.Values, bool) {
	s.t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		s.violation(w, r, "content type %q", ct)
		return nil, false
	}
	if r.URL.RawQuery != "" {
		s.violation(w, r, "unexpected query %q", r.URL.RawQuery)
		return nil, false
	}
	if err := r.ParseForm(); err != nil {
		s.violation(w, r, "form: %v", err)
		return nil, false
	}
	return r.PostForm, s.checkParams(w, r, r.PostForm, required, optional)
}

func (s *Service) checkParams(w http.ResponseWriter, r *http.Request, v url.Values, required, optional []string) bool {
	s.t.Helper()
	for k, vs := range v {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			s.violation(w, r, "unexpected parameter %q", k)
			return false
		}
		if len(vs) != 1 {
			s.violation(w, r, "parameter %q repeated", k)
			return false
		}
	}
	for _, k := range required {
		if v.Get(k) == "" {
			s.violation(w, r, "missing parameter %q", k)
			return false
		}
	}
	return true
}

// CheckPKCE reports whether verifier matches the challenge sent with
// method at authorize time ("" when PKCE was not used).
func CheckPKCE(method, challenge, verifier string) bool {
	if method == "" {
		return verifier == ""
	}
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	switch method {
	case "S256":
		sum := sha256.Sum256([]byte(verifier))
		return base64.RawURLEncoding.EncodeToString(sum[:]) == challenge
	case "plain":
		return verifier == challenge
	}
	return false
}

func (s *Service) issueCode(g codeGrant) string {
	code := RandomToken()
	s.mu.Lock()
	s.codes[code] = g
	s.issued = append(s.issued, code)
	s.mu.Unlock()
	return code
}

// takeCode consumes a code (codes are single-use).
func (s *Service) takeCode(code string) (codeGrant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.codes[code]
	delete(s.codes, code)
	return g, ok
}

func (s *Service) issueTokens(user string, withRefresh bool) (at, rt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at = RandomToken()
	s.access[at] = user
	s.issued = append(s.issued, at)
	if withRefresh {
		rt = RandomToken()
		s.refresh[rt] = user
		s.issued = append(s.issued, rt)
	}
	return at, rt
}

// takeRefresh consumes a refresh token when rotate, else just checks it,
// and counts the outcome.
func (s *Service) takeRefresh(rt string, rotate bool) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.refresh[rt]
	if ok && rotate {
		delete(s.refresh, rt)
	}
	if ok {
		s.Refreshes.Add(1)
	} else {
		s.RefreshRejected.Add(1)
	}
	return u, ok
}

// bearer returns the user of the request's Bearer token.
func (s *Service) bearer(r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.access[tok]
	return u, ok
}

// serve wraps mux: counting, 503 when down, and a violation for every
// unknown path or method. The server closes when the test ends.
func (s *Service) serve(mux *http.ServeMux) *httptest.Server {
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.violation(w, r, "no such endpoint")
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Requests.Add(1)
		if s.Down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	s.t.Cleanup(srv.Close)
	return srv
}

// authorizeRedirect answers an authorization request by sending the
// browser back to callback with a code, or with error=access_denied when
// the service is set to deny.
func (s *Service) authorizeRedirect(w http.ResponseWriter, r *http.Request, callback, state string, g codeGrant) {
	u, err := url.Parse(callback)
	if err != nil {
		s.violation(w, r, "callback %q: %v", callback, err)
		return
	}
	q := u.Query()
	if s.Deny.Load() {
		q.Set("error", "access_denied")
		q.Set("error_description", "The resource owner or authorization server denied the request.")
	} else {
		q.Set("code", s.issueCode(g))
	}
	q.Set("state", state)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}
