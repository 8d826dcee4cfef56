package jwks

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestRefreshWindow: at most Burst fetches per window however many
// unknown key ids arrive, and fetching resumes once the window passed.
func TestRefreshWindow(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		_, _ = w.Write([]byte(`{"keys":[]}`))
	}))
	t.Cleanup(srv.Close)
	ks := NewKeySet(srv.URL, srv.Client(), []string{"RS256"}, 10*time.Second)
	now := time.Unix(1_000_000, 0)
	ks.now = func() time.Time { return now }
	got := 0
	for range 100 {
		if ks.refresh(t.Context()) {
			got++
		}
	}
	if got != Burst || fetches.Load() != Burst {
		t.Fatalf("%d refreshes, %d fetches in one window; want %d", got, fetches.Load(), Burst)
	}
	now = now.Add(11 * time.Second)
	if !ks.refresh(t.Context()) || fetches.Load() != Burst+1 {
		t.Errorf("no fetch after the window passed (%d fetches)", fetches.Load())
	}
}

// TestSymmetricKeysIgnored: a JWKS entry with a symmetric key is never
// used to verify.
func TestSymmetricKeysIgnored(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`))
	}))
	t.Cleanup(srv.Close)
	ks := NewKeySet(srv.URL, srv.Client(), []string{"RS256"}, 0)
	if !ks.refresh(t.Context()) {
		t.Fatal("no fetch")
	}
	if c := ks.candidates("h"); len(c) != 0 {
		t.Errorf("symmetric key kept: %+v", c)
	}
}
