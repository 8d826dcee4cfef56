package providers_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

// githubProvider is the GitHub preset for fake f (its API on a separate
// host like github.com, or under /api/v3 for Enterprise), edited by mod.
func githubProvider(t *testing.T, f *fakes.GitHub, mod func(*providers.GitHubConfig)) *providers.GitHub {
	t.Helper()
	c := providers.GitHubConfig{Common: providers.Common{ClientID: f.ClientID, ClientSecret: f.ClientSecret, Logger: slog.New(slog.DiscardHandler)}, BaseURL: f.BaseURL}
	if f.API != f.Web {
		c.APIURL = f.APIURL
	}
	if mod != nil {
		mod(&c)
	}
	p, err := providers.NewGitHub(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// githubLogin runs the web flow for f's current user.
func githubLogin(t *testing.T, p providers.Provider, f *fakes.GitHub) (providers.Grant, error) {
	t.Helper()
	ap := providers.AuthParams{State: "gh-state", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.Callback}
	return p.Redeem(t.Context(), browse(t, must(p.AuthCodeURL(t.Context(), ap))).Get("code"), ap)
}

// wantProviderError checks err is a *providers.Error with code whose
// message contains text.
func wantProviderError(t *testing.T, err error, code, text string) {
	t.Helper()
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Code != code || !strings.Contains(pe.Message, text) {
		t.Fatalf("error = %v, want %s saying %q", err, code, text)
	}
}

func TestGitHubLoginIdentity(t *testing.T) {
	t.Parallel()
	for _, enterprise := range []bool{false, true} {
		t.Run(map[bool]string{false: "github.com", true: "enterprise"}[enterprise], func(t *testing.T) {
			t.Parallel()
			f := fakes.NewGitHub(t, fakes.GitHubOptions{Callback: gateCallback, Enterprise: enterprise})
			p := githubProvider(t, f, func(c *providers.GitHubConfig) { c.AllowedOrganizations = []string{"ACME"} })
			u, _ := url.Parse(must(p.AuthCodeURL(t.Context(), providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.Callback})))
			if got := u.Query().Get("scope"); got != "read:user user:email read:org" {
				t.Errorf("scope = %q, want read:org added for the organisation rule", got)
			}
			g, err := githubLogin(t, p, f)
			if err != nil {
				t.Fatal(err)
			}
			id := g.Identity
			if id.Subject != "583231" || id.User != "octocat" || id.PreferredUsername != "octocat" || id.Name != "The Octocat" ||
				id.Email != "octocat@example.com" || !id.EmailVerified || id.Extra["login"] != "octocat" ||
				!slices.Equal(id.Groups, []string{"acme", "acme/platform", "acme/sre"}) {
				t.Errorf("identity = %+v", id)
			}
			if p.Info().Type != "github" || p.Info().DisplayName != "GitHub" {
				t.Errorf("Info = %+v", p.Info())
			}
			if f.Calls("GET /user") != 1 || f.Calls("GET /user/orgs") != 1 {
				t.Errorf("API calls: /user %d, /user/orgs %d", f.Calls("GET /user"), f.Calls("GET /user/orgs"))
			}
		})
	}
}

func TestGitHubRules(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		user   string
		mod    func(*providers.GitHubConfig)
		admit  bool
		refuse string // the refusal's message
	}{
		{"member of an allowed organisation", "octocat", func(c *providers.GitHubConfig) { c.AllowedOrganizations = []string{"acme"} }, true, ""},
		{"not a member", "hubot", func(c *providers.GitHubConfig) { c.AllowedOrganizations = []string{"acme"} }, false, "not a member of an allowed organisation."},
		{"member of an allowed team", "octocat", func(c *providers.GitHubConfig) { c.AllowedTeams = []string{"Acme/Platform"} }, true, ""},
		{"not in the team", "octocat", func(c *providers.GitHubConfig) { c.AllowedTeams = []string{"acme/security"} }, false, "not a member of an allowed team."},
		{"writer on a private repository", "octocat", func(c *providers.GitHubConfig) {
			c.AllowedRepositories = []string{"acme/gateway"}
			c.Scopes = []string{"read:user", "user:email", "repo"}
		}, true, ""},
		{"private repository without the repo scope", "octocat", func(c *providers.GitHubConfig) { c.AllowedRepositories = []string{"acme/gateway"} }, false, "collaborator on an allowed repository"},
		{"reader of a public repository", "octocat", func(c *providers.GitHubConfig) { c.AllowedRepositories = []string{"acme/docs"} }, false, "collaborator"},
		{"pull asked for on a public repository", "hubot", func(c *providers.GitHubConfig) { c.AllowedRepositories = []string{"acme/docs:pull"} }, true, ""},
		{"admin asked for", "octocat", func(c *providers.GitHubConfig) {
			c.AllowedRepositories = []string{"acme/gateway:admin"}
			c.Scopes = []string{"repo"}
		}, false, "collaborator"},
		{"any rule matches", "octocat", func(c *providers.GitHubConfig) {
			c.AllowedOrganizations, c.AllowedTeams, c.AllowedRepositories = []string{"other"}, []string{"acme/sre"}, []string{"acme/docs"}
		}, true, ""},
		{"no rule matches", "hubot", func(c *providers.GitHubConfig) {
			c.AllowedOrganizations, c.AllowedTeams, c.AllowedRepositories = []string{"acme"}, []string{"acme/sre"}, []string{"acme/gateway"}
		}, false, "not a member of an allowed organisation or team, nor a collaborator on an allowed repository."},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := fakes.NewGitHub(t, fakes.GitHubOptions{Callback: gateCallback})
			f.User.Store(c.user)
			_, err := githubLogin(t, githubProvider(t, f, c.mod), f)
			if c.admit {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantProviderError(t, err, providers.CodeAccountNotAllowed, c.refuse)
			if !errors.Is(err, providers.ErrUnauthorized) || errors.Is(err, providers.ErrInvalidGrant) {
				t.Errorf("refusal %v: want ErrUnauthorized only", err)
			}
		})
	}
}

