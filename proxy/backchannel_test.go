package proxy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp/devidptest"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
)

// logoutFleet is two gateway replicas sharing one Redis and one provider
// that sends back-channel logout tokens through a load balancer to the
// first replica.
type logoutFleet struct {
	idp  *testutil.IdPServer
	a, b *testutil.Gateway
	lb   *httptest.Server // what the provider posts to
}

func startLogoutFleet(t *testing.T, opts func(o *config.Options)) *logoutFleet {
	t.Helper()
	r := redistest.StartRedis(t)
	var target atomic.Pointer[http.Handler]
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { (*target.Load()).ServeHTTP(w, req) }))
	t.Cleanup(lb.Close)
	idp := testutil.StartIdP(t, devidp.Options{BackchannelLogoutURI: lb.URL + "/oauth2/backchannel_logout"})
	cfg := testutil.GatewayConfig{IdPServer: idp, Options: func(o *config.Options) {
		o.SessionStore, o.RedisURL = "redis", r.URL()
		if opts != nil {
			opts(o)
		}
	}}
	f := &logoutFleet{idp: idp, a: testutil.StartGateway(t, cfg), b: testutil.StartGateway(t, cfg), lb: lb}
	var h http.Handler = f.a.Gateway
	target.Store(&h)
	return f
}

// signedIn asks gateway g, with browser c, for a page as an API client
// would: 200 signed in, 401 not.
func signedIn(t *testing.T, g *testutil.Gateway, c *http.Client) bool {
	t.Helper()
	resp := testutil.Do(t, c, g.Server.URL+"/", "Accept", "application/json")
	switch resp.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusUnauthorized:
		return false
	}
	t.Fatalf("status %d", resp.StatusCode)
	return false
}

