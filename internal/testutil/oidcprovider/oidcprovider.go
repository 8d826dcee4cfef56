// Package oidcprovider runs panva/oidc-provider — an OpenID Certified
// provider written in Node.js — on loopback for interoperability tests, and
// drives its sign-in, consent and sign-out pages like a browser would.
//
// It needs node (20.19 or later) and the package's node_modules:
//
//	npm ci --prefix internal/testutil/oidcprovider
//
// (scripts/test.sh does this when node_modules is missing).
package oidcprovider

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/prereq"
)

// Account is a user the provider knows.
type Account struct {
	// Sub is the stable subject identifier (the ID token's sub).
	Sub string `json:"sub"`
	// Username is typed on the sign-in page and released as
	// preferred_username.
	Username      string   `json:"username"`
	Password      string   `json:"password"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name"`
	Groups        []string `json:"groups"`
}

// DefaultAccounts are the accounts Start registers: alice (groups admins
// and engineering), bob (engineering, an email on another domain) and
// mallory (no groups, an email on a third domain, for tests of users a
// gateway must turn away). Passwords are the usernames followed by
// "-password".
func DefaultAccounts() []Account {
	return []Account{
		{Sub: "248289761001", Username: "alice", Password: "alice-password", Email: "alice@example.com", EmailVerified: true, Name: "Alice Admin", Groups: []string{"admins", "engineering"}},
		{Sub: "248289761002", Username: "bob", Password: "bob-password", Email: "bob@other.org", EmailVerified: true, Name: "Bob Builder", Groups: []string{"engineering"}},
		{Sub: "248289761003", Username: "mallory", Password: "mallory-password", Email: "mallory@outside.test", EmailVerified: true, Name: "Mallory Outsider", Groups: []string{}},
	}
}

// Account returns the account with the given username, or fails the test.
func (p *Provider) Account(t testing.TB, username string) Account {
	t.Helper()
	for _, a := range p.Accounts {
		if a.Username == username {
			return a
		}
	}
	t.Fatalf("oidcprovider: no account %q", username)
	return Account{}
}

// Stats counts what the provider did since it started.
type Stats struct {
	// Logins counts passwords accepted on the sign-in page.
	Logins int `json:"logins"`
	// Consents counts consent forms confirmed.
	Consents int `json:"consents"`
	// AuthorizationCodeGrants counts codes redeemed at the token endpoint.
	AuthorizationCodeGrants int `json:"authorization_code_grants"`
	// RefreshTokenGrants counts successful refresh_token grants.
	RefreshTokenGrants int `json:"refresh_token_grants"`
}

// Stats asks the provider (GET /test/stats) what it did so far, in total.
func (p *Provider) Stats(t testing.TB) Stats {
	t.Helper()
	return p.stats(t).Total
}

// AccountStats asks the provider what it did so far for one user, so
// tests running in parallel with other users can count exactly.
func (p *Provider) AccountStats(t testing.TB, username string) Stats {
	t.Helper()
	return p.stats(t).Accounts[username]
}

type allStats struct {
	Total    Stats            `json:"total"`
	Accounts map[string]Stats `json:"accounts"`
}

func (p *Provider) stats(t testing.TB) allStats {
	t.Helper()
	resp, err := http.Get(p.issuer + "/test/stats")
	if err != nil {
		t.Fatalf("oidcprovider: stats: %v", err)
	}
	defer resp.Body.Close()
	var s allStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("oidcprovider: stats: status %d: %v", resp.StatusCode, err)
	}
	return s
}

// Options configures StartWithOptions.
type Options struct {
	ClientID     string
	ClientSecret string
	// RedirectURIs are the client's registered redirect_uris (at least one).
	RedirectURIs []string
	// PostLogoutRedirectURIs are the client's registered
	// post_logout_redirect_uris; default: the origin of each redirect URI
	// followed by "/".
	PostLogoutRedirectURIs []string
	// AccessTokenTTL is the access tokens' lifetime, in whole seconds;
	// default one hour.
	AccessTokenTTL time.Duration
	// Accounts are the users; default DefaultAccounts().
	Accounts []Account
	// BackchannelLogoutURI is the client's backchannel_logout_uri: when
	// set, signing out at the provider (Logout) posts a logout token to
	// it. BackchannelLogoutSessionRequired makes ID tokens and logout
	// tokens carry sid.
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
}

