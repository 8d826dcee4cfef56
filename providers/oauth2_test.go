package providers_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

// genericConfig configures a generic provider for the fake service f:
// GitHub-style comma-separated scopes and an extra authorize parameter.
func genericConfig(f *fakes.OAuth2, auth providers.ClientAuth, pkce string) providers.OAuth2Config {
	return providers.OAuth2Config{
		Common:         providers.Common{ID: "gh", ClientID: f.ClientID, ClientSecret: f.ClientSecret, Scopes: []string{"read:user", "user:email"}},
		AuthURL:        f.URL + "/authorize",
		TokenURL:       f.URL + "/token",
		UserinfoURL:    f.URL + "/userinfo",
		ClientAuth:     auth,
		PKCE:           providers.PKCEMethod(cmpOrOff(pkce)),
		ScopeSeparator: ",",
		AuthParams:     map[string]string{"prompt": "consent"},
	}
}

func cmpOrOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

func TestOAuth2GenericLogin(t *testing.T) {
	t.Parallel()
	type tc struct {
		name       string
		auth       providers.ClientAuth
		pkce       string
		tokenExtra map[string]any
		userinfo   map[string]any
		mod        func(*providers.OAuth2Config)
		want       providers.Identity
		wantExp    bool
	}
	for _, c := range []tc{
		{
			name: "github style: basic auth, no PKCE, scope string, numeric id",
			auth: providers.ClientAuthBasic, pkce: "",
			tokenExtra: map[string]any{"token_type": "bearer", "scope": "read:user,user:email", "expires_in": nil},
			userinfo:   map[string]any{"id": 1234567890123, "login": "octocat", "name": "The Octocat", "email": "octo@example.com", "avatar_url": "https://avatars/1"},
			mod: func(c *providers.OAuth2Config) {
				c.Claims = providers.ClaimMapping{Subject: "id", Username: "login", Picture: "avatar_url"}
				c.AllowUnverifiedEmail = true
			},
			want: providers.Identity{Subject: "1234567890123", User: "gh:1234567890123", PreferredUsername: "octocat", Name: "The Octocat", Email: "octo@example.com", Picture: "https://avatars/1"},
		},
		{
			name: "wrapped userinfo, body auth, S256, scope array, expires_in string",
			auth: providers.ClientAuthBody, pkce: "S256",
			tokenExtra: map[string]any{"token_type": "Bearer", "scope": []string{"a", "b"}, "expires_in": "3600", "custom": "kept"},
			userinfo: map[string]any{"data": map[string]any{"user": map[string]any{"uid": "u-9", "handle": "nine", "mail": "n@example.com", "verified": "true",
				"roles": []any{map[string]any{"name": "admin"}, map[string]any{"name": "dev"}}}}, "ts": 1723923923},
			mod: func(c *providers.OAuth2Config) {
				c.UserinfoEnvelope = "data"
				c.Claims = providers.ClaimMapping{Subject: "user.uid", Username: "user.handle", Email: "user.mail", EmailVerified: "user.verified", Groups: "user.roles"}
				c.UserPrefix = "-"
			},
			want:    providers.Identity{Subject: "u-9", User: "u-9", PreferredUsername: "nine", Email: "n@example.com", EmailVerified: true, Groups: []string{"admin", "dev"}},
			wantExp: true,
		},
		{
			name: "public client, plain PKCE, unverified email dropped, groups string",
			auth: providers.ClientAuthNone, pkce: "plain",
			tokenExtra: map[string]any{"expires_in": 60},
			userinfo:   map[string]any{"sub": "s1", "email": "x@example.com", "email_verified": false, "groups": "a, b"},
			want:       providers.Identity{Subject: "s1", User: "gh:s1", Groups: []string{"a", "b"}},
			wantExp:    true,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := fakes.NewOAuth2(t, fakes.OAuth2Options{Callback: gateCallback, ClientAuth: string(c.auth), PKCE: c.pkce,
				Scope: "read:user,user:email", AuthParams: map[string]string{"prompt": "consent"}, TokenExtra: c.tokenExtra})
			f.SetProfile(c.userinfo)
			cfg := genericConfig(f, c.auth, c.pkce)
			if c.mod != nil {
				c.mod(&cfg)
			}
			if c.auth == providers.ClientAuthNone {
				cfg.ClientSecret = ""
			}
			p, err := providers.NewOAuth2(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ap := providers.AuthParams{State: "st", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: gateCallback}
			g, err := p.Redeem(t.Context(), browse(t, must(p.AuthCodeURL(t.Context(), ap))).Get("code"), ap)
			if err != nil {
				t.Fatal(err)
			}
			got := g.Identity
			if got.Subject != c.want.Subject || got.User != c.want.User || got.PreferredUsername != c.want.PreferredUsername ||
				got.Name != c.want.Name || got.Email != c.want.Email || got.EmailVerified != c.want.EmailVerified ||
				got.Picture != c.want.Picture || !slices.Equal(got.Groups, c.want.Groups) {
				t.Errorf("identity = %+v\nwant       %+v", got, c.want)
			}
			if exp := !g.Tokens.Expiry.IsZero(); exp != c.wantExp {
				t.Errorf("expiry = %v, want set=%v", g.Tokens.Expiry, c.wantExp)
			}
			// The granted scope is read from a string or a list; unknown
			// fields are kept, known ones are not repeated in Extra.
			var wantScope []string
			switch v := c.tokenExtra["scope"].(type) {
			case string:
				wantScope = strings.Split(v, ",")
			case []string:
				wantScope = v
			}
			if !slices.Equal(g.Tokens.Scope, wantScope) {
				t.Errorf("scope = %q, want %q", g.Tokens.Scope, wantScope)
			}
			for k, v := range c.tokenExtra {
				_, kept := g.Tokens.Extra[k]
				if known := slices.Contains([]string{"scope", "token_type", "expires_in"}, k); kept == known || !known && g.Tokens.Extra[k] != v {
					t.Errorf("Extra[%q] = %v (present %v), want the response's %v only for unknown fields", k, g.Tokens.Extra[k], kept, v)
				}
			}
			g2, err := p.Refresh(t.Context(), g)
			if err != nil || g2.Identity.Subject != got.Subject {
				t.Errorf("refresh: %v %+v", err, g2.Identity)
			}
		})
	}
}

