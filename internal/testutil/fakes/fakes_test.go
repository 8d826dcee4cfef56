package fakes

// The fakes are only as good as what they refuse: these tests send each
// one requests a correct client would not send and check they are
// rejected (and reported as a violation where the service's documentation
// rules them out), next to a control request that succeeds.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// recorder stands in for the test a fake reports violations to.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// take returns and forgets the recorded violations.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	errs := r.errs
	r.errs = nil
	return errs
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// call sends a request and returns its status and body.
func call(t *testing.T, method, target string, form url.Values, edit func(*http.Request)) (int, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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
	if resp.StatusCode == http.StatusFound {
		return resp.StatusCode, resp.Header.Get("Location")
	}
	return resp.StatusCode, string(b)
}

// code runs an authorize request that must succeed and returns the code.
func code(t *testing.T, authURL string) string {
	t.Helper()
	status, loc := call(t, http.MethodGet, authURL, nil, nil)
	u, err := url.Parse(loc)
	if status != http.StatusFound || err != nil || u.Query().Get("code") == "" {
		t.Fatalf("authorize %s: status %d, %s", authURL, status, loc)
	}
	return u.Query().Get("code")
}

// rejection is one request a fake must refuse.
type rejection struct {
	name   string
	method string // default POST with a form, GET without
	url    string
	form   url.Values
	edit   func(*http.Request)
	// status is the answer expected; violation whether the fake must
	// report the request as one no correct client sends.
	status    int
	violation bool
}

func (c rejection) check(t *testing.T, rec *recorder) {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodPost
		if c.form == nil {
			method = http.MethodGet
		}
	}
	status, body := call(t, method, c.url, c.form, c.edit)
	if status != c.status {
		t.Errorf("%s: status %d, want %d: %s", c.name, status, c.status, body)
	}
	if errs := rec.take(); (len(errs) > 0) != c.violation {
		t.Errorf("%s: violations %q, want reported=%v", c.name, errs, c.violation)
	}
}

func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			out.Del(kv[i])
		} else {
			out.Set(kv[i], kv[i+1])
		}
	}
	return out
}

// withoutPKCE drops the code challenge from an authorize URL.
func withoutPKCE(authURL string) string {
	u, _ := url.Parse(authURL)
	q := u.Query()
	q.Del("code_challenge")
	q.Del("code_challenge_method")
	u.RawQuery = q.Encode()
	return u.String()
}

// s256 is the S256 code challenge of verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func basic(id, secret string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(id, secret) }
}

func TestOSDNRejects(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	const cb = "https://gate.example/oauth2/callback"
	f := NewOSDN(rec, cb)
	authz := f.URL + OSDNAuthPath + "?" + url.Values{"client_id": {f.ClientID}, "state": {"s"}, "response_type": {"code"}, "scope": {"profile"}}.Encode()
	good := func() url.Values {
		return url.Values{"client_id": {f.ClientID}, "client_secret": {f.ClientSecret}, "grant_type": {"authorization_code"}, "code": {code(t, authz)}}
	}
	for _, c := range []rejection{
		{name: "POST authorize", url: authz, form: url.Values{}, status: 400, violation: true},
		{name: "authorize with PKCE", url: authz + "&code_challenge=x&code_challenge_method=S256", status: 400, violation: true},
		{name: "authorize, unknown scope", url: strings.Replace(authz, "scope=profile", "scope=admin", 1), status: 400, violation: true},
		{name: "authorize, foreign redirect_uri", url: authz + "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb", status: 400, violation: true},
		{name: "token in HTTP Basic", url: f.URL + OSDNTokenPath, form: with(good(), "client_secret", ""), edit: basic(f.ClientID, f.ClientSecret), status: 400, violation: true},
		{name: "token in body and Basic", url: f.URL + OSDNTokenPath, form: good(), edit: basic(f.ClientID, f.ClientSecret), status: 400, violation: true},
		{name: "token without secret", url: f.URL + OSDNTokenPath, form: with(good(), "client_secret", ""), status: 400, violation: true},
		{name: "token with code_verifier", url: f.URL + OSDNTokenPath, form: with(good(), "code_verifier", strings.Repeat("v", 43)), status: 400, violation: true},
		{name: "token by GET", method: http.MethodGet, url: f.URL + OSDNTokenPath + "?" + good().Encode(), status: 400, violation: true},
		{name: "token as JSON", url: f.URL + OSDNTokenPath, form: good(), edit: func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, status: 400, violation: true},
		{name: "token fields in the query", url: f.URL + OSDNTokenPath + "?client_secret=" + f.ClientSecret, form: good(), status: 400, violation: true},
		{name: "token, wrong secret", url: f.URL + OSDNTokenPath, form: with(good(), "client_secret", "nope"), status: 401},
		{name: "token, unknown code", url: f.URL + OSDNTokenPath, form: with(good(), "code", "forged"), status: 400},
		{name: "profile without token", url: f.URL + OSDNProfilePath, status: 401},
		{name: "unknown endpoint", url: f.URL + "/api/v0/users/me", status: 400, violation: true},
		{name: "control: a correct token request", url: f.URL + OSDNTokenPath, form: good(), status: 200},
	} {
		c.check(t, rec)
	}
}

