package fakes

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2/jwt"
)

const groupScope = "https://www.googleapis.com/auth/admin.directory.group.readonly"

// saKeyFile reads the fake's service-account key file.
func saKeyFile(t *testing.T, f *Google) map[string]string {
	t.Helper()
	b, err := os.ReadFile(f.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// saToken gets a service-account token acting as sub the way client
// libraries do (golang.org/x/oauth2/jwt).
func saToken(t *testing.T, f *Google, sub string, scopes ...string) string {
	t.Helper()
	k := saKeyFile(t, f)
	cfg := jwt.Config{Email: k["client_email"], PrivateKey: []byte(k["private_key"]), PrivateKeyID: k["private_key_id"], Subject: sub, Scopes: scopes, TokenURL: k["token_uri"]}
	tok, err := cfg.TokenSource(t.Context()).Token()
	if err != nil {
		t.Fatalf("service-account token: %v", err)
	}
	return tok.AccessToken
}

// assertion signs claims (over correct defaults) with key.
func assertion(t *testing.T, f *Google, key *rsa.PrivateKey, edit map[string]any) url.Values {
	t.Helper()
	now := time.Now().Unix()
	c := map[string]any{"iss": f.ServiceAccount, "scope": groupScope, "aud": f.APIs.URL + "/token", "iat": now, "exp": now + 3600, "sub": "admin@example.com"}
	for k, v := range edit {
		c[k] = v
	}
	if key == nil {
		block, _ := pem.Decode([]byte(saKeyFile(t, f)["private_key"]))
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		key = parsed.(*rsa.PrivateKey)
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, nil)
	payload, _ := json.Marshal(c)
	jws, _ := signer.Sign(payload)
	s, _ := jws.CompactSerialize()
	return url.Values{"grant_type": {jwtBearerGrant}, "assertion": {s}}
}

func TestGoogleRejects(t *testing.T) {
	t.Parallel()
	const cb = "https://gate.example/oauth2/callback"
	rec := &recorder{TB: t}
	f := NewGoogle(rec, GoogleOptions{Callback: cb})
	authz := oidcAuthURL(f.Issuer+"/o/oauth2/v2/auth", f.ClientID, cb, "openid email profile", "access_type", "offline")
	token := f.APIs.URL + "/token"
	good := func() url.Values { return f.codeForm(code(t, authz)) }
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	user := oidcLogin(t, f.oidcFront, authz, token)["access_token"]
	groups := f.APIs.URL + "/admin/directory/v1/groups?userKey=alice%40example.com"
	for _, c := range []rejection{
		{name: "authorize on the API host", url: strings.Replace(authz, f.Issuer, f.APIs.URL, 1), status: 400, violation: true},
		{name: "authorize, prompt=login", url: authz + "&prompt=login", status: 400, violation: true},
		{name: "authorize, prompt none with consent", url: authz + "&prompt=none+consent", status: 400, violation: true},
		{name: "authorize, access_type=sometimes", url: strings.Replace(authz, "access_type=offline", "access_type=sometimes", 1), status: 400, violation: true},
		{name: "authorize, response_mode", url: authz + "&response_mode=query", status: 400, violation: true},
		{name: "authorize without PKCE", url: withoutPKCE(authz), status: 400, violation: true},
		{name: "authorize, unknown scope", url: strings.Replace(authz, "profile", "groups", 1), status: 302},
		{name: "token on the accounts host", url: f.Issuer + "/token", form: good(), status: 400, violation: true},
		{name: "token in body and Basic", url: token, form: good(), edit: basic(f.ClientID, f.ClientSecret), status: 400, violation: true},
		{name: "token, wrong secret", url: token, form: with(good(), "client_secret", "nope"), status: 401},
		{name: "userinfo with a forged token", url: f.APIs.URL + "/v1/userinfo", edit: bearer("ya29.forged"), status: 401},
		{name: "JWT grant with a client_id", url: token, form: with(assertion(t, f, nil, nil), "client_id", "x"), status: 400, violation: true},
		{name: "JWT grant with Basic", url: token, form: assertion(t, f, nil, nil), edit: basic("a", "b"), status: 400, violation: true},
		{name: "JWT grant, another key", url: token, form: assertion(t, f, other, nil), status: 400},
		{name: "JWT grant, audience the issuer", url: token, form: assertion(t, f, nil, map[string]any{"aud": f.Issuer}), status: 400},
		{name: "JWT grant, two hours long", url: token, form: assertion(t, f, nil, map[string]any{"exp": time.Now().Unix() + 7200}), status: 400},
		{name: "JWT grant, expired", url: token, form: assertion(t, f, nil, map[string]any{"iat": time.Now().Unix() - 4000, "exp": time.Now().Unix() - 400}), status: 400},
		{name: "JWT grant, scope not delegated", url: token, form: assertion(t, f, nil, map[string]any{"scope": "https://www.googleapis.com/auth/admin.directory.user"}), status: 401},
		{name: "JWT grant, unknown subject", url: token, form: assertion(t, f, nil, map[string]any{"sub": "nobody@example.com"}), status: 400},
		{name: "groups without a token", url: groups, status: 401},
		{name: "groups with the user's token", url: groups, edit: bearer(user), status: 403},
		{name: "groups as the service account itself", url: groups, edit: bearer(saToken(t, f, "", groupScope)), status: 403},
		{name: "groups acting as a non-admin", url: groups, edit: bearer(saToken(t, f, "alice@example.com", groupScope)), status: 403},
		{name: "groups without userKey", url: f.APIs.URL + "/admin/directory/v1/groups?customer=my_customer", edit: bearer(saToken(t, f, "admin@example.com", groupScope)), status: 400, violation: true},
		{name: "groups, unknown userKey", url: strings.Replace(groups, "alice", "carol", 1), edit: bearer(saToken(t, f, "admin@example.com", groupScope)), status: 404},
		{name: "groups, maxResults 500", url: groups + "&maxResults=500", edit: bearer(saToken(t, f, "admin@example.com", groupScope)), status: 400},
		{name: "groups, forged pageToken", url: groups + "&pageToken=bm9wZQ", edit: bearer(saToken(t, f, "admin@example.com", groupScope)), status: 400},
		{name: "control: a hand-made assertion", url: token, form: assertion(t, f, nil, nil), status: 200},
		{name: "control: groups", url: groups, edit: bearer(saToken(t, f, "admin@example.com", groupScope)), status: 200},
	} {
		c.check(t, rec)
	}
}

func TestGoogleOfflineAccessAndHostedDomain(t *testing.T) {
	t.Parallel()
	f := NewGoogle(t, GoogleOptions{Callback: "https://gate.example/cb"})
	auth := func(extra ...string) string {
		return oidcAuthURL(f.Issuer+"/o/oauth2/v2/auth", f.ClientID, f.Callback, "openid email profile", extra...)
	}
	token := f.APIs.URL + "/token"
	for _, c := range []struct {
		name      string
		consented bool
		extra     []string
		refresh   bool
	}{
		{"online", false, nil, false},
		{"offline", false, []string{"access_type", "offline"}, true},
		{"offline after consent", true, []string{"access_type", "offline"}, false},
		{"offline after consent, prompt=consent", true, []string{"access_type", "offline", "prompt", "consent select_account"}, true},
	} {
		f.Consented.Store(c.consented)
		if tok := oidcLogin(t, f.oidcFront, auth(c.extra...), token); (tok["refresh_token"] != nil) != c.refresh {
			t.Errorf("%s: refresh token %v, want %v", c.name, tok["refresh_token"], c.refresh)
		}
	}
	f.Consented.Store(false)
	tok := oidcLogin(t, f.oidcFront, auth("access_type", "offline", "hd", "example.com"), token)
	if _, loc := call(t, http.MethodGet, auth(), nil, nil); !strings.Contains(loc, "iss="+url.QueryEscape(f.Issuer)) {
		t.Errorf("no RFC 9207 iss: %s", loc)
	}
	id := verifyJWT(t, f.APIs.URL+"/oauth2/v3/certs", tok["id_token"])
	if id["iss"] != f.Issuer || id["hd"] != "example.com" || len(id["sub"].(string)) != 21 || id["preferred_username"] != nil || id["email"] != "alice@example.com" {
		t.Errorf("alice's ID token %v", id)
	}
	status, next := postToken(t, token, f.refreshForm(tok["refresh_token"].(string)))
	if status != 200 || next["refresh_token"] != nil || next["id_token"] == nil || f.Refreshes.Load() != 1 {
		t.Errorf("refresh: %d %v", status, next)
	}
	// hd only hints the account chooser: a consumer account still signs in.
	f.SignIn("bob@gmail.com")
	tok = oidcLogin(t, f.oidcFront, auth("hd", "example.com"), token)
	if id := jwtClaims(t, tok["id_token"]); id["hd"] != nil || id["email"] != "bob@gmail.com" {
		t.Errorf("bob's ID token %v", id)
	}
	if _, info := getJSON(t, f.APIs.URL+"/v1/userinfo", bearer(tok["access_token"])); info["email"] != "bob@gmail.com" || info["hd"] != nil {
		t.Errorf("bob's userinfo %v", info)
	}
}

func TestGoogleDirectoryPaging(t *testing.T) {
	t.Parallel()
	f := NewGoogle(t, GoogleOptions{Callback: "https://gate.example/cb"})
	sa := bearer(saToken(t, f, "admin@example.com", groupScope))
	f.MaxResults.Store(1)
	var got []string
	next := f.APIs.URL + "/admin/directory/v1/groups?userKey=alice%40example.com&maxResults=200"
	for i := 0; next != "" && i < 5; i++ {
		status, doc := getJSON(t, next, sa)
		page, _ := doc["groups"].([]any)
		if status != 200 || len(page) != 1 {
			t.Fatalf("page %d: %d %v", i, status, doc)
		}
		got = append(got, page[0].(map[string]any)["email"].(string))
		next = ""
		if pt, ok := doc["nextPageToken"].(string); ok {
			next = f.APIs.URL + "/admin/directory/v1/groups?userKey=alice%40example.com&maxResults=200&pageToken=" + pt
		}
	}
	if fmt.Sprint(got) != "[staff@example.com admins@example.com]" || f.Calls("GET /admin/directory/v1/groups") != 2 {
		t.Errorf("groups %v in %d calls", got, f.Calls("GET /admin/directory/v1/groups"))
	}
	if status, doc := getJSON(t, f.APIs.URL+"/admin/directory/v1/groups?userKey=bob%40gmail.com", sa); status != 200 || doc["groups"] != nil || doc["kind"] != "admin#directory#groups" {
		t.Errorf("no groups: %d %v", status, doc)
	}
	f.Throttle.Set(1, http.StatusTooManyRequests, 5)
	if resp, body := apiCall(t, http.MethodGet, f.APIs.URL+"/admin/directory/v1/groups?userKey=alice%40example.com", sa); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "5" || !strings.Contains(body, "RESOURCE_EXHAUSTED") {
		t.Errorf("throttled: %d %s", resp.StatusCode, body)
	}
}