func TestNewOAuth2Validation(t *testing.T) {
	t.Parallel()
	ok := providers.OAuth2Config{Common: providers.Common{ID: "x", ClientID: "c", ClientSecret: "s"}, AuthURL: "https://a/authorize", TokenURL: "https://a/token", UserinfoURL: "https://a/me"}
	for name, mod := range map[string]func(*providers.OAuth2Config){
		"no client id":          func(c *providers.OAuth2Config) { c.ClientID = "" },
		"no secret with body":   func(c *providers.OAuth2Config) { c.ClientSecret = "" },
		"bad client_auth":       func(c *providers.OAuth2Config) { c.ClientAuth = "jwt" },
		"bad pkce":              func(c *providers.OAuth2Config) { c.PKCE = "S512" },
		"relative auth url":     func(c *providers.OAuth2Config) { c.AuthURL = "/authorize" },
		"missing userinfo":      func(c *providers.OAuth2Config) { c.UserinfoURL = "" },
		"auth param overriding": func(c *providers.OAuth2Config) { c.AuthParams = map[string]string{"state": "fixed"} },
	} {
		c := ok
		mod(&c)
		if _, err := providers.NewOAuth2(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := providers.NewOAuth2(ok); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

// TestOAuth2ErrorShapes checks each failure ends as a *providers.Error with
// the right code and no secret in its text.
func TestOAuth2ErrorShapes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, code string
		status     int
		body       string
		ctype      string
		sentinel   error
	}{
		{"rfc6749 invalid_grant", providers.CodeInvalidGrant, 400, `{"error":"invalid_grant","error_description":"expired"}`, "application/json", providers.ErrInvalidGrant},
		{"wrapped invalid_grant", providers.CodeInvalidGrant, 400, `{"data":{"error":"invalid_grant"},"ts":1}`, "application/json", providers.ErrInvalidGrant},
		{"invalid_client", providers.CodeInvalidClient, 401, `{"error":"invalid_client"}`, "application/json", nil},
		{"bare 401", providers.CodeInvalidClient, 401, ``, "text/plain", nil},
		{"5xx html", providers.CodeProviderUnavailable, 502, `<html>bad gateway</html>`, "text/html", nil},
		{"200 with error (github)", providers.CodeInvalidGrant, 200, `{"error":"invalid_grant","error_description":"The code passed is incorrect or expired."}`, "application/json", providers.ErrInvalidGrant},
		{"200 garbage", providers.CodeBadResponse, 200, `not json`, "application/json", nil},
		{"200 no token", providers.CodeBadResponse, 200, `{"token_type":"bearer"}`, "application/json", nil},
		{"mac token", providers.CodeBadResponse, 200, `{"access_token":"a","token_type":"mac"}`, "application/json", nil},
		{"other 400", providers.CodeProviderError, 400, `{"error":"unsupported_grant_type"}`, "application/json", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", c.ctype)
				w.WriteHeader(c.status)
				w.Write([]byte(c.body))
			}))
			t.Cleanup(srv.Close)
			p, err := providers.NewOAuth2(providers.OAuth2Config{Common: providers.Common{ID: "x", ClientID: "c", ClientSecret: "topsecret"}, AuthURL: srv.URL, TokenURL: srv.URL, UserinfoURL: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Redeem(t.Context(), "code", providers.AuthParams{State: "s", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: "https://g/cb"})
			wantCode(t, err, c.code)
			if c.sentinel != nil && !errors.Is(err, c.sentinel) {
				t.Errorf("%v does not wrap %v", err, c.sentinel)
			}
			if strings.Contains(err.Error(), "topsecret") || strings.Contains(err.Error(), "code=") {
				t.Errorf("error leaks request data: %v", err)
			}
		})
	}
}

