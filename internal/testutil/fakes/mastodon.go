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
)

// Mastodon implements the parts of Mastodon's API a login uses:
// POST /api/v1/apps, RFC 8414 metadata (4.3+) or 404 (older),
// /oauth/authorize with optional PKCE S256, /oauth/token with the client
// secret in the body only (as GoToSocial requires), and
// verify_credentials. Tokens never expire and there are no refresh tokens.
type Mastodon struct {
	*Service
	// Server serves the instance; Host is the public host name it stands
	// for (map it with Instances).
	Server *httptest.Server
	Host   string
	// Registrations counts apps registered.
	Registrations atomic.Int64
	// User is the account that consents at authorize ("alice" or "Bob").
	User atomic.Value

	pkce        bool
	appsMu      sync.Mutex
	apps        map[string]mastodonApp // client_id → app
	tokenScopes map[string]string
}

type mastodonApp struct {
	secret, redirect, scopes string
}

// MastodonAccounts are the accounts every fake instance has; "HOST" in
// values stands for the instance host.
var mastodonAccounts = map[string]map[string]any{
	"alice": {"id": "109", "username": "alice", "acct": "alice", "display_name": "Alice", "avatar": "https://files/alice.png", "url": "https://HOST/@alice", "uri": "https://HOST/users/alice"},
	"Bob":   {"id": "110", "username": "Bob", "acct": "Bob", "display_name": "Bob B", "avatar": "https://files/bob.png", "url": "https://HOST/@Bob", "uri": "https://HOST/users/Bob"},
}

