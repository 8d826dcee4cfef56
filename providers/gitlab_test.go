package providers_test

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

func gitlabProvider(t *testing.T, f *fakes.GitLab, projects ...string) *providers.OIDC {
	t.Helper()
	p, err := providers.NewGitLab(t.Context(), providers.GitLabConfig{BaseURL: f.BaseURL, AllowedProjects: projects,
		Common: providers.Common{ClientID: f.ClientID, ClientSecret: f.ClientSecret, Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGitLabGroupsFromUserinfo(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "/gitlab"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			t.Parallel()
			f := fakes.NewGitLab(t, fakes.GitLabOptions{Callback: gateCallback, PathPrefix: prefix})
			// Even an ID token with a groups claim (direct memberships)
			// does not replace userinfo's.
			f.SetMutateIDToken(func(c map[string]any) { c["groups"] = c["groups_direct"] })
			p := gitlabProvider(t, f)
			g, err := presetLogin(t, p, f.Callback)
			if err != nil {
				t.Fatal(err)
			}
			id := g.Identity
			// alice is a direct member of acme only; userinfo lists its subgroups too.
			if id.Subject != "2" || id.Email != "alice@example.com" || id.Issuer != f.BaseURL ||
				!slices.Equal(id.Groups, []string{"acme", "acme/platform", "acme/platform/infra"}) {
				t.Errorf("identity = %+v", id)
			}
			if f.Calls("GET /oauth/userinfo") != 1 || f.Calls("GET /api/v4/projects/{id}") != 0 {
				t.Errorf("calls: userinfo %d, projects %d", f.Calls("GET /oauth/userinfo"), f.Calls("GET /api/v4/projects/{id}"))
			}
			if p.Info().Type != "gitlab" || p.Info().DisplayName != "GitLab" {
				t.Errorf("Info = %+v", p.Info())
			}
		})
	}
}

func TestGitLabAllowedProjects(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, user string
		projects   []string
		admit      bool
	}{
		{"member through the group", "alice", []string{"acme/platform/gateway"}, true},
		{"access level too low", "alice", []string{"acme/platform/gateway:maintainer"}, false},
		{"maintainer of the subgroup", "bob", []string{"acme/platform/gateway:maintainer"}, true},
		{"project not visible", "alice", []string{"other/tools"}, false},
		{"public project, not a member", "alice", []string{"public/handbook"}, false},
		{"any project", "alice", []string{"other/tools", "acme/platform/gateway"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := fakes.NewGitLab(t, fakes.GitLabOptions{Callback: gateCallback, PathPrefix: "/gitlab"})
			f.User.Store(c.user)
			p := gitlabProvider(t, f, c.projects...)
			u, _ := url.Parse(must(p.AuthCodeURL(t.Context(), providers.AuthParams{State: "s", Nonce: "n", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: f.Callback})))
			if got := u.Query().Get("scope"); got != "openid profile email read_api" {
				t.Errorf("scope = %q, want read_api added", got)
			}
			_, err := presetLogin(t, p, f.Callback)
			if c.admit != (err == nil) {
				t.Fatalf("login: %v, want admitted=%v", err, c.admit)
			}
			if !c.admit {
				wantProviderError(t, err, providers.CodeAccountNotAllowed, "not a member of an allowed project")
			}
		})
	}
}

func TestGitLabRefresh(t *testing.T) {
	t.Parallel()
	f := fakes.NewGitLab(t, fakes.GitLabOptions{Callback: gateCallback})
	p := gitlabProvider(t, f, "acme/platform/gateway")
	g, err := presetLogin(t, p, f.Callback)
	if err != nil {
		t.Fatal(err)
	}
	// alice moves from acme to acme/platform/infra: her groups follow,
	// and she is no longer a member of the project.
	f.SetUser(fakes.GitLabUser{Username: "alice", Name: "Alice", Email: "alice@example.com", ID: 2, Groups: map[string]int{"acme/platform": 20}})
	g2, err := p.Refresh(t.Context(), g)
	if err != nil {
		t.Fatal(err)
	}
	if g2.Tokens.RefreshToken == g.Tokens.RefreshToken || !slices.Equal(g2.Identity.Groups, []string{"acme/platform", "acme/platform/infra"}) {
		t.Errorf("after refresh: rotated %v, groups %v", g2.Tokens.RefreshToken != g.Tokens.RefreshToken, g2.Identity.Groups)
	}
	f.SetUser(fakes.GitLabUser{Username: "alice", Name: "Alice", Email: "alice@example.com", ID: 2, Groups: map[string]int{"other": 30}})
	if _, err := p.Refresh(t.Context(), g2); !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("refresh after leaving the project: %v, want ErrInvalidGrant", err)
	}
}

func TestGitLabRateLimit(t *testing.T) {
	t.Parallel()
	f := fakes.NewGitLab(t, fakes.GitLabOptions{Callback: gateCallback})
	p := gitlabProvider(t, f, "acme/platform/gateway")
	f.Throttle.Set(1, http.StatusTooManyRequests, 30)
	_, err := presetLogin(t, p, f.Callback)
	wantProviderError(t, err, providers.CodeRateLimited, "GitLab is limiting")
	if _, err := providers.ParseGitLabProject("gateway"); err == nil {
		t.Error("a project without its group accepted")
	}
	if p, err := providers.ParseGitLabProject("/acme/gateway:Developer"); err != nil || p.Path != "acme/gateway" || p.MinAccess != 30 {
		t.Errorf("ParseGitLabProject = %+v, %v", p, err)
	}
}
