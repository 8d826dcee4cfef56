package session

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

const testCookie = "_gh"

// testNow is the fixed clock of the cookie store tests.
var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func testOptions() CookieConfig {
	return CookieConfig{Name: testCookie, Secure: true, SameSite: http.SameSiteLaxMode, Lifetime: 24 * time.Hour}
}

func newTestStore(t testing.TB, secrets ...[]byte) *CookieStore {
	t.Helper()
	cs := NewCookieStore(mustCodec(t, secrets...), testOptions())
	cs.now = func() time.Time { return testNow }
	return cs
}

// testSession returns a session with groups random group names (random so
// that compression cannot shrink them much).
func testSession(groups int) *Session {
	s := New("oidc", providers.Grant{
		Identity: providers.Identity{Subject: "sub-1", User: "alice", Email: "alice@example.com", EmailVerified: true, Issuer: "https://idp.example"},
		Tokens: providers.Tokens{AccessToken: "at-0", TokenType: "Bearer", RefreshToken: "rt-0",
			IDToken: "eyJ.header.sig", Expiry: testNow.Add(time.Hour)},
	}, testNow, 12*time.Hour)
	for i := range groups {
		s.Identity.Groups = append(s.Identity.Groups, fmt.Sprintf("g%d-%s", i, RandomString(12)))
	}
	return s
}

// browser is a minimal cookie jar for one host: it applies Set-Cookie
// headers and builds requests carrying the cookies.
type browser map[string]string

func (b browser) apply(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b, c.Name)
		} else {
			b[c.Name] = c.Value
		}
	}
}

func (b browser) request() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example/", nil)
	for _, name := range b.names() {
		r.AddCookie(&http.Cookie{Name: name, Value: b[name]})
	}
	return r
}

func (b browser) names() []string {
	return slices.Sorted(maps.Keys(b))
}

func save(t testing.TB, cs *CookieStore, b browser, s *Session) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := cs.Save(t.Context(), rec, b.request(), s); err != nil {
		t.Fatalf("Save: %v", err)
	}
	b.apply(t, rec)
	return rec
}

func TestCookieStoreRoundTrip(t *testing.T) {
	t.Parallel()
	cs := newTestStore(t, newSecret(t))
	s := testSession(3)
	b := browser{}
	rec := save(t, cs, b, s)

	set := rec.Result().Cookies()
	if len(set) != 1 {
		t.Fatalf("Save set %d cookies, want 1", len(set))
	}
	c := set[0]
	if c.Name != testCookie || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Errorf("cookie attributes = %+v", c)
	}
	if want := int(s.ExpiresAt.Sub(testNow).Seconds()); c.MaxAge != want {
		t.Errorf("Max-Age = %d, want %d (until ExpiresAt)", c.MaxAge, want)
	}
	if strings.Contains(c.Value, "alice") || strings.Contains(c.Value, "rt-0") {
		t.Error("cookie value carries plaintext")
	}

	got, err := cs.Load(t.Context(), b.request())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("Load =\n %+v\nwant\n %+v", got, s)
	}
}

func TestCookieStoreChunks(t *testing.T) {
	t.Parallel()
	cs := newTestStore(t, newSecret(t))
	big := testSession(400)
	b := browser{}
	rec := save(t, cs, b, big)

	lines := rec.Header().Values("Set-Cookie")
	if len(lines) < 3 {
		t.Fatalf("Save wrote %d Set-Cookie headers for a large session, want several chunks", len(lines))
	}
	for i, line := range lines {
		if n := len("Set-Cookie: ") + len(line); n >= 4096 {
			t.Errorf("Set-Cookie #%d is %d bytes, want < 4096", i, n)
		}
		if want := fmt.Sprintf("%s_%d=", testCookie, i); !strings.HasPrefix(line, want) {
			t.Errorf("Set-Cookie #%d = %.20q..., want name %q", i, line, want)
		}
		if !strings.Contains(line, "HttpOnly") || !strings.Contains(line, "Max-Age=43200") {
			t.Errorf("Set-Cookie #%d lacks attributes: %.60q", i, line[strings.Index(line, ";"):])
		}
	}
	got, err := cs.Load(t.Context(), b.request())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(got, big) {
		t.Fatal("chunked session did not round-trip")
	}

	// Shrink: the single cookie replaces the chunks, which are expired.
	small := testSession(1)
	rec = save(t, cs, b, small)
	if got := b.names(); !slices.Equal(got, []string{testCookie}) {
		t.Fatalf("after shrinking, browser holds %v, want only %q", got, testCookie)
	}
	if n := len(rec.Header().Values("Set-Cookie")); n != 1+len(lines) {
		t.Errorf("shrinking wrote %d Set-Cookie headers, want 1 + %d expirations", n, len(lines))
	}
	if got, err := cs.Load(t.Context(), b.request()); err != nil || !reflect.DeepEqual(got, small) {
		t.Fatalf("Load after shrink = %v, %v", got, err)
	}

	// Grow again: the plain cookie is expired.
	save(t, cs, b, big)
	if got := b.names(); slices.Contains(got, testCookie) || len(got) != len(lines) {
		t.Fatalf("after growing, browser holds %v, want %d chunks only", got, len(lines))
	}
	if got, err := cs.Load(t.Context(), b.request()); err != nil || !reflect.DeepEqual(got, big) {
		t.Fatalf("Load after grow = %v, %v", err, got == nil)
	}

	// Clear expires every form the browser has.
	rec = httptest.NewRecorder()
	if err := cs.Clear(t.Context(), rec, b.request()); err != nil {
		t.Fatal(err)
	}
	b.apply(t, rec)
	if len(b) != 0 {
		t.Fatalf("after Clear, browser holds %v", b.names())
	}
}

