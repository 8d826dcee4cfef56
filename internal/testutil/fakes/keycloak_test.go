package fakes

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestKeycloakRejects(t *testing.T) {
	t.Parallel()
	const cb = "https://gate.example/oauth2/callback"
	for _, prefix := range []string{"", "/auth"} {
		rec := &recorder{TB: t}
		f := NewKeycloak(rec, KeycloakOptions{Callback: cb, PathPrefix: prefix})
		oc := f.Issuer + "/protocol/openid-connect"
		authz := oidcAuthURL(oc+"/auth", f.ClientID, cb, "openid profile email")
		good := func() url.Values { return f.codeForm(code(t, authz)) }
		for _, c := range []rejection{
			{name: "authorize without PKCE", url: withoutPKCE(authz), status: 400, violation: true},
			{name: "authorize, form_post", url: authz + "&response_mode=form_post", status: 400, violation: true},
			{name: "authorize, Google's access_type", url: authz + "&access_type=offline", status: 400, violation: true},
			{name: "authorize, other client", url: strings.Replace(authz, "client_id=gatehouse", "client_id=other", 1), status: 400, violation: true},
			{name: "authorize, foreign redirect_uri", url: strings.Replace(authz, "gate.example", "evil.example", 1), status: 400, violation: true},
			{name: "authorize outside the realm", url: strings.Replace(authz, "/realms/acme", "", 1), status: 400, violation: true},
			{name: "authorize, unknown scope", url: strings.Replace(authz, "profile", "groups", 1), status: 302},
			{name: "token in body and Basic", url: oc + "/token", form: good(), edit: basic(f.ClientID, f.ClientSecret), status: 400, violation: true},
			{name: "token by GET", method: http.MethodGet, url: oc + "/token?" + good().Encode(), status: 400, violation: true},
			{name: "token, wrong secret", url: oc + "/token", form: with(good(), "client_secret", "nope"), status: 401},
			{name: "token, code replayed", url: oc + "/token", form: with(good(), "code", "forged"), status: 400},
			{name: "userinfo with a forged token", url: oc + "/userinfo", edit: bearer("forged"), status: 401},
			{name: "discovery of another realm", url: f.BaseURL + prefix + "/realms/master/.well-known/openid-configuration", status: 400, violation: true},
			{name: "control", url: oc + "/token", form: good(), status: 200},
		} {
			c.name = fmt.Sprintf("prefix=%q: %s", prefix, c.name)
			c.check(t, rec)
		}
		if _, loc := call(t, http.MethodGet, strings.Replace(authz, "profile", "groups", 1), nil, nil); !strings.Contains(loc, "error=invalid_scope") {
			t.Errorf("unknown scope: %s", loc)
		}
	}
}

// atHashOf is an ID token's at_hash for access token at.
func atHashOf(at any) string {
	sum := sha256.Sum256([]byte(at.(string)))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func TestKeycloakTokens(t *testing.T) {
	t.Parallel()
	f := NewKeycloak(t, KeycloakOptions{Callback: "https://gate.example/cb"})
	oc := f.Issuer + "/protocol/openid-connect"
	authz := oidcAuthURL(oc+"/auth", f.ClientID, f.Callback, "openid profile email")
	if _, loc := call(t, http.MethodGet, authz, nil, nil); !strings.Contains(loc, "iss="+url.QueryEscape(f.Issuer)) {
		t.Errorf("authorization response without RFC 9207 iss: %s", loc)
	}
	tok := oidcLogin(t, f.oidcFront, authz, oc+"/token")
	id := verifyJWT(t, oc+"/certs", tok["id_token"])
	at := verifyJWT(t, oc+"/certs", tok["access_token"])
	if id["iss"] != f.Issuer || id["sub"] != kcSubject("alice") || fmt.Sprint(id["groups"]) != "[/staff /staff/admins]" || id["realm_access"] != nil || id["at_hash"] != atHashOf(tok["access_token"]) {
		t.Errorf("ID token %v", id)
	}
	if exp, _ := at["exp"].(float64); exp < float64(time.Now().Unix()) || exp > float64(time.Now().Add(5*time.Minute).Unix()) {
		t.Errorf("access token exp %v: not about 5 minutes from now", at["exp"])
	}
	if at["iss"] != f.Issuer || at["typ"] != "Bearer" || at["azp"] != "gatehouse" || at["sub"] != id["sub"] ||
		fmt.Sprint(at["realm_access"]) != "map[roles:[admin default-roles-acme offline_access uma_authorization]]" ||
		fmt.Sprint(at["resource_access"].(map[string]any)["gatehouse"]) != "map[roles:[operator]]" {
		t.Errorf("access token %v", at)
	}
	if _, info := getJSON(t, oc+"/userinfo", bearer(tok["access_token"])); info["sub"] != id["sub"] || info["realm_access"] != nil || fmt.Sprint(info["groups"]) != "[/staff /staff/admins]" {
		t.Errorf("userinfo %v", info)
	}
	if tok["refresh_expires_in"] == nil || tok["session_state"] == nil {
		t.Errorf("token answer without Keycloak's fields: %v", tok)
	}

	// A refresh answer always carries a refresh token; the old one stays
	// valid; new roles show in the new access token.
	f.SetUser(KeycloakUser{Username: "alice", Name: "Alice", Email: "alice@example.com", RealmRoles: []string{"auditor"}})
	for i := range 2 {
		status, next := postToken(t, oc+"/token", f.refreshForm(tok["refresh_token"].(string)))
		at := verifyJWT(t, oc+"/certs", next["access_token"])
		if status != 200 || next["refresh_token"] == nil || !strings.Contains(fmt.Sprint(at["realm_access"]), "auditor") || jwtClaims(t, next["id_token"])["at_hash"] != atHashOf(next["access_token"]) {
			t.Errorf("refresh %d: %d %v %v", i, status, next, at)
		}
	}
}

func TestKeycloakMapperOptions(t *testing.T) {
	t.Parallel()
	f := NewKeycloak(t, KeycloakOptions{Callback: "https://gate.example/cb", ShortGroupNames: true, RolesInIDToken: true, RolesInUserinfo: true, Realm: "corp"})
	oc := f.Issuer + "/protocol/openid-connect"
	tok := oidcLogin(t, f.oidcFront, oidcAuthURL(oc+"/auth", f.ClientID, f.Callback, "openid"), oc+"/token")
	id := jwtClaims(t, tok["id_token"])
	if fmt.Sprint(id["groups"]) != "[staff admins]" || !strings.Contains(fmt.Sprint(id["realm_access"]), "default-roles-corp") || id["resource_access"] == nil {
		t.Errorf("ID token %v", id)
	}
	if _, info := getJSON(t, oc+"/userinfo", bearer(tok["access_token"])); info["resource_access"] == nil || info["email"] != nil {
		t.Errorf("userinfo %v", info)
	}
	none := NewKeycloak(t, KeycloakOptions{Callback: "https://gate.example/cb", NoGroupsMapper: true})
	oc = none.Issuer + "/protocol/openid-connect"
	tok = oidcLogin(t, none.oidcFront, oidcAuthURL(oc+"/auth", none.ClientID, none.Callback, "openid"), oc+"/token")
	if id := jwtClaims(t, tok["id_token"]); id["groups"] != nil || jwtClaims(t, tok["access_token"])["groups"] != nil {
		t.Errorf("groups without the mapper: %v", id)
	}
}