func TestOsuRejects(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	const cb = "https://gate.example/oauth2/callback"
	f := NewOsu(rec, cb)
	const verifier = "0123456789012345678901234567890123456789abc"
	authz := f.URL + "/oauth/authorize?" + url.Values{"client_id": {f.ClientID}, "redirect_uri": {cb}, "response_type": {"code"}, "state": {"s"}, "scope": {"identify"}}.Encode()
	authzPKCE := authz + "&code_challenge_method=S256&code_challenge=" + url.QueryEscape(s256(verifier))
	good := func() url.Values {
		return url.Values{"client_id": {f.ClientID}, "client_secret": {f.ClientSecret}, "grant_type": {"authorization_code"}, "code": {code(t, authz)}, "redirect_uri": {cb}}
	}
	for _, c := range []rejection{
		{name: "authorize, other redirect_uri", url: strings.Replace(authz, "gate.example", "evil.example", 1), status: 400, violation: true},
		{name: "authorize, unknown scope", url: strings.Replace(authz, "scope=identify", "scope=identify+admin", 1), status: 400, violation: true},
		{name: "token without redirect_uri", url: f.URL + "/oauth/token", form: with(good(), "redirect_uri", ""), status: 400, violation: true},
		{name: "token, other redirect_uri", url: f.URL + "/oauth/token", form: with(good(), "redirect_uri", "https://evil.example/cb"), status: 400},
		{name: "token without credentials", url: f.URL + "/oauth/token", form: with(good(), "client_id", "", "client_secret", ""), status: 400, violation: true},
		{name: "token, wrong Basic secret", url: f.URL + "/oauth/token", form: with(good(), "client_secret", ""), edit: basic(f.ClientID, "nope"), status: 401},
		{name: "token, wrong PKCE verifier", url: f.URL + "/oauth/token", form: with(good(), "code", code(t, authzPKCE), "code_verifier", strings.Repeat("x", 43)), status: 400, violation: true},
		{name: "token, verifier without challenge", url: f.URL + "/oauth/token", form: with(good(), "code_verifier", verifier), status: 400, violation: true},
		{name: "refresh with an unknown token", url: f.URL + "/oauth/token", form: url.Values{"client_id": {f.ClientID}, "client_secret": {f.ClientSecret}, "grant_type": {"refresh_token"}, "refresh_token": {"forged"}}, status: 400},
		{name: "client_credentials is no login", url: f.URL + "/oauth/token", form: url.Values{"client_id": {f.ClientID}, "client_secret": {f.ClientSecret}, "grant_type": {"client_credentials"}, "scope": {"public"}}, status: 400, violation: true},
		{name: "me without token", url: f.URL + "/api/v2/me", status: 401},
		{name: "me with the token in the query", url: f.URL + "/api/v2/me?access_token=x", status: 401},
		{name: "control: Basic credentials", url: f.URL + "/oauth/token", form: with(good(), "client_secret", ""), edit: basic(f.ClientID, f.ClientSecret), status: 200},
		{name: "control: PKCE", url: f.URL + "/oauth/token", form: with(good(), "code", code(t, authzPKCE), "code_verifier", verifier), status: 200},
	} {
		c.check(t, rec)
	}
}

