package fakes

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
)

// GitLabOptions configure a GitLab fake.
type GitLabOptions struct {
	// Callback is the OAuth application's redirect URI.
	Callback string
	// PathPrefix is a self-managed instance's relative URL root, e.g.
	// "/gitlab" ("" for gitlab.com or an instance at the root).
	PathPrefix string
	// AppScopes are the scopes enabled on the OAuth application; asking
	// for another is answered with error=invalid_scope. Default openid,
	// profile, email and read_api.
	AppScopes []string
	// Users default to alice (developer of acme) and bob (maintainer of
	// acme/platform, owner of other).
	Users []GitLabUser
	// Groups are the full paths of every group on the instance; default
	// acme, acme/platform, acme/platform/infra, other.
	Groups []string
	// Projects by full path; default acme/platform/gateway (private),
	// other/tools (private) and public/handbook (public).
	Projects map[string]GitLabProject
}

// GitLabUser is a GitLab account.
type GitLabUser struct {
	Username, Name, Email string
	ID                    int
	// Groups maps the full path of each group the user is a direct member
	// of to the access level (10 guest, 20 reporter, 30 developer, 40
	// maintainer, 50 owner); subgroups inherit it.
	Groups map[string]int
}

// GitLabProject is a project: its visibility ("private", "internal" or
// "public") and direct members' access levels.
type GitLabProject struct {
	ID         int
	Visibility string
	Members    map[string]int
}

// GitLab imitates GitLab as an OpenID provider (gitlab.com or a
// self-managed instance, possibly under a relative URL root) and the
// REST API calls a login makes with the access token:
//
//   - discovery, /oauth/authorize, /oauth/token (refresh tokens rotate),
//     /oauth/userinfo, /oauth/discovery/keys, under the instance's URL;
//   - the ID token carries groups_direct, userinfo carries groups (direct
//     and inherited, subgroups included) and the owner/maintainer/
//     developer group claims, as GitLab documents;
//   - GET /api/v4/user and GET /api/v4/projects/:id (an URL-encoded path
//     such as acme%2Fplatform%2Fgateway, or the numeric id), which need
//     the read_api or api scope (read_user for /user) and answer 404 for
//     projects the user cannot see;
//   - no RFC 9207 iss in authorization responses.
type GitLab struct {
	*oidcFront
	// Server serves the instance; BaseURL is its URL with the path prefix
	// (the issuer and a provider's base_url); APIURL is BaseURL+"/api/v4".
	Server          *httptest.Server
	BaseURL, APIURL string
	// Throttle answers the next API requests 429 "Retry later".
	Throttle Throttle

	opts  GitLabOptions
	glmu  sync.Mutex
	users map[string]GitLabUser
}

var gitlabScopes = []string{"api", "read_api", "read_user", "create_runner", "manage_runner", "k8s_proxy", "self_rotate", "read_repository",
	"write_repository", "read_registry", "write_registry", "read_virtual_registry", "write_virtual_registry", "read_observability",
	"write_observability", "ai_features", "sudo", "admin_mode", "read_service_ping", "openid", "profile", "email"}

// NewGitLab starts a GitLab fake (see GitLabOptions).
func NewGitLab(t testing.TB, o GitLabOptions) *GitLab {
	t.Helper()
	gitlabDefaults(&o)
	f := &GitLab{opts: o, users: map[string]GitLabUser{}}
	var idpUsers []devidp.User
	for _, u := range o.Users {
		f.users[u.Username] = u
		idpUsers = append(idpUsers, f.idpUser(u))
	}
	spec := oidcSpec{name: "gitlab", issuerPath: o.PathPrefix, authParams: []string{"prompt"}, rotate: true, accessTTL: 2 * time.Hour,
		scopeOK:       func(s string) bool { return slices.Contains(o.AppScopes, s) },
		tokenResponse: func(resp map[string]any, _ *oidcGrant) { resp["created_at"] = time.Now().Unix() }}
	f.oidcFront = newOIDCFront(t, spec, "9f2ce3e1d4b5a6c7", "gloas-secret", o.Callback, idpUsers)
	mux := http.NewServeMux()
	p := o.PathPrefix
	f.handle(mux, p, "GET /.well-known/openid-configuration", f.discovery)
	f.handle(mux, p, "GET /oauth/authorize", f.authorize)
	f.handle(mux, p, "POST /oauth/token", f.token)
	f.handle(mux, p, "GET /oauth/userinfo", func(w http.ResponseWriter, r *http.Request) { f.userinfoWith(w, r, f.userinfoDoc) })
	f.handle(mux, p, "GET /oauth/discovery/keys", func(w http.ResponseWriter, r *http.Request) { f.jwks(w, r) })
	f.handle(mux, p, "GET /api/v4/user", f.apiUser)
	f.handle(mux, p, "GET /api/v4/projects/{id}", f.apiProject)
	f.Server = f.serve(mux)
	f.BaseURL = f.Server.URL + p
	f.APIURL = f.BaseURL + "/api/v4"
	f.IdP.SetIssuer(f.BaseURL)
	return f
}