func TestGitHubReadOrgRefused(t *testing.T) {
	t.Parallel()
	f := fakes.NewGitHub(t, fakes.GitHubOptions{Callback: gateCallback})
	f.RefuseScopes("read:org")
	_, err := githubLogin(t, githubProvider(t, f, func(c *providers.GitHubConfig) { c.AllowedTeams = []string{"acme/platform"} }), f)
	wantProviderError(t, err, providers.CodeAccountNotAllowed, "(read:org)")

	// Without rules the login goes on, without groups.
	g, err := githubLogin(t, githubProvider(t, f, func(c *providers.GitHubConfig) { c.Scopes = []string{"user:email", "read:org"} }), f)
	if err != nil || g.Identity.Groups != nil {
		t.Errorf("without rules: %v, groups %v", err, g.Identity.Groups)
	}
}

func TestGitHubEmails(t *testing.T) {
	t.Parallel()
	f := fakes.NewGitHub(t, fakes.GitHubOptions{Callback: gateCallback, Users: []fakes.GitHubUser{
		{Login: "Mona", ID: 7, Email: "public@example.com", Emails: []fakes.GitHubEmail{{Email: "public@example.com", Verified: true}, {Email: "mona@example.com", Primary: true}}},
	}})
	g, err := githubLogin(t, githubProvider(t, f, nil), f)
	if err != nil {
		t.Fatal(err)
	}
	// The primary address is unverified: dropped, though a verified public one exists.
	if g.Identity.Email != "" || g.Identity.User != "mona" || g.Identity.PreferredUsername != "Mona" || g.Identity.Groups != nil {
		t.Errorf("identity = %+v", g.Identity)
	}
	if f.Calls("GET /user/orgs") != 0 {
		t.Errorf("organisations listed without read:org")
	}
	g, err = githubLogin(t, githubProvider(t, f, func(c *providers.GitHubConfig) { c.AllowUnverifiedEmail, c.UserPrefix = true, "gh:" }), f)
	if err != nil || g.Identity.Email != "mona@example.com" || g.Identity.EmailVerified || g.Identity.User != "gh:mona" {
		t.Errorf("allow_unverified_email: %v %+v", err, g.Identity)
	}

	// Without user:email the public email is not trusted either.
	f.RefuseScopes("user:email")
	g, err = githubLogin(t, githubProvider(t, f, nil), f)
	if err != nil || g.Identity.Email != "" {
		t.Errorf("user:email refused: %v %+v", err, g.Identity)
	}
}

func TestGitHubPagination(t *testing.T) {
	t.Parallel()
	var orgs, teams []string
	for i := range 7 {
		orgs = append(orgs, "org"+string(rune('a'+i)))
		teams = append(teams, "orga/team"+string(rune('a'+i)))
	}
	f := fakes.NewGitHub(t, fakes.GitHubOptions{Callback: gateCallback, Users: []fakes.GitHubUser{{Login: "many", ID: 9, Orgs: orgs, Teams: teams,
		Emails: []fakes.GitHubEmail{{Email: "a@example.com"}, {Email: "b@example.com"}, {Email: "many@example.com", Primary: true, Verified: true}}}}})
	f.MaxPerPage.Store(2)
	g, err := githubLogin(t, githubProvider(t, f, func(c *providers.GitHubConfig) { c.AllowedTeams = []string{"orga/teamg"} }), f)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Identity.Groups) != 14 || g.Identity.Email != "many@example.com" {
		t.Errorf("groups %v email %q: pages not followed", g.Identity.Groups, g.Identity.Email)
	}
	if n := f.Calls("GET /user/teams"); n != 4 {
		t.Errorf("team pages read = %d, want 4", n)
	}
}

func TestGitHubRateLimit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		status, retry int
		when          string
	}{
		{http.StatusForbidden, 0, "in about 60 minutes"}, // primary limit: until x-ratelimit-reset
		{http.StatusTooManyRequests, 120, "in about 2 minutes"},
	} {
		f := fakes.NewGitHub(t, fakes.GitHubOptions{Callback: gateCallback})
		p := githubProvider(t, f, func(c *providers.GitHubConfig) { c.AllowedOrganizations = []string{"acme"} })
		f.Throttle.Set(1, c.status, c.retry)
		_, err := githubLogin(t, p, f)
		wantProviderError(t, err, providers.CodeRateLimited, "GitHub is limiting")
		wantProviderError(t, err, providers.CodeRateLimited, c.when)
		if errors.Is(err, providers.ErrInvalidGrant) || errors.Is(err, providers.ErrUnauthorized) {
			t.Errorf("rate limit %v must be transient", err)
		}
	}
}

