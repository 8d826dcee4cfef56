package proxy_test

// Logins through the real handler with the GitHub, GitLab, Google, Entra
// ID and Keycloak presets, configured as a user would (YAML provider
// options through config.Validate and the gateway registry), against
// the strict in-test services of internal/testutil/fakes.

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
)

// presetEnv is one preset configured against its fake.
type presetEnv struct {
	opts config.ProviderOptions
	svc  *fakes.Service
	// want are identity headers after login; groups and extra are what
	// /oauth2/userinfo must show.
	want   map[string]string
	groups []string
	extra  map[string]string
	// revoke makes the signed-in user fail the preset's own rules; the
	// session must end once the gateway re-checks (after recheck): 401,
	// or 403 when a generic rule refuses the refreshed identity.
	revoke        func()
	recheck       time.Duration
	revokedStatus int
	// validateOnly leaves cookie_refresh off, so only validate_every
	// re-checks the session.
	validateOnly bool
	// refuse switches to a user the rules refuse at login, with refusal
	// the message the error page shows.
	refuse  func()
	refusal string
}

var presetCases = []struct {
	name  string
	setup func(t *testing.T, callback string) presetEnv
}{
	{"github", func(t *testing.T, cb string) presetEnv {
		f := fakes.NewGitHub(t, fakes.GitHubOptions{Callback: cb})
		return presetEnv{
			opts: config.ProviderOptions{Type: "github", ClientID: f.ClientID, ClientSecret: f.ClientSecret, BaseURL: f.BaseURL, APIBase: f.APIURL,
				AllowedOrganizations: []string{"ACME"}},
			svc: f.Service,
			want: map[string]string{"X-Forwarded-User": "octocat", "X-Forwarded-Email": "octocat@example.com", "X-Forwarded-User-Login": "octocat",
				"X-Forwarded-Groups": "acme,acme/platform,acme/sre", "X-Forwarded-Provider": "github"},
			groups: []string{"acme", "acme/platform", "acme/sre"}, extra: map[string]string{"login": "octocat"},
			revoke:  func() { f.SetUser(fakes.GitHubUser{Login: "octocat", ID: 583231}) },
			recheck: 11 * time.Minute, validateOnly: true, // validate_every's default is 10m
			refuse: func() { f.User.Store("hubot") }, refusal: "Your GitHub account is not a member of an allowed organisation.",
		}
	}},
	{"github enterprise", func(t *testing.T, cb string) presetEnv {
		f := fakes.NewGitHub(t, fakes.GitHubOptions{Callback: cb, Enterprise: true})
		return presetEnv{
			opts: config.ProviderOptions{Type: "github", ID: "ghe", DisplayName: "GitHub Enterprise", ClientID: f.ClientID, ClientSecret: f.ClientSecret,
				BaseURL: f.BaseURL, AllowedTeams: []string{"acme/sre"}, UserPrefix: "ghe:", ValidateEvery: time.Hour},
			svc:    f.Service,
			want:   map[string]string{"X-Forwarded-User": "ghe:octocat", "X-Forwarded-Provider": "ghe"},
			groups: []string{"acme", "acme/platform", "acme/sre"}, extra: map[string]string{"login": "octocat"},
			revoke:  func() { f.RevokeAccess("octocat") },
			recheck: 61 * time.Minute,
			refuse:  func() { f.User.Store("hubot") }, refusal: "not a member of an allowed team",
		}
	}},
	{"gitlab self-managed", func(t *testing.T, cb string) presetEnv {
		f := fakes.NewGitLab(t, fakes.GitLabOptions{Callback: cb, PathPrefix: "/gitlab"})
		return presetEnv{
			opts: config.ProviderOptions{Type: "gitlab", ClientID: f.ClientID, ClientSecret: f.ClientSecret, BaseURL: f.BaseURL,
				AllowedProjects: []string{"acme/platform/gateway"}},
			svc:    f.Service,
			want:   map[string]string{"X-Forwarded-User": "2", "X-Forwarded-Email": "alice@example.com", "X-Forwarded-Groups": "acme,acme/platform,acme/platform/infra"},
			groups: []string{"acme", "acme/platform", "acme/platform/infra"},
			revoke: func() {
				f.SetUser(fakes.GitLabUser{Username: "alice", Name: "Alice", Email: "alice@example.com", ID: 2, Groups: map[string]int{"other": 30}})
			},
			recheck: 2 * time.Minute, // cookie_refresh
			refuse: func() {
				f.SetUser(fakes.GitLabUser{Username: "carol", Name: "Carol", Email: "carol@example.com", ID: 4, Groups: map[string]int{"other": 50}})
				f.User.Store("carol")
			},
			refusal: "Your GitLab account is not a member of an allowed project.",
		}
	}},
	{"google", func(t *testing.T, cb string) presetEnv {
		f := fakes.NewGoogle(t, fakes.GoogleOptions{Callback: cb})
		return presetEnv{
			opts: config.ProviderOptions{Type: "google", ClientID: f.ClientID, ClientSecret: f.ClientSecret, IssuerURL: f.Issuer, UserClaim: "email",
				HostedDomain: []string{"example.com"}, ServiceAccountKeyFile: f.KeyFile, AdminEmail: "admin@example.com", APIBase: f.APIs.URL},
			svc: f.Service,
			want: map[string]string{"X-Forwarded-User": "alice@example.com", "X-Forwarded-User-Hd": "example.com",
				"X-Forwarded-Groups": "staff@example.com,admins@example.com"},
			groups: []string{"staff@example.com", "admins@example.com"}, extra: map[string]string{"hd": "example.com"},
			revoke:  func() { f.SetUser(fakes.GoogleUser{Email: "alice@example.com", Name: "Alice"}) }, // left the Workspace
			recheck: 2 * time.Minute,
			refuse:  func() { f.SignIn("bob@gmail.com") }, refusal: "not in an allowed Google Workspace domain",
		}
	}},
	{"entra multi-tenant", func(t *testing.T, cb string) presetEnv {
		f := fakes.NewEntra(t, fakes.EntraOptions{Callback: cb})
		return presetEnv{
			opts: config.ProviderOptions{Type: "entra", ClientID: f.ClientID, ClientSecret: f.ClientSecret, BaseURL: f.BaseURL, APIBase: f.Graph.URL,
				TenantID: "organizations", AllowedTenants: []string{fakes.EntraTenant}, UserClaim: "preferred_username"},
			svc: f.Service,
			want: map[string]string{"X-Forwarded-User": "alice@contoso.com", "X-Forwarded-User-Tid": fakes.EntraTenant, "X-Forwarded-Provider": "entra",
				"X-Forwarded-Groups": fakes.EntraAdminsGroup + "," + fakes.EntraStaffGroup + ",role:Gatehouse.Admin"},
			groups: []string{fakes.EntraAdminsGroup, fakes.EntraStaffGroup, "role:Gatehouse.Admin"}, extra: map[string]string{"tid": fakes.EntraTenant},
			refuse: func() { f.SignIn("carol@fabrikam.com") }, refusal: "Your Microsoft organisation is not allowed to sign in here.",
		}
	}},
	{"keycloak", func(t *testing.T, cb string) presetEnv {
		f := fakes.NewKeycloak(t, fakes.KeycloakOptions{Callback: cb})
		return presetEnv{
			opts: config.ProviderOptions{Type: "keycloak", ClientID: f.ClientID, ClientSecret: f.ClientSecret, IssuerURL: f.Issuer, UserClaim: "preferred_username",
				AllowedGroups: []string{"gatehouse:role:operator"}},
			svc:  f.Service,
			want: map[string]string{"X-Forwarded-User": "alice", "X-Forwarded-Email": "alice@example.com", "X-Forwarded-Provider": "keycloak"},
			groups: []string{"/staff", "/staff/admins", "role:admin", "role:default-roles-acme", "role:offline_access", "role:uma_authorization",
				"account:role:manage-account", "account:role:manage-account-links", "account:role:view-profile", "gatehouse:role:operator"},
			// The client role is gone: the generic allowed_groups rule refuses the refreshed identity.
			revoke: func() {
				f.SetUser(fakes.KeycloakUser{Username: "alice", Name: "Alice", Email: "alice@example.com", Groups: []string{"/staff"}})
			},
			recheck: 2 * time.Minute, revokedStatus: http.StatusForbidden,
			refuse: func() { f.User.Store("bob") }, refusal: "not allowed",
		}
	}},
}

