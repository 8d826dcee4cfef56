package fakes

import (
	"crypto/sha256"
	"encoding/base64"
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

// EntraOptions configure a Microsoft Entra ID fake.
type EntraOptions struct {
	// Callback is the app registration's redirect URI.
	Callback string
	// TenantID is the directory's tenant id; default
	// 72f988bf-86f1-41af-91ab-2d7cd011db47-like fixed GUID.
	TenantID string
	// Users default to alice@contoso.com (groups Admins and Staff, app role
	// Gatehouse.Admin, one directory role), bob@contoso.com (250 groups:
	// more than fit in a token) and carol@fabrikam.com (another tenant).
	Users []EntraUser
	// Groups maps group object ids to display names (Graph answers);
	// groups not listed are named after their id.
	Groups map[string]string
	// GroupLimit is how many groups fit in an ID token before the group
	// overage claim replaces them (default 200, as for JWTs).
	GroupLimit int
	// HasGroups signals overage with hasgroups: true (the implicit flow's
	// indicator) instead of _claim_names/_claim_sources.
	HasGroups bool
	// NoGroupsClaim is an app registration without groupMembershipClaims:
	// no groups claim at all.
	NoGroupsClaim bool
}

// EntraUser is a user of some Entra tenant.
type EntraUser struct {
	// UPN is the user principal name (preferred_username).
	UPN, Name, Email string
	// ObjectID is the oid; default derived from the UPN.
	ObjectID string
	// TenantID is the user's home tenant; default the fake's.
	TenantID string
	// Groups are the object ids of the groups the user is a member of,
	// directly or transitively.
	Groups []string
	// DirectoryRoles are object ids of directory roles the user holds
	// (transitiveMemberOf lists them too, but they are not groups).
	DirectoryRoles []string
	// Roles are app roles assigned to the user (the roles claim).
	Roles []string
}

// Well-known ids of the default Entra directory.
const (
	EntraTenant      = "9188040d-6c67-4c5b-b112-36a304b66dad"
	EntraOtherTenant = "3c1d6a0e-4b9c-4f8e-9d2a-1f0e5c7b8a90"
	EntraAdminsGroup = "0a3e3f2c-1b1d-4c6e-8a2f-9b7c5d4e3f21"
	EntraStaffGroup  = "6f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	entraClientID    = "6731de76-14a6-49ae-97bc-6eba6914391e"
)

// Entra imitates the Microsoft identity platform (v2.0 endpoints) for
// one directory and Microsoft Graph's calls a login makes:
//
//   - /{tenant}/v2.0/.well-known/openid-configuration and
//     /{tenant}/oauth2/v2.0/{authorize,token}, /{tenant}/discovery/v2.0/keys
//     for the tenant id, "organizations" and "common" (whose discovery
//     issuer is the literal https://…/{tenantid}/v2.0 template, tokens
//     then naming the user's tenant in iss and tid); other tenants are
//     AADSTS90002, and a user from another tenant cannot sign in at the
//     single-tenant endpoint (AADSTS50020);
//   - a refresh token only with the offline_access scope; refresh
//     answers carry one (the old one staying valid); no RFC 9207 iss;
//   - ID tokens with oid, tid, ver 2.0, pairwise sub, roles and groups,
//     or the group overage claim (_claim_names/_claim_sources, or
//     hasgroups) beyond GroupLimit groups;
//   - Graph (a separate server): /oidc/userinfo, /v1.0/me and
//     /v1.0/me/transitiveMemberOf[/microsoft.graph.group] with $select,
//     $top (default 100, at most 999), @odata.nextLink paging, group
//     properties hidden without a group permission, and 429 throttling.
type Entra struct {
	*oidcFront
	// Login serves login.microsoftonline.com; Graph serves
	// graph.microsoft.com. BaseURL is Login's URL (the "instance").
	Login, Graph *httptest.Server
	BaseURL      string
	// TenantID is the directory's tenant id.
	TenantID string
	// MaxPageSize caps Graph's page size (default 999); tests lower it to
	// force paging.
	MaxPageSize atomic.Int64
	// Throttle answers the next Graph requests 429 TooManyRequests (with
	// Retry-After).
	Throttle Throttle

	opts  EntraOptions
	emu2  sync.Mutex
	users map[string]EntraUser // by UPN
}

// entraDefaults fills in the default directory.
func entraDefaults(o *EntraOptions) {
	if o.TenantID == "" {
		o.TenantID = EntraTenant
	}
	if o.GroupLimit == 0 {
		o.GroupLimit = 200
	}
	if o.Groups == nil {
		o.Groups = map[string]string{EntraAdminsGroup: "Admins", EntraStaffGroup: "Staff"}
	}
	if o.Users == nil {
		many := make([]string, 250)
		for i := range many {
			many[i] = entraGUID(fmt.Sprint("group-", i))
		}
		o.Users = []EntraUser{
			{UPN: "alice@contoso.com", Name: "Alice", Email: "alice@contoso.com", Groups: []string{EntraAdminsGroup, EntraStaffGroup},
				DirectoryRoles: []string{entraGUID("role-reader")}, Roles: []string{"Gatehouse.Admin"}},
			{UPN: "bob@contoso.com", Name: "Bob", Email: "bob@contoso.com", Groups: many},
			{UPN: "carol@fabrikam.com", Name: "Carol", Email: "carol@fabrikam.com", TenantID: EntraOtherTenant},
		}
	}
}

// entraGUID is a stable GUID-shaped id for s.
func entraGUID(s string) string {
	h := fmt.Sprintf("%x", sha256.Sum256([]byte(s)))
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// NewEntra starts an Entra ID fake (see EntraOptions).
func NewEntra(t testing.TB, o EntraOptions) *Entra {
	t.Helper()
	entraDefaults(&o)
	f := &Entra{opts: o, TenantID: o.TenantID, users: map[string]EntraUser{}}
	f.MaxPageSize.Store(999)
	spec := oidcSpec{name: "entra", issuerPath: "/" + o.TenantID + "/v2.0", accessTTL: time.Hour, mutate: func(c map[string]any) { delete(c, "email_verified") }, echoRefresh: true, tokenParams: []string{"scope"},
		authParams: []string{"response_mode", "prompt", "login_hint", "domain_hint"},
		checkAuth: func(q url.Values) string {
			if m := q.Get("response_mode"); m != "" && m != "query" {
				return "response_mode " + m + " (the callback takes a query)"
			}
			if p := q.Get("prompt"); p != "" && !slices.Contains([]string{"login", "none", "consent", "select_account"}, p) {
				return "prompt " + p
			}
			return ""
		},
		scopeOK: func(s string) bool {
			return !strings.Contains(s, "://") || strings.HasPrefix(s, "https://graph.microsoft.com/")
		},
		offline: func(q url.Values) bool { return slices.Contains(strings.Fields(q.Get("scope")), "offline_access") },
		tokenResponse: func(resp map[string]any, _ *oidcGrant) {
			resp["ext_expires_in"] = resp["expires_in"]
		}}
	var idpUsers []devidp.User
	for _, u := range o.Users {
		u = f.complete(u)
		f.users[u.UPN] = u
		idpUsers = append(idpUsers, devidp.User{Username: googleUsername(u.UPN)}) // claims once the servers run
	}
	f.oidcFront = newOIDCFront(t, spec, entraClientID, "entra~secret", o.Callback, idpUsers)
	login, graph := http.NewServeMux(), http.NewServeMux()
	f.handle(login, "", "GET /{tenant}/v2.0/.well-known/openid-configuration", f.tenant(f.discovery))
	f.handle(login, "", "GET /{tenant}/oauth2/v2.0/authorize", f.tenant(f.authorizeTenant))
	f.handle(login, "", "POST /{tenant}/oauth2/v2.0/token", f.tenant(f.token))
	f.handle(login, "", "GET /{tenant}/oauth2/v2.0/logout", f.tenant(f.endSession))
	f.handle(login, "", "GET /{tenant}/discovery/v2.0/keys", f.tenant(func(w http.ResponseWriter, r *http.Request) { f.jwks(w, r) }))
	f.routeGraph(graph)
	f.Login, f.Graph = f.serve(login), f.serve(graph)
	f.BaseURL = f.Login.URL
	f.IdP.SetIssuer(f.issuerOf(o.TenantID))
	for _, u := range f.users {
		if err := f.IdP.SetUser(f.idpUser(u)); err != nil {
			t.Fatalf("entra fake: %v", err)
		}
	}
	return f
}

// SignIn makes the user with upn the one that signs in.
func (f *Entra) SignIn(upn string) { f.User.Store(googleUsername(upn)) }

// SetUser adds u or replaces the user with the same UPN (new groups or
// roles show in the next token and Graph answer).
func (f *Entra) SetUser(u EntraUser) {
	u = f.complete(u)
	f.emu2.Lock()
	f.users[u.UPN] = u
	f.emu2.Unlock()
	if err := f.IdP.SetUser(f.idpUser(u)); err != nil {
		f.t.Errorf("entra fake: %v", err)
	}
}

func (f *Entra) complete(u EntraUser) EntraUser {
	if u.ObjectID == "" {
		u.ObjectID = entraGUID("oid:" + u.UPN)
	}
	if u.TenantID == "" {
		u.TenantID = f.opts.TenantID
	}
	return u
}

// userByName finds the user of an IdP username.
func (f *Entra) userByName(username string) EntraUser {
	f.emu2.Lock()
	defer f.emu2.Unlock()
	for _, u := range f.users {
		if googleUsername(u.UPN) == username {
			return u
		}
	}
	return EntraUser{}
}

func (f *Entra) issuerOf(tenant string) string { return f.Login.URL + "/" + tenant + "/v2.0" }

// pairwiseSub is the user's sub as the app sees it (pairwise).
func pairwiseSub(u EntraUser) string {
	sum := sha256.Sum256([]byte(u.ObjectID + entraClientID))
	return base64.RawURLEncoding.EncodeToString(sum[:32])
}

// idpUser is u as the ID token shows it.
func (f *Entra) idpUser(u EntraUser) devidp.User {
	c := map[string]any{"oid": u.ObjectID, "tid": u.TenantID, "ver": "2.0", "preferred_username": u.UPN, "iss": f.issuerOf(u.TenantID),
		"sub": pairwiseSub(u)}
	if len(u.Roles) > 0 {
		c["roles"] = slices.Clone(u.Roles)
	}
	switch {
	case f.opts.NoGroupsClaim || len(u.Groups) == 0:
	case len(u.Groups) <= f.opts.GroupLimit:
		c["groups"] = slices.Clone(u.Groups)
	case f.opts.HasGroups:
		c["hasgroups"] = true
	default:
		c["_claim_names"] = map[string]any{"groups": "src1"}
		c["_claim_sources"] = map[string]any{"src1": map[string]any{"endpoint": fmt.Sprintf("%s/%s/users/%s/getMemberObjects", f.Graph.URL, u.TenantID, u.ObjectID)}}
	}
	return devidp.User{Username: googleUsername(u.UPN), Name: u.Name, Email: u.Email, EmailVerified: false, Claims: c}
}

// tenant wraps a login endpoint: the {tenant} segment must be the
// directory's id, "organizations" or "common".
func (f *Entra) tenant(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if t := r.PathValue("tenant"); t != f.opts.TenantID && t != "organizations" && t != "common" {
			WriteJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_tenant", "error_codes": []int{90002},
				"error_description": fmt.Sprintf("AADSTS90002: Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", t)})
			return
		}
		h(w, r)
	}
}