func TestGitHubValidate(t *testing.T) {
	t.Parallel()
	f := fakes.NewGitHub(t, fakes.GitHubOptions{Callback: gateCallback})
	p := githubProvider(t, f, func(c *providers.GitHubConfig) { c.AllowedOrganizations = []string{"acme"} })
	if p.ValidateEvery() != providers.DefaultGitHubValidateEvery {
		t.Errorf("ValidateEvery = %v", p.ValidateEvery())
	}
	g, err := githubLogin(t, p, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(t.Context(), g); err != nil {
		t.Fatalf("unchanged account: %v", err)
	}
	// An OAuth app's token does not expire: a refresh reads the identity again.
	if g2, err := p.Refresh(t.Context(), g); err != nil || g2.Tokens.AccessToken != g.Tokens.AccessToken || !slices.Equal(g2.Identity.Groups, g.Identity.Groups) {
		t.Errorf("OAuth app refresh: %v, %+v", err, g2)
	}

	// Rate limited: transient.
	f.Throttle.Set(1, http.StatusForbidden, 0)
	if err := p.Validate(t.Context(), g); err == nil || errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("rate-limited validation: %v, want a transient error", err)
	}

	octocat := fakes.GitHubUser{Login: "octocat", ID: 583231, Name: "The Octocat", Orgs: []string{"acme"}, Teams: []string{"acme/platform"},
		Emails: []fakes.GitHubEmail{{Email: "octocat@example.com", Primary: true, Verified: true}}}
	f.SetUser(octocat) // left acme/sre
	if err := p.Validate(t.Context(), g); !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("lost team: %v, want ErrInvalidGrant", err)
	}
	g2, err := githubLogin(t, p, f)
	if err != nil || p.Validate(t.Context(), g2) != nil {
		t.Fatalf("new login with the new memberships: %v", err)
	}
	octocat.Orgs, octocat.Teams = nil, nil
	f.SetUser(octocat)
	if err := p.Validate(t.Context(), g2); !errors.Is(err, providers.ErrInvalidGrant) || !errors.Is(err, providers.ErrUnauthorized) {
		t.Errorf("left the organisation: %v, want ErrInvalidGrant", err)
	}
	if _, err := p.Refresh(t.Context(), g2); !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("refresh after leaving the organisation: %v, want ErrInvalidGrant", err)
	}
	f.RevokeAccess("octocat")
	if err := p.Validate(t.Context(), g2); !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("revoked token: %v, want ErrInvalidGrant", err)
	}
}

func TestGitHubAppExpiringTokens(t *testing.T) {
	t.Parallel()
	f := fakes.NewGitHub(t, fakes.GitHubOptions{Callback: gateCallback, ExpiringTokens: true})
	p := githubProvider(t, f, func(c *providers.GitHubConfig) { c.AllowedTeams = []string{"acme/sre"} })
	g, err := githubLogin(t, p, f)
	if err != nil {
		t.Fatal(err)
	}
	if g.Tokens.Expiry.IsZero() || g.Tokens.RefreshToken == "" {
		t.Fatalf("tokens = %+v, want expiring ones", g.Tokens)
	}
	g2, err := p.Refresh(t.Context(), g)
	if err != nil || g2.Identity.User != "octocat" || g2.Tokens.RefreshToken == g.Tokens.RefreshToken {
		t.Fatalf("refresh: %v %+v", err, g2.Identity)
	}
	if _, err := p.Refresh(t.Context(), g); !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("spent refresh token (bad_refresh_token): %v, want ErrInvalidGrant", err)
	}
	f.SetUser(fakes.GitHubUser{Login: "octocat", ID: 583231, Orgs: []string{"acme"}, Teams: []string{"acme/platform"}})
	if _, err := p.Refresh(t.Context(), g2); !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("refresh after leaving the team: %v, want ErrInvalidGrant", err)
	}
}

func TestGitHubConfigErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []providers.GitHubConfig{
		{AllowedTeams: []string{"platform"}},
		{AllowedRepositories: []string{"acme/gateway:owner"}},
		{AllowedOrganizations: []string{"acme/platform"}},
		{PKCE: providers.PKCEPlain},
		{BaseURL: "ftp://github.example"},
	} {
		c.ClientID, c.ClientSecret = "id", "secret"
		if _, err := providers.NewGitHub(c); err == nil {
			t.Errorf("NewGitHub(%+v) accepted", c)
		}
	}
	for in, want := range map[string]string{"Acme/Gateway": "acme/gateway", "acme/gateway:write": "acme/gateway:push", "a/b:ADMIN": "a/b:admin"} {
		if r, err := providers.ParseGitHubRepository(in); err != nil || r.String() != want {
			t.Errorf("ParseGitHubRepository(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
}
