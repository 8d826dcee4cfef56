package fakes

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The Microsoft Graph half of the Entra fake.

const graphPrefix = "https://graph.microsoft.com/"

// graphScopes returns g's Microsoft Graph permissions ("User.Read"…),
// whichever way they were asked for.
func graphScopes(g *oidcGrant) []string {
	var out []string
	for _, s := range g.scopes {
		s = strings.TrimPrefix(s, graphPrefix)
		if !slices.Contains([]string{"openid", "profile", "email", "offline_access"}, s) {
			out = append(out, s)
		}
	}
	return out
}

// graphError writes Microsoft Graph's error document.
func graphError(w http.ResponseWriter, status int, code, msg string) {
	WriteJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]string{"request-id": RandomToken(), "client-request-id": RandomToken()}}})
}

func (f *Entra) routeGraph(mux *http.ServeMux) {
	f.handle(mux, "", "GET /oidc/userinfo", func(w http.ResponseWriter, r *http.Request) { f.userinfoWith(w, r, f.userinfoDoc) })
	f.handle(mux, "", "GET /v1.0/me", f.me)
	f.handle(mux, "", "GET /v1.0/me/transitiveMemberOf", func(w http.ResponseWriter, r *http.Request) { f.transitiveMemberOf(w, r, false) })
	f.handle(mux, "", "GET /v1.0/me/transitiveMemberOf/microsoft.graph.group", func(w http.ResponseWriter, r *http.Request) { f.transitiveMemberOf(w, r, true) })
}

func (f *Entra) userinfoDoc(g *oidcGrant) map[string]any {
	u := f.userByName(g.user)
	doc := map[string]any{"sub": pairwiseSub(u), "name": u.Name, "family_name": nil, "given_name": nil, "picture": f.Graph.URL + "/v1.0/me/photo/$value"}
	if g.hasScope("email") {
		doc["email"] = u.Email
	}
	return doc
}

// graphAuth authenticates a Graph request: a live token from the fake's
// token endpoint that was issued for Graph (it names a Graph permission)
// and carries one of perms.
func (f *Entra) graphAuth(w http.ResponseWriter, r *http.Request, perms ...string) (EntraUser, *oidcGrant, bool) {
	if status, retry, throttled := f.Throttle.take(); throttled {
		setRetryAfter(w, retry)
		graphError(w, status, "TooManyRequests", "Too many requests.")
		return EntraUser{}, nil, false
	}
	if r.Header.Get("Authorization") == "" {
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return EntraUser{}, nil, false
	}
	g, ok := f.bearerGrant(r)
	switch {
	case !ok:
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "IDX14100: JWT is not well formed, there are no dots (.).")
		return EntraUser{}, nil, false
	case len(graphScopes(g)) == 0:
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
		return EntraUser{}, nil, false
	case !slices.ContainsFunc(graphScopes(g), func(s string) bool { return slices.Contains(perms, s) }):
		graphError(w, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return EntraUser{}, nil, false
	}
	return f.userByName(g.user), g, true
}

var fullGroupPerms = []string{"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All", "Directory.ReadWrite.All", "Group.ReadWrite.All"}

func (f *Entra) me(w http.ResponseWriter, r *http.Request) {
	if !f.graphQuery(w, r, "$select") {
		return
	}
	u, _, ok := f.graphAuth(w, r, "User.Read", "User.ReadWrite", "User.Read.All", "Directory.Read.All")
	if !ok {
		return
	}
	WriteJSON(w, http.StatusOK, selectFields(r, map[string]any{"@odata.context": f.Graph.URL + "/v1.0/$metadata#users/$entity",
		"id": u.ObjectID, "displayName": u.Name, "userPrincipalName": u.UPN, "mail": u.Email}))
}

// graphQuery refuses query options other than allowed.
func (f *Entra) graphQuery(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	for k, v := range r.URL.Query() {
		if !slices.Contains(allowed, k) || len(v) != 1 {
			f.violation(w, r, "query option %q (not imitated, or repeated)", k)
			return false
		}
	}
	return true
}

