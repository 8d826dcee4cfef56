package fakes

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The REST API part of the GitHub fake. Every request must carry a
// User-Agent (GitHub refuses requests without one), an Accept of
// application/vnd.github+json (or application/json), an optional
// supported X-GitHub-Api-Version, and the token in the Authorization
// header with the "Bearer" or "token" scheme (never in the query).

const githubDocs = "https://docs.github.com/rest"

// githubAPIVersions are the REST API versions GitHub supports.
var githubAPIVersions = []string{"2022-11-28", "2026-03-10"}

type githubHandler func(w http.ResponseWriter, r *http.Request, u GitHubUser, g *githubGrant)

func (f *GitHub) routeAPI(mux *http.ServeMux, prefix string) {
	f.handle(mux, prefix, "GET /user", f.api(nil, false, f.getUser))
	f.handle(mux, prefix, "GET /user/emails", f.api([]string{"user", "user:email"}, true, f.listEmails))
	f.handle(mux, prefix, "GET /user/orgs", f.api([]string{"admin:org", "read:org", "repo", "user", "write:org"}, true, f.listOrgs))
	f.handle(mux, prefix, "GET /user/teams", f.api([]string{"admin:org", "read:org", "repo", "user", "write:org"}, true, f.listTeams))
	f.handle(mux, prefix, "GET /repos/{owner}/{repo}", f.api(nil, false, f.getRepo))
	f.handle(mux, prefix, "GET /repos/{owner}/{repo}/collaborators/{username}/permission", f.api(nil, false, f.getPermission))
}

// apiError writes GitHub's error document.
func apiError(w http.ResponseWriter, status int, msg, doc string) {
	WriteJSON(w, status, map[string]string{"message": msg, "documentation_url": githubDocs + doc, "status": strconv.Itoa(status)})
}

// api wraps an endpoint: header and credential checks, rate limits, and
// the scope check (accepted: scopes of which one is needed; paged: the
// endpoint takes per_page and page).
func (f *GitHub) api(accepted []string, paged bool, h githubHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !f.apiHeaders(w, r, paged) {
			return
		}
		u, g, ok := f.apiAuth(w, r)
		if !ok {
			return
		}
		if status, retry, throttled := f.Throttle.take(); throttled {
			f.rateLimited(w, status, retry, u)
			return
		}
		f.rateHeaders(w, 4999)
		if !f.opts.ExpiringTokens {
			w.Header().Set("X-OAuth-Scopes", strings.Join(g.scopes, ", "))
			w.Header().Set("X-Accepted-OAuth-Scopes", strings.Join(accepted, ", "))
			if accepted != nil && !slices.ContainsFunc(accepted, func(s string) bool { return slices.Contains(g.scopes, s) }) {
				f.missingScope(w, r)
				return
			}
		}
		h(w, r, u, g)
	}
}

// apiHeaders checks what every API request must carry.
func (f *GitHub) apiHeaders(w http.ResponseWriter, r *http.Request, paged bool) bool {
	switch {
	case r.Header.Get("User-Agent") == "":
		f.violation(w, r, "no User-Agent (GitHub answers 403)")
		return false
	case !slices.Contains([]string{"application/vnd.github+json", "application/vnd.github.v3+json", "application/json"}, r.Header.Get("Accept")):
		f.violation(w, r, "Accept %q, want application/vnd.github+json", r.Header.Get("Accept"))
		return false
	case r.URL.Query().Has("access_token"):
		f.violation(w, r, "token in the query (GitHub removed that; use the Authorization header)")
		return false
	}
	if v := r.Header.Get("X-GitHub-Api-Version"); v != "" && !slices.Contains(githubAPIVersions, v) {
		f.report(r, "X-GitHub-Api-Version %q", v)
		apiError(w, http.StatusBadRequest, fmt.Sprintf("API version '%s' is not supported.", v), "/about-the-rest-api/api-versions")
		return false
	}
	for k := range r.URL.Query() {
		if !paged || (k != "per_page" && k != "page") {
			f.violation(w, r, "unexpected query parameter %q", k)
			return false
		}
	}
	return true
}

