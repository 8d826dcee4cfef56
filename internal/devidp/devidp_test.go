package devidp_test

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp/devidptest"
)

const (
	testClient   = "client-1"
	testSecret   = "s3cret"
	testRedirect = "http://127.0.0.1:9999/oauth2/callback"
)

var alice = devidp.User{Username: "alice", Name: "Alice Example", Email: "alice@example.test", EmailVerified: true, Groups: []string{"admins", "dev"}}

// start runs an IdP (issuer path /idp) on an httptest server.
func start(t *testing.T, o devidp.Options) (*devidptest.IdP, *httptest.Server) {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret = testClient, testSecret
	}
	if o.Users == nil {
		o.Users = []devidp.User{alice}
	}
	p, err := devidptest.New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	p.SetIssuer(srv.URL + "/idp")
	return p, srv
}

// authQuery is a valid authorization request for verifier.
func authQuery(verifier string) url.Values {
	return url.Values{
		"client_id":             {testClient},
		"redirect_uri":          {testRedirect},
		"response_type":         {"code"},
		"scope":                 {"openid email profile"},
		"state":                 {"st-1"},
		"nonce":                 {"n-1"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
	}
}

func noRedirectClient() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// login runs the authorization step and returns the code.
func login(t *testing.T, p *devidptest.IdP, q url.Values, user string) string {
	t.Helper()
	loc, err := devidptest.Login(t.Context(), nil, p.Issuer()+"/authorize?"+q.Encode(), user)
	if err != nil {
		t.Fatal(err)
	}
	if got := loc.Query().Get("state"); got != q.Get("state") {
		t.Fatalf("state = %q, want %q", got, q.Get("state"))
	}
	if got := loc.Query().Get("iss"); got != p.Issuer() {
		t.Fatalf("iss = %q, want the issuer %q (RFC 9207)", got, p.Issuer())
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in redirect %s", loc.Redacted())
	}
	return code
}

// tokenReq posts form to the token endpoint, authenticating with Basic
// when basic is true, and returns status and decoded JSON.
func tokenReq(t *testing.T, p *devidptest.IdP, form url.Values, basic bool) (int, map[string]any) {
	t.Helper()
	form = maps.Clone(form)
	if !basic {
		form.Set("client_id", testClient)
		form.Set("client_secret", testSecret)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.Issuer()+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(testClient, testSecret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, m
}

func codeForm(code, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}}
}

func userinfoStatus(t *testing.T, p *devidptest.IdP, at string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, p.Issuer()+"/userinfo", nil)
	if at != "" {
		req.Header.Set("Authorization", "Bearer "+at)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestDiscoveryAndJWKS(t *testing.T) {
	t.Parallel()
	p, _ := start(t, devidp.Options{})
	resp, err := http.Get(p.Issuer() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != p.Issuer() || doc["token_endpoint"] != p.Issuer()+"/token" || doc["end_session_endpoint"] != p.Issuer()+"/end_session" {
		t.Errorf("discovery = %v", doc)
	}
	if m, _ := doc["code_challenge_methods_supported"].([]any); len(m) != 1 || m[0] != "S256" {
		t.Errorf("code_challenge_methods_supported = %v", doc["code_challenge_methods_supported"])
	}

	resp, err = http.Get(p.Issuer() + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0].KeyID == "" || !set.Keys[0].IsPublic() {
		t.Fatalf("jwks = %+v", set.Keys)
	}
	if err := p.RotateKey(); err != nil {
		t.Fatal(err)
	}
	resp2, err := http.Get(p.Issuer() + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var set2 jose.JSONWebKeySet
	_ = json.NewDecoder(resp2.Body).Decode(&set2)
	if len(set2.Keys) != 2 || set2.Keys[1].KeyID != set.Keys[0].KeyID {
		t.Errorf("after rotation jwks = %d keys, want new + old", len(set2.Keys))
	}
}

func TestLoginFormRenders(t *testing.T) {
	t.Parallel()
	p, _ := start(t, devidp.Options{})
	v := oauth2.GenerateVerifier()
	resp, err := http.Get(p.Issuer() + "/authorize?" + authQuery(v).Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP = %q", csp)
	}
	for _, want := range []string{
		`<html lang="en">`,
		`<label for="username">Username</label>`,
		`name="user" value="alice"`,
		`groups: admins, dev`,
		`name="code_challenge" value="` + oauth2.S256ChallengeFromVerifier(v) + `"`,
		`name="state" value="st-1"`,
		`value="cancel"`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("form lacks %q", want)
		}
	}
	if strings.Contains(string(body), "<script") {
		t.Error("form contains a script")
	}
}

func TestAuthorizeValidation(t *testing.T) {
	t.Parallel()
	p, _ := start(t, devidp.Options{RedirectURIs: []string{testRedirect}, AutoLogin: "alice"})
	v := oauth2.GenerateVerifier()
	tests := []struct {
		name      string
		mutate    func(url.Values)
		wantError string // "" = shown page (400), else redirected error code
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "other") }, ""},
		{"unregistered redirect", func(q url.Values) { q.Set("redirect_uri", "http://127.0.0.1:9999/evil") }, ""},
		{"missing redirect", func(q url.Values) { q.Del("redirect_uri") }, ""},
		{"duplicate state", func(q url.Values) { q.Add("state", "x") }, ""},
		{"token flow", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"no openid scope", func(q url.Values) { q.Set("scope", "email") }, "invalid_scope"},
		{"no PKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"short challenge", func(q url.Values) { q.Set("code_challenge", "abc") }, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := authQuery(v)
			tt.mutate(q)
			resp, err := noRedirectClient().Get(p.Issuer() + "/authorize?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tt.wantError == "" {
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("status %d, want 400 page", resp.StatusCode)
				}
				return
			}
			loc, err := resp.Location()
			if err != nil {
				t.Fatalf("status %d, no redirect", resp.StatusCode)
			}
			if got := loc.Query().Get("error"); got != tt.wantError || loc.Query().Get("code") != "" {
				t.Errorf("redirect error = %q, want %q", got, tt.wantError)
			}
			if loc.Query().Get("state") != "st-1" {
				t.Error("error redirect lost state")
			}
		})
	}
}

