package proxy_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// TestSessionValidateInterval: with --session-validate-interval the access
// token is re-checked at the provider's userinfo endpoint at most once per
// interval; once the provider revokes it, the next request is signed out.
func TestSessionValidateInterval(t *testing.T) {
	t.Parallel()
	clk := &clock{}
	g := testutil.StartGateway(t, testutil.GatewayConfig{
		IdP: devidp.Options{AccessTokenTTL: time.Hour, IDTokenTTL: time.Hour, Now: clk.Now},
		Options: func(o *config.Options) {
			o.SessionValidateInterval = 5 * time.Minute
		},
		Deps: gateway.Deps{Now: clk.Now},
	})
	g.Login(t, "alice", "/")
	status := func() int {
		return g.Get(t, "/", "Accept", "application/json").StatusCode
	}
	calls := g.IdP.UserinfoCalls()
	for range 3 {
		if s := status(); s != http.StatusOK {
			t.Fatalf("status %d", s)
		}
	}
	if n := g.IdP.UserinfoCalls() - calls; n != 0 {
		t.Fatalf("%d userinfo checks before the interval passed, want 0", n)
	}
	clk.Advance(6 * time.Minute)
	for range 3 {
		if s := status(); s != http.StatusOK {
			t.Fatalf("status %d after the interval", s)
		}
	}
	if n := g.IdP.UserinfoCalls() - calls; n != 1 {
		t.Fatalf("%d userinfo checks in one interval, want 1", n)
	}
	g.IdP.RevokeAllAccessTokens()
	if s := status(); s != http.StatusOK {
		t.Fatalf("status %d: checked before the interval passed", s)
	}
	clk.Advance(6 * time.Minute)
	if s := status(); s != http.StatusUnauthorized {
		t.Fatalf("status %d after the provider revoked the token, want 401", s)
	}
	resp := g.Get(t, "/page")
	if resp.StatusCode != http.StatusFound {
		t.Errorf("navigation: status %d, want 302 to sign-in", resp.StatusCode)
	}
}