func TestCookieStoreShrinkWithinChunks(t *testing.T) {
	t.Parallel()
	cs := newTestStore(t, newSecret(t))
	b := browser{}
	save(t, cs, b, testSession(600))
	before := len(b)
	smaller := testSession(250)
	save(t, cs, b, smaller)
	if len(b) >= before || len(b) < 2 {
		t.Fatalf("browser holds %d chunks after a smaller save, had %d", len(b), before)
	}
	if got, err := cs.Load(t.Context(), b.request()); err != nil || !reflect.DeepEqual(got, smaller) {
		t.Fatalf("Load = %v", err)
	}
}

func TestCookieStoreLoadRejects(t *testing.T) {
	t.Parallel()
	key := newSecret(t)
	cs := newTestStore(t, key)

	chunked := browser{}
	save(t, cs, chunked, testSession(400))
	if len(chunked) < 3 {
		t.Fatalf("need at least 3 chunks, got %d", len(chunked))
	}
	single := browser{}
	save(t, cs, single, testSession(2))

	encode := func(s *Session) string {
		v, err := cs.codec.Encode(testCookie, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	expired := testSession(0)
	expired.ExpiresAt = testNow.Add(-time.Second)
	noSubject := testSession(0)
	noSubject.Identity.Subject = ""

	flipped := []byte(single[testCookie])
	flipped[len(flipped)/3] ^= 0x01

	foreign := browser{}
	save(t, newTestStore(t, newSecret(t)), foreign, testSession(2))

	otherName, err := cs.codec.Encode("_gh_flow", testSession(0))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		cookies browser
		invalid bool // a codec failure (wraps ErrInvalid too)
	}{
		{"no cookie", browser{"other": "x"}, false},
		{"tampered", browser{testCookie: string(flipped)}, true},
		{"truncated", browser{testCookie: single[testCookie][:len(single[testCookie])-8]}, true},
		{"foreign secret", foreign, true},
		{"value made for another cookie name", browser{testCookie: otherName}, true},
		{"expired session", browser{testCookie: encode(expired)}, false},
		{"session without subject", browser{testCookie: encode(noSubject)}, false},
		{"chunk gap", browser{testCookie + "_0": chunked[testCookie+"_0"], testCookie + "_2": chunked[testCookie+"_2"]}, false},
		{"chunks without _0", browser{testCookie + "_1": chunked[testCookie+"_1"], testCookie + "_2": chunked[testCookie+"_2"]}, false},
		{"missing last chunk", browser{testCookie + "_0": chunked[testCookie+"_0"], testCookie + "_1": chunked[testCookie+"_1"]}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := cs.Load(t.Context(), tt.cookies.request())
			if !errors.Is(err, ErrNotFound) || s != nil {
				t.Fatalf("Load = %v, %v; want ErrNotFound", s, err)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Fatal("cookie store reported ErrUnavailable")
			}
			if got := errors.Is(err, ErrInvalid); got != tt.invalid {
				t.Fatalf("errors.Is(%v, ErrInvalid) = %v, want %v", err, got, tt.invalid)
			}
		})
	}
}

func TestCookieStoreRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := newSecret(t), newSecret(t)
	before := newTestStore(t, oldKey)
	during := newTestStore(t, newKey, oldKey)
	after := newTestStore(t, newKey)

	b := browser{}
	s := testSession(1)
	save(t, before, b, s)
	if _, err := after.Load(t.Context(), b.request()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("new-secret-only store loaded an old-secret cookie: %v", err)
	}
	got, err := during.Load(t.Context(), b.request())
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("rotating store cannot load an old-secret cookie: %v", err)
	}
	save(t, during, b, got) // re-saved with the newest secret
	if _, err := after.Load(t.Context(), b.request()); err != nil {
		t.Fatalf("cookie re-saved during rotation not encoded with the new secret: %v", err)
	}
	if _, err := before.Load(t.Context(), b.request()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("old-secret-only store loaded a new-secret cookie: %v", err)
	}
}

