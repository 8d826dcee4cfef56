package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// githubAPIVersion is the REST API version Gatehouse is written against.
const githubAPIVersion = "2022-11-28"

// errGitHubNoAccess means GitHub answered 403 or 404 (not a rate limit):
// the token lacks the scope, or the resource is hidden from the user.
var errGitHubNoAccess = errors.New("github: no access")

// githubAPI is the part of GitHub's REST API a login uses.
type githubAPI struct{ apiClient }

func newGitHubAPI(base string, c Common) (githubAPI, error) {
	client, err := newAPIClient("GitHub", base, c.HTTPClient, c.Now, http.Header{
		"Accept":               {"application/vnd.github+json"},
		"X-Github-Api-Version": {githubAPIVersion},
		"User-Agent":           {"Gatehouse"},
	})
	return githubAPI{client}, err
}

// call GETs path (or an absolute paging link) and returns the answer when
// it is 200; 401 wraps ErrInvalidGrant and 403/404 errGitHubNoAccess.
func (a githubAPI) call(ctx context.Context, target, token string) (apiResponse, error) {
	if strings.HasPrefix(target, "/") {
		target = a.url(target)
	}
	r, err := a.get(ctx, target, token)
	what := "GET " + redactURL(target)
	switch {
	case err != nil:
		return r, err
	case r.status == http.StatusOK:
		return r, nil
	case r.status == http.StatusUnauthorized:
		return r, invalidGrant("GitHub no longer accepts this sign-in. Please sign in again.", fmt.Errorf("%s: HTTP 401", what))
	case r.status == http.StatusForbidden || r.status == http.StatusNotFound:
		return r, fmt.Errorf("%s: HTTP %d: %w", what, r.status, errGitHubNoAccess)
	}
	return r, a.unexpected(what, r)
}

// user is GET /user: the account the token belongs to.
func (a githubAPI) user(ctx context.Context, token string) (map[string]any, error) {
	r, err := a.call(ctx, "/user", token)
	if errors.Is(err, errGitHubNoAccess) {
		return nil, a.unexpected("GET /user", r)
	}
	if err != nil {
		return nil, err
	}
	doc, err := decodeJSONObject(r.body)
	if err != nil {
		return nil, badResponse(fmt.Errorf("github /user: %w", err))
	}
	return doc, nil
}

// githubList reads every page of a list endpoint (per_page=100, then the Link
// header's next page, at most maxAPIPages), decoding each item into a
// new T.
func githubList[T any](ctx context.Context, a githubAPI, path, token string) ([]T, error) {
	var out []T
	target := path + "?per_page=100"
	for page := 0; target != ""; page++ {
		if page == maxAPIPages {
			return nil, badResponse(fmt.Errorf("github %s: more than %d pages", path, maxAPIPages))
		}
		r, err := a.call(ctx, target, token)
		if err != nil {
			return nil, err
		}
		var items []T
		if err := json.Unmarshal(r.body, &items); err != nil {
			return nil, badResponse(fmt.Errorf("github %s: %w", path, err))
		}
		out = append(out, items...)
		target = nextLink(r.header)
	}
	return out, nil
}

// primaryEmail returns the primary address of GET /user/emails and
// whether GitHub verified it ("" when there is none).
func (a githubAPI) primaryEmail(ctx context.Context, token string) (string, bool, error) {
	emails, err := githubList[struct {
		Email    string `json:"email"`
		Primary  bool   `json:"primary"`
		Verified bool   `json:"verified"`
	}](ctx, a, "/user/emails", token)
	if err != nil {
		return "", false, err
	}
	for _, e := range emails {
		if e.Primary && e.Email != "" && checkPrintable(e.Email) == nil {
			return e.Email, e.Verified, nil
		}
	}
	return "", false, nil
}

// githubMemberships are a user's organisations and teams, lower case.
type githubMemberships struct {
	orgs  []string
	teams []string // "org/team-slug"
}

// groups are the memberships as Identity.Groups: organisations, then
// teams.
func (m githubMemberships) groups() []string {
	return slices.Concat(m.orgs, m.teams)
}

// memberships lists the user's organisations and teams that the app may
// see (organisations restricting OAuth apps hide themselves).
func (a githubAPI) memberships(ctx context.Context, token string) (githubMemberships, error) {
	orgs, err := githubList[struct {
		Login string `json:"login"`
	}](ctx, a, "/user/orgs", token)
	if err != nil {
		return githubMemberships{}, err
	}
	teams, err := githubList[struct {
		Slug         string `json:"slug"`
		Organization struct {
			Login string `json:"login"`
		} `json:"organization"`
	}](ctx, a, "/user/teams", token)
	if err != nil {
		return githubMemberships{}, err
	}
	var m githubMemberships
	for _, o := range orgs {
		if o.Login != "" {
			m.orgs = append(m.orgs, strings.ToLower(o.Login))
		}
	}
	for _, t := range teams {
		if t.Slug != "" && t.Organization.Login != "" {
			m.teams = append(m.teams, strings.ToLower(t.Organization.Login+"/"+t.Slug))
		}
	}
	return m, nil
}

// hasPermission reports whether the user has repo's permission, read from
// GET /repos/{owner}/{repo} (the collaborator-permission endpoint needs
// push access to the repository). A repository the token cannot see
// (private without the repo scope, or SSO-protected) does not match.
func (a githubAPI) hasPermission(ctx context.Context, token string, repo GitHubRepository) (bool, error) {
	r, err := a.call(ctx, "/repos/"+url.PathEscape(repo.Owner)+"/"+url.PathEscape(repo.Name), token)
	if errors.Is(err, errGitHubNoAccess) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var doc struct {
		Private     bool            `json:"private"`
		Visibility  string          `json:"visibility"`
		Permissions map[string]bool `json:"permissions"`
	}
	if err := r.decode(&doc); err != nil {
		return false, badResponse(fmt.Errorf("github repository %s: %w", repo, err))
	}
	if repo.Permission != "" {
		return doc.Permissions[repo.Permission], nil
	}
	nonPublic := doc.Private || (doc.Visibility != "" && doc.Visibility != "public")
	return doc.Permissions["push"] || (nonPublic && doc.Permissions["pull"]), nil
}