// postLogout posts a logout_token form to base's back-channel endpoint.
func postLogout(t *testing.T, base, token string) (*http.Response, map[string]string) {
	t.Helper()
	resp, err := http.Post(base+"/oauth2/backchannel_logout", "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e map[string]string
	if len(body) > 0 {
		_ = json.Unmarshal(body, &e)
	}
	return resp, e
}

// loginWith signs user in through g with browser c and returns c.
func loginWith(t *testing.T, g *testutil.Gateway, c *http.Client, user string) *http.Client {
	t.Helper()
	gw := *g
	gw.Client = c
	gw.Login(t, user, "/")
	return c
}

// TestBackchannelLogoutEndsSessionsOnEveryReplica: the provider ends
// alice's logins; her next request on either replica is signed out, and
// bob stays signed in.
func TestBackchannelLogoutEndsSessionsOnEveryReplica(t *testing.T) {
	t.Parallel()
	f := startLogoutFleet(t, nil)
	laptop := loginWith(t, f.a, testutil.NewBrowser(t), "alice")
	phone := loginWith(t, f.b, testutil.NewBrowser(t), "alice")
	bob := loginWith(t, f.a, testutil.NewBrowser(t), "bob")
	for _, g := range []*testutil.Gateway{f.a, f.b} {
		if !signedIn(t, g, laptop) || !signedIn(t, g, phone) || !signedIn(t, g, bob) {
			t.Fatal("not signed in on every replica before the logout")
		}
	}

	sent, err := f.idp.LogoutUser(t.Context(), nil, "alice")
	if err != nil || sent != 2 {
		t.Fatalf("LogoutUser: %d tokens accepted, %v; want one per login (2)", sent, err)
	}
	for name, g := range map[string]*testutil.Gateway{"a": f.a, "b": f.b} {
		if signedIn(t, g, laptop) || signedIn(t, g, phone) {
			t.Errorf("replica %s still serves alice after the back-channel logout", name)
		}
		if !signedIn(t, g, bob) {
			t.Errorf("replica %s signed bob out too", name)
		}
	}
	// A browser navigation now goes to sign-in.
	resp := testutil.Do(t, phone, f.b.Server.URL+"/page")
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/oauth2/sign_in") {
		t.Errorf("navigation after logout: %d to %q, want 302 to sign-in", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestBackchannelLogoutBySubjectOrSID: a token naming only the subject
// ends all of the user's sessions; one naming a sid only that login's.
func TestBackchannelLogoutBySubjectOrSID(t *testing.T) {
	t.Parallel()
	f := startLogoutFleet(t, nil)
	sub := devidp.Subject("alice")
	one := loginWith(t, f.a, testutil.NewBrowser(t), "alice")
	sids := f.idp.SessionIDs("alice")
	if len(sids) != 1 {
		t.Fatalf("IdP sessions of alice: %v", sids)
	}
	sid := sids[0]
	two := loginWith(t, f.b, testutil.NewBrowser(t), "alice")
	three := loginWith(t, f.b, testutil.NewBrowser(t), "alice")

	tok, err := f.idp.LogoutToken("", sid)
	if err != nil {
		t.Fatal(err)
	}
	if resp, e := postLogout(t, f.b.Server.URL, tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("sid logout: status %d %v", resp.StatusCode, e)
	}
	if signedIn(t, f.a, one) || !signedIn(t, f.a, two) || !signedIn(t, f.b, three) {
		t.Fatal("a sid-only token ended the wrong sessions")
	}
	tok, _ = f.idp.LogoutToken(sub, "")
	if resp, e := postLogout(t, f.a.Server.URL, tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("sub logout: status %d %v", resp.StatusCode, e)
	}
	if signedIn(t, f.b, two) || signedIn(t, f.a, three) {
		t.Error("a sub-only token left a session of the subject")
	}
}

// TestBackchannelLogoutRefusals: tokens the specification rejects are
// answered 400 {"error":"invalid_request"}, never cached, and end nothing;
// a token is used once across replicas.
func TestBackchannelLogoutRefusals(t *testing.T) {
	t.Parallel()
	f := startLogoutFleet(t, nil)
	alice := loginWith(t, f.a, testutil.NewBrowser(t), "alice")
	sub := devidp.Subject("alice")
	sid := f.idp.SessionIDs("alice")[0]
	claims := func(mod func(c map[string]any)) func(h, c map[string]any) {
		return func(_, c map[string]any) { mod(c) }
	}
	now := time.Now()
	forge := func(sig devidptest.LogoutSignature, mutate func(h, c map[string]any)) string {
		tok, err := f.idp.ForgeLogoutToken(sig, sub, sid, mutate)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cases := []struct{ name, token string }{
		{"expired", forge(devidptest.SignPublished, claims(func(c map[string]any) {
			c["exp"], c["iat"] = now.Add(-time.Minute).Unix(), now.Add(-3*time.Minute).Unix()
		}))},
		{"issued too long ago", forge(devidptest.SignPublished, claims(func(c map[string]any) { c["iat"] = now.Add(-10 * time.Minute).Unix() }))},
		{"wrong audience", forge(devidptest.SignPublished, claims(func(c map[string]any) { c["aud"] = "someone-else" }))},
		{"wrong audience among several", forge(devidptest.SignPublished, claims(func(c map[string]any) { c["aud"] = []string{"x", "y"} }))},
		{"wrong issuer", forge(devidptest.SignPublished, claims(func(c map[string]any) { c["iss"] = "https://idp.evil.example" }))},
		{"carries a nonce", forge(devidptest.SignPublished, claims(func(c map[string]any) { c["nonce"] = "n-1" }))},
		{"no events", forge(devidptest.SignPublished, claims(func(c map[string]any) { delete(c, "events") }))},
		{"neither sid nor sub", forge(devidptest.SignPublished, claims(func(c map[string]any) { delete(c, "sid"); delete(c, "sub") }))},
		{"unsigned", forge(devidptest.SignNone, nil)},
		{"HS256 with the public key", forge(devidptest.SignHS256WithPublicKey, nil)},
		{"unknown kid", forge(devidptest.SignUnknownKey, nil)},
		{"not a JWT", "not-a-jwt"},
	}
	for _, tc := range cases {
		resp, e := postLogout(t, f.b.Server.URL, tc.token)
		if resp.StatusCode != http.StatusBadRequest || e["error"] != "invalid_request" || e["error_description"] == "" {
			t.Errorf("%s: status %d, body %v; want 400 invalid_request", tc.name, resp.StatusCode, e)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", tc.name, resp.Header.Get("Cache-Control"))
		}
		if strings.Contains(e["error_description"], "oidc") || strings.Contains(e["error_description"], "kid") {
			t.Errorf("%s: description leaks internals: %q", tc.name, e["error_description"])
		}
	}
	if !signedIn(t, f.a, alice) {
		t.Fatal("a refused token ended the session")
	}

	// Replayed: the first use (replica b) works, a second (replica a) is
	// refused.
	tok := forge(devidptest.SignPublished, nil)
	if resp, e := postLogout(t, f.b.Server.URL, tok); resp.StatusCode != http.StatusOK || e != nil {
		t.Fatalf("first use: status %d, body %v; want 200 and no body", resp.StatusCode, e)
	}
	if resp, e := postLogout(t, f.a.Server.URL, tok); resp.StatusCode != http.StatusBadRequest || e["error"] != "invalid_request" {
		t.Errorf("replay: status %d, body %v; want 400 invalid_request", resp.StatusCode, e)
	}
	if signedIn(t, f.a, alice) {
		t.Error("the valid token did not end the session")
	}
}

// TestBackchannelLogoutEndpoint: POST only, form body only, and not served
// where back-channel logout is off.
func TestBackchannelLogoutEndpoint(t *testing.T) {
	t.Parallel()
	f := startLogoutFleet(t, nil)
	alice := loginWith(t, f.a, testutil.NewBrowser(t), "alice")
	tok, _ := f.idp.LogoutToken(devidp.Subject("alice"), "")

	get := testutil.Do(t, testutil.NewBrowser(t), f.a.Server.URL+"/oauth2/backchannel_logout?logout_token="+url.QueryEscape(tok))
	if get.StatusCode != http.StatusMethodNotAllowed || get.Header.Get("Allow") != "POST" {
		t.Errorf("GET: status %d, Allow %q; want 405 POST", get.StatusCode, get.Header.Get("Allow"))
	}
	// The token in the query, or as JSON, is not a form field.
	for name, req := range map[string]func() (*http.Response, error){
		"query": func() (*http.Response, error) {
			return http.Post(f.a.Server.URL+"/oauth2/backchannel_logout?logout_token="+url.QueryEscape(tok), "application/x-www-form-urlencoded", nil)
		},
		"json": func() (*http.Response, error) {
			return http.Post(f.a.Server.URL+"/oauth2/backchannel_logout", "application/json", strings.NewReader(`{"logout_token":"`+tok+`"}`))
		},
	} {
		resp, err := req()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, resp.StatusCode)
		}
	}
	if !signedIn(t, f.a, alice) {
		t.Fatal("a malformed request ended the session")
	}

	// Turned off for the provider, or with the cookie store: no endpoint.
	for name, opts := range map[string]func(o *config.Options){
		"turned off": func(o *config.Options) {
			no := false
			o.Providers = []config.ProviderOptions{{Type: "oidc", IssuerURL: o.OIDCIssuerURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret, BackchannelLogout: &no}}
			o.OIDCIssuerURL, o.ClientID, o.ClientSecret = "", "", ""
		},
		"cookie store": func(o *config.Options) { o.SessionStore, o.RedisURL = "cookie", "" },
	} {
		g := testutil.StartGateway(t, testutil.GatewayConfig{IdPServer: f.idp, Options: func(o *config.Options) {
			o.SessionStore, o.RedisURL = "redis", f.a.Options.RedisURL
			opts(o)
		}})
		if resp, _ := postLogout(t, g.Server.URL, tok); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", name, resp.StatusCode)
		}
	}
}

// TestBackchannelLogoutRedisDown: with Redis unreachable the endpoint
// answers 503 and remembers nothing, so the provider's retry works once
// Redis is back.
func TestBackchannelLogoutRedisDown(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	idp := testutil.StartIdP(t, devidp.Options{})
	g := testutil.StartGateway(t, testutil.GatewayConfig{IdPServer: idp, Options: func(o *config.Options) {
		o.SessionStore, o.RedisURL, o.RedisTimeout = "redis", r.URL(), time.Second
	}})
	loginWith(t, g, testutil.NewBrowser(t), "alice")
	tok, err := idp.LogoutToken(devidp.Subject("alice"), "") // names the user: every session of hers
	if err != nil {
		t.Fatal(err)
	}
	r.Stop()
	resp, e := postLogout(t, g.Server.URL, tok)
	if resp.StatusCode != http.StatusServiceUnavailable || e["error"] != "temporarily_unavailable" {
		t.Fatalf("Redis down: status %d %v, want 503 temporarily_unavailable", resp.StatusCode, e)
	}
	r.Restart() // empty: sign in again
	alice := loginWith(t, g, testutil.NewBrowser(t), "alice")
	if resp, e := postLogout(t, g.Server.URL, tok); resp.StatusCode != http.StatusOK {
		t.Fatalf("retry after Redis came back: status %d %v, want 200", resp.StatusCode, e)
	}
	if signedIn(t, g, alice) {
		t.Error("the retried logout did not end the session")
	}
}