func gitlabDefaults(o *GitLabOptions) {
	if o.AppScopes == nil {
		o.AppScopes = []string{"openid", "profile", "email", "read_api"}
	}
	if o.Users == nil {
		o.Users = []GitLabUser{
			{Username: "alice", Name: "Alice", Email: "alice@example.com", ID: 2, Groups: map[string]int{"acme": 30}},
			{Username: "bob", Name: "Bob", Email: "bob@example.com", ID: 3, Groups: map[string]int{"acme/platform": 40, "other": 50}},
		}
	}
	if o.Groups == nil {
		o.Groups = []string{"acme", "acme/platform", "acme/platform/infra", "other"}
	}
	if o.Projects == nil {
		o.Projects = map[string]GitLabProject{"acme/platform/gateway": {ID: 101}, "other/tools": {ID: 102}, "public/handbook": {ID: 103, Visibility: "public"}}
	}
}

// SetUser adds u or replaces the user with the same username; the next
// ID token, userinfo answer or API call reflects it.
func (f *GitLab) SetUser(u GitLabUser) {
	f.glmu.Lock()
	f.users[u.Username] = u
	f.glmu.Unlock()
	if err := f.IdP.SetUser(f.idpUser(u)); err != nil {
		f.t.Errorf("gitlab fake: %v", err)
	}
}

func (f *GitLab) user(name string) GitLabUser {
	f.glmu.Lock()
	defer f.glmu.Unlock()
	return f.users[name]
}

// idpUser is u as the ID token shows it: sub is the numeric user id and
// groups_direct the direct memberships (no groups claim there).
func (f *GitLab) idpUser(u GitLabUser) devidp.User {
	direct := slices.Sorted(maps.Keys(u.Groups))
	return devidp.User{Username: u.Username, Name: u.Name, Email: u.Email, EmailVerified: true,
		Claims: map[string]any{"sub": strconv.Itoa(u.ID), "nickname": u.Username, "groups_direct": direct}}
}

// groupLevel is u's access level in group path through membership of it
// or of an ancestor (0 for none).
func (u GitLabUser) groupLevel(path string) int {
	level := 0
	for g, l := range u.Groups {
		if path == g || strings.HasPrefix(path, g+"/") {
			level = max(level, l)
		}
	}
	return level
}

