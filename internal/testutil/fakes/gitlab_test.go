package fakes

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestGitLabRejects(t *testing.T) {
	t.Parallel()
	const cb = "https://gate.example/oauth2/callback"
	for _, prefix := range []string{"", "/gitlab"} {
		rec := &recorder{TB: t}
		f := NewGitLab(rec, GitLabOptions{Callback: cb, PathPrefix: prefix})
		authz := oidcAuthURL(f.BaseURL+"/oauth/authorize", f.ClientID, cb, "openid profile email read_api")
		token := f.BaseURL + "/oauth/token"
		good := func() url.Values { return f.codeForm(code(t, authz)) }
		narrow := oidcLogin(t, f.oidcFront, oidcAuthURL(f.BaseURL+"/oauth/authorize", f.ClientID, cb, "openid profile"), token)["access_token"]
		cases := []rejection{
			{name: "authorize without PKCE", url: withoutPKCE(authz), status: 400, violation: true},
			{name: "authorize, PKCE plain", url: strings.Replace(authz, "S256", "plain", 1), status: 400, violation: true},
			{name: "authorize without nonce", url: strings.Replace(authz, "nonce=n0nce&", "", 1), status: 400, violation: true},
			{name: "authorize, foreign redirect_uri", url: strings.Replace(authz, "gate.example", "evil.example", 1), status: 400, violation: true},
			{name: "authorize, Google's access_type", url: authz + "&access_type=offline", status: 400, violation: true},
			{name: "authorize without openid", url: strings.Replace(authz, "openid+", "", 1), status: 400, violation: true},
			{name: "authorize, scope the app lacks", url: strings.Replace(authz, "read_api", "read_repository", 1), status: 302},
			{name: "token by GET", method: http.MethodGet, url: token + "?" + good().Encode(), status: 400, violation: true},
			{name: "token as JSON", url: token, form: good(), edit: func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, status: 400, violation: true},
			{name: "token in body and Basic", url: token, form: good(), edit: basic(f.ClientID, f.ClientSecret), status: 400, violation: true},
			{name: "token without code_verifier", url: token, form: with(good(), "code_verifier", ""), status: 400, violation: true},
			{name: "token, wrong code_verifier", url: token, form: with(good(), "code_verifier", strings.Repeat("x", 43)), status: 400},
			{name: "token, wrong secret", url: token, form: with(good(), "client_secret", "nope"), status: 401},
			{name: "userinfo without token", url: f.BaseURL + "/oauth/userinfo", status: 401},
			{name: "project path not URL-encoded", url: f.APIURL + "/projects/acme/platform/gateway", edit: bearer(narrow), status: 400, violation: true},
			{name: "project without read_api", url: f.APIURL + "/projects/acme%2Fplatform%2Fgateway", edit: bearer(narrow), status: 403},
			{name: "private project anonymously", url: f.APIURL + "/projects/acme%2Fplatform%2Fgateway", status: 404},
			{name: "project with a query", url: f.APIURL + "/projects/103?statistics=true", status: 400, violation: true},
			{name: "user with a forged token", url: f.APIURL + "/user", edit: bearer("forged"), status: 401},
			{name: "control: public project anonymously", url: f.APIURL + "/projects/public%2Fhandbook", status: 200},
			{name: "control: Basic credentials", url: token, form: with(good(), "client_id", "", "client_secret", ""), edit: basic(f.ClientID, f.ClientSecret), status: 200},
		}
		if prefix != "" {
			cases = append(cases, rejection{name: "discovery outside the relative URL root", url: f.Server.URL + "/.well-known/openid-configuration", status: 400, violation: true})
		}
		for _, c := range cases {
			c.name = fmt.Sprintf("prefix=%q: %s", prefix, c.name)
			c.check(t, rec)
		}
		if _, loc := call(t, http.MethodGet, strings.Replace(authz, "read_api", "read_repository", 1), nil, nil); !strings.Contains(loc, "error=invalid_scope") {
			t.Errorf("prefix=%q: scope the app lacks: %s", prefix, loc)
		}
		if _, doc := getJSON(t, f.BaseURL+"/.well-known/openid-configuration", nil); doc["issuer"] != f.BaseURL || doc["jwks_uri"] != f.BaseURL+"/oauth/discovery/keys" {
			t.Errorf("prefix=%q: discovery %v", prefix, doc)
		}
	}
}

