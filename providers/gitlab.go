package providers

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// GitLabURL is gitlab.com, the default instance.
const GitLabURL = "https://gitlab.com"

// GitLabConfig configures the GitLab preset.
type GitLabConfig struct {
	// Common: ID defaults to "gitlab", DisplayName to "GitLab"; ClientID
	// and ClientSecret are the OAuth application's ("Application ID" and
	// "Secret"); Scopes default to openid, profile and email, and read_api
	// is added when AllowedProjects is set.
	Common
	// BaseURL is the instance's URL with its relative root, if any
	// (https://gitlab.example.com/gitlab); default GitLabURL. It is the
	// OpenID issuer; the REST API is BaseURL + "/api/v4".
	BaseURL string
	// UserClaim is OIDCConfig.UserClaim (default sub, the numeric user
	// id; "preferred_username" for the username).
	UserClaim string
	// AllowedProjects ("group/project", optionally ":<access level>")
	// admit members of any of these projects, directly or through a
	// group; checked at login and at every refresh.
	AllowedProjects []string
}

// GitLabProject is an allowed_projects entry.
type GitLabProject struct {
	// Path is the project's full path, e.g. "acme/platform/gateway".
	Path string
	// MinAccess is the least access level admitted (10 guest, 15 planner,
	// 20 reporter, 30 developer, 40 maintainer, 50 owner); default 10.
	MinAccess int
}

// gitlabLevels are GitLab's access levels by name.
var gitlabLevels = map[string]int{"guest": 10, "planner": 15, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50}

// ParseGitLabProject reads "group/project" or "group/project:level".
func ParseGitLabProject(s string) (GitLabProject, error) {
	path, level, hasLevel := strings.Cut(strings.TrimSpace(s), ":")
	path = strings.Trim(path, "/")
	if !strings.Contains(path, "/") || strings.Contains(path, "//") || strings.ContainsAny(path, " ?#%") {
		return GitLabProject{}, fmt.Errorf("%q is not a project's full path (e.g. acme/platform/gateway, or acme/platform/gateway:developer)", s)
	}
	p := GitLabProject{Path: path, MinAccess: 10}
	if hasLevel {
		if p.MinAccess = gitlabLevels[strings.ToLower(level)]; p.MinAccess == 0 {
			return GitLabProject{}, fmt.Errorf("%q: access level %q is not guest, planner, reporter, developer, maintainer or owner", s, level)
		}
	}
	return p, nil
}

// NewGitLab returns the GitLab provider: OpenID Connect against the
// instance, groups from userinfo's "groups" claim (every group the user
// belongs to, subgroups included, as full paths; the ID token only has
// direct memberships), and allowed projects checked through the REST API
// with the user's token.
func NewGitLab(ctx context.Context, c GitLabConfig) (*OIDC, error) {
	var projects []GitLabProject
	for _, s := range c.AllowedProjects {
		p, err := ParseGitLabProject(s)
		if err != nil {
			return nil, fmt.Errorf("gitlab: allowed_projects: %w", err)
		}
		projects = append(projects, p)
	}
	base := strings.TrimRight(cmp.Or(c.BaseURL, GitLabURL), "/")
	common := c.Common
	common.Scopes = slices.Clone(defaultScopes(common.Scopes, "openid", "profile", "email"))
	if len(projects) > 0 && !slices.Contains(common.Scopes, "read_api") && !slices.Contains(common.Scopes, "api") {
		common.Scopes = append(common.Scopes, "read_api")
	}
	o, err := newOIDC(ctx, OIDCConfig{Common: common, IssuerURL: base, UserClaim: c.UserClaim, GroupsClaim: "groups"},
		oidcPreset{typ: "gitlab", displayName: "GitLab", userinfoGroups: true})
	if err != nil {
		return nil, err
	}
	if len(projects) > 0 {
		api, err := newAPIClient("GitLab", base+"/api/v4", o.c.HTTPClient, o.c.Now, http.Header{"Accept": {"application/json"}, "User-Agent": {"Gatehouse"}})
		if err != nil {
			return nil, err
		}
		g := gitlabProjects{api: api, projects: projects}
		o.preset.identity = g.check
	}
	return o, nil
}

// gitlabProjects checks allowed_projects.
type gitlabProjects struct {
	api      apiClient
	projects []GitLabProject
}

// check admits the user when they have enough access to one project.
func (g gitlabProjects) check(ctx context.Context, in presetInput, id *Identity) error {
	for _, p := range g.projects {
		level, err := g.access(ctx, in.accessToken, p.Path)
		if err != nil {
			return err
		}
		if level >= p.MinAccess {
			return nil
		}
	}
	return notAllowed("Your GitLab account is not a member of an allowed project.",
		fmt.Errorf("gitlab user %s: not a member of any of %v", id.Subject, g.projects))
}

// access is the user's access level in the project at path (0: none or
// not visible), from GET /projects/:id's permissions.
func (g gitlabProjects) access(ctx context.Context, token, path string) (int, error) {
	what := "GET /api/v4/projects/" + path
	r, err := g.api.get(ctx, g.api.url("/projects/"+url.PathEscape(path)), token)
	switch {
	case err != nil:
		return 0, err
	case r.status == http.StatusNotFound:
		return 0, nil
	case r.status == http.StatusUnauthorized:
		return 0, invalidGrant("GitLab no longer accepts this sign-in. Please sign in again.", fmt.Errorf("%s: HTTP 401", what))
	case r.status != http.StatusOK:
		// 403 insufficient_scope: the application lacks read_api.
		return 0, g.api.unexpected(what, r)
	}
	var doc struct {
		Permissions map[string]*struct {
			AccessLevel json.Number `json:"access_level"`
		} `json:"permissions"`
	}
	if err := r.decode(&doc); err != nil {
		return 0, badResponse(fmt.Errorf("%s: %w", what, err))
	}
	level := 0
	for _, k := range []string{"project_access", "group_access"} {
		if a := doc.Permissions[k]; a != nil {
			n, _ := a.AccessLevel.Int64()
			level = max(level, int(n))
		}
	}
	return level, nil
}
