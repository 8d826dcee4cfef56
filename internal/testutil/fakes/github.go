package fakes

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// GitHubOptions configure a GitHub fake.
type GitHubOptions struct {
	// Callback is the OAuth app's registered callback URL.
	Callback string
	// Enterprise serves GitHub Enterprise Server's layout: one server
	// with the OAuth endpoints at /login/oauth/* and the REST API under
	// /api/v3. Otherwise the fake is split like github.com: Web serves
	// /login/oauth/*, API (api.github.com) serves the REST API at its root.
	Enterprise bool
	// ExpiringTokens makes it a GitHub App with expiring user access
	// tokens: token responses carry expires_in 28800 and a refresh token
	// that is single-use (refreshing revokes it and the old access token).
	// GitHub Apps have no OAuth scopes: every endpoint is allowed.
	ExpiringTokens bool
	// Users are the accounts; default octocat (member of acme, teams
	// acme/platform and acme/sre) and hubot (member of nothing).
	Users []GitHubUser
	// Repos are the repositories, by "owner/name"; default acme/gateway
	// (private; octocat writes) and acme/docs (public).
	Repos map[string]GitHubRepo
}

// GitHubUser is a GitHub account as the fake's API shows it.
type GitHubUser struct {
	Login string
	ID    int64
	Name  string
	// Email is the public email of GET /user ("" shows as null).
	Email string
	// Emails are what GET /user/emails lists.
	Emails []GitHubEmail
	// Orgs are the logins of the organizations the user belongs to.
	Orgs []string
	// Teams are "org/team-slug" names.
	Teams []string
}

// GitHubEmail is one entry of GET /user/emails.
type GitHubEmail struct {
	Email             string
	Primary, Verified bool
}

// GitHubRepo is a repository: its visibility and the role ("admin",
// "maintain", "write", "triage" or "read") of each user with access.
type GitHubRepo struct {
	Private bool
	Roles   map[string]string
}

// GitHub imitates github.com or GitHub Enterprise Server for an OAuth app
// (or a GitHub App's user tokens): the web application flow with
// optional PKCE S256, the access-token endpoint answering form-encoded
// unless asked for JSON (and errors with status 200, as GitHub does), and
// the REST API endpoints a login uses, with scopes, pagination (Link
// headers), rate limits and API versions as documented.
type GitHub struct {
	*Service
	Endpoints
	// Web serves /login/oauth/*; API serves the REST API (the same server
	// when Enterprise).
	Web, API *httptest.Server
	// BaseURL is what a provider's base_url is set to (Web's URL); APIURL
	// is the REST API's root (API's URL, or BaseURL+"/api/v3").
	BaseURL, APIURL string
	// ClientID, ClientSecret and Callback are the registered OAuth app.
	ClientID, ClientSecret, Callback string
	// User is the login that authorizes the app at the authorize endpoint.
	User atomic.Value
	// MaxPerPage caps the page size of list endpoints (default 100, as
	// GitHub); tests lower it to force pagination.
	MaxPerPage atomic.Int64
	// Throttle answers the next API requests as an exceeded rate limit:
	// status 403 or 429 with x-ratelimit-remaining: 0 (and Retry-After
	// when set, as for secondary limits).
	Throttle Throttle

	opts   GitHubOptions
	gmu    sync.Mutex
	users  map[string]GitHubUser
	grants map[string]*githubGrant // access token → grant
	rtAT   map[string]string       // refresh token → its access token
	denied []string                // scopes users refuse to grant
}

type githubGrant struct {
	user   string
	scopes []string
	expiry time.Time // zero: never expires
}

// NewGitHub starts a GitHub fake (see GitHubOptions).
func NewGitHub(t testing.TB, o GitHubOptions) *GitHub {
	t.Helper()
	if o.Users == nil {
		o.Users = []GitHubUser{
			{Login: "octocat", ID: 583231, Name: "The Octocat", Email: "",
				Emails: []GitHubEmail{{Email: "old@example.com", Verified: false}, {Email: "octocat@example.com", Primary: true, Verified: true}},
				Orgs:   []string{"acme"}, Teams: []string{"acme/platform", "acme/sre"}},
			{Login: "hubot", ID: 1001, Name: "Hubot", Emails: []GitHubEmail{{Email: "hubot@example.com", Primary: true, Verified: true}}},
		}
	}
	if o.Repos == nil {
		o.Repos = map[string]GitHubRepo{"acme/gateway": {Private: true, Roles: map[string]string{"octocat": "write"}}, "acme/docs": {}}
	}
	f := &GitHub{Service: newService(t, "github"), ClientID: "Iv1.8a61f9b3a7aba766", ClientSecret: "gh-secret", Callback: o.Callback,
		opts: o, users: map[string]GitHubUser{}, grants: map[string]*githubGrant{}, rtAT: map[string]string{}}
	for _, u := range o.Users {
		f.users[u.Login] = u
	}
	f.User.Store(o.Users[0].Login)
	f.MaxPerPage.Store(100)
	web := http.NewServeMux()
	f.handle(web, "", "GET /login/oauth/authorize", f.authorize)
	f.handle(web, "", "POST /login/oauth/access_token", f.accessToken)
	if o.Enterprise {
		f.routeAPI(web, "/api/v3")
		f.Web = f.serve(web)
		f.API = f.Web
		f.BaseURL, f.APIURL = f.Web.URL, f.Web.URL+"/api/v3"
		return f
	}
	api := http.NewServeMux()
	f.routeAPI(api, "")
	f.Web, f.API = f.serve(web), f.serve(api)
	f.BaseURL, f.APIURL = f.Web.URL, f.API.URL
	return f
}