// NewMastodon starts a fake instance standing for host; pkce makes it a
// Mastodon 4.3+ (metadata with S256 and the "profile" scope). alice
// consents unless User is changed.
func NewMastodon(t testing.TB, host string, pkce bool) *Mastodon {
	t.Helper()
	f := &Mastodon{Service: newService(t, "mastodon "+host), Host: host, pkce: pkce, apps: map[string]mastodonApp{}, tokenScopes: map[string]string{}}
	f.User.Store("alice")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/apps", func(w http.ResponseWriter, r *http.Request) {
		form, ok := f.form(w, r, []string{"client_name", "redirect_uris", "scopes"}, []string{"website"})
		if !ok {
			return
		}
		if u, err := url.Parse(form.Get("redirect_uris")); err != nil || !u.IsAbs() {
			WriteJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "Validation failed: Redirect URI must be an absolute URI."})
			return
		}
		for s := range strings.FieldsSeq(form.Get("scopes")) {
			if s != "read:accounts" && (s != "profile" || !f.pkce) {
				WriteJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": "Validation failed: Scopes are invalid"})
				return
			}
		}
		n := f.Registrations.Add(1)
		id, secret := fmt.Sprintf("client-%s-%d", f.Host, n), RandomToken()
		f.appsMu.Lock()
		f.apps[id] = mastodonApp{secret: secret, redirect: form.Get("redirect_uris"), scopes: form.Get("scopes")}
		f.appsMu.Unlock()
		f.mu.Lock()
		f.issued = append(f.issued, secret)
		f.mu.Unlock()
		WriteJSON(w, http.StatusOK, map[string]any{"id": fmt.Sprint(n), "name": form.Get("client_name"), "website": nil,
			"redirect_uri": form.Get("redirect_uris"), "client_id": id, "client_secret": secret, "vapid_key": "BCk-QqERU0q"})
	})
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		if !f.pkce {
			http.NotFound(w, r)
			return
		}
		base := "https://" + f.Host
		WriteJSON(w, http.StatusOK, map[string]any{"issuer": base + "/", "authorization_endpoint": base + "/oauth/authorize", "token_endpoint": base + "/oauth/token",
			"scopes_supported": []string{"read", "write", "push", "profile", "read:accounts"}, "response_types_supported": []string{"code"},
			"code_challenge_methods_supported": []string{"S256"}, "grant_types_supported": []string{"authorization_code", "client_credentials"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"}})
	})
	mux.HandleFunc("GET /oauth/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		req := []string{"response_type", "client_id", "redirect_uri", "scope", "state"}
		if f.pkce {
			req = append(req, "code_challenge", "code_challenge_method")
		}
		if !f.checkParams(w, r, q, req, nil) {
			return
		}
		f.appsMu.Lock()
		app, ok := f.apps[q.Get("client_id")]
		f.appsMu.Unlock()
		if !ok {
			f.violation(w, r, "authorize with unknown client %q", q.Get("client_id"))
			return
		}
		if q.Get("redirect_uri") != app.redirect || q.Get("response_type") != "code" || (f.pkce && q.Get("code_challenge_method") != "S256") {
			f.violation(w, r, "bad authorize parameters")
			return
		}
		for s := range strings.FieldsSeq(q.Get("scope")) {
			if !slices.Contains(strings.Fields(app.scopes), s) {
				f.violation(w, r, "scope %q not registered", s)
				return
			}
		}
		f.authorizeRedirect(w, r, app.redirect, q.Get("state"), codeGrant{user: f.User.Load().(string), clientID: q.Get("client_id"), redirect: app.redirect,
			challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"), scope: q.Get("scope")})
	})
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			f.violation(w, r, "client secret must be sent in the body")
			return
		}
		if err := r.ParseForm(); err != nil {
			f.violation(w, r, "%v", err)
			return
		}
		var form url.Values
		var ok bool
		switch r.PostForm.Get("grant_type") {
		case "authorization_code":
			form, ok = f.form(w, r, []string{"grant_type", "code", "client_id", "client_secret", "redirect_uri"}, []string{"code_verifier", "scope"})
		case "client_credentials":
			form, ok = f.form(w, r, []string{"grant_type", "client_id", "client_secret"}, []string{"scope"})
		default:
			f.violation(w, r, "grant_type %q", r.PostForm.Get("grant_type"))
			return
		}
		if !ok {
			return
		}
		f.appsMu.Lock()
		app, known := f.apps[form.Get("client_id")]
		f.appsMu.Unlock()
		if !known || app.secret != form.Get("client_secret") {
			OAuthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.")
			return
		}
		if form.Get("grant_type") == "client_credentials" {
			at, _ := f.issueTokens("", false)
			WriteJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "scope": app.scopes, "created_at": 1700000000})
			return
		}
		g, ok := f.takeCode(form.Get("code"))
		if !ok || g.clientID != form.Get("client_id") || g.redirect != form.Get("redirect_uri") {
			OAuthError(w, http.StatusBadRequest, "invalid_grant", "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.")
			return
		}
		if !CheckPKCE(g.method, g.challenge, form.Get("code_verifier")) {
			f.violation(w, r, "PKCE mismatch")
			return
		}
		at, _ := f.issueTokens(g.user, false)
		f.appsMu.Lock()
		f.tokenScopes[at] = g.scope
		f.appsMu.Unlock()
		WriteJSON(w, http.StatusOK, map[string]any{"access_token": at, "token_type": "Bearer", "scope": g.scope, "created_at": 1700000000})
	})
	mux.HandleFunc("GET /api/v1/accounts/verify_credentials", func(w http.ResponseWriter, r *http.Request) {
		user, ok := f.bearer(r)
		if !ok || user == "" {
			WriteJSON(w, http.StatusUnauthorized, map[string]string{"error": "The access token is invalid"})
			return
		}
		// Mastodon 4.3+ reads the account with "profile"; every version
		// with read:accounts (or its parent, read).
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.appsMu.Lock()
		granted := strings.Fields(f.tokenScopes[tok])
		f.appsMu.Unlock()
		if !slices.ContainsFunc(granted, func(s string) bool { return s == "profile" || s == "read:accounts" || s == "read" }) {
			WriteJSON(w, http.StatusForbidden, map[string]string{"error": "This action is outside the authorized scopes"})
			return
		}
		acct := map[string]any{}
		for k, v := range mastodonAccounts[user] {
			if s, ok := v.(string); ok {
				v = strings.ReplaceAll(s, "HOST", f.Host)
			}
			acct[k] = v
		}
		WriteJSON(w, http.StatusOK, acct)
	})
	f.Server = f.serve(mux)
	return f
}

// RevokeApps forgets every registered app, as an admin deleting them would.
func (f *Mastodon) RevokeApps() {
	f.appsMu.Lock()
	defer f.appsMu.Unlock()
	clear(f.apps)
}

// Instances returns a providers.MastodonConfig.InstanceURL mapping each
// fake's Host to its server; an unknown host fails the test and maps to a
// closed port.
func Instances(t testing.TB, fakes ...*Mastodon) func(host string) string {
	m := map[string]string{}
	for _, f := range fakes {
		m[f.Host] = f.Server.URL
	}
	return func(host string) string {
		u, ok := m[host]
		if !ok {
			t.Errorf("request to unknown instance %q", host)
			return "http://127.0.0.1:9"
		}
		return u
	}
}
