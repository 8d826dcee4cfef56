package testutil

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp/devidptest"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
)

// TestCookieSecret is a fixed 32-byte cookie secret (base64) for tests.
const TestCookieSecret = "PxXWZOHoq6LW8zbcSCXJqG3MzWJJrcb5L8WasSCghSk="

// GatewayConfig adjusts StartGateway.
type GatewayConfig struct {
	// IdP overrides the development provider's options; ClientID and
	// ClientSecret are filled in when empty.
	IdP devidp.Options
	// Options is applied to the gateway's configuration before Validate.
	Options func(o *config.Options)
	// Upstream replaces the default echo upstream.
	Upstream http.Handler
	// Deps are gateway.New's non-config inputs (clock, transports, logger).
	Deps gateway.Deps
	// IdPServer reuses an already running provider (several gateways
	// sharing one IdP); IdP options are then ignored.
	IdPServer *IdPServer
}

// IdPServer is a running development OpenID provider with its test knobs.
type IdPServer struct {
	*devidptest.IdP
	Server       *httptest.Server
	ClientID     string
	ClientSecret string
}

// StartIdP runs a development OpenID provider on loopback until the test ends.
func StartIdP(t testing.TB, o devidp.Options) *IdPServer {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID = "gatehouse-test"
	}
	if o.ClientSecret == "" {
		o.ClientSecret = "test-client-secret"
	}
	if o.Users == nil {
		o.Users = []devidp.User{
			{Username: "alice", Name: "Alice Admin", Email: "alice@example.com", EmailVerified: true, Groups: []string{"admins", "engineering"}},
			{Username: "bob", Name: "Bob Builder", Email: "bob@other.org", EmailVerified: true, Groups: []string{"engineering"}},
		}
	}
	idp, err := devidptest.New(o)
	if err != nil {
		t.Fatalf("devidp: %v", err)
	}
	srv := httptest.NewServer(idp.Handler())
	t.Cleanup(srv.Close)
	idp.SetIssuer(srv.URL)
	return &IdPServer{IdP: idp, Server: srv, ClientID: o.ClientID, ClientSecret: o.ClientSecret}
}

// Gateway is a Gatehouse handler served on loopback in front of an upstream,
// with a development OpenID provider.
type Gateway struct {
	IdP      *IdPServer
	Upstream *httptest.Server
	Server   *httptest.Server
	Gateway  *gateway.Gateway
	Options  *config.Options
	Config   *config.Config
	// Client keeps cookies and does not follow redirects.
	Client *http.Client
}

// EchoUpstream answers every request with its method, path and headers as
// JSON (see Echo).
func EchoUpstream() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(Echo{Method: r.Method, Path: r.URL.RequestURI(), Host: r.Host, Header: r.Header})
	})
}

// Echo is what EchoUpstream returns.
type Echo struct {
	Method string
	Path   string
	Host   string
	Header http.Header
}

// StartGateway starts a provider, an echo upstream and a gateway.
func StartGateway(t testing.TB, c GatewayConfig) *Gateway {
	t.Helper()
	g := &Gateway{IdP: c.IdPServer}
	if g.IdP == nil {
		g.IdP = StartIdP(t, c.IdP)
	}
	up := c.Upstream
	if up == nil {
		up = EchoUpstream()
	}
	g.Upstream = httptest.NewServer(up)
	t.Cleanup(g.Upstream.Close)

	o := config.Defaults()
	o.Upstream = g.Upstream.URL
	o.Provider = "oidc"
	o.OIDCIssuerURL = g.IdP.Issuer()
	o.ClientID = g.IdP.ClientID
	o.ClientSecret = g.IdP.ClientSecret
	o.CookieSecret = TestCookieSecret
	o.CookieSecure = false
	o.EmailDomains = []string{"*"}
	if c.Options != nil {
		c.Options(o)
	}
	cfg, err := o.Validate()
	if err != nil {
		t.Fatalf("gateway config: %v", err)
	}
	g.Options, g.Config = o, cfg
	gw, err := gateway.New(t.Context(), cfg, c.Deps)
	if err != nil {
		t.Fatalf("gateway.New: %v", err)
	}
	t.Cleanup(func() { _ = gw.Close() })
	g.Gateway = gw
	g.Server = httptest.NewServer(gw)
	t.Cleanup(g.Server.Close)
	g.Client = NewBrowser(t)
	return g
}