// Provider is a running oidc-provider process.
type Provider struct {
	issuer string
	// Accounts are the users the provider knows.
	Accounts []Account
}

// Issuer returns the provider's issuer URL (http://127.0.0.1:<port>).
func (p *Provider) Issuer() string { return p.issuer }

// Start runs oidc-provider with one confidential client until the test
// ends. See StartWithOptions.
func Start(t testing.TB, clientID, secret string, redirectURIs []string) *Provider {
	t.Helper()
	return StartWithOptions(t, Options{ClientID: clientID, ClientSecret: secret, RedirectURIs: redirectURIs})
}

// Dir returns the directory holding server.mjs and package.json.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// installHint says how to get what the interop tests need.
const installHint = "run ./scripts/test.sh (installs node packages)"

// Require returns the path of node, or ends the test (see prereq.Missing)
// when node or the oidc-provider packages are missing. Tests call it first
// so that they skip before starting anything else.
func Require(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		prereq.Missing(t, "oidcprovider: node is not installed (Node.js 20.19+ is needed)", installHint)
	}
	if _, err := os.Stat(filepath.Join(Dir(), "node_modules", "oidc-provider", "package.json")); err != nil {
		prereq.Missing(t, "oidcprovider: node_modules missing", installHint)
	}
	return node
}

// StartWithOptions runs `node server.mjs` on a free loopback port, waits
// until its discovery document answers, and kills the process when the
// test ends. When node or node_modules is missing the test is skipped with a
// message saying to run ./scripts/test.sh, or fails under
// GATEHOUSE_TEST_STRICT=1 (which scripts/test.sh and CI set).
func StartWithOptions(t testing.TB, o Options) *Provider {
	t.Helper()
	if o.ClientID == "" || o.ClientSecret == "" || len(o.RedirectURIs) == 0 {
		t.Fatal("oidcprovider: ClientID, ClientSecret and RedirectURIs are required")
	}
	dir := Dir()
	node := Require(t)
	if o.Accounts == nil {
		o.Accounts = DefaultAccounts()
	}
	if o.PostLogoutRedirectURIs == nil {
		for _, r := range o.RedirectURIs {
			if u, err := url.Parse(r); err == nil {
				o.PostLogoutRedirectURIs = append(o.PostLogoutRedirectURIs, u.Scheme+"://"+u.Host+"/")
			}
		}
	}
	ttl := int(o.AccessTokenTTL / time.Second)
	if ttl <= 0 {
		ttl = 3600
	}
	accounts, err := json.Marshal(o.Accounts)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)

	cmd := exec.Command(node, "server.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"OP_PORT="+strconv.Itoa(port),
		"OP_CLIENT_ID="+o.ClientID,
		"OP_CLIENT_SECRET="+o.ClientSecret,
		"OP_REDIRECT_URIS="+strings.Join(o.RedirectURIs, " "),
		"OP_POST_LOGOUT_URIS="+strings.Join(o.PostLogoutRedirectURIs, " "),
		"OP_ACCESS_TOKEN_TTL="+strconv.Itoa(ttl),
		"OP_ACCOUNTS="+string(accounts),
		"OP_BACKCHANNEL_LOGOUT_URI="+o.BackchannelLogoutURI,
		"OP_BACKCHANNEL_LOGOUT_SESSION_REQUIRED="+map[bool]string{true: "1", false: ""}[o.BackchannelLogoutSessionRequired],
		"NODE_ENV=test",
	)
	// The script exits when its stdin closes, so it does not outlive a
	// test binary that is killed before its cleanups run.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("oidcprovider: starting node: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("oidc-provider stderr:\n%s", stderr.String())
		}
	})

	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				select {
				case ready <- rest:
				default:
				}
			}
		}
	}()
	var issuer string
	select {
	case issuer = <-ready:
	case <-exited:
		t.Fatalf("oidcprovider: node exited before it was ready:\n%s", stderr.String())
	case <-time.After(startTimeout):
		// Only a bound: the wait ends when node says READY, which under
		// load (2 cores, parallel packages) took more than 15 s.
		t.Fatalf("oidcprovider: not ready after %v:\n%s", startTimeout, stderr.String())
	}
	waitDiscovery(t, issuer)
	return &Provider{issuer: issuer, Accounts: o.Accounts}
}

