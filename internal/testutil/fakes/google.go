package fakes

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
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

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
)

// GoogleOptions configure a Google fake.
type GoogleOptions struct {
	// Callback is the OAuth client's authorized redirect URI.
	Callback string
	// Users default to alice@example.com (Workspace domain example.com,
	// groups staff@ and admins@example.com), bob@gmail.com (a consumer
	// account, no hd) and admin@example.com (the Workspace admin).
	Users []GoogleUser
	// Admins are the users with the Admin SDK privileges a service
	// account may act as (domain-wide delegation); default
	// admin@example.com.
	Admins []string
	// DelegatedScopes are the scopes domain-wide delegation grants the
	// service account's client id; default
	// https://www.googleapis.com/auth/admin.directory.group.readonly.
	DelegatedScopes []string
}

// GoogleUser is a Google account.
type GoogleUser struct {
	Email, Name string
	// HostedDomain is the Workspace domain (the hd claim); "" for a
	// consumer account.
	HostedDomain string
	// Groups are the emails of the Workspace groups the user is in.
	Groups []string
}

// Google imitates Google as an OpenID provider and the Admin SDK
// Directory API a login may ask for groups:
//
//   - Accounts (accounts.google.com) serves the issuer, discovery and
//     /o/oauth2/v2/auth; APIs (oauth2.googleapis.com, googleapis.com)
//     serves /token, /v1/userinfo, /oauth2/v3/certs and the Directory
//     API, so a client must use discovery, not the issuer's host;
//   - a refresh token only for access_type=offline (and, once the user
//     has consented, only again with prompt=consent); refresh answers
//     carry no new refresh token; the hd parameter only hints the
//     account chooser, so any account can sign in and hd must be checked
//     in the ID token; RFC 9207 iss in authorization responses;
//   - the service-account JWT bearer grant (RS256 assertion signed with
//     the key in KeyFile, iss, aud = token_uri, scope, sub = the admin
//     acted as, at most an hour long) and GET /admin/directory/v1/groups
//     with userKey, maxResults and pageToken paging.
type Google struct {
	*oidcFront
	// Accounts and APIs are the two hosts; Issuer is Accounts' URL.
	Accounts, APIs *httptest.Server
	Issuer         string
	// KeyFile is a service-account key file in Google's JSON format;
	// ServiceAccount is its client_email.
	KeyFile, ServiceAccount string
	// Consented makes users count as having consented already: Google
	// then issues a refresh token only with prompt=consent.
	Consented atomic.Bool
	// MaxResults caps the Directory API's page size (default 200, as
	// Google); tests lower it to force paging.
	MaxResults atomic.Int64
	// Throttle answers the next Directory API requests as Google does when
	// a quota is exceeded (429 RESOURCE_EXHAUSTED, or 403 with reason
	// userRateLimitExceeded).
	Throttle Throttle

	opts     GoogleOptions
	saKey    *rsa.PrivateKey
	saKeyID  string
	gmu      sync.Mutex
	users    map[string]GoogleUser // by email
	saGrants map[string]saGrant
}

// googleUsername is the IdP username of an email address.
func googleUsername(email string) string { return strings.ReplaceAll(email, "@", ".at.") }

// googleSub is a stable 21-digit subject, as Google's.
func googleSub(email string) string {
	sum := sha256.Sum256([]byte("google:" + email))
	return fmt.Sprintf("1%020d", binary.BigEndian.Uint64(sum[:8]))
}

// NewGoogle starts a Google fake (see GoogleOptions).
func NewGoogle(t testing.TB, o GoogleOptions) *Google {
	t.Helper()
	googleDefaults(&o)
	f := &Google{opts: o, users: map[string]GoogleUser{}, saGrants: map[string]saGrant{}}
	var idpUsers []devidp.User
	for _, u := range o.Users {
		f.users[u.Email] = u
		idpUsers = append(idpUsers, f.idpUser(u))
	}
	spec := oidcSpec{name: "google", sendIss: true, accessTTL: 3599 * time.Second, checkAuth: checkGoogleAuth,
		authParams: []string{"access_type", "prompt", "login_hint", "hd", "include_granted_scopes", "display", "enable_granular_consent"},
		scopeOK: func(s string) bool {
			return s == "openid" || s == "email" || s == "profile" || strings.HasPrefix(s, "https://www.googleapis.com/auth/")
		},
		offline: func(q url.Values) bool {
			return q.Get("access_type") == "offline" && (!f.Consented.Load() || slices.Contains(strings.Fields(q.Get("prompt")), "consent"))
		},
		mutate: func(c map[string]any) { delete(c, "preferred_username") }}
	f.oidcFront = newOIDCFront(t, spec, "1234567890-abc.apps.googleusercontent.com", "GOCSPX-secret", o.Callback, idpUsers)
	f.MaxResults.Store(200)
	accounts, apis := http.NewServeMux(), http.NewServeMux()
	f.handle(accounts, "", "GET /.well-known/openid-configuration", f.discovery)
	f.handle(accounts, "", "GET /o/oauth2/v2/auth", f.authorize)
	f.handle(apis, "", "POST /token", f.tokenEndpoint)
	f.handle(apis, "", "GET /v1/userinfo", func(w http.ResponseWriter, r *http.Request) { f.userinfoWith(w, r, f.userinfoDoc) })
	f.handle(apis, "", "GET /oauth2/v3/certs", func(w http.ResponseWriter, r *http.Request) { f.jwks(w, r) })
	f.handle(apis, "", "GET /admin/directory/v1/groups", f.listGroups)
	f.Accounts, f.APIs = f.serve(accounts), f.serve(apis)
	f.Issuer = f.Accounts.URL
	f.IdP.SetIssuer(f.Issuer)
	f.writeKeyFile(t)
	return f
}