func TestCookieStoreDuplicateNames(t *testing.T) {
	t.Parallel()
	cs := newTestStore(t, newSecret(t))
	b := browser{}
	s := testSession(1)
	save(t, cs, b, s)
	// A stale cookie of the same name (say, from a former Domain setting)
	// comes first; the valid one must still be found.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(&http.Cookie{Name: testCookie, Value: "stale"})
	r.AddCookie(&http.Cookie{Name: testCookie, Value: b[testCookie]})
	if got, err := cs.Load(t.Context(), r); err != nil || got.ID != s.ID {
		t.Fatalf("Load = %v, %v", got, err)
	}
}

func TestCookieStoreSaveRejects(t *testing.T) {
	t.Parallel()
	cs := newTestStore(t, newSecret(t))
	expired := testSession(0)
	expired.ExpiresAt = testNow
	noID := testSession(0)
	noID.ID = ""
	tests := []struct {
		name string
		s    *Session
		want string
	}{
		{"expired", expired, "already expired"},
		{"no id", noID, "no id"},
		{"nil", nil, "nil session"},
		{"too large to encode", testSession(4000), "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			err := cs.Save(t.Context(), rec, httptest.NewRequest(http.MethodGet, "/", nil), tt.s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Save error = %v, want one containing %q", err, tt.want)
			}
			if tooLarge := strings.HasPrefix(tt.name, "too large"); tooLarge != errors.Is(err, ErrTooLarge) {
				t.Fatalf("Save error = %v: errors.Is(ErrTooLarge) = %v, want %v", err, !tooLarge, tooLarge)
			}
			if n := len(rec.Header().Values("Set-Cookie")); n != 0 {
				t.Fatalf("failed Save wrote %d cookies", n)
			}
		})
	}
}

func TestCookieStoreTooManyChunks(t *testing.T) {
	t.Parallel()
	// Long attributes leave less room per chunk, so a session the codec
	// accepts needs more than MaxChunks cookies.
	o := testOptions()
	o.Path = "/" + strings.Repeat("p", 1500)
	cs := NewCookieStore(mustCodec(t, newSecret(t)), o)
	cs.now = func() time.Time { return testNow }
	rec := httptest.NewRecorder()
	err := cs.Save(t.Context(), rec, httptest.NewRequest(http.MethodGet, "/", nil), testSession(1900))
	if err == nil || !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d", MaxChunks)) {
		t.Fatalf("Save error = %v, want too many chunks", err)
	}
	if n := len(rec.Header().Values("Set-Cookie")); n != 0 {
		t.Fatalf("failed Save wrote %d cookies", n)
	}
}

func BenchmarkCookieStoreLoad(b *testing.B) {
	for _, groups := range []int{5, 400} {
		b.Run(fmt.Sprintf("groups=%d", groups), func(b *testing.B) {
			cs := newTestStore(b, newSecret(b))
			jar := browser{}
			save(b, cs, jar, testSession(groups))
			r := jar.request()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cs.Load(b.Context(), r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCookieStoreLegacyChunks: chunks beyond MaxChunks (a session written
// before the cap) never make a session, and Save and Clear expire them.
func TestCookieStoreLegacyChunks(t *testing.T) {
	t.Parallel()
	cs := newTestStore(t, newSecret(t))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for i := range 10 {
		r.AddCookie(&http.Cookie{Name: fmt.Sprintf("%s_%d", cs.opts.Name, i), Value: "x"})
	}
	if _, err := cs.Load(t.Context(), r); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load of 10 chunks = %v, want ErrNotFound", err)
	}
	for name, op := range map[string]func(w http.ResponseWriter) error{
		"Save":  func(w http.ResponseWriter) error { return cs.Save(t.Context(), w, r, testSession(1)) },
		"Clear": func(w http.ResponseWriter) error { return cs.Clear(t.Context(), w, r) },
	} {
		rec := httptest.NewRecorder()
		if err := op(rec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		expired := map[string]bool{}
		for _, c := range rec.Result().Cookies() {
			if c.MaxAge < 0 {
				expired[c.Name] = true
			}
		}
		for i := range 10 {
			if n := fmt.Sprintf("%s_%d", cs.opts.Name, i); !expired[n] {
				t.Errorf("%s left chunk %s in the browser", name, n)
			}
		}
	}
}
