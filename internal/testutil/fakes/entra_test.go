package fakes

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// entraLogin signs in through tenant with scope and returns the tokens.
func entraLogin(t *testing.T, f *Entra, tenant, scope string) map[string]any {
	t.Helper()
	base := f.BaseURL + "/" + tenant + "/oauth2/v2.0"
	return oidcLogin(t, f.oidcFront, oidcAuthURL(base+"/authorize", f.ClientID, f.Callback, scope), base+"/token")
}

func TestEntraRejects(t *testing.T) {
	t.Parallel()
	const cb = "https://gate.example/oauth2/callback"
	rec := &recorder{TB: t}
	f := NewEntra(rec, EntraOptions{Callback: cb})
	base := f.BaseURL + "/" + f.TenantID + "/oauth2/v2.0"
	authz := oidcAuthURL(base+"/authorize", f.ClientID, cb, "openid profile offline_access User.Read")
	good := func() url.Values { return f.codeForm(code(t, authz)) }
	plain := entraLogin(t, f, "common", "openid profile")["access_token"]
	mail := entraLogin(t, f, "common", "openid Mail.Read")["access_token"]
	userRead := entraLogin(t, f, "common", "openid https://graph.microsoft.com/User.Read")["access_token"]
	tmo := f.Graph.URL + "/v1.0/me/transitiveMemberOf"
	for _, c := range []rejection{
		{name: "authorize at an unknown tenant", url: strings.Replace(authz, f.TenantID, "contoso.onmicrosoft.com", 1), status: 400},
		{name: "authorize, form_post", url: authz + "&response_mode=form_post", status: 400, violation: true},
		{name: "authorize, prompt=always", url: authz + "&prompt=always", status: 400, violation: true},
		{name: "authorize, Google's access_type", url: authz + "&access_type=offline", status: 400, violation: true},
		{name: "authorize without PKCE", url: withoutPKCE(authz), status: 400, violation: true},
		{name: "authorize, another resource's scope", url: strings.Replace(authz, "User.Read", "api%3A%2F%2Fother%2F.default", 1), status: 302},
		{name: "token at an unknown tenant", url: strings.Replace(base, f.TenantID, "nope", 1) + "/token", form: good(), status: 400},
		{name: "token in body and Basic", url: base + "/token", form: good(), edit: basic(f.ClientID, f.ClientSecret), status: 400, violation: true},
		{name: "token with a resource parameter (v1)", url: base + "/token", form: with(good(), "resource", "https://graph.microsoft.com"), status: 400, violation: true},
		{name: "Graph without a token", url: tmo, status: 401},
		{name: "Graph with a token not for Graph", url: tmo, edit: bearer(plain), status: 401},
		{name: "memberships without User.Read", url: tmo, edit: bearer(mail), status: 403},
		{name: "memberships, $filter", url: tmo + "?$filter=startswith(displayName,'a')", edit: bearer(userRead), status: 400, violation: true},
		{name: "memberships, $top=1000", url: tmo + "?$top=1000", edit: bearer(userRead), status: 400},
		{name: "memberships, $count without ConsistencyLevel", url: tmo + "?$count=true", edit: bearer(userRead), status: 400},
		{name: "memberships, forged $skiptoken", url: tmo + "?$skiptoken=bm9wZQ", edit: bearer(userRead), status: 400},
		{name: "the overage claim's legacy endpoint", url: f.Graph.URL + "/" + f.TenantID + "/users/x/getMemberObjects", edit: bearer(userRead), status: 400, violation: true},
		{name: "control: token with scope", url: base + "/token", form: with(good(), "scope", "openid User.Read"), status: 200},
		{name: "control: memberships", url: tmo + "?$select=id,displayName&$top=999", edit: bearer(userRead), status: 200},
	} {
		c.check(t, rec)
	}
	f.SignIn("carol@fabrikam.com")
	if status, body := call(t, http.MethodGet, authz, nil, nil); status != 400 || !strings.Contains(body, "AADSTS50020") {
		t.Errorf("another tenant's user at the single-tenant endpoint: %d %s", status, body)
	}
	if errs := rec.take(); len(errs) > 0 {
		t.Errorf("violations: %q", errs)
	}
}