// SetUser adds u or replaces the user with the same login (new orgs or
// teams show on the next API call).
func (f *GitHub) SetUser(u GitHubUser) {
	f.gmu.Lock()
	defer f.gmu.Unlock()
	f.users[u.Login] = u
}

// RefuseScopes makes users grant every requested scope except these (as
// a user editing the requested scopes at the consent screen).
func (f *GitHub) RefuseScopes(scopes ...string) {
	f.gmu.Lock()
	defer f.gmu.Unlock()
	f.denied = scopes
}

// githubScopes are the documented OAuth app scopes.
var githubScopes = []string{"repo", "repo:status", "repo_deployment", "public_repo", "repo:invite", "security_events",
	"admin:repo_hook", "write:repo_hook", "read:repo_hook", "admin:org", "write:org", "read:org", "admin:public_key",
	"write:public_key", "read:public_key", "admin:org_hook", "gist", "notifications", "user", "read:user", "user:email",
	"user:follow", "project", "read:project", "delete_repo", "write:packages", "read:packages", "delete:packages",
	"admin:gpg_key", "write:gpg_key", "read:gpg_key", "codespace", "workflow", "read:audit_log"}

func (f *GitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !f.checkParams(w, r, q, []string{"client_id", "redirect_uri", "state"},
		[]string{"scope", "login", "allow_signup", "prompt", "code_challenge", "code_challenge_method", "response_type"}) {
		return
	}
	// response_type is not documented, but every RFC 6749 client sends it
	// and GitHub accepts response_type=code.
	if q.Get("client_id") != f.ClientID || q.Get("redirect_uri") != f.Callback || (q.Has("response_type") && q.Get("response_type") != "code") {
		f.violation(w, r, "client_id %q redirect_uri %q", q.Get("client_id"), q.Get("redirect_uri"))
		return
	}
	// PKCE: both or neither, S256 only ("plain" is not supported).
	if q.Has("code_challenge") != q.Has("code_challenge_method") || (q.Has("code_challenge") && (q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43)) {
		f.violation(w, r, "PKCE parameters %q %q", q.Get("code_challenge_method"), q.Get("code_challenge"))
		return
	}
	if p := q.Get("prompt"); p != "" && p != "select_account" {
		f.violation(w, r, "prompt %q", p)
		return
	}
	var scopes []string
	for s := range strings.FieldsSeq(q.Get("scope")) {
		if !slices.Contains(githubScopes, s) {
			f.violation(w, r, "unknown scope %q (scopes are space-delimited)", s)
			return
		}
		f.gmu.Lock()
		refused := slices.Contains(f.denied, s)
		f.gmu.Unlock()
		if !refused && !f.opts.ExpiringTokens {
			scopes = append(scopes, s)
		}
	}
	u, _ := url.Parse(f.Callback)
	v := u.Query()
	if f.Deny.Load() {
		v.Set("error", "access_denied")
		v.Set("error_description", "The user has denied your application access.")
		v.Set("error_uri", "/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied")
	} else {
		v.Set("code", f.issueCode(codeGrant{user: f.User.Load().(string), clientID: f.ClientID, redirect: f.Callback,
			challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"), scope: strings.Join(normalizeGitHubScopes(scopes), ",")}))
	}
	v.Set("state", q.Get("state"))
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// normalizeGitHubScopes drops scopes implied by another requested one
// (user implies read:user, user:email and user:follow; repo implies its
// sub-scopes; admin:org implies write:org and read:org …).
func normalizeGitHubScopes(scopes []string) []string {
	implied := map[string][]string{"user": {"read:user", "user:email", "user:follow"}, "repo": {"repo:status", "repo_deployment", "public_repo", "repo:invite", "security_events"},
		"admin:org": {"write:org", "read:org"}, "write:org": {"read:org"}, "admin:repo_hook": {"write:repo_hook", "read:repo_hook"}, "write:repo_hook": {"read:repo_hook"}}
	var out []string
	for _, s := range scopes {
		covered := slices.ContainsFunc(scopes, func(p string) bool { return slices.Contains(implied[p], s) })
		if !covered && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// accessToken is POST /login/oauth/access_token: client_id and
// client_secret in the body (never HTTP Basic); errors come with status
// 200 and an error field; the answer is form-encoded unless the request
// accepts application/json.
func (f *GitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	if _, _, basic := r.BasicAuth(); basic {
		f.violation(w, r, "client credentials must be sent in the body")
		return
	}
	if err := r.ParseForm(); err != nil {
		f.violation(w, r, "form: %v", err)
		return
	}
	required, optional := []string{"client_id", "client_secret", "code"}, []string{"redirect_uri", "code_verifier", "grant_type"}
	if r.PostForm.Get("grant_type") == "refresh_token" {
		if !f.opts.ExpiringTokens {
			f.violation(w, r, "refresh_token grant for an OAuth app (its tokens do not expire)")
			return
		}
		required, optional = []string{"client_id", "client_secret", "grant_type", "refresh_token"}, nil
	}
	form, ok := f.form(w, r, required, optional)
	if !ok {
		return
	}
	if gt := form.Get("grant_type"); gt != "" && gt != "authorization_code" && gt != "refresh_token" {
		f.violation(w, r, "grant_type %q", gt)
		return
	}
	if form.Get("client_id") != f.ClientID || form.Get("client_secret") != f.ClientSecret {
		f.tokenAnswer(w, r, map[string]any{"error": "incorrect_client_credentials", "error_description": "The client_id and/or client_secret passed are incorrect.",
			"error_uri": "/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials"})
		return
	}
	if form.Get("grant_type") == "refresh_token" {
		f.refreshGitHub(w, r, form.Get("refresh_token"))
		return
	}
	g, ok := f.takeCode(form.Get("code"))
	if !ok {
		f.tokenAnswer(w, r, map[string]any{"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired.",
			"error_uri": "/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"})
		return
	}
	if ru := form.Get("redirect_uri"); ru != "" && ru != g.redirect {
		f.tokenAnswer(w, r, map[string]any{"error": "redirect_uri_mismatch", "error_description": "The redirect_uri MUST match the registered callback URL for this application.",
			"error_uri": "/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch2"})
		return
	}
	if !CheckPKCE(g.method, g.challenge, form.Get("code_verifier")) {
		f.violation(w, r, "PKCE mismatch")
		return
	}
	f.tokenAnswer(w, r, f.mint(g.user, strings.Split(g.scope, ",")))
}

// mint issues an access token (and, for a GitHub App, a refresh token).
func (f *GitHub) mint(user string, scopes []string) map[string]any {
	scopes = slices.DeleteFunc(scopes, func(s string) bool { return s == "" })
	g := &githubGrant{user: user, scopes: scopes}
	var resp map[string]any
	if f.opts.ExpiringTokens {
		g.expiry = time.Now().Add(8 * time.Hour)
		resp = map[string]any{"access_token": f.newToken("ghu_", user, false), "token_type": "bearer", "scope": "", "expires_in": 28800,
			"refresh_token": f.newToken("ghr_", user, true), "refresh_token_expires_in": 15897600}
	} else {
		resp = map[string]any{"access_token": f.newToken("gho_", user, false), "token_type": "bearer", "scope": strings.Join(scopes, ",")}
	}
	f.gmu.Lock()
	defer f.gmu.Unlock()
	f.grants[resp["access_token"].(string)] = g
	if rt, ok := resp["refresh_token"].(string); ok {
		f.rtAT[rt] = resp["access_token"].(string)
	}
	return resp
}

// newToken issues an access or refresh token with GitHub's prefix.
func (f *GitHub) newToken(prefix, user string, refresh bool) string {
	tok := prefix + RandomToken()
	f.mu.Lock()
	defer f.mu.Unlock()
	if refresh {
		f.refresh[tok] = user
	} else {
		f.access[tok] = user
	}
	f.issued = append(f.issued, tok)
	return tok
}

// refreshGitHub is the refresh_token grant of a GitHub App: the refresh
// token and the access token it came with stop working.
func (f *GitHub) refreshGitHub(w http.ResponseWriter, r *http.Request, rt string) {
	user, ok := f.takeRefresh(rt, true)
	if !ok {
		f.tokenAnswer(w, r, map[string]any{"error": "bad_refresh_token", "error_description": "The refresh token passed is incorrect or expired.",
			"error_uri": "/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"})
		return
	}
	f.gmu.Lock()
	old := f.rtAT[rt]
	delete(f.rtAT, rt)
	delete(f.grants, old)
	f.gmu.Unlock()
	f.mu.Lock()
	delete(f.access, old)
	f.mu.Unlock()
	f.tokenAnswer(w, r, f.mint(user, nil))
}

// tokenAnswer writes a token-endpoint answer with status 200, as JSON
// when the request accepts it and form-encoded otherwise.
func (f *GitHub) tokenAnswer(w http.ResponseWriter, r *http.Request, v map[string]any) {
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		WriteJSON(w, http.StatusOK, v)
		return
	}
	form := url.Values{}
	for k, x := range v {
		form.Set(k, fmt.Sprint(x))
	}
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	_, _ = w.Write([]byte(form.Encode()))
}
