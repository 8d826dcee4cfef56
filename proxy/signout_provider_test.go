package proxy_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// TestSignedOutPageAfterProviderSignOut: with provider sign-out, the
// browser the provider sends back sees the signed-out page once, as
// without provider sign-out, then the sign-in redirect as usual.
func TestSignedOutPageAfterProviderSignOut(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	g.Login(t, "alice", "/")
	resp := g.SignOut(t, "")
	end := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(end, g.IdP.Issuer()) {
		t.Fatalf("sign-out: %d to %q, want the provider's end_session", resp.StatusCode, end)
	}
	resp = testutil.Do(t, g.Client, end)
	back := testutil.Location(t, resp)
	if back != g.Server.URL+"/" {
		t.Fatalf("the provider sent the browser to %q", back)
	}
	resp = testutil.Do(t, g.Client, back, "Accept", "text/html")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "You are signed out") {
		t.Errorf("back from the provider: %d\n%s", resp.StatusCode, body)
	}
	if resp := testutil.Do(t, g.Client, back, "Accept", "text/html"); resp.StatusCode != http.StatusFound {
		t.Errorf("the next visit: %d, want the usual redirect to sign in", resp.StatusCode)
	}
}