// apiAuth finds the user of the request's token ("Bearer" or "token").
func (f *GitHub) apiAuth(w http.ResponseWriter, r *http.Request) (GitHubUser, *githubGrant, bool) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if tok == "" || (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "token")) {
		apiError(w, http.StatusUnauthorized, "Requires authentication", "/users/users#get-the-authenticated-user")
		return GitHubUser{}, nil, false
	}
	f.gmu.Lock()
	g, known := f.grants[tok]
	u := f.users[g.userOrEmpty()]
	f.gmu.Unlock()
	if !known || !f.AccessTokenValid(tok) || (!g.expiry.IsZero() && time.Now().After(g.expiry)) {
		apiError(w, http.StatusUnauthorized, "Bad credentials", "")
		return GitHubUser{}, nil, false
	}
	w.Header().Set("X-GitHub-Media-Type", "github.v3; format=json")
	w.Header().Set("X-GitHub-Api-Version-Selected", cmp.Or(r.Header.Get("X-GitHub-Api-Version"), githubAPIVersions[0]))
	return u, g, true
}

func (g *githubGrant) userOrEmpty() string {
	if g == nil {
		return ""
	}
	return g.user
}

func (f *GitHub) rateHeaders(w http.ResponseWriter, remaining int) {
	h := w.Header()
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(5000-remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

// rateLimited answers as GitHub does when a limit is exceeded: 403 (the
// primary limit) or 429 (a secondary limit, with Retry-After).
func (f *GitHub) rateLimited(w http.ResponseWriter, status, retry int, u GitHubUser) {
	f.rateHeaders(w, 0)
	setRetryAfter(w, retry)
	msg := fmt.Sprintf("API rate limit exceeded for user ID %d.", u.ID)
	if status == http.StatusTooManyRequests {
		msg = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
	}
	apiError(w, status, msg, "/overview/rate-limits-for-the-rest-api")
}

// missingScope answers a token without the endpoint's scope: /user/emails
// answers 404, the organization endpoints 403.
func (f *GitHub) missingScope(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/user/emails") {
		apiError(w, http.StatusNotFound, "Not Found", "/users/emails#list-email-addresses-for-the-authenticated-user")
		return
	}
	apiError(w, http.StatusForbidden, "You need at least read:org scope or user scope to list your organizations.", "/orgs/orgs#list-organizations-for-the-authenticated-user")
}

// writePage writes one page of items with GitHub's Link header.
func writePage[T any](f *GitHub, w http.ResponseWriter, r *http.Request, items []T) {
	q := r.URL.Query()
	size, page := 30, 1
	if v := q.Get("per_page"); v != "" {
		size, _ = strconv.Atoi(v)
	}
	if v := q.Get("page"); v != "" {
		page, _ = strconv.Atoi(v)
	}
	if size < 1 || page < 1 {
		f.violation(w, r, "per_page %q page %q", q.Get("per_page"), q.Get("page"))
		return
	}
	size = min(size, 100, int(f.MaxPerPage.Load()))
	out, more := pageOf(items, page, size)
	link := func(p int, rel string) string {
		return fmt.Sprintf(`<http://%s%s?per_page=%d&page=%d>; rel="%s"`, r.Host, r.URL.Path, size, p, rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(page-1, "prev"))
	}
	if more {
		links = append(links, link(page+1, "next"), link(lastPage(len(items), size), "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"))
	}
	if links != nil {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	WriteJSON(w, http.StatusOK, out)
}

func (f *GitHub) account(u GitHubUser) map[string]any {
	return map[string]any{"login": u.Login, "id": u.ID, "node_id": fmt.Sprintf("MDQ6VXNlcj%d", u.ID), "type": "User", "site_admin": false,
		"avatar_url": fmt.Sprintf("https://avatars.githubusercontent.com/u/%d?v=4", u.ID), "html_url": f.BaseURL + "/" + u.Login}
}

func (f *GitHub) getUser(w http.ResponseWriter, r *http.Request, u GitHubUser, _ *githubGrant) {
	doc := f.account(u)
	doc["name"], doc["email"], doc["company"], doc["created_at"] = u.Name, nil, nil, "2011-01-25T18:44:36Z"
	if u.Email != "" {
		doc["email"] = u.Email
	}
	WriteJSON(w, http.StatusOK, doc)
}

func (f *GitHub) listEmails(w http.ResponseWriter, r *http.Request, u GitHubUser, _ *githubGrant) {
	var out []map[string]any
	for _, e := range u.Emails {
		vis := any(nil)
		if e.Primary {
			vis = "private"
			if e.Email == u.Email {
				vis = "public"
			}
		}
		out = append(out, map[string]any{"email": e.Email, "primary": e.Primary, "verified": e.Verified, "visibility": vis})
	}
	writePage(f, w, r, out)
}

func (f *GitHub) listOrgs(w http.ResponseWriter, r *http.Request, u GitHubUser, _ *githubGrant) {
	out := []map[string]any{}
	for i, o := range u.Orgs {
		out = append(out, map[string]any{"login": o, "id": 9000 + i, "url": f.APIURL + "/orgs/" + o, "description": nil})
	}
	writePage(f, w, r, out)
}

func (f *GitHub) listTeams(w http.ResponseWriter, r *http.Request, u GitHubUser, _ *githubGrant) {
	out := []map[string]any{}
	for i, t := range u.Teams {
		org, slug, _ := strings.Cut(t, "/")
		out = append(out, map[string]any{"id": 7000 + i, "name": slug, "slug": slug, "privacy": "closed", "permission": "pull",
			"organization": map[string]any{"login": org, "id": 9000}})
	}
	writePage(f, w, r, out)
}

// repo finds owner/name (case-insensitively) as the token sees it: a
// private repository is visible only to a user with a role on it and a
// token with the repo scope (404 otherwise, as GitHub hides it).
func (f *GitHub) repo(r *http.Request, u GitHubUser, g *githubGrant) (string, GitHubRepo, bool) {
	want := r.PathValue("owner") + "/" + r.PathValue("repo")
	for name, repo := range f.opts.Repos {
		if !strings.EqualFold(name, want) {
			continue
		}
		_, member := repo.Roles[u.Login]
		ok := !repo.Private || (member && (f.opts.ExpiringTokens || slices.Contains(g.scopes, "repo")))
		return name, repo, ok
	}
	return "", GitHubRepo{}, false
}

// githubPermissions is the permissions object of a role.
func githubPermissions(role string) map[string]bool {
	rank := map[string]int{"read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}[role]
	return map[string]bool{"pull": rank >= 1, "triage": rank >= 2, "push": rank >= 3, "maintain": rank >= 4, "admin": rank >= 5}
}

func (f *GitHub) getRepo(w http.ResponseWriter, r *http.Request, u GitHubUser, g *githubGrant) {
	name, repo, ok := f.repo(r, u, g)
	if !ok {
		apiError(w, http.StatusNotFound, "Not Found", "/repos/repos#get-a-repository")
		return
	}
	role := repo.Roles[u.Login]
	perms := githubPermissions(role)
	perms["pull"] = true // every repository the token sees can be read
	owner, short, _ := strings.Cut(name, "/")
	vis := "public"
	if repo.Private {
		vis = "private"
	}
	WriteJSON(w, http.StatusOK, map[string]any{"name": short, "full_name": name, "private": repo.Private, "visibility": vis,
		"owner": map[string]any{"login": owner, "type": "Organization"}, "permissions": perms})
}

// getPermission is GET /repos/{owner}/{repo}/collaborators/{username}/permission;
// GitHub requires push access to the repository to look at anyone's.
func (f *GitHub) getPermission(w http.ResponseWriter, r *http.Request, u GitHubUser, g *githubGrant) {
	_, repo, ok := f.repo(r, u, g)
	if !ok {
		apiError(w, http.StatusNotFound, "Not Found", "/collaborators/collaborators#get-repository-permissions-for-a-user")
		return
	}
	if !githubPermissions(repo.Roles[u.Login])["push"] {
		apiError(w, http.StatusForbidden, "Must have push access to view repository collaborators.", "/collaborators/collaborators#get-repository-permissions-for-a-user")
		return
	}
	f.gmu.Lock()
	target, known := f.users[r.PathValue("username")]
	f.gmu.Unlock()
	if !known {
		apiError(w, http.StatusNotFound, "Not Found", "/collaborators/collaborators#get-repository-permissions-for-a-user")
		return
	}
	role := cmp.Or(repo.Roles[target.Login], "none")
	legacy := map[string]string{"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read", "none": "none"}[role]
	WriteJSON(w, http.StatusOK, map[string]any{"permission": legacy, "role_name": role, "user": f.account(target)})
}