func TestFormLoginAndCancel(t *testing.T) {
	t.Parallel()
	p, _ := start(t, devidp.Options{AnyUser: true})
	v := oauth2.GenerateVerifier()
	q := authQuery(v)

	// A free-form username with AnyUser.
	code := login(t, p, q, "bob")
	status, tok := tokenReq(t, p, codeForm(code, v), true)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}
	_, info := userinfoStatus(t, p, tok["access_token"].(string))
	if info["email"] != "bob@example.test" || info["sub"] != devidp.Subject("bob") || info["sub"] == "bob" {
		t.Errorf("userinfo = %v", info)
	}

	// A fixed user's button.
	form := authQuery(v)
	form.Set("user", "alice")
	resp, err := noRedirectClient().PostForm(p.Issuer()+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc, err := resp.Location(); err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("fixed-user login: status %d", resp.StatusCode)
	}

	// Cancel.
	form = authQuery(v)
	form.Set("action", "cancel")
	resp, err = noRedirectClient().PostForm(p.Issuer()+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "st-1" || loc.Query().Get("iss") != p.Issuer() {
		t.Fatalf("cancel: status %d location %v", resp.StatusCode, loc)
	}

	// Unknown user without AnyUser is refused with the form again.
	p2, _ := start(t, devidp.Options{})
	form = authQuery(v)
	form.Set("username", "mallory")
	form.Set("action", "login")
	resp, err = noRedirectClient().PostForm(p2.Issuer()+"/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `role="alert"`) {
		t.Errorf("unknown user: status %d", resp.StatusCode)
	}
}

func TestCodeExchange(t *testing.T) {
	t.Parallel()
	p, _ := start(t, devidp.Options{AutoLogin: "alice"})
	v := oauth2.GenerateVerifier()

	tests := []struct {
		name   string
		form   func(code string) url.Values
		status int
		errc   string
	}{
		{"no verifier", func(c string) url.Values { f := codeForm(c, v); f.Del("code_verifier"); return f }, 400, "invalid_grant"},
		{"wrong verifier", func(c string) url.Values { return codeForm(c, oauth2.GenerateVerifier()) }, 400, "invalid_grant"},
		{"wrong redirect", func(c string) url.Values { f := codeForm(c, v); f.Set("redirect_uri", "http://127.0.0.1/x"); return f }, 400, "invalid_grant"},
		{"unknown code", func(string) url.Values { return codeForm("nope", v) }, 400, "invalid_grant"},
		{"bad grant type", func(c string) url.Values { f := codeForm(c, v); f.Set("grant_type", "password"); return f }, 400, "unsupported_grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code := login(t, p, authQuery(v), "")
			status, m := tokenReq(t, p, tt.form(code), false)
			if status != tt.status || m["error"] != tt.errc {
				t.Errorf("got %d %v, want %d %s", status, m["error"], tt.status, tt.errc)
			}
		})
	}

	t.Run("one-time", func(t *testing.T) {
		t.Parallel()
		code := login(t, p, authQuery(v), "")
		status, tok := tokenReq(t, p, codeForm(code, v), false)
		if status != http.StatusOK || tok["id_token"] == nil || tok["refresh_token"] == nil || tok["token_type"] != "Bearer" {
			t.Fatalf("first exchange: %d %v", status, tok)
		}
		at := tok["access_token"].(string)
		if s, _ := userinfoStatus(t, p, at); s != http.StatusOK {
			t.Fatalf("userinfo before replay: %d", s)
		}
		status, m := tokenReq(t, p, codeForm(code, v), false)
		if status != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Fatalf("replay: %d %v", status, m)
		}
		if s, _ := userinfoStatus(t, p, at); s != http.StatusUnauthorized {
			t.Errorf("access token survived code replay: %d", s)
		}
		status, m = tokenReq(t, p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, false)
		if status != http.StatusBadRequest || m["error"] != "invalid_grant" {
			t.Errorf("refresh token survived code replay: %d %v", status, m)
		}
	})
}

