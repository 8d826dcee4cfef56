package proxy_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// TestNginxPassesAssertion: the shipped nginx example hands the assertion
// of /oauth2/auth to the application, for the host nginx serves, and never
// the one a client sends, with or without signing keys.
func TestNginxPassesAssertion(t *testing.T) {
	t.Parallel()
	const forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	for name, signed := range map[string]bool{"signed": true, "unsigned": false} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startNginxSetup(t, func(o *config.Options) {
				if signed {
					o.SigningKeyFiles, o.AssertionIssuer = []string{writeSigningKey(t, true)}, assertionIssuer
				}
			}, nil)
			c := testutil.NewBrowser(t)
			s.login(t, c)
			echo := testutil.DecodeEcho(t, send(t, c, http.MethodGet, s.pageURL, nil, "Accept", "application/json", "X-Gatehouse-Assertion", forged))
			got := echo.Header.Get("X-Gatehouse-Assertion")
			switch {
			case got == forged:
				t.Fatal("the client's assertion reached the application")
			case !signed && got != "":
				t.Fatalf("assertion %q without signing keys", got)
			case signed:
				c := verifyAssertion(t, assertionVerifier(t, s.gw, "127.0.0.1"), got)
				if c.Sub != devidp.Subject("alice") {
					t.Errorf("claims %+v", c)
				}
			}
		})
	}
}
