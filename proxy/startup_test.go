package proxy_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp/devidptest"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// switchableIdP is a development provider whose whole server (discovery
// included) can be taken down and brought back.
func switchableIdP(t *testing.T, down *atomic.Bool) *testutil.IdPServer {
	t.Helper()
	o := devidp.Options{ClientID: "gatehouse-test", ClientSecret: "test-client-secret", Users: []devidp.User{
		{Username: "alice", Name: "Alice", Email: "alice@example.com", EmailVerified: true},
	}}
	idp, err := devidptest.New(o)
	if err != nil {
		t.Fatal(err)
	}
	h := idp.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	idp.SetIssuer(srv.URL)
	return &testutil.IdPServer{IdP: idp, Server: srv, ClientID: o.ClientID, ClientSecret: o.ClientSecret}
}

// TestProviderDownAtStartup: a provider whose discovery fails at start-up
// no longer stops Gatehouse. /ready names it, its logins get a 503 page,
// the other provider keeps working, and once it is back it is discovered
// in the background: ready flips and its login works, without a restart.
func TestProviderDownAtStartup(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	corp := switchableIdP(t, &down)
	var log safeLog
	g := testutil.StartGateway(t, testutil.GatewayConfig{
		Deps: gateway.Deps{Logger: slog.New(slog.NewTextHandler(&log, nil))},
		Options: func(o *config.Options) {
			o.Providers = []config.ProviderOptions{
				{ID: "corp", Type: "oidc", DisplayName: "Corp SSO", IssuerURL: corp.Issuer(), ClientID: corp.ClientID, ClientSecret: corp.ClientSecret},
				{ID: "main", Type: "oidc", IssuerURL: o.OIDCIssuerURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret},
			}
			o.OIDCIssuerURL, o.ClientID, o.ClientSecret = "", "", ""
		},
	})

	resp := g.Get(t, "/ready")
	if b := body(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "corp") || strings.Contains(b, "main") {
		t.Fatalf("/ready while corp is down: %d %q; want 503 naming corp only", resp.StatusCode, b)
	}
	resp = g.Get(t, "/oauth2/start?provider=corp")
	if b := body(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(b, "Corp SSO") || !strings.Contains(b, "not available yet") {
		t.Errorf("/oauth2/start?provider=corp while down: %d\n%s", resp.StatusCode, b)
	}
	if page := body(t, g.Get(t, "/oauth2/sign_in")); !strings.Contains(page, "Corp SSO") {
		t.Error("the sign-in page does not offer the pending provider")
	}
	// The other provider works meanwhile.
	resp = testutil.Do(t, g.Client, g.Server.URL+"/oauth2/start?provider=main")
	cb := g.IdP.Authorize(t, g.Client, testutil.Location(t, resp), "alice")
	if resp := testutil.Do(t, g.Client, cb); resp.StatusCode != http.StatusFound {
		t.Fatalf("login through the working provider: status %d", resp.StatusCode)
	}
	if msg := log.String(); !strings.Contains(msg, "fix=") || strings.Count(msg, `provider "corp": provider "corp"`) > 0 {
		t.Errorf("start-up log should give a fix and name the provider once:\n%s", msg)
	}

	down.Store(false)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp := g.Get(t, "/ready")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready still %d 30s after the provider came back:\n%s", resp.StatusCode, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	other := &testutil.Gateway{IdP: corp, Server: g.Server, Client: testutil.NewBrowser(t)}
	resp = testutil.Do(t, other.Client, g.Server.URL+"/oauth2/start?provider=corp")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("/oauth2/start?provider=corp once back: status %d", resp.StatusCode)
	}
	cb = corp.Authorize(t, other.Client, testutil.Location(t, resp), "alice")
	if resp := testutil.Do(t, other.Client, cb); resp.StatusCode != http.StatusFound {
		t.Errorf("login through corp once it is back: status %d", resp.StatusCode)
	}
}