func TestClientAuthentication(t *testing.T) {
	t.Parallel()
	p, _ := start(t, devidp.Options{AutoLogin: "alice"})
	v := oauth2.GenerateVerifier()
	post := func(form url.Values, user, pass string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, p.Issuer()+"/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		e, _ := m["error"].(string)
		return resp.StatusCode, e
	}
	tests := []struct {
		name       string
		body       url.Values
		user, pass string
		status     int
		errc       string
	}{
		{"basic", nil, testClient, testSecret, 200, ""},
		{"post", url.Values{"client_id": {testClient}, "client_secret": {testSecret}}, "", "", 200, ""},
		{"wrong secret basic", nil, testClient, "nope", 401, "invalid_client"},
		{"wrong secret post", url.Values{"client_id": {testClient}, "client_secret": {"nope"}}, "", "", 401, "invalid_client"},
		{"no auth", url.Values{"client_id": {testClient}}, "", "", 401, "invalid_client"},
		{"two methods", url.Values{"client_secret": {testSecret}}, testClient, testSecret, 400, "invalid_request"},
		{"other client", nil, "other", testSecret, 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code := login(t, p, authQuery(v), "")
			form := codeForm(code, v)
			for k, vs := range tt.body {
				form[k] = vs
			}
			status, e := post(form, tt.user, tt.pass)
			if status != tt.status || e != tt.errc {
				t.Errorf("got %d %q, want %d %q", status, e, tt.status, tt.errc)
			}
		})
	}
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	p, _ := start(t, devidp.Options{AutoLogin: "alice", RefreshTokenRotation: true})
	v := oauth2.GenerateVerifier()
	code := login(t, p, authQuery(v), "")
	_, tok := tokenReq(t, p, codeForm(code, v), true)
	rt1 := tok["refresh_token"].(string)

	status, tok2 := tokenReq(t, p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, true)
	rt2, _ := tok2["refresh_token"].(string)
	if status != http.StatusOK || rt2 == "" || rt2 == rt1 || tok2["id_token"] == nil {
		t.Fatalf("refresh: %d %v", status, tok2)
	}
	if p.RefreshCalls() != 1 || p.TokenCalls() != 2 {
		t.Errorf("calls: refresh %d token %d", p.RefreshCalls(), p.TokenCalls())
	}
	// Replaying the rotated token revokes the family, rt2 included.
	if status, m := tokenReq(t, p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, true); status != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("replay: %d %v", status, m)
	}
	if status, m := tokenReq(t, p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt2}}, true); status != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("family not revoked: %d %v", status, m)
	}
}

func TestRefreshWithoutRotationAndRevoke(t *testing.T) {
	t.Parallel()
	p, _ := start(t, devidp.Options{AutoLogin: "alice"})
	v := oauth2.GenerateVerifier()
	code := login(t, p, authQuery(v), "")
	_, tok := tokenReq(t, p, codeForm(code, v), true)
	rt := tok["refresh_token"].(string)
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for range 2 {
		status, m := tokenReq(t, p, refresh, true)
		if status != http.StatusOK || m["refresh_token"] != nil {
			t.Fatalf("refresh: %d %v", status, m)
		}
	}
	p.SetDown(true)
	if status, m := tokenReq(t, p, refresh, true); status != http.StatusServiceUnavailable || m["error"] != "temporarily_unavailable" {
		t.Fatalf("down: %d %v", status, m)
	}
	p.SetDown(false)
	p.RevokeAllRefreshTokens()
	if status, m := tokenReq(t, p, refresh, true); status != 400 || m["error"] != "invalid_grant" {
		t.Fatalf("after revoke: %d %v", status, m)
	}
}

