package fakes

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// apiCall sends a request with edit applied and returns the response
// (body read) and its body.
func apiCall(t *testing.T, method, target string, edit func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// ghHeaders sets what a correct GitHub API client sends, with token.
func ghHeaders(token string) func(*http.Request) {
	return func(r *http.Request) {
		r.Header.Set("Accept", "application/vnd.github+json")
		r.Header.Set("X-GitHub-Api-Version", "2022-11-28")
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
	}
}

func then(a, b func(*http.Request)) func(*http.Request) {
	return func(r *http.Request) { a(r); b(r) }
}

// githubLogin runs the web flow for scope and returns the token response.
func githubLogin(t *testing.T, f *GitHub, scope string) map[string]any {
	t.Helper()
	authz := f.BaseURL + "/login/oauth/authorize?" + url.Values{"client_id": {f.ClientID}, "redirect_uri": {f.Callback}, "state": {"s"}, "scope": {scope}}.Encode()
	form := url.Values{"client_id": {f.ClientID}, "client_secret": {f.ClientSecret}, "code": {code(t, authz)}, "redirect_uri": {f.Callback}}
	status, body := call(t, http.MethodPost, f.BaseURL+"/login/oauth/access_token", form, func(r *http.Request) { r.Header.Set("Accept", "application/json") })
	var tok map[string]any
	if err := json.Unmarshal([]byte(body), &tok); status != 200 || err != nil || tok["access_token"] == nil {
		t.Fatalf("token: %d %s", status, body)
	}
	return tok
}

func TestGitHubOAuthRejects(t *testing.T) {
	t.Parallel()
	const cb = "https://gate.example/oauth2/callback"
	for _, enterprise := range []bool{false, true} {
		rec := &recorder{TB: t}
		f := NewGitHub(rec, GitHubOptions{Callback: cb, Enterprise: enterprise})
		const verifier = "0123456789012345678901234567890123456789abc"
		authz := f.BaseURL + "/login/oauth/authorize?" + url.Values{"client_id": {f.ClientID}, "redirect_uri": {cb}, "state": {"s"}, "scope": {"read:user user:email"}}.Encode()
		authzPKCE := authz + "&code_challenge_method=S256&code_challenge=" + s256(verifier)
		token := f.BaseURL + "/login/oauth/access_token"
		good := func() url.Values {
			return url.Values{"client_id": {f.ClientID}, "client_secret": {f.ClientSecret}, "code": {code(t, authz)}, "redirect_uri": {cb}}
		}
		for _, c := range []rejection{
			{name: "authorize, foreign redirect_uri", url: strings.Replace(authz, "gate.example", "evil.example", 1), status: 400, violation: true},
			{name: "authorize without state", url: strings.Replace(authz, "&state=s", "", 1), status: 400, violation: true},
			{name: "authorize, comma-separated scopes", url: strings.Replace(authz, "read%3Auser+user%3Aemail", "read%3Auser%2Cuser%3Aemail", 1), status: 400, violation: true},
			{name: "authorize, unknown scope", url: strings.Replace(authz, "user%3Aemail", "openid", 1), status: 400, violation: true},
			{name: "authorize, PKCE plain", url: authz + "&code_challenge_method=plain&code_challenge=" + verifier, status: 400, violation: true},
			{name: "authorize, challenge without method", url: authz + "&code_challenge=" + s256(verifier), status: 400, violation: true},
			{name: "authorize by POST", url: authz, form: url.Values{}, status: 400, violation: true},
			{name: "authorize, implicit grant", url: authz + "&response_type=token", status: 400, violation: true},
			{name: "token in HTTP Basic", url: token, form: with(good(), "client_secret", ""), edit: basic(f.ClientID, f.ClientSecret), status: 400, violation: true},
			{name: "token as JSON", url: token, form: good(), edit: func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, status: 400, violation: true},
			{name: "token fields in the query", url: token + "?client_id=" + f.ClientID, form: good(), status: 400, violation: true},
			{name: "token without secret", url: token, form: with(good(), "client_secret", ""), status: 400, violation: true},
			{name: "token, wrong verifier", url: token, form: with(good(), "code", code(t, authzPKCE), "code_verifier", strings.Repeat("x", 43)), status: 400, violation: true},
			{name: "token, verifier without challenge", url: token, form: with(good(), "code_verifier", verifier), status: 400, violation: true},
			{name: "refresh grant on an OAuth app", url: token, form: url.Values{"client_id": {f.ClientID}, "client_secret": {f.ClientSecret}, "grant_type": {"refresh_token"}, "refresh_token": {"x"}}, status: 400, violation: true},
			{name: "token endpoint by GET", method: http.MethodGet, url: token + "?" + good().Encode(), status: 400, violation: true},
			{name: "control: PKCE", url: token, form: with(good(), "code", code(t, authzPKCE), "code_verifier", verifier), status: 200},
		} {
			c.name = fmt.Sprintf("enterprise=%v: %s", enterprise, c.name)
			c.check(t, rec)
		}
		// GitHub answers token errors with status 200 and an error field,
		// form-encoded unless the client accepts JSON.
		for _, c := range []struct {
			name, want string
			form       url.Values
		}{
			{"wrong secret", "error=incorrect_client_credentials", with(good(), "client_secret", "nope")},
			{"unknown code", "error=bad_verification_code", with(good(), "code", "forged")},
			{"other redirect_uri", "error=redirect_uri_mismatch", with(good(), "redirect_uri", "https://evil.example/cb")},
			{"control, form-encoded", "token_type=bearer", good()},
		} {
			status, body := call(t, http.MethodPost, token, c.form, nil)
			if status != 200 || !strings.Contains(body, c.want) || strings.HasPrefix(body, "{") {
				t.Errorf("enterprise=%v: %s: %d %s", enterprise, c.name, status, body)
			}
		}
		if errs := rec.take(); len(errs) > 0 {
			t.Errorf("violations for correct token requests: %q", errs)
		}
		if tok := githubLogin(t, f, "user user:email read:org"); tok["scope"] != "user,read:org" || tok["expires_in"] != nil || tok["refresh_token"] != nil {
			t.Errorf("enterprise=%v: JSON token response %v, want normalized scopes and no expiry", enterprise, tok)
		}
	}
}

func TestGitHubAPIRejects(t *testing.T) {
	t.Parallel()
	for _, enterprise := range []bool{false, true} {
		rec := &recorder{TB: t}
		f := NewGitHub(rec, GitHubOptions{Callback: "https://gate.example/cb", Enterprise: enterprise})
		full := githubLogin(t, f, "read:user user:email read:org repo")["access_token"].(string)
		bare := githubLogin(t, f, "read:user")["access_token"].(string)
		api := f.APIURL
		wrongRoot := f.Web.URL + "/user" // Enterprise: not under /api/v3; github.com: the web host
		if !enterprise {
			wrongRoot = f.API.URL + "/api/v3/user"
		}
		for _, c := range []rejection{
			{name: "no User-Agent", url: api + "/user", edit: then(ghHeaders(full), func(r *http.Request) { r.Header.Set("User-Agent", "") }), status: 400, violation: true},
			{name: "no Accept", url: api + "/user", edit: then(ghHeaders(full), func(r *http.Request) { r.Header.Del("Accept") }), status: 400, violation: true},
			{name: "unsupported API version", url: api + "/user", edit: then(ghHeaders(full), func(r *http.Request) { r.Header.Set("X-GitHub-Api-Version", "2021-01-01") }), status: 400, violation: true},
			{name: "token in the query", url: api + "/user?access_token=" + full, edit: ghHeaders(""), status: 400, violation: true},
			{name: "unknown query parameter", url: api + "/user/orgs?filter=all", edit: ghHeaders(full), status: 400, violation: true},
			{name: "API under the wrong root", url: wrongRoot, edit: ghHeaders(full), status: 400, violation: true},
			{name: "unknown endpoint", url: api + "/user/repos", edit: ghHeaders(full), status: 400, violation: true},
			{name: "POST to /user", method: http.MethodPost, url: api + "/user", edit: ghHeaders(full), status: 400, violation: true},
			{name: "no token", url: api + "/user", edit: ghHeaders(""), status: 401},
			{name: "forged token", url: api + "/user", edit: ghHeaders("gho_forged"), status: 401},
			{name: "emails without user:email", url: api + "/user/emails", edit: ghHeaders(bare), status: 404},
			{name: "orgs without read:org", url: api + "/user/orgs", edit: ghHeaders(bare), status: 403},
			{name: "teams without read:org", url: api + "/user/teams", edit: ghHeaders(bare), status: 403},
			{name: "private repo without the repo scope", url: api + "/repos/acme/gateway", edit: ghHeaders(bare), status: 404},
			{name: "unknown repo", url: api + "/repos/acme/nope", edit: ghHeaders(full), status: 404},
			{name: "collaborator permission without push access", url: api + "/repos/acme/docs/collaborators/octocat/permission", edit: ghHeaders(full), status: 403},
			{name: "control: token scheme", url: api + "/user", edit: then(ghHeaders(""), func(r *http.Request) { r.Header.Set("Authorization", "token "+full) }), status: 200},
			{name: "control: no API version header", url: api + "/user/teams", edit: then(ghHeaders(full), func(r *http.Request) { r.Header.Del("X-GitHub-Api-Version") }), status: 200},
			{name: "control: public repo without scopes", url: api + "/repos/ACME/docs", edit: ghHeaders(bare), status: 200},
			{name: "control: collaborator permission", url: api + "/repos/acme/gateway/collaborators/hubot/permission", edit: ghHeaders(full), status: 200},
		} {
			c.name = fmt.Sprintf("enterprise=%v: %s", enterprise, c.name)
			c.check(t, rec)
		}
		resp, body := apiCall(t, http.MethodGet, api+"/repos/acme/gateway", ghHeaders(full))
		if resp.StatusCode != 200 || !strings.Contains(body, `"push":true`) || !strings.Contains(body, `"admin":false`) || resp.Header.Get("X-OAuth-Scopes") != "read:user, user:email, read:org, repo" {
			t.Errorf("enterprise=%v: repo as a writer: %d %v %s", enterprise, resp.StatusCode, resp.Header, body)
		}
		if _, body := apiCall(t, http.MethodGet, api+"/repos/acme/gateway/collaborators/hubot/permission", ghHeaders(full)); !strings.Contains(body, `"permission":"none"`) {
			t.Errorf("enterprise=%v: permission of a non-collaborator: %s", enterprise, body)
		}
		f.RevokeAccess("octocat")
		if resp, _ := apiCall(t, http.MethodGet, api+"/user", ghHeaders(full)); resp.StatusCode != 401 {
			t.Errorf("enterprise=%v: revoked token: %d", enterprise, resp.StatusCode)
		}
	}
}

func TestGitHubPaginationAndRateLimits(t *testing.T) {
	t.Parallel()
	f := NewGitHub(t, GitHubOptions{Callback: "https://gate.example/cb"})
	tok := githubLogin(t, f, "user")["access_token"].(string)
	f.MaxPerPage.Store(1)
	var teams []string
	next := f.APIURL + "/user/teams?per_page=100"
	for i := 0; next != "" && i < 10; i++ {
		resp, body := apiCall(t, http.MethodGet, next, ghHeaders(tok))
		var page []map[string]any
		if err := json.Unmarshal([]byte(body), &page); err != nil || resp.StatusCode != 200 || len(page) != 1 {
			t.Fatalf("page %d: %d %s", i, resp.StatusCode, body)
		}
		teams = append(teams, fmt.Sprint(page[0]["organization"].(map[string]any)["login"], "/", page[0]["slug"]))
		next = ""
		for l := range strings.SplitSeq(resp.Header.Get("Link"), ", ") {
			if target, ok := strings.CutSuffix(l, `>; rel="next"`); ok {
				next = strings.TrimPrefix(target, "<")
			}
		}
	}
	if strings.Join(teams, " ") != "acme/platform acme/sre" || f.Calls("GET /user/teams") != 2 {
		t.Errorf("paged teams %v in %d calls", teams, f.Calls("GET /user/teams"))
	}
	f.Throttle.Set(1, http.StatusForbidden, 0)
	resp, body := apiCall(t, http.MethodGet, f.APIURL+"/user", ghHeaders(tok))
	if resp.StatusCode != 403 || resp.Header.Get("X-RateLimit-Remaining") != "0" || !strings.Contains(body, "rate limit exceeded") {
		t.Errorf("primary rate limit: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	f.Throttle.Set(1, http.StatusTooManyRequests, 60)
	if resp, body := apiCall(t, http.MethodGet, f.APIURL+"/user", ghHeaders(tok)); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "60" || !strings.Contains(body, "secondary rate limit") {
		t.Errorf("secondary rate limit: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if resp, _ := apiCall(t, http.MethodGet, f.APIURL+"/user", ghHeaders(tok)); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") == "0" {
		t.Errorf("after the limit: %d", resp.StatusCode)
	}
}

func TestGitHubScopesAndExpiringTokens(t *testing.T) {
	t.Parallel()
	f := NewGitHub(t, GitHubOptions{Callback: "https://gate.example/cb"})
	f.RefuseScopes("read:org")
	tok := githubLogin(t, f, "read:user read:org")
	if resp, _ := apiCall(t, http.MethodGet, f.APIURL+"/user/orgs", ghHeaders(tok["access_token"].(string))); tok["scope"] != "read:user" || resp.StatusCode != 403 {
		t.Errorf("refused scope: token %v, orgs %d", tok, resp.StatusCode)
	}

	app := NewGitHub(t, GitHubOptions{Callback: "https://gate.example/cb", ExpiringTokens: true})
	tok = githubLogin(t, app, "")
	at, rt := tok["access_token"].(string), tok["refresh_token"].(string)
	if tok["expires_in"] != float64(28800) || !strings.HasPrefix(at, "ghu_") || !strings.HasPrefix(rt, "ghr_") {
		t.Fatalf("app token: %v", tok)
	}
	refresh := url.Values{"client_id": {app.ClientID}, "client_secret": {app.ClientSecret}, "grant_type": {"refresh_token"}, "refresh_token": {rt}}
	accept := func(r *http.Request) { r.Header.Set("Accept", "application/json") }
	_, body := call(t, http.MethodPost, app.BaseURL+"/login/oauth/access_token", refresh, accept)
	var next map[string]any
	if err := json.Unmarshal([]byte(body), &next); err != nil || next["refresh_token"] == rt || next["access_token"] == nil {
		t.Fatalf("refresh: %s", body)
	}
	if _, body := call(t, http.MethodPost, app.BaseURL+"/login/oauth/access_token", refresh, accept); !strings.Contains(body, "bad_refresh_token") {
		t.Errorf("reused refresh token: %s", body)
	}
	if resp, _ := apiCall(t, http.MethodGet, app.APIURL+"/user/orgs", ghHeaders(at)); resp.StatusCode != 401 {
		t.Errorf("access token from before the refresh: %d", resp.StatusCode)
	}
	if resp, _ := apiCall(t, http.MethodGet, app.APIURL+"/user/orgs", ghHeaders(next["access_token"].(string))); resp.StatusCode != 200 {
		t.Errorf("refreshed access token: %d", resp.StatusCode)
	}
	if app.Refreshes.Load() != 1 || app.RefreshRejected.Load() != 1 {
		t.Errorf("refresh counters %d/%d", app.Refreshes.Load(), app.RefreshRejected.Load())
	}
}