// presetUserinfo reads /oauth2/userinfo as JSON.
func presetUserinfo(t *testing.T, g *provGateway, c *http.Client) (groups []string, extra map[string]string) {
	t.Helper()
	resp := testutil.Do(t, c, g.URL+"/oauth2/userinfo", "Accept", "application/json")
	var v struct {
		Groups []string          `json:"groups"`
		Extra  map[string]string `json:"extra"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("userinfo: status %d, %v", resp.StatusCode, err)
	}
	return v.Groups, v.Extra
}

func TestPresetLoginRefreshAndRules(t *testing.T) {
	t.Parallel()
	for _, tc := range presetCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{}
			g := newProvGateway(t)
			env := tc.setup(t, g.Callback)
			o := g.options(env.opts)
			if !env.validateOnly {
				o.CookieRefresh = time.Minute
			}
			g.build(t, o, gateway.Deps{Now: clk.Now})
			id := env.opts.ID
			if id == "" {
				id = env.opts.Type
			}

			browser := testutil.NewBrowser(t)
			echo := g.finishLogin(t, browser, g.startLogin(t, browser, "/app", id, nil))
			wantHeaders(t, echo, env.want)
			if !env.svc.AccessTokenValid(echo.Header.Get("X-Forwarded-Access-Token")) {
				t.Errorf("upstream access token unknown to the service")
			}
			groups, extra := presetUserinfo(t, g, browser)
			if !slices.Equal(groups, env.groups) {
				t.Errorf("userinfo groups = %v, want %v", groups, env.groups)
			}
			for k, v := range env.extra {
				if extra[k] != v {
					t.Errorf("userinfo extra[%s] = %q, want %q (extra %v)", k, extra[k], v, extra)
				}
			}

			// A refresh (cookie_refresh) or re-validation keeps the user.
			clk.Advance(2 * time.Minute)
			echo = testutil.DecodeEcho(t, testutil.Do(t, browser, g.URL+"/app"))
			wantHeaders(t, echo, map[string]string{"X-Forwarded-User": env.want["X-Forwarded-User"]})
			wantRefreshes := int64(1)
			if env.opts.Type == "github" {
				wantRefreshes = 0 // OAuth app tokens have no refresh grant
			}
			if env.svc.Refreshes.Load() != wantRefreshes {
				t.Errorf("refresh grants = %d, want %d", env.svc.Refreshes.Load(), wantRefreshes)
			}

			if env.revoke != nil {
				env.revoke()
				clk.Advance(env.recheck)
				want := cmp.Or(env.revokedStatus, http.StatusUnauthorized)
				if resp := testutil.Do(t, browser, g.URL+"/app", "Accept", "application/json"); resp.StatusCode != want {
					t.Errorf("after the user lost access: status %d, want %d", resp.StatusCode, want)
				}
			}

			env.refuse()
			other := testutil.NewBrowser(t)
			resp := testutil.Do(t, other, g.startLogin(t, other, "/app", id, nil))
			if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, env.refusal) {
				t.Errorf("refused login: status %d, want 403 saying %q: %s", resp.StatusCode, env.refusal, body)
			}
			if resp := testutil.Do(t, other, g.URL+"/app", "Accept", "application/json"); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("after a refused login: status %d, want 401", resp.StatusCode)
			}
		})
	}
}

// TestPresetsOnOneSignInPage: every preset at once, each with its own
// button, in the configured order.
func TestPresetsOnOneSignInPage(t *testing.T) {
	t.Parallel()
	g := newProvGateway(t)
	var opts []config.ProviderOptions
	for _, tc := range presetCases {
		opts = append(opts, tc.setup(t, g.Callback).opts)
	}
	g.build(t, g.options(opts...), gateway.Deps{})
	page := readBody(t, testutil.Do(t, testutil.NewBrowser(t), g.URL+"/oauth2/sign_in?rd=%2Fwiki"))
	last := -1
	for _, want := range []string{
		`value="github"`, "Sign in with GitHub<", `value="ghe"`, "Sign in with GitHub Enterprise<", `value="gitlab"`, "Sign in with GitLab<",
		`value="google"`, "Sign in with Google<", `value="entra"`, "Sign in with Microsoft<", `value="keycloak"`, "Sign in with Keycloak<",
	} {
		i := strings.Index(page, want)
		if i < 0 || i < last {
			t.Errorf("sign-in page lacks %q, or has it out of the configured order", want)
		}
		last = max(last, i)
	}
	if n := strings.Count(page, "<button "); n != len(presetCases) {
		t.Errorf("%d buttons, want %d", n, len(presetCases))
	}
	if strings.Contains(page, "<img") || strings.Contains(page, "<svg") {
		t.Error("sign-in buttons are text only")
	}
}

// TestPresetRateLimitThroughHandler: GitHub rate limiting the login is a
// 503 saying when to try again, never a refusal.
func TestPresetRateLimitThroughHandler(t *testing.T) {
	t.Parallel()
	g := newProvGateway(t)
	f := fakes.NewGitHub(t, fakes.GitHubOptions{Callback: g.Callback})
	clk := &clock{}
	g.build(t, g.options(config.ProviderOptions{Type: "github", ClientID: f.ClientID, ClientSecret: f.ClientSecret, BaseURL: f.BaseURL, APIBase: f.APIURL,
		AuthParams: map[string]string{"allow_signup": "false"}}), gateway.Deps{Now: clk.Now})
	browser := testutil.NewBrowser(t)
	callback := g.startLogin(t, browser, "/", "github", nil)
	f.Throttle.Set(1, http.StatusTooManyRequests, 300)
	resp := testutil.Do(t, browser, callback)
	if body := readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "GitHub is limiting how often Gatehouse may ask it about your account. Please try again in about 5 minutes.") {
		t.Errorf("rate-limited login: status %d: %s", resp.StatusCode, body)
	}

	// Rate limited while re-validating a session: the session stays.
	g.finishLogin(t, browser, g.startLogin(t, browser, "/", "github", nil))
	f.Throttle.Set(1, http.StatusForbidden, 0)
	clk.Advance(11 * time.Minute)
	if resp := testutil.Do(t, browser, g.URL+"/", "Accept", "application/json"); resp.StatusCode != http.StatusOK {
		t.Errorf("rate-limited re-validation: status %d, want 200 (session kept)", resp.StatusCode)
	}
	if n := f.Calls("GET /user"); n != 3 {
		t.Errorf("GET /user calls = %d, want 3 (two logins, one re-validation)", n)
	}
}