func (f *GitLab) discovery(w http.ResponseWriter, _ *http.Request) {
	b := f.BaseURL
	WriteJSON(w, http.StatusOK, map[string]any{
		"issuer": b, "authorization_endpoint": b + "/oauth/authorize", "token_endpoint": b + "/oauth/token",
		"revocation_endpoint": b + "/oauth/revoke", "introspection_endpoint": b + "/oauth/introspect", "userinfo_endpoint": b + "/oauth/userinfo",
		"jwks_uri": b + "/oauth/discovery/keys", "scopes_supported": gitlabScopes, "response_types_supported": []string{"code"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"grant_types_supported":                 []string{"authorization_code", "password", "client_credentials", "device_code", "refresh_token"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"}, "claim_types_supported": []string{"normal"},
		"claims_supported": []string{"iss", "sub", "aud", "exp", "iat", "sub_legacy", "name", "nickname", "preferred_username", "email", "email_verified",
			"website", "profile", "picture", "groups", "groups_direct", "https://gitlab.org/claims/groups/owner",
			"https://gitlab.org/claims/groups/maintainer", "https://gitlab.org/claims/groups/developer"},
		"code_challenge_methods_supported": []string{"plain", "S256"},
	})
}

// userinfoDoc is GitLab's userinfo: groups lists every group the user
// belongs to directly or through an ancestor; the role claims list
// direct memberships by role.
func (f *GitLab) userinfoDoc(g *oidcGrant) map[string]any {
	u := f.user(g.user)
	var groups, owner, maintainer, developer []string
	for _, p := range f.opts.Groups {
		if u.groupLevel(p) > 0 {
			groups = append(groups, p)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(u.Groups)) {
		switch u.Groups[p] {
		case 50:
			owner = append(owner, p)
		case 40:
			maintainer = append(maintainer, p)
		case 30:
			developer = append(developer, p)
		}
	}
	doc := map[string]any{"sub": strconv.Itoa(u.ID), "name": u.Name, "nickname": u.Username, "preferred_username": u.Username,
		"website": "", "profile": f.BaseURL + "/" + u.Username, "picture": fmt.Sprintf("https://secure.gravatar.com/avatar/%d", u.ID),
		"groups": groups, "https://gitlab.org/claims/groups/owner": owner, "https://gitlab.org/claims/groups/maintainer": maintainer,
		"https://gitlab.org/claims/groups/developer": developer}
	if g.hasScope("email") {
		doc["email"], doc["email_verified"] = u.Email, true
	}
	return doc
}

// apiGrant authenticates an API request: no token at all is anonymous
// (nil grant); a bad token is 401; a token without one of scopes is 403.
func (f *GitLab) apiGrant(w http.ResponseWriter, r *http.Request, scopes ...string) (*oidcGrant, bool) {
	if status, retry, throttled := f.Throttle.take(); throttled {
		setRetryAfter(w, retry)
		w.Header().Set("RateLimit-Limit", "600")
		w.Header().Set("RateLimit-Remaining", "0")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("Retry later\n"))
		return nil, false
	}
	if r.URL.RawQuery != "" {
		f.violation(w, r, "unexpected query %q", r.URL.RawQuery)
		return nil, false
	}
	if r.Header.Get("Authorization") == "" {
		return nil, true
	}
	g, ok := f.bearerGrant(r)
	if !ok {
		WriteJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
		return nil, false
	}
	if !g.hasScope(scopes...) {
		WriteJSON(w, http.StatusForbidden, map[string]string{"error": "insufficient_scope",
			"error_description": "The request requires higher privileges than provided by the access token.", "scope": strings.Join(scopes, " ")})
		return nil, false
	}
	return g, true
}

func (f *GitLab) apiUser(w http.ResponseWriter, r *http.Request) {
	g, ok := f.apiGrant(w, r, "read_user", "read_api", "api")
	if !ok {
		return
	}
	if g == nil {
		WriteJSON(w, http.StatusUnauthorized, map[string]string{"message": "401 Unauthorized"})
		return
	}
	u := f.user(g.user)
	WriteJSON(w, http.StatusOK, map[string]any{"id": u.ID, "username": u.Username, "name": u.Name, "state": "active",
		"email": u.Email, "web_url": f.BaseURL + "/" + u.Username})
}

// apiProject is GET /api/v4/projects/:id. The id must be the numeric id
// or the URL-encoded full path (a bare slash makes it another route).
func (f *GitLab) apiProject(w http.ResponseWriter, r *http.Request) {
	g, ok := f.apiGrant(w, r, "read_api", "api")
	if !ok {
		return
	}
	id := r.PathValue("id")
	for path, p := range f.opts.Projects {
		if id != path && id != strconv.Itoa(p.ID) {
			continue
		}
		var u GitLabUser
		if g != nil {
			u = f.user(g.user)
		}
		projectLevel, groupLevel := p.Members[u.Username], u.groupLevel(path)
		visible := p.Visibility == "public" || (p.Visibility == "internal" && g != nil) || projectLevel > 0 || groupLevel > 0
		if !visible {
			break
		}
		ns, name := path[:strings.LastIndex(path, "/")], path[strings.LastIndex(path, "/")+1:]
		access := func(l int) any {
			if l == 0 {
				return nil
			}
			return map[string]int{"access_level": l, "notification_level": 3}
		}
		WriteJSON(w, http.StatusOK, map[string]any{"id": p.ID, "name": name, "path": name, "path_with_namespace": path,
			"namespace": map[string]any{"full_path": ns, "kind": "group"}, "visibility": cmp.Or(p.Visibility, "private"), "web_url": f.BaseURL + "/" + path,
			"permissions": map[string]any{"project_access": access(projectLevel), "group_access": access(groupLevel)}})
		return
	}
	WriteJSON(w, http.StatusNotFound, map[string]string{"message": "404 Project Not Found"})
}