func TestOAuth2FormEncodedTokenResponse(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			w.Write([]byte(url.Values{"access_token": {"at"}, "token_type": {"bearer"}, "expires_in": {"120"}}.Encode()))
			return
		}
		writeJSON(w, 200, map[string]any{"id": 7})
	}))
	t.Cleanup(srv.Close)
	p := must(providers.NewOAuth2(providers.OAuth2Config{Common: providers.Common{ID: "x", ClientID: "c", ClientSecret: "s"}, PKCE: "off", AuthURL: srv.URL + "/a", TokenURL: srv.URL + "/token", UserinfoURL: srv.URL + "/me"}))
	g, err := p.Redeem(t.Context(), "code", providers.AuthParams{State: "s", RedirectURL: "https://g/cb"})
	if err != nil {
		t.Fatal(err)
	}
	if g.Tokens.AccessToken != "at" || g.Identity.User != "x:7" || time.Until(g.Tokens.Expiry) > 2*time.Minute || g.Tokens.Expiry.IsZero() {
		t.Errorf("grant = %+v", g)
	}
}

// TestOAuth2HostileResponses feeds the token and userinfo endpoints
// answers a broken or malicious service could send: each must end in a
// *providers.Error (never a panic, hang or unbounded read), or, for
// merely odd values, in a sane grant.
func TestOAuth2HostileResponses(t *testing.T) {
	t.Parallel()
	const okToken = `{"access_token":"at","token_type":"Bearer","expires_in":3600}`
	const okUser = `{"id":7,"login":"octocat"}`
	huge := `{"access_token":"at","pad":"` + strings.Repeat("x", 2<<20) + `"}`
	for _, c := range []struct {
		name              string
		token, user       string
		stream            bool // the token endpoint never stops sending
		slow              bool // the token endpoint answers after the client's timeout
		code              string
		wantExpiry        bool
		wantSub, wantUser string
	}{
		{name: "token body over 1 MiB", token: huge, user: okUser, code: providers.CodeBadResponse},
		{name: "endless token body", stream: true, user: okUser, code: providers.CodeBadResponse},
		{name: "slow token endpoint", slow: true, user: okUser, code: providers.CodeProviderUnavailable},
		{name: "access_token a number", token: `{"access_token":12}`, user: okUser, code: providers.CodeBadResponse},
		{name: "access_token an object", token: `{"access_token":{"a":1}}`, user: okUser, code: providers.CodeBadResponse},
		{name: "token null", token: `null`, user: okUser, code: providers.CodeBadResponse},
		{name: "token array", token: `[{"access_token":"at"}]`, user: okUser, code: providers.CodeBadResponse},
		{name: "token trailing garbage", token: okToken + `{"access_token":"other"}`, user: okUser, code: providers.CodeBadResponse},
		{name: "userinfo over 1 MiB", token: okToken, user: `{"id":7,"pad":"` + strings.Repeat("x", 2<<20) + `"}`, code: providers.CodeBadResponse},
		{name: "userinfo array", token: okToken, user: `[{"id":7}]`, code: providers.CodeBadResponse},
		{name: "userinfo null", token: okToken, user: `null`, code: providers.CodeBadResponse},
		{name: "userinfo string", token: okToken, user: `"id"`, code: providers.CodeBadResponse},
		{name: "userinfo html", token: okToken, user: `<html>login</html>`, code: providers.CodeBadResponse},
		{name: "subject an object", token: okToken, user: `{"id":{"n":7}}`, code: providers.CodeBadResponse},
		{name: "subject a boolean", token: okToken, user: `{"id":true}`, code: providers.CodeBadResponse},
		{name: "subject with CRLF", token: okToken, user: `{"id":"7\r\nX-Forwarded-User: admin"}`, code: providers.CodeBadResponse},
		{name: "subject 2 KiB", token: okToken, user: `{"id":"` + strings.Repeat("7", 2048) + `"}`, code: providers.CodeBadResponse},
		{name: "expires_in beyond time.Duration", token: `{"access_token":"at","expires_in":9223372036854775807}`, user: okUser, wantSub: "7", wantUser: "x:7"},
		{name: "expires_in 1e30", token: `{"access_token":"at","expires_in":1e30}`, user: okUser, wantSub: "7", wantUser: "x:7"},
		{name: "expires_in negative", token: `{"access_token":"at","expires_in":"-5"}`, user: okUser, wantSub: "7", wantUser: "x:7"},
		{name: "expires_in a float string", token: `{"access_token":"at","expires_in":"59.5"}`, user: okUser, wantSub: "7", wantUser: "x:7", wantExpiry: true},
		{name: "expires_in an object", token: `{"access_token":"at","expires_in":{}}`, user: okUser, wantSub: "7", wantUser: "x:7"},
		{name: "wrapped userinfo without an envelope setting", token: okToken, user: `{"data":{"id":9,"login":"nine"},"ts":1}`, wantSub: "9", wantUser: "x:9", wantExpiry: true},
		{name: "huge number subject kept exact", token: okToken, user: `{"id":123456789012345678901234567890}`, wantSub: "123456789012345678901234567890", wantUser: "x:123456789012345678901234567890", wantExpiry: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// abandoned is closed when the client gives up on a slow or
			// endless token answer: the test waits for that, not for time.
			abandoned := make(chan struct{})
			var once sync.Once
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				switch r.URL.Path {
				case "/token":
					// With the body read, the server notices the client
					// leaving (r.Context ends).
					_, _ = io.Copy(io.Discard, r.Body)
					switch {
					case c.stream:
						chunk := []byte(`{"access_token":"` + strings.Repeat("a", 1<<14))
						for r.Context().Err() == nil {
							if _, err := w.Write(chunk); err != nil {
								break
							}
						}
						once.Do(func() { close(abandoned) })
					case c.slow:
						<-r.Context().Done() // never answers
						once.Do(func() { close(abandoned) })
					default:
						io.WriteString(w, c.token)
					}
				case "/me":
					io.WriteString(w, c.user)
				}
			}))
			t.Cleanup(srv.Close)
			// Only the slow endpoint needs a short client timeout (it never
			// answers, so the timeout always fires); the others get a long
			// one so that load cannot cut the big answers off mid-read.
			timeout := time.Minute
			if c.slow {
				timeout = 500 * time.Millisecond
			}
			p := must(providers.NewOAuth2(providers.OAuth2Config{
				Common:      providers.Common{ID: "x", ClientID: "c", ClientSecret: "s", HTTPClient: &http.Client{Timeout: timeout}},
				PKCE:        "off",
				AuthURL:     srv.URL + "/a",
				TokenURL:    srv.URL + "/token",
				UserinfoURL: srv.URL + "/me",
			}))
			g, err := p.Redeem(t.Context(), "code", providers.AuthParams{State: "s", RedirectURL: "https://g/cb"})
			if c.slow || c.stream {
				// The client, not the server, ended the exchange: the
				// timeout or the size limit stopped it.
				select {
				case <-abandoned:
				case <-time.After(time.Minute):
					t.Error("the client never gave up on the token answer")
				}
			}
			if c.code != "" {
				wantCode(t, err, c.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.Identity.Subject != c.wantSub || g.Identity.User != c.wantUser {
				t.Errorf("identity = %+v, want subject %q user %q", g.Identity, c.wantSub, c.wantUser)
			}
			if got := !g.Tokens.Expiry.IsZero(); got != c.wantExpiry {
				t.Errorf("expiry = %v, want set=%v", g.Tokens.Expiry, c.wantExpiry)
			}
			if !g.Tokens.Expiry.IsZero() && !g.Tokens.Expiry.After(time.Now()) {
				t.Errorf("expiry %v is in the past", g.Tokens.Expiry)
			}
		})
	}
}
