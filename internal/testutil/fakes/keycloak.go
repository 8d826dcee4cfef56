package fakes

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/go-jose/go-jose/v4"
)

// KeycloakOptions configure a Keycloak fake.
type KeycloakOptions struct {
	// Callback is the client's valid redirect URI.
	Callback string
	// Realm defaults to "acme".
	Realm string
	// PathPrefix is "" (Keycloak 17 and later) or "/auth" (older).
	PathPrefix string
	// Users default to alice (realm role admin, client role
	// gatehouse:operator, groups /staff and /staff/admins) and bob (no
	// roles, group /contractors).
	Users []KeycloakUser
	// ShortGroupNames turns the group mapper's "Full group path" off:
	// groups are then "admins", not "/staff/admins".
	ShortGroupNames bool
	// NoGroupsMapper leaves the groups claim out everywhere.
	NoGroupsMapper bool
	// RolesInIDToken and RolesInUserinfo turn on "Add to ID token" and
	// "Add to userinfo" of the realm-roles and client-roles mappers. By
	// default (Keycloak 19 and later) realm_access and resource_access
	// are only in the access token, which is a signed JWT.
	RolesInIDToken, RolesInUserinfo bool
}

// KeycloakUser is a realm user.
type KeycloakUser struct {
	Username, Name, Email string
	// RealmRoles are added to the realm's default roles (default-roles-
	// <realm>, offline_access, uma_authorization).
	RealmRoles []string
	// ClientRoles by client id (the account client's default roles are
	// always there).
	ClientRoles map[string][]string
	// Groups are full group paths ("/staff/admins").
	Groups []string
}

// Keycloak imitates a Keycloak realm as an OpenID provider: issuer
// <base>[/auth]/realms/<realm>, endpoints under
// /protocol/openid-connect/ (auth, token, userinfo, certs), RFC 9207 iss
// in authorization responses, a refresh response that always carries a
// refresh token (the old one staying valid, as with "Revoke Refresh
// Token" off), access tokens that are JWTs signed by a published realm
// key and carry realm_access.roles and resource_access.<client>.roles,
// and the groups mapper's groups claim.
type Keycloak struct {
	*oidcFront
	// Server serves Keycloak; BaseURL is its URL; Issuer is the realm's
	// issuer (what a provider's issuer_url is set to).
	Server          *httptest.Server
	BaseURL, Issuer string

	opts    KeycloakOptions
	key     *rsa.PrivateKey
	kid     string
	signer  jose.Signer
	kcmu    sync.Mutex // serializes token requests (pending)
	pending *kcPending
	umu     sync.Mutex
	users   map[string]KeycloakUser
}

type kcPending struct {
	grant oidcGrant
	jwt   string
}

var keycloakScopes = []string{"openid", "profile", "email", "roles", "web-origins", "offline_access", "microprofile-jwt", "phone", "address", "acr", "basic", "organization"}

