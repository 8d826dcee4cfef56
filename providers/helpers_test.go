package providers_test

// Helpers shared by this package's tests. The services they talk to are
// the in-test fakes of internal/testutil/fakes.

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

// gateCallback is the Gatehouse callback URL registered with the fakes.
const gateCallback = "https://gate.example/oauth2/callback"

// randomToken returns 32 random hex characters.
func randomToken() string { return fakes.RandomToken() }

// writeJSON writes v as a JSON response with status.
func writeJSON(w http.ResponseWriter, status int, v any) { fakes.WriteJSON(w, status, v) }

// setProfileField changes one field of a fake service's user document.
func setProfileField(f interface {
	Profile() map[string]any
	SetProfile(map[string]any)
}, k string, v any) {
	p := f.Profile()
	p[k] = v
	f.SetProfile(p)
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

// presetLogin runs a whole login with p: the authorization URL (the fake
// consents at once), then Redeem with the code it sent back.
func presetLogin(t testing.TB, p interface {
	AuthCodeURL(context.Context, providers.AuthParams) (string, error)
	Redeem(context.Context, string, providers.AuthParams) (providers.Grant, error)
}, callback string) (providers.Grant, error) {
	t.Helper()
	ap := providers.AuthParams{State: "preset-state", Nonce: "preset-nonce", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: callback}
	authURL, err := p.AuthCodeURL(t.Context(), ap)
	if err != nil {
		t.Fatal(err)
	}
	q := browse(t, authURL)
	if e := q.Get("error"); e != "" {
		t.Fatalf("authorize: %s: %s", e, q.Get("error_description"))
	}
	return p.Redeem(t.Context(), q.Get("code"), ap)
}