// startTimeout bounds how long node may take to start and answer
// discovery; the waits end as soon as it is ready.
const startTimeout = 90 * time.Second

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("oidcprovider: reserving a port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

func waitDiscovery(t testing.TB, issuer string) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for {
		var doc struct {
			Issuer string `json:"issuer"`
		}
		resp, err := http.Get(issuer + "/.well-known/openid-configuration")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&doc)
			_ = resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK && doc.Issuer == issuer {
				return
			}
			if err == nil {
				err = fmt.Errorf("status %d, issuer %q", resp.StatusCode, doc.Issuer)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("oidcprovider: discovery at %s does not answer: %v", issuer, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockedBuffer collects the child's stderr while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	formRe   = regexp.MustCompile(`(?is)<form\b[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`(?i)<input\b[^>]*\btype="hidden"[^>]*\bname="([^"]*)"[^>]*\bvalue="([^"]*)"`)
)

// Login signs user in at the provider, starting from authURL (the
// authorization request a relying party redirected the browser to): it
// follows the provider's redirects with client (which must keep cookies
// and not follow redirects), submits the sign-in form with user and
// password, then the consent form, until the provider redirects to a URL
// outside the issuer — the relying party's redirect_uri — and returns
// that URL without visiting it.
func (p *Provider) Login(t testing.TB, client *http.Client, authURL, user, password string) (callbackURL string) {
	t.Helper()
	next := authURL
	method, body := http.MethodGet, url.Values(nil)
	for range 10 {
		resp, page := send(t, client, method, next, body)
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc, err := resp.Location()
			if err != nil {
				t.Fatalf("oidcprovider login: %s answered %d without Location", next, resp.StatusCode)
			}
			if !strings.HasPrefix(loc.String(), p.issuer+"/") {
				return loc.String()
			}
			next, method, body = loc.String(), http.MethodGet, nil
			continue
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("oidcprovider login: %s %s: status %d: %s", method, next, resp.StatusCode, page)
		}
		action, fields := parseForm(t, page)
		switch {
		case strings.HasSuffix(action, "/login"):
			fields.Set("login", user)
			fields.Set("password", password)
		case strings.HasSuffix(action, "/confirm"):
		default:
			t.Fatalf("oidcprovider login: unexpected page at %s: %s", next, page)
		}
		next, method, body = resolve(t, next, action), http.MethodPost, fields
	}
	t.Fatalf("oidcprovider login: no redirect to the relying party after 10 steps (last %s)", next)
	return ""
}

// Logout completes RP-initiated logout: it visits endSessionURL (the
// provider's end_session_endpoint a relying party redirected the browser
// to), confirms the sign-out form, and returns where the provider then
// redirects (the post_logout_redirect_uri), without visiting it.
func (p *Provider) Logout(t testing.TB, client *http.Client, endSessionURL string) string {
	t.Helper()
	resp, page := send(t, client, http.MethodGet, endSessionURL, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("oidcprovider logout: %s: status %d: %s", endSessionURL, resp.StatusCode, page)
	}
	action, fields := parseForm(t, page)
	fields.Set("logout", "yes")
	resp, page = send(t, client, http.MethodPost, resolve(t, endSessionURL, action), fields)
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("oidcprovider logout confirm: status %d, no redirect: %s", resp.StatusCode, page)
	}
	if strings.HasPrefix(loc.String(), p.issuer+"/") {
		// A redirect inside the provider (its end-session success step).
		resp, page = send(t, client, http.MethodGet, loc.String(), nil)
		if loc, err = resp.Location(); err != nil {
			t.Fatalf("oidcprovider logout: status %d, no redirect to the relying party: %s", resp.StatusCode, page)
		}
	}
	return loc.String()
}

func send(t testing.TB, client *http.Client, method, target string, form url.Values) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("oidcprovider: %s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b)
}

func parseForm(t testing.TB, page string) (action string, fields url.Values) {
	t.Helper()
	m := formRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("oidcprovider: no form in page: %s", page)
	}
	fields = url.Values{}
	for _, h := range hiddenRe.FindAllStringSubmatch(m[2], -1) {
		fields.Set(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	return html.UnescapeString(m[1]), fields
}

func resolve(t testing.TB, base, ref string) string {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return b.ResolveReference(r).String()
}