func TestQuailyRejects(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	const cb = "https://gate.example/oauth2/callback"
	f := NewQuaily(rec, cb)
	const verifier = "0123456789012345678901234567890123456789abc"
	authz := f.Auth.URL + "/oauth/authorize?" + url.Values{"response_type": {"code"}, "client_id": {f.ClientID}, "redirect_uri": {cb}, "scope": {"user.public"},
		"state": {"s"}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}.Encode()
	good := func() url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "client_id": {f.ClientID}, "redirect_uri": {cb}, "code": {code(t, authz)}, "code_verifier": {verifier}}
	}
	token := f.API.URL + "/oauth/token"
	for _, c := range []rejection{
		{name: "authorize without PKCE", url: withoutPKCE(authz), status: 400, violation: true},
		{name: "authorize on the API base", url: strings.Replace(authz, f.Auth.URL, f.API.URL, 1), status: 400, violation: true},
		{name: "authorize, trusted-only scope", url: strings.Replace(authz, "scope=user.public", "scope=credit.full", 1), status: 400, violation: true},
		{name: "token with a client secret", url: token, form: with(good(), "client_secret", "s"), status: 400, violation: true},
		{name: "token with Basic credentials", url: token, form: good(), edit: basic(f.ClientID, ""), status: 400, violation: true},
		{name: "token without code_verifier", url: token, form: with(good(), "code_verifier", ""), status: 400, violation: true},
		{name: "token, wrong code_verifier", url: token, form: with(good(), "code_verifier", strings.Repeat("x", 43)), status: 400, violation: true},
		{name: "token on the authorize host", url: f.Auth.URL + "/oauth/token", form: good(), status: 400, violation: true},
		{name: "token, other redirect_uri", url: token, form: with(good(), "redirect_uri", "https://evil.example/cb"), status: 400},
		{name: "userinfo without token", url: f.API.URL + "/oauth/userinfo", status: 401},
		{name: "control: a correct token request", url: token, form: good(), status: 200},
	} {
		c.check(t, rec)
	}
}

func TestMastodonRejects(t *testing.T) {
	t.Parallel()
	rec := &recorder{TB: t}
	const cb = "https://gate.example/oauth2/callback"
	for _, pkce := range []bool{false, true} {
		f := NewMastodon(rec, "m.example", pkce)
		status, body := call(t, http.MethodPost, f.Server.URL+"/api/v1/apps", url.Values{"client_name": {"G"}, "redirect_uris": {cb}, "scopes": {"read:accounts"}}, nil)
		var app struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.Unmarshal([]byte(body), &app); err != nil || status != 200 || app.ClientSecret == "" {
			t.Fatalf("register: %d %s", status, body)
		}
		const verifier = "0123456789012345678901234567890123456789abc"
		q := url.Values{"response_type": {"code"}, "client_id": {app.ClientID}, "redirect_uri": {cb}, "scope": {"read:accounts"}, "state": {"s"}}
		if pkce {
			q.Set("code_challenge", s256(verifier))
			q.Set("code_challenge_method", "S256")
		}
		authz := f.Server.URL + "/oauth/authorize?" + q.Encode()
		good := func() url.Values {
			v := url.Values{"grant_type": {"authorization_code"}, "code": {code(t, authz)}, "client_id": {app.ClientID}, "client_secret": {app.ClientSecret}, "redirect_uri": {cb}}
			if pkce {
				v.Set("code_verifier", verifier)
			}
			return v
		}
		token := f.Server.URL + "/oauth/token"
		cases := []rejection{
			{name: "register without scopes", url: f.Server.URL + "/api/v1/apps", form: url.Values{"client_name": {"G"}, "redirect_uris": {cb}}, status: 400, violation: true},
			{name: "register as JSON", url: f.Server.URL + "/api/v1/apps", form: url.Values{"client_name": {"G"}, "redirect_uris": {cb}, "scopes": {"read"}},
				edit: func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, status: 400, violation: true},
			{name: "register, relative redirect", url: f.Server.URL + "/api/v1/apps", form: url.Values{"client_name": {"G"}, "redirect_uris": {"/cb"}, "scopes": {"read:accounts"}}, status: 422},
			{name: "authorize, unknown client", url: strings.Replace(authz, app.ClientID, "nobody", 1), status: 400, violation: true},
			{name: "authorize, unregistered scope", url: strings.Replace(authz, "scope=read%3Aaccounts", "scope=write", 1), status: 400, violation: true},
			{name: "authorize, other redirect_uri", url: strings.Replace(authz, "gate.example", "evil.example", 1), status: 400, violation: true},
			{name: "token with Basic credentials", url: token, form: with(good(), "client_secret", ""), edit: basic(app.ClientID, app.ClientSecret), status: 400, violation: true},
			{name: "token in body and Basic", url: token, form: good(), edit: basic(app.ClientID, app.ClientSecret), status: 400, violation: true},
			{name: "token, wrong secret", url: token, form: with(good(), "client_secret", "nope"), status: 401},
			{name: "refresh (Mastodon has none)", url: token, form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {app.ClientID}, "client_secret": {app.ClientSecret}}, status: 400, violation: true},
			{name: "verify_credentials without token", url: f.Server.URL + "/api/v1/accounts/verify_credentials", status: 401},
			{name: "control: a correct token request", url: token, form: good(), status: 200},
		}
		if pkce {
			cases = append(cases,
				rejection{name: "authorize without PKCE on 4.3+", url: withoutPKCE(authz), status: 400, violation: true},
				rejection{name: "token, wrong verifier", url: token, form: with(good(), "code_verifier", strings.Repeat("x", 43)), status: 400, violation: true},
				rejection{name: "token without verifier", url: token, form: with(good(), "code_verifier", ""), status: 400, violation: true})
		} else {
			cases = append(cases,
				rejection{name: "authorize with PKCE before 4.3", url: authz + "&code_challenge=" + s256(verifier) + "&code_challenge_method=S256", status: 400, violation: true},
				rejection{name: "metadata before 4.3", url: f.Server.URL + "/.well-known/oauth-authorization-server", status: 404})
		}
		for _, c := range cases {
			c.name = fmt.Sprintf("pkce=%v: %s", pkce, c.name)
			c.check(t, rec)
		}
	}
}