func TestGitLabClaimsProjectsAndRefresh(t *testing.T) {
	t.Parallel()
	f := NewGitLab(t, GitLabOptions{Callback: "https://gate.example/cb", PathPrefix: "/gitlab"})
	authz := oidcAuthURL(f.BaseURL+"/oauth/authorize", f.ClientID, f.Callback, "openid profile email read_api")
	if _, loc := call(t, http.MethodGet, authz, nil, nil); strings.Contains(loc, "iss=") {
		t.Errorf("GitLab sends no RFC 9207 iss: %s", loc)
	}
	tok := oidcLogin(t, f.oidcFront, authz, f.BaseURL+"/oauth/token")
	id := verifyJWT(t, f.BaseURL+"/oauth/discovery/keys", tok["id_token"])
	if id["iss"] != f.BaseURL || id["sub"] != "2" || fmt.Sprint(id["groups_direct"]) != "[acme]" || id["groups"] != nil || id["nonce"] != "n0nce" {
		t.Errorf("ID token claims %v", id)
	}
	_, info := getJSON(t, f.BaseURL+"/oauth/userinfo", bearer(tok["access_token"]))
	if fmt.Sprint(info["groups"]) != "[acme acme/platform acme/platform/infra]" || fmt.Sprint(info["https://gitlab.org/claims/groups/developer"]) != "[acme]" || info["email"] != "alice@example.com" {
		t.Errorf("userinfo %v", info)
	}
	for _, c := range []struct {
		path   string
		status int
		access string
	}{
		{"acme%2Fplatform%2Fgateway", 200, "map[access_level:30 notification_level:3]"},
		{"101", 200, "map[access_level:30 notification_level:3]"},
		{"other%2Ftools", 404, ""},
		{"public%2Fhandbook", 200, "<nil>"},
	} {
		status, p := getJSON(t, f.APIURL+"/projects/"+c.path, bearer(tok["access_token"]))
		perms, _ := p["permissions"].(map[string]any)
		if status != c.status || (status == 200 && fmt.Sprint(perms["group_access"]) != c.access) {
			t.Errorf("alice, project %s: %d %v", c.path, status, p)
		}
	}
	if f.Calls("GET /api/v4/projects/{id}") != 4 {
		t.Errorf("project calls = %d", f.Calls("GET /api/v4/projects/{id}"))
	}

	// Refresh tokens rotate; a changed membership shows in the next ID token.
	f.SetUser(GitLabUser{Username: "alice", Name: "Alice", Email: "alice@example.com", ID: 2, Groups: map[string]int{"other": 50}})
	status, next := postToken(t, f.BaseURL+"/oauth/token", f.refreshForm(tok["refresh_token"].(string)))
	if status != 200 || next["refresh_token"] == tok["refresh_token"] || fmt.Sprint(jwtClaims(t, next["id_token"])["groups_direct"]) != "[other]" {
		t.Fatalf("refresh: %d %v", status, next)
	}
	if status, _ := postToken(t, f.BaseURL+"/oauth/token", f.refreshForm(tok["refresh_token"].(string))); status != 400 || f.Refreshes.Load() != 1 || f.RefreshRejected.Load() != 1 {
		t.Errorf("reused refresh token: %d, counters %d/%d", status, f.Refreshes.Load(), f.RefreshRejected.Load())
	}
	if status, _ := getJSON(t, f.APIURL+"/projects/other%2Ftools", bearer(next["access_token"])); status != 200 {
		t.Errorf("other/tools after joining other: %d", status)
	}
	f.Throttle.Set(1, http.StatusTooManyRequests, 30)
	if resp, body := apiCall(t, http.MethodGet, f.APIURL+"/user", bearer(next["access_token"])); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "30" || body != "Retry later\n" {
		t.Errorf("throttled: %d %v %q", resp.StatusCode, resp.Header, body)
	}
}