// NewBrowser returns a client with a cookie jar that does not follow
// redirects, so tests can inspect each hop.
func NewBrowser(t testing.TB) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// A transport of its own: httptest.Server.Close closes the idle
	// connections of http.DefaultTransport, which breaks a request of a
	// parallel test that has just picked one of them up.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Get fetches u (absolute or a path on the gateway) with the gateway's
// browser and optional header pairs.
func (g *Gateway) Get(t testing.TB, u string, header ...string) *http.Response {
	t.Helper()
	return Do(t, g.Client, g.abs(u), header...)
}

func (g *Gateway) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return g.Server.URL + u
	}
	return u
}

// Do sends GET u with header pairs through c.
func Do(t testing.TB, c *http.Client, u string, header ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

// Location returns the absolute redirect target of resp.
func Location(t testing.TB, resp *http.Response) string {
	t.Helper()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("%s %s: status %d, no Location: %v", resp.Request.Method, resp.Request.URL, resp.StatusCode, err)
	}
	return loc.String()
}

// Login signs user in through the gateway starting at path (as a browser
// would: protected page → sign-in → start → provider form → callback) and
// returns the final response after the callback's redirect is followed.
func (g *Gateway) Login(t testing.TB, user, path string) *http.Response {
	t.Helper()
	callback := g.StartLogin(t, path, user)
	return g.FinishLogin(t, callback)
}

// StartLogin runs the login up to the provider's redirect back to the
// gateway and returns that callback URL without visiting it.
func (g *Gateway) StartLogin(t testing.TB, path, user string) string {
	t.Helper()
	resp := g.Get(t, path)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: status %d, want 302 to sign in", path, resp.StatusCode)
	}
	signIn, _ := url.Parse(Location(t, resp))
	start := g.Server.URL + "/oauth2/start?rd=" + url.QueryEscape(signIn.Query().Get("rd"))
	resp = Do(t, g.Client, start)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET /oauth2/start: status %d, want 302", resp.StatusCode)
	}
	return g.IdP.Authorize(t, g.Client, Location(t, resp), user)
}

// FinishLogin visits the callback URL and follows its redirect.
func (g *Gateway) FinishLogin(t testing.TB, callback string) *http.Response {
	t.Helper()
	resp := Do(t, g.Client, callback)
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("callback: status %d, want 302: %s", resp.StatusCode, body)
	}
	return Do(t, g.Client, Location(t, resp))
}

// Authorize submits the provider's login form for user at authURL and
// returns the redirect back to the client (the callback URL).
func (s *IdPServer) Authorize(t testing.TB, c *http.Client, authURL, user string) string {
	t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	form := u.Query()
	form.Set("user", user)
	form.Set("username", user)
	form.Set("action", "login")
	u.RawQuery = ""
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("provider login: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("provider login: status %d: %s", resp.StatusCode, body)
	}
	return Location(t, resp)
}

// DecodeEcho reads an EchoUpstream response.
func DecodeEcho(t testing.TB, resp *http.Response) Echo {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("upstream response: status %d: %s", resp.StatusCode, body)
	}
	var e Echo
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatalf("decoding echo: %v", err)
	}
	return e
}

// SignOut submits the sign-out form as a browser on the gateway's own
// pages does (a same-origin POST), with rd when it is not empty.
func (g *Gateway) SignOut(t testing.TB, rd string) *http.Response {
	t.Helper()
	form := url.Values{}
	if rd != "" {
		form.Set("rd", rd)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, g.Server.URL+"/oauth2/sign_out", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", g.Server.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := g.Client.Do(req)
	if err != nil {
		t.Fatalf("POST /oauth2/sign_out: %v", err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}