func TestEntraTenantsAndClaims(t *testing.T) {
	t.Parallel()
	f := NewEntra(t, EntraOptions{Callback: "https://gate.example/cb"})
	for tenant, want := range map[string]string{f.TenantID: f.BaseURL + "/" + f.TenantID + "/v2.0", "common": f.BaseURL + "/{tenantid}/v2.0", "organizations": f.BaseURL + "/{tenantid}/v2.0"} {
		if _, doc := getJSON(t, f.BaseURL+"/"+tenant+"/v2.0/.well-known/openid-configuration", nil); doc["issuer"] != want || doc["userinfo_endpoint"] != f.Graph.URL+"/oidc/userinfo" {
			t.Errorf("%s discovery: %v", tenant, doc)
		}
	}
	if _, loc := call(t, http.MethodGet, oidcAuthURL(f.BaseURL+"/common/oauth2/v2.0/authorize", f.ClientID, f.Callback, "openid"), nil, nil); strings.Contains(loc, "iss=") {
		t.Errorf("Entra sends no RFC 9207 iss: %s", loc)
	}
	tok := entraLogin(t, f, "common", "openid profile email User.Read")
	id := verifyJWT(t, f.BaseURL+"/common/discovery/v2.0/keys", tok["id_token"])
	if id["iss"] != f.BaseURL+"/"+f.TenantID+"/v2.0" || id["tid"] != f.TenantID || id["ver"] != "2.0" || id["preferred_username"] != "alice@contoso.com" ||
		fmt.Sprint(id["roles"]) != "[Gatehouse.Admin]" || fmt.Sprint(id["groups"]) != fmt.Sprintf("[%s %s]", EntraAdminsGroup, EntraStaffGroup) ||
		id["email_verified"] != nil || id["oid"] == nil || tok["refresh_token"] != nil || tok["ext_expires_in"] == nil {
		t.Errorf("alice: ID token %v, tokens %v", id, tok)
	}
	if _, info := getJSON(t, f.Graph.URL+"/oidc/userinfo", bearer(tok["access_token"])); info["sub"] != id["sub"] || info["email"] != "alice@contoso.com" {
		t.Errorf("userinfo %v", info)
	}
	f.SignIn("carol@fabrikam.com")
	tok = entraLogin(t, f, "organizations", "openid offline_access")
	id = verifyJWT(t, f.BaseURL+"/organizations/discovery/v2.0/keys", tok["id_token"])
	if id["iss"] != f.BaseURL+"/"+EntraOtherTenant+"/v2.0" || id["tid"] != EntraOtherTenant || id["groups"] != nil {
		t.Errorf("carol: ID token %v", id)
	}
	for i := range 2 { // the old refresh token stays valid
		status, next := postToken(t, f.BaseURL+"/organizations/oauth2/v2.0/token", f.refreshForm(tok["refresh_token"].(string)))
		if status != 200 || next["refresh_token"] == nil || next["id_token"] == nil {
			t.Errorf("refresh %d: %d %v", i, status, next)
		}
	}
}

func TestEntraOverageAndGraphPaging(t *testing.T) {
	t.Parallel()
	f := NewEntra(t, EntraOptions{Callback: "https://gate.example/cb"})
	f.SignIn("bob@contoso.com")
	tok := entraLogin(t, f, f.TenantID, "openid profile User.Read")
	id := jwtClaims(t, tok["id_token"])
	sources, _ := id["_claim_sources"].(map[string]any)
	src, _ := sources["src1"].(map[string]any)
	if id["groups"] != nil || fmt.Sprint(id["_claim_names"]) != "map[groups:src1]" || !strings.HasSuffix(fmt.Sprint(src["endpoint"]), "/getMemberObjects") {
		t.Errorf("overage: %v", id)
	}
	f.MaxPageSize.Store(100)
	seen := map[string]bool{}
	next := f.Graph.URL + "/v1.0/me/transitiveMemberOf/microsoft.graph.group?$select=id&$top=999"
	for i := 0; next != "" && i < 10; i++ {
		status, doc := getJSON(t, next, bearer(tok["access_token"]))
		if status != 200 {
			t.Fatalf("page %d: %d %v", i, status, doc)
		}
		for _, o := range doc["value"].([]any) {
			if o := o.(map[string]any); o["@odata.type"] == "#microsoft.graph.group" && o["displayName"] == nil {
				seen[o["id"].(string)] = true
			}
		}
		next, _ = doc["@odata.nextLink"].(string)
	}
	if len(seen) != 250 || f.Calls("GET /v1.0/me/transitiveMemberOf/microsoft.graph.group") != 3 {
		t.Errorf("%d groups in %d pages", len(seen), f.Calls("GET /v1.0/me/transitiveMemberOf/microsoft.graph.group"))
	}

	f.SignIn("alice@contoso.com")
	for _, c := range []struct{ scope, path, want string }{
		{"User.Read", "/v1.0/me/transitiveMemberOf", "3 <nil>"},
		{"GroupMember.Read.All", "/v1.0/me/transitiveMemberOf", "3 Admins"},
		{"GroupMember.Read.All", "/v1.0/me/transitiveMemberOf/microsoft.graph.group", "2 Admins"},
	} {
		tok := entraLogin(t, f, "common", "openid "+c.scope)
		_, doc := getJSON(t, f.Graph.URL+c.path, bearer(tok["access_token"]))
		v, _ := doc["value"].([]any)
		if got := fmt.Sprint(len(v), " ", v[0].(map[string]any)["displayName"]); got != c.want {
			t.Errorf("%s %s: %s, want %s (%v)", c.scope, c.path, got, c.want, doc)
		}
	}
	f.Throttle.Set(1, http.StatusTooManyRequests, 7)
	if resp, body := apiCall(t, http.MethodGet, f.Graph.URL+"/v1.0/me", bearer(tok["access_token"])); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || !strings.Contains(body, "TooManyRequests") {
		t.Errorf("throttled: %d %s", resp.StatusCode, body)
	}

	for _, o := range []EntraOptions{{GroupLimit: 300}, {HasGroups: true}, {NoGroupsClaim: true}} {
		o.Callback = "https://gate.example/cb"
		g := NewEntra(t, o)
		g.SignIn("bob@contoso.com")
		id := jwtClaims(t, entraLogin(t, g, "common", "openid")["id_token"])
		if got := fmt.Sprint(len(fmt.Sprint(id["groups"])) > 5, id["hasgroups"], id["_claim_names"]); got != map[bool]string{true: "true <nil> <nil>"}[o.GroupLimit == 300]+
			map[bool]string{true: "false true <nil>"}[o.HasGroups]+map[bool]string{true: "false <nil> <nil>"}[o.NoGroupsClaim] {
			t.Errorf("%+v: %s", o, got)
		}
	}
}