// NewKeycloak starts a Keycloak fake (see KeycloakOptions).
func NewKeycloak(t testing.TB, o KeycloakOptions) *Keycloak {
	t.Helper()
	if o.Realm == "" {
		o.Realm = "acme"
	}
	if o.Users == nil {
		o.Users = []KeycloakUser{
			{Username: "alice", Name: "Alice Admin", Email: "alice@example.com", RealmRoles: []string{"admin"},
				ClientRoles: map[string][]string{"gatehouse": {"operator"}}, Groups: []string{"/staff", "/staff/admins"}},
			{Username: "bob", Name: "Bob", Email: "bob@example.com", Groups: []string{"/contractors"}},
		}
	}
	f := &Keycloak{opts: o, users: map[string]KeycloakUser{}}
	f.key, _ = rsa.GenerateKey(rand.Reader, 2048)
	f.kid = "kc-" + RandomToken()[:12]
	f.signer, _ = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: f.key, KeyID: f.kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	issuerPath := o.PathPrefix + "/realms/" + o.Realm
	var idpUsers []devidp.User
	for _, u := range o.Users {
		f.users[u.Username] = u
		idpUsers = append(idpUsers, f.idpUser(u))
	}
	spec := oidcSpec{name: "keycloak", issuerPath: issuerPath, sendIss: true, echoRefresh: true, accessTTL: 5 * time.Minute,
		authParams: []string{"prompt", "login_hint", "max_age", "ui_locales", "kc_idp_hint", "acr_values", "response_mode"},
		checkAuth: func(q url.Values) string {
			if m := q.Get("response_mode"); m != "" && m != "query" {
				return "response_mode " + m
			}
			return ""
		},
		scopeOK: func(s string) bool { return slices.Contains(keycloakScopes, s) },
		mutate:  f.idTokenClaims, tokenResponse: f.shapeToken}
	f.oidcFront = newOIDCFront(t, spec, "gatehouse", "kc-secret", o.Callback, idpUsers)
	mux := http.NewServeMux()
	oc := issuerPath + "/protocol/openid-connect"
	f.handle(mux, issuerPath, "GET /.well-known/openid-configuration", f.discovery)
	f.handle(mux, oc, "GET /auth", f.authorize)
	f.handle(mux, oc, "POST /token", f.tokenEndpoint)
	f.handle(mux, oc, "GET /logout", f.endSession)
	f.handle(mux, oc, "GET /userinfo", func(w http.ResponseWriter, r *http.Request) { f.userinfoWith(w, r, f.userinfoDoc) })
	f.handle(mux, oc, "GET /certs", func(w http.ResponseWriter, r *http.Request) {
		f.jwks(w, r, jose.JSONWebKey{Key: &f.key.PublicKey, KeyID: f.kid, Algorithm: "RS256", Use: "sig"})
	})
	f.Server = f.serve(mux)
	f.BaseURL, f.Issuer = f.Server.URL, f.Server.URL+issuerPath
	f.IdP.SetIssuer(f.Issuer)
	return f
}

// SetUser adds u or replaces the user with the same username; the next
// token or userinfo answer reflects it.
func (f *Keycloak) SetUser(u KeycloakUser) {
	f.umu.Lock()
	f.users[u.Username] = u
	f.umu.Unlock()
	if err := f.IdP.SetUser(f.idpUser(u)); err != nil {
		f.t.Errorf("keycloak fake: %v", err)
	}
}

func (f *Keycloak) user(name string) KeycloakUser {
	f.umu.Lock()
	defer f.umu.Unlock()
	return f.users[name]
}

