package providers

import (
	"bytes"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestOIDCOfflineAccess: offline_access is requested when discovery lists
// it (auto), or always (true), or never (false); a provider that, like Dex,
// issues refresh tokens only for offline_access then gives one, and a login
// without one, from a provider that advertises refresh, is warned about
// once.
func TestOIDCOfflineAccess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		listed      bool   // discovery lists offline_access
		setting     string // OIDCConfig.OfflineAccess
		wantScope   bool
		wantRefresh bool
	}{
		{name: "auto, listed", listed: true, setting: "", wantScope: true, wantRefresh: true},
		{name: "auto explicit, listed", listed: true, setting: OfflineAuto, wantScope: true, wantRefresh: true},
		{name: "auto, not listed", listed: false, setting: OfflineAuto, wantScope: false, wantRefresh: false},
		{name: "true, not listed", listed: false, setting: OfflineAlways, wantScope: true, wantRefresh: true},
		{name: "false, listed", listed: true, setting: OfflineNever, wantScope: false, wantRefresh: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			e := newOIDCEnv(t, devidp.Options{RefreshRequiresOfflineAccess: true, NoOfflineAccess: !tt.listed}, OIDCConfig{})
			// newOIDCEnv built the provider with a silent logger: rebuild
			// it with one we can read.
			c := e.prov.c
			c.Scopes, c.Logger, c.OfflineAccess = nil, slog.New(slog.NewTextHandler(&logs, nil)), tt.setting
			prov, err := NewOIDC(t.Context(), c)
			if err != nil {
				t.Fatal(err)
			}
			e.prov = prov
			p := newAuthParams()
			authURL, err := prov.AuthCodeURL(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(authURL)
			scopes := strings.Fields(u.Query().Get("scope"))
			if got := slices.Contains(scopes, "offline_access"); got != tt.wantScope {
				t.Fatalf("scope %q: offline_access requested = %v, want %v", scopes, got, tt.wantScope)
			}
			for range 2 {
				g, err := e.redeem(t)
				if err != nil {
					t.Fatal(err)
				}
				if got := g.Tokens.RefreshToken != ""; got != tt.wantRefresh {
					t.Fatalf("refresh token issued = %v, want %v", got, tt.wantRefresh)
				}
			}
			// devidp lists the refresh_token grant: a login without a
			// refresh token is warned about, once for two logins.
			warned := strings.Count(logs.String(), "returned none at login")
			if want := map[bool]int{true: 0, false: 1}[tt.wantRefresh]; warned != want {
				t.Fatalf("missing-refresh-token warning logged %d times, want %d:\n%s", warned, want, logs.String())
			}
		})
	}
}