// selectFields applies $select to an object (@odata.* always stay).
func selectFields(r *http.Request, obj map[string]any) map[string]any {
	sel := r.URL.Query().Get("$select")
	if sel == "" {
		return obj
	}
	fields := strings.Split(sel, ",")
	out := map[string]any{}
	for k, v := range obj {
		if strings.HasPrefix(k, "@odata.") || slices.Contains(fields, k) {
			out[k] = v
		}
	}
	return out
}

// transitiveMemberOf is GET /me/transitiveMemberOf (groups and directory
// roles) or its microsoft.graph.group cast (groups only).
func (f *Entra) transitiveMemberOf(w http.ResponseWriter, r *http.Request, groupsOnly bool) {
	if !f.graphQuery(w, r, "$select", "$top", "$skiptoken", "$count") {
		return
	}
	u, g, ok := f.graphAuth(w, r, append([]string{"User.Read", "User.Read.All"}, fullGroupPerms...)...)
	if !ok {
		return
	}
	q := r.URL.Query()
	if q.Has("$count") && r.Header.Get("ConsistencyLevel") != "eventual" {
		graphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "$count is only supported with the ConsistencyLevel:eventual header.")
		return
	}
	top, err := strconv.Atoi(cmp.Or(q.Get("$top"), "100"))
	if err != nil || top < 1 || top > 999 {
		graphError(w, http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", q.Get("$top")))
		return
	}
	offset := 0
	if st := q.Get("$skiptoken"); st != "" {
		b, err := base64.RawURLEncoding.DecodeString(st)
		n, ok := strings.CutPrefix(string(b), "offset:")
		if offset, _ = strconv.Atoi(n); err != nil || !ok || offset < 0 {
			graphError(w, http.StatusBadRequest, "Directory_InvalidSkipToken", "The specified page token value has expired and can no longer be included in your request.")
			return
		}
	}
	objs := f.memberObjects(u, slices.ContainsFunc(graphScopes(g), func(s string) bool { return slices.Contains(fullGroupPerms, s) }), groupsOnly)
	size := min(top, int(f.MaxPageSize.Load()))
	end := min(offset+size, len(objs))
	page := []map[string]any{}
	for _, o := range objs[min(offset, end):end] {
		page = append(page, selectFields(r, o))
	}
	doc := map[string]any{"@odata.context": f.Graph.URL + "/v1.0/$metadata#directoryObjects", "value": page}
	if groupsOnly {
		doc["@odata.context"] = f.Graph.URL + "/v1.0/$metadata#groups"
	}
	if q.Has("$count") {
		doc["@odata.count"] = len(objs)
	}
	if end < len(objs) {
		next := f.Graph.URL + r.URL.Path + "?"
		for _, k := range []string{"$select", "$top", "$count"} {
			if q.Has(k) {
				next += k + "=" + q.Get(k) + "&"
			}
		}
		doc["@odata.nextLink"] = next + "$skiptoken=" + base64.RawURLEncoding.EncodeToString([]byte("offset:"+strconv.Itoa(end)))
	}
	WriteJSON(w, http.StatusOK, doc)
}

// memberObjects are u's groups (then directory roles unless groupsOnly)
// as Graph lists them; without a group permission only @odata.type and id
// are filled in.
func (f *Entra) memberObjects(u EntraUser, full, groupsOnly bool) []map[string]any {
	var out []map[string]any
	for _, id := range u.Groups {
		o := map[string]any{"@odata.type": "#microsoft.graph.group", "id": id, "displayName": nil, "securityEnabled": nil, "mailEnabled": nil, "groupTypes": nil}
		if full {
			o["displayName"], o["securityEnabled"], o["mailEnabled"], o["groupTypes"] = cmp.Or(f.opts.Groups[id], id), true, false, []string{}
		}
		out = append(out, o)
	}
	if groupsOnly {
		return out
	}
	for _, id := range u.DirectoryRoles {
		o := map[string]any{"@odata.type": "#microsoft.graph.directoryRole", "id": id, "displayName": nil, "roleTemplateId": nil}
		if full {
			o["displayName"], o["roleTemplateId"] = "Directory Readers", "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
		}
		out = append(out, o)
	}
	return out
}