// kcSubject is a stable UUID-shaped user id, as Keycloak's.
func kcSubject(username string) string {
	s := fmt.Sprintf("%x", sha256.Sum256([]byte("keycloak:"+username)))
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// roleClaims are realm_access and resource_access for u.
func (f *Keycloak) roleClaims(u KeycloakUser) map[string]any {
	realm := append(slices.Clone(u.RealmRoles), "default-roles-"+f.opts.Realm, "offline_access", "uma_authorization")
	resource := map[string]any{"account": map[string]any{"roles": []string{"manage-account", "manage-account-links", "view-profile"}}}
	for client, roles := range u.ClientRoles {
		resource[client] = map[string]any{"roles": roles}
	}
	return map[string]any{"realm_access": map[string]any{"roles": realm}, "resource_access": resource}
}

// groups is the groups mapper's claim for u (nil without the mapper).
func (f *Keycloak) groups(u KeycloakUser) []string {
	if f.opts.NoGroupsMapper {
		return nil
	}
	out := []string{}
	for _, g := range u.Groups {
		if f.opts.ShortGroupNames {
			g = path.Base(g)
		}
		out = append(out, g)
	}
	return out
}

// idpUser is u as the ID token shows it.
func (f *Keycloak) idpUser(u KeycloakUser) devidp.User {
	c := map[string]any{"sub": kcSubject(u.Username), "typ": "ID", "azp": "gatehouse"}
	if g := f.groups(u); g != nil {
		c["groups"] = g
	}
	if f.opts.RolesInIDToken {
		for k, v := range f.roleClaims(u) {
			c[k] = v
		}
	}
	return devidp.User{Username: u.Username, Name: u.Name, Email: u.Email, EmailVerified: true, Claims: c}
}

func (f *Keycloak) discovery(w http.ResponseWriter, _ *http.Request) {
	oc := f.Issuer + "/protocol/openid-connect"
	WriteJSON(w, http.StatusOK, map[string]any{
		"issuer": f.Issuer, "authorization_endpoint": oc + "/auth", "token_endpoint": oc + "/token", "introspection_endpoint": oc + "/token/introspect",
		"userinfo_endpoint": oc + "/userinfo", "end_session_endpoint": oc + "/logout", "jwks_uri": oc + "/certs", "check_session_iframe": oc + "/login-status-iframe.html",
		"grant_types_supported":    []string{"authorization_code", "implicit", "refresh_token", "password", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"},
		"response_types_supported": []string{"code", "none", "id_token", "token", "id_token token", "code id_token", "code token", "code id_token token"},
		"response_modes_supported": []string{"query", "fragment", "form_post", "query.jwt", "fragment.jwt", "form_post.jwt", "jwt"},
		"subject_types_supported":  []string{"public", "pairwise"}, "id_token_signing_alg_values_supported": []string{"PS384", "RS384", "EdDSA", "ES384", "HS256", "HS512", "ES256", "RS256", "HS384", "ES512", "PS256", "PS512", "RS512"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt", "client_secret_basic", "client_secret_post", "tls_client_auth", "client_secret_jwt"},
		"scopes_supported":                      keycloakScopes, "code_challenge_methods_supported": []string{"plain", "S256"},
		"authorization_response_iss_parameter_supported": true, "claims_parameter_supported": true, "request_parameter_supported": true,
	})
}

// tokenEndpoint answers token requests one at a time, so that the
// access token minted while the IdP signs the ID token (whose at_hash
// covers it) is the one the answer carries.
func (f *Keycloak) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	f.kcmu.Lock()
	defer f.kcmu.Unlock()
	f.pending = nil
	if r.ParseForm() == nil {
		if g, ok := f.requestGrant(r.PostForm); ok {
			f.pending = &kcPending{grant: g}
		}
	}
	f.token(w, r)
	f.pending = nil
}

// idTokenClaims runs while the IdP signs an ID token: it mints the JWT
// access token that goes with it and points at_hash at that token.
func (f *Keycloak) idTokenClaims(claims map[string]any) {
	p := f.pending
	if p == nil {
		return
	}
	u := f.user(p.grant.user)
	iat := claimUnix(claims["iat"])
	at := map[string]any{"exp": iat + 300, "iat": iat, "auth_time": claims["auth_time"], "jti": kcSubject(RandomToken()), "iss": claims["iss"],
		"aud": "account", "sub": claims["sub"], "typ": "Bearer", "azp": "gatehouse", "acr": "1", "allowed-origins": []string{},
		"scope": strings.Join(p.grant.scopes, " "), "email_verified": true, "name": u.Name, "preferred_username": u.Username}
	for k, v := range f.roleClaims(u) {
		at[k] = v
	}
	if slices.Contains(p.grant.scopes, "email") {
		at["email"] = u.Email
	}
	if g := f.groups(u); g != nil {
		at["groups"] = g
	}
	payload, _ := json.Marshal(at)
	jws, err := f.signer.Sign(payload)
	if err != nil {
		f.t.Errorf("keycloak fake: sign access token: %v", err)
		return
	}
	p.jwt, _ = jws.CompactSerialize()
	sum := sha256.Sum256([]byte(p.jwt))
	claims["at_hash"] = base64.RawURLEncoding.EncodeToString(sum[:16])
}

// shapeToken gives a token answer Keycloak's shape: the JWT access token
// and Keycloak's extra fields.
func (f *Keycloak) shapeToken(resp map[string]any, _ *oidcGrant) {
	if f.pending != nil && f.pending.jwt != "" {
		resp["access_token"] = f.pending.jwt
	}
	resp["refresh_expires_in"] = 1800
	resp["not-before-policy"] = 0
	resp["session_state"] = kcSubject(RandomToken())
}

func (f *Keycloak) userinfoDoc(g *oidcGrant) map[string]any {
	u := f.user(g.user)
	doc := map[string]any{"sub": kcSubject(u.Username), "email_verified": true, "name": u.Name, "preferred_username": u.Username}
	if g.hasScope("email") {
		doc["email"] = u.Email
	}
	if gr := f.groups(u); gr != nil {
		doc["groups"] = gr
	}
	if f.opts.RolesInUserinfo {
		for k, v := range f.roleClaims(u) {
			doc[k] = v
		}
	}
	return doc
}

// claimUnix reads a NumericDate claim, however the claims were decoded.
func claimUnix(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	}
	return time.Now().Unix()
}