func googleDefaults(o *GoogleOptions) {
	if o.Users == nil {
		o.Users = []GoogleUser{
			{Email: "alice@example.com", Name: "Alice", HostedDomain: "example.com", Groups: []string{"staff@example.com", "admins@example.com"}},
			{Email: "bob@gmail.com", Name: "Bob"},
			{Email: "admin@example.com", Name: "Admin", HostedDomain: "example.com"},
		}
	}
	if o.Admins == nil {
		o.Admins = []string{"admin@example.com"}
	}
	if o.DelegatedScopes == nil {
		o.DelegatedScopes = []string{"https://www.googleapis.com/auth/admin.directory.group.readonly"}
	}
}

// SignIn makes the account with email the one that signs in.
func (f *Google) SignIn(email string) { f.User.Store(googleUsername(email)) }

// SetUser adds u or replaces the account with the same email.
func (f *Google) SetUser(u GoogleUser) {
	f.gmu.Lock()
	f.users[u.Email] = u
	f.gmu.Unlock()
	if err := f.IdP.SetUser(f.idpUser(u)); err != nil {
		f.t.Errorf("google fake: %v", err)
	}
}

func (f *Google) user(username string) GoogleUser {
	f.gmu.Lock()
	defer f.gmu.Unlock()
	for _, u := range f.users {
		if googleUsername(u.Email) == username {
			return u
		}
	}
	return GoogleUser{}
}

func (f *Google) idpUser(u GoogleUser) devidp.User {
	c := map[string]any{"sub": googleSub(u.Email), "azp": "1234567890-abc.apps.googleusercontent.com"}
	if u.HostedDomain != "" {
		c["hd"] = u.HostedDomain
	}
	return devidp.User{Username: googleUsername(u.Email), Name: u.Name, Email: u.Email, EmailVerified: true, Claims: c}
}

// checkGoogleAuth applies Google's rules on authorize parameter values.
func checkGoogleAuth(q url.Values) string {
	if v := q.Get("access_type"); v != "" && v != "online" && v != "offline" {
		return "access_type " + v
	}
	prompts := strings.Fields(q.Get("prompt"))
	for _, p := range prompts {
		if !slices.Contains([]string{"none", "consent", "select_account"}, p) || (p == "none" && len(prompts) > 1) {
			return "prompt " + q.Get("prompt") + " (Google knows none, consent and select_account)"
		}
	}
	if v := q.Get("include_granted_scopes"); v != "" && v != "true" && v != "false" {
		return "include_granted_scopes " + v
	}
	return ""
}

func (f *Google) discovery(w http.ResponseWriter, _ *http.Request) {
	api := f.APIs.URL
	WriteJSON(w, http.StatusOK, map[string]any{
		"issuer": f.Issuer, "authorization_endpoint": f.Issuer + "/o/oauth2/v2/auth", "device_authorization_endpoint": api + "/device/code",
		"token_endpoint": api + "/token", "userinfo_endpoint": api + "/v1/userinfo", "revocation_endpoint": api + "/revoke", "jwks_uri": api + "/oauth2/v3/certs",
		"response_types_supported": []string{"code", "token", "id_token", "code token", "code id_token", "token id_token", "code token id_token", "none"},
		"response_modes_supported": []string{"query", "fragment", "form_post"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"}, "scopes_supported": []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"claims_supported":                      []string{"aud", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss", "name", "picture", "sub"},
		"code_challenge_methods_supported":      []string{"plain", "S256"},
		"grant_types_supported": []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code",
			"urn:ietf:params:oauth:grant-type:jwt-bearer"},
		"authorization_response_iss_parameter_supported": true,
	})
}

// tokenEndpoint serves both the OpenID client's grants and the service
// account's JWT bearer grant.
func (f *Google) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err == nil && r.PostForm.Get("grant_type") == jwtBearerGrant {
		f.serviceAccountToken(w, r)
		return
	}
	f.token(w, r)
}

func (f *Google) userinfoDoc(g *oidcGrant) map[string]any {
	u := f.user(g.user)
	doc := map[string]any{"sub": googleSub(u.Email)}
	if g.hasScope("profile") {
		doc["name"], doc["picture"] = u.Name, "https://lh3.googleusercontent.com/a/default-user"
	}
	if g.hasScope("email") {
		doc["email"], doc["email_verified"] = u.Email, true
	}
	if u.HostedDomain != "" {
		doc["hd"] = u.HostedDomain
	}
	return doc
}