func TestUserinfo(t *testing.T) {
	t.Parallel()
	p, _ := start(t, devidp.Options{AutoLogin: "alice"})
	if s, _ := userinfoStatus(t, p, ""); s != http.StatusUnauthorized {
		t.Errorf("no token: %d", s)
	}
	if s, _ := userinfoStatus(t, p, "forged"); s != http.StatusUnauthorized {
		t.Errorf("forged token: %d", s)
	}
	v := oauth2.GenerateVerifier()
	code := login(t, p, authQuery(v), "")
	_, tok := tokenReq(t, p, codeForm(code, v), true)
	s, m := userinfoStatus(t, p, tok["access_token"].(string))
	if s != http.StatusOK || m["sub"] != devidp.Subject("alice") || m["email"] != alice.Email || m["email_verified"] != true || m["name"] != alice.Name {
		t.Errorf("userinfo: %d %v", s, m)
	}
	p.RevokeAllAccessTokens()
	if s, _ := userinfoStatus(t, p, tok["access_token"].(string)); s != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", s)
	}
}

func TestEndSession(t *testing.T) {
	t.Parallel()
	p, _ := start(t, devidp.Options{AutoLogin: "alice", PostLogoutRedirectURIs: []string{"http://127.0.0.1:9999/bye"}})
	v := oauth2.GenerateVerifier()
	code := login(t, p, authQuery(v), "")
	_, tok := tokenReq(t, p, codeForm(code, v), true)
	idt := tok["id_token"].(string)

	get := func(q url.Values) *http.Response {
		resp, err := noRedirectClient().Get(p.Issuer() + "/end_session?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := get(url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/bye"}, "state": {"s"}, "client_id": {testClient}})
	if loc, err := resp.Location(); err != nil || loc.Path != "/bye" || loc.Query().Get("state") != "s" {
		t.Errorf("registered redirect: %d %v", resp.StatusCode, loc)
	}
	if resp := get(url.Values{"post_logout_redirect_uri": {"http://127.0.0.1:9999/evil"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unregistered redirect: %d", resp.StatusCode)
	}
	if resp := get(url.Values{"id_token_hint": {idt[:len(idt)-4] + "AAAA"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("tampered hint: %d", resp.StatusCode)
	}
	if resp := get(url.Values{}); resp.StatusCode != http.StatusOK {
		t.Errorf("plain sign-out page: %d", resp.StatusCode)
	}
	if p.EndSessionCalls() != 4 {
		t.Errorf("EndSessionCalls = %d", p.EndSessionCalls())
	}
}

// idTokenClaims decodes an ID token's payload without verifying it (the
// signature is checked by the tests that are about it).
func idTokenClaims(t *testing.T, idt string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSignedCompact(idt, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestUserClaims(t *testing.T) {
	t.Parallel()
	u := alice
	u.Claims = map[string]any{"hd": "example.test", "realm_access": map[string]any{"roles": []string{"admin"}}}
	p, _ := start(t, devidp.Options{AutoLogin: "alice", Users: []devidp.User{u}})
	v := oauth2.GenerateVerifier()
	_, tok := tokenReq(t, p, codeForm(login(t, p, authQuery(v), ""), v), true)
	c := idTokenClaims(t, tok["id_token"].(string))
	if c["hd"] != "example.test" || fmt.Sprint(c["realm_access"]) != "map[roles:[admin]]" || c["email"] != alice.Email {
		t.Errorf("ID token claims: %v", c)
	}
	if s, m := userinfoStatus(t, p, tok["access_token"].(string)); s != http.StatusOK || m["hd"] != "example.test" || m["sub"] != devidp.Subject("alice") {
		t.Errorf("userinfo: %d %v", s, m)
	}

	// Claims replace standard ones, and a refresh sees the user's new claims.
	u.Claims = map[string]any{"hd": "other.test", "iss": "https://elsewhere.test", "email": "a@other.test"}
	if err := p.SetUser(u); err != nil {
		t.Fatal(err)
	}
	_, tok = tokenReq(t, p, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}, true)
	c = idTokenClaims(t, tok["id_token"].(string))
	if c["hd"] != "other.test" || c["iss"] != "https://elsewhere.test" || c["email"] != "a@other.test" || c["realm_access"] != nil {
		t.Errorf("refreshed ID token claims: %v", c)
	}
}
