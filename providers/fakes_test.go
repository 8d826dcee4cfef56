package providers_test

// In-test servers speaking each service's documented OAuth API (see
// /work/shared/providers.md). Each rejects, with HTTP 400 and a test
// failure, any request a correct client would not send: wrong path or
// method, missing or extra form fields, the wrong client-authentication
// method, a bad PKCE verifier.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fake holds what every fake provider shares: codes and tokens it issued,
// and a counter of requests received.
type fake struct {
	t        testing.TB
	name     string
	requests atomic.Int64
	mu       sync.Mutex
	codes    map[string]codeGrant
	access   map[string]string // access token → user key
	refresh  map[string]string // refresh token → user key
	// down makes every endpoint answer 503.
	down atomic.Bool
}

type codeGrant struct {
	user, clientID, redirect, challenge, method, scope string
}

func newFake(t testing.TB, name string) *fake {
	return &fake{t: t, name: name, codes: map[string]codeGrant{}, access: map[string]string{}, refresh: map[string]string{}}
}

func randomToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// violation fails the test: the client sent something the service's
// documentation does not allow.
func (f *fake) violation(w http.ResponseWriter, r *http.Request, format string, args ...any) {
	f.t.Helper()
	f.t.Errorf("%s fake: %s %s: "+format, append([]any{f.name, r.Method, r.URL.Path}, args...)...)
	http.Error(w, "bad request", http.StatusBadRequest)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// form parses a POST form body, refusing query parameters and fields
// outside allowed; required fields must be present and non-empty.
func (f *fake) form(w http.ResponseWriter, r *http.Request, required, optional []string) (url.Values, bool) {
	f.t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		f.violation(w, r, "content type %q", ct)
		return nil, false
	}
	if r.URL.RawQuery != "" {
		f.violation(w, r, "unexpected query %q", r.URL.RawQuery)
		return nil, false
	}
	if err := r.ParseForm(); err != nil {
		f.violation(w, r, "form: %v", err)
		return nil, false
	}
	return r.PostForm, f.checkParams(w, r, r.PostForm, required, optional)
}

func (f *fake) checkParams(w http.ResponseWriter, r *http.Request, v url.Values, required, optional []string) bool {
	f.t.Helper()
	for k, vs := range v {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			f.violation(w, r, "unexpected parameter %q", k)
			return false
		}
		if len(vs) != 1 {
			f.violation(w, r, "parameter %q repeated", k)
			return false
		}
	}
	for _, k := range required {
		if v.Get(k) == "" {
			f.violation(w, r, "missing parameter %q", k)
			return false
		}
	}
	return true
}

// checkPKCE verifies a code_verifier against the stored challenge.
func checkPKCE(g codeGrant, verifier string) bool {
	if g.method == "" {
		return verifier == ""
	}
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	switch g.method {
	case "S256":
		sum := sha256.Sum256([]byte(verifier))
		return base64.RawURLEncoding.EncodeToString(sum[:]) == g.challenge
	case "plain":
		return verifier == g.challenge
	}
	return false
}

func (f *fake) issueCode(g codeGrant) string {
	code := randomToken()
	f.mu.Lock()
	f.codes[code] = g
	f.mu.Unlock()
	return code
}

// takeCode consumes a code (codes are single-use).
func (f *fake) takeCode(code string) (codeGrant, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	g, ok := f.codes[code]
	delete(f.codes, code)
	return g, ok
}

func (f *fake) issueTokens(user string, withRefresh bool) (at, rt string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	at = randomToken()
	f.access[at] = user
	if withRefresh {
		rt = randomToken()
		f.refresh[rt] = user
	}
	return at, rt
}

// takeRefresh consumes a refresh token when rotate, else just checks it.
func (f *fake) takeRefresh(rt string, rotate bool) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.refresh[rt]
	if ok && rotate {
		delete(f.refresh, rt)
	}
	return u, ok
}

// bearer returns the user of the request's Bearer token.
func (f *fake) bearer(r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.access[tok]
	return u, ok
}

func (f *fake) revokeAccess(user string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, u := range f.access {
		if u == user {
			delete(f.access, k)
		}
	}
}

// serve wraps the fake's mux: counting, 503 when down, and a violation for
// every unknown path or method.
func (f *fake) serve(t testing.TB, mux *http.ServeMux) *httptest.Server {
	t.Helper()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.violation(w, r, "no such endpoint")
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if f.down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// authorizeRedirect answers an authorization request by sending the browser
// back with a code (the user consented) or with error=access_denied.
func authorizeRedirect(w http.ResponseWriter, r *http.Request, callback, state, code string, deny bool) {
	u, _ := url.Parse(callback)
	q := u.Query()
	if deny {
		q.Set("error", "access_denied")
		q.Set("error_description", "The resource owner or authorization server denied the request.")
	} else {
		q.Set("code", code)
	}
	q.Set("state", state)
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// browse plays the browser: it GETs the authorization URL and returns the
// callback query the provider redirected to.
func browse(t testing.TB, authURL string) url.Values {
	t.Helper()
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("authorize: bad Location: %v", err)
	}
	return loc.Query()
}

// oauthError writes an RFC 6749 §5.2 error.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}