// authorizeTenant refuses, with Microsoft's error page, a user of another
// tenant signing in at the single-tenant endpoint.
func (f *Entra) authorizeTenant(w http.ResponseWriter, r *http.Request) {
	u := f.userByName(f.User.Load().(string))
	if r.PathValue("tenant") == f.opts.TenantID && u.TenantID != f.opts.TenantID {
		http.Error(w, fmt.Sprintf("AADSTS50020: User account '%s' from identity provider 'https://sts.windows.net/%s/' does not exist in tenant '%s' and cannot access the application.",
			u.UPN, u.TenantID, f.opts.TenantID), http.StatusBadRequest)
		return
	}
	f.authorize(w, r)
}

func (f *Entra) discovery(w http.ResponseWriter, r *http.Request) {
	t := r.PathValue("tenant")
	issuer := f.issuerOf(t)
	if t != f.opts.TenantID {
		issuer = f.Login.URL + "/{tenantid}/v2.0"
	}
	base := f.Login.URL + "/" + t
	WriteJSON(w, http.StatusOK, map[string]any{
		"token_endpoint": base + "/oauth2/v2.0/token", "token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri": base + "/discovery/v2.0/keys", "response_modes_supported": []string{"query", "fragment", "form_post"},
		"subject_types_supported": []string{"pairwise"}, "id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported": []string{"code", "id_token", "code id_token", "id_token token"}, "scopes_supported": []string{"openid", "profile", "email", "offline_access"},
		"issuer": issuer, "request_uri_parameter_supported": false, "userinfo_endpoint": f.Graph.URL + "/oidc/userinfo",
		"authorization_endpoint": base + "/oauth2/v2.0/authorize", "device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
		"http_logout_supported": true, "frontchannel_logout_supported": true, "end_session_endpoint": base + "/oauth2/v2.0/logout",
		"claims_supported": []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat",
			"auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"cloud_instance_name": "microsoftonline.com", "cloud_graph_host_name": "graph.windows.net", "msgraph_host": "graph.microsoft.com", "rbac_url": "https://pas.windows.net",
	})
}