func TestOAuth2Rejects(t *testing.T) {
	t.Parallel()
	const cb = "https://gate.example/oauth2/callback"
	for _, auth := range []string{"basic", "body", "none"} {
		t.Run(auth, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{TB: t}
			f := NewOAuth2(rec, OAuth2Options{Callback: cb, ClientAuth: auth})
			authz := f.URL + "/authorize?" + url.Values{"client_id": {f.ClientID}, "redirect_uri": {cb}, "response_type": {"code"}, "state": {"s"}}.Encode()
			form := func() url.Values {
				v := url.Values{"grant_type": {"authorization_code"}, "code": {code(t, authz)}, "redirect_uri": {cb}}
				switch auth {
				case "body":
					v.Set("client_id", f.ClientID)
					v.Set("client_secret", f.ClientSecret)
				case "none":
					v.Set("client_id", f.ClientID)
				}
				return v
			}
			var edit func(*http.Request)
			if auth == "basic" {
				edit = basic(url.QueryEscape(f.ClientID), url.QueryEscape(f.ClientSecret))
			}
			token := f.URL + "/token"
			cases := []rejection{
				{name: "authorize with PKCE it does not use", url: authz + "&code_challenge=x&code_challenge_method=S256", status: 400, violation: true},
				{name: "token without redirect_uri", url: token, form: with(form(), "redirect_uri", ""), edit: edit, status: 400, violation: true},
				{name: "token by GET", method: http.MethodGet, url: token + "?" + form().Encode(), edit: edit, status: 400, violation: true},
				{name: "control", url: token, form: form(), edit: edit, status: 200},
			}
			switch auth {
			case "basic":
				cases = append(cases,
					rejection{name: "credentials in the body", url: token, form: with(form(), "client_id", f.ClientID, "client_secret", f.ClientSecret), status: 401},
					rejection{name: "credentials in both", url: token, form: with(form(), "client_id", f.ClientID, "client_secret", f.ClientSecret), edit: edit, status: 400, violation: true},
					rejection{name: "secret not form-encoded", url: token, form: form(), edit: basic(f.ClientID, f.ClientSecret), status: 401})
			case "body":
				cases = append(cases,
					rejection{name: "credentials in Basic", url: token, form: with(form(), "client_id", "", "client_secret", ""), edit: basic(f.ClientID, f.ClientSecret), status: 400, violation: true},
					rejection{name: "wrong secret", url: token, form: with(form(), "client_secret", "nope"), status: 401})
			case "none":
				cases = append(cases,
					rejection{name: "public client sending a secret", url: token, form: with(form(), "client_secret", "x"), status: 400, violation: true})
			}
			for _, c := range cases {
				c.check(t, rec)
			}
		})
	}
}
