package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
)

// sessionsFixture is a gateway on a real Redis with signed-in browsers,
// and the configuration flags it was started with (as an operator would
// give them to `gatehouse sessions`).
type sessionsFixture struct {
	g     *testutil.Gateway
	redis *redistest.Redis
	flags []string
}

func startSessionsFixture(t *testing.T) *sessionsFixture {
	t.Helper()
	t.Setenv("GATEHOUSE_CONFIG", "")
	r := redistest.StartRedis(t)
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.SessionStore, o.RedisURL = "redis", r.URL()
	}})
	return &sessionsFixture{g: g, redis: r, flags: []string{
		"--oidc-issuer-url", g.IdP.Issuer(), "--client-id", g.IdP.ClientID, "--client-secret", g.IdP.ClientSecret,
		"--cookie-secret", testutil.TestCookieSecret, "--cookie-secure=false", "--email-domain", "*",
		"--session-store", "redis", "--redis-url=" + r.URL(),
	}}
}

// login signs user in with a fresh browser and returns it.
func (f *sessionsFixture) login(t *testing.T, user string) *http.Client {
	t.Helper()
	gw := *f.g
	gw.Client = testutil.NewBrowser(t)
	gw.Login(t, user, "/")
	return gw.Client
}

func (f *sessionsFixture) signedIn(t *testing.T, c *http.Client) bool {
	t.Helper()
	resp := testutil.Do(t, c, f.g.Server.URL+"/", "Accept", "application/json")
	return resp.StatusCode == http.StatusOK
}

func (f *sessionsFixture) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(append(append([]string{"sessions"}, args...), f.flags...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestSessionsListAndRevoke(t *testing.T) {
	f := startSessionsFixture(t)
	alice := devidp.Subject("alice")
	laptop, phone := f.login(t, "alice"), f.login(t, "alice")
	bob := f.login(t, "bob")

	code, out, errOut := f.run(t, "list", "--user", alice)
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "SESSION") || !strings.Contains(lines[1], " oidc ") {
		t.Fatalf("list output:\n%s", out)
	}
	for _, u := range []string{f.g.Server.URL} {
		parsed, _ := url.Parse(u)
		for _, c := range laptop.Jar.Cookies(parsed) {
			if strings.Contains(out, c.Value) || strings.Contains(out, "@") {
				t.Fatalf("list output reveals a cookie or an email:\n%s", out)
			}
		}
	}

	code, out, _ = f.run(t, "list", "--json", "--user="+alice, "--provider", "oidc")
	var listed struct {
		Sessions []map[string]string `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(out), &listed); code != 0 || err != nil || len(listed.Sessions) != 2 {
		t.Fatalf("list --json: exit %d, %v:\n%s", code, err, out)
	}
	for _, s := range listed.Sessions {
		if len(s["session"]) != 12 || s["provider"] != "oidc" || s["created"] == "" || s["expires"] == "" || s["last_refresh"] == "" {
			t.Errorf("session entry %v", s)
		}
	}

	// Revoke by subject at every configured provider.
	code, out, errOut = f.run(t, "revoke", "--subject", alice)
	if code != 0 || !strings.Contains(out, "revoked 2 session(s)") {
		t.Fatalf("revoke: exit %d: %s%s", code, out, errOut)
	}
	if f.signedIn(t, laptop) || f.signedIn(t, phone) {
		t.Error("a revoked session still works")
	}
	if !f.signedIn(t, bob) {
		t.Error("revoking alice ended bob's session")
	}
	// Her next navigation goes to sign-in.
	resp := testutil.Do(t, laptop, f.g.Server.URL+"/page")
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "/oauth2/sign_in") {
		t.Errorf("after revoke: status %d to %q, want 302 to sign-in", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, out, _ := f.run(t, "list", "--user", alice); code != 0 || strings.TrimSpace(out) != "no sessions" {
		t.Errorf("list after revoke: exit %d:\n%s", code, out)
	}
	code, out, _ = f.run(t, "revoke", "--json", "--user", devidp.Subject("bob"))
	if code != 0 || !strings.Contains(out, `"revoked"`) || f.signedIn(t, bob) {
		t.Errorf("revoke bob --json: exit %d:\n%s", code, out)
	}
}

func TestSessionsUsageErrors(t *testing.T) {
	f := startSessionsFixture(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no verb", nil, 2, "Usage"},
		{"unknown verb", []string{"purge", "--user", "u"}, 2, "unknown command"},
		{"neither user nor subject", []string{"list"}, 2, "exactly one of --user and --subject"},
		{"both", []string{"revoke", "--user", "u", "--subject", "s"}, 2, "exactly one"},
		{"missing value", []string{"list", "--user"}, 2, "needs a value"},
		{"unknown provider id", []string{"list", "--user", "u", "--provider", "corp"}, 2, `"corp" is not a configured provider id`},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"sessions"}, tc.args...)
		if len(tc.args) > 0 {
			args = append(args, f.flags...)
		}
		code := run(args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.want) {
			t.Errorf("%s: exit %d, output %q; want %d mentioning %q", tc.name, code, stdout.String()+stderr.String(), tc.code, tc.want)
		}
	}
	// The cookie store keeps nothing to list.
	var stdout, stderr bytes.Buffer
	cookieFlags := []string{"sessions", "list", "--user", "u", "--oidc-issuer-url", "https://sso.example.com", "--client-id", "c",
		"--client-secret", "s", "--cookie-secret", testutil.TestCookieSecret, "--email-domain", "*"}
	if code := run(cookieFlags, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "--session-store redis") {
		t.Errorf("cookie store: exit %d, stderr %q; want 2 naming --session-store redis", code, stderr.String())
	}
	// Redis down: a runtime failure.
	f.redis.Stop()
	if code, _, errOut := f.run(t, "list", "--user", "u"); code != 1 {
		t.Errorf("Redis down: exit %d (%s), want 1", code, errOut)
	}
	if code, out, _ := f.run(t, "--help"); code != 0 || !strings.Contains(out, "revoke") {
		t.Errorf("--help: exit %d:\n%s", code, out)
	}
}
