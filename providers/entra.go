package providers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// Microsoft's global cloud: the identity platform's login host and
// Microsoft Graph.
const (
	EntraLoginURL = "https://login.microsoftonline.com"
	EntraGraphURL = "https://graph.microsoft.com"
)

// Entra ID's multi-tenant endpoints.
const (
	EntraOrganizations = "organizations" // work and school accounts of any tenant
	EntraCommon        = "common"        // the same, plus personal accounts
)

// EntraConfig configures the Microsoft Entra ID preset.
type EntraConfig struct {
	// Common: ID defaults to "entra", DisplayName to "Microsoft";
	// ClientID is the app registration's Application (client) ID and
	// ClientSecret a client secret's value; Scopes default to openid,
	// profile, email, offline_access and User.Read (a Graph permission,
	// so the access token can read group memberships on overage).
	// AllowUnverifiedEmail keeps the email claim of multi-tenant logins
	// that Microsoft does not mark as domain-verified (xms_edov).
	Common
	// TenantID is the Directory (tenant) ID (a GUID), or organizations or
	// common for a multi-tenant app. Required.
	TenantID string
	// AllowedTenants are the tenant ids admitted with organizations or
	// common; "*" admits every tenant. Required there, refused otherwise.
	AllowedTenants []string
	// BaseURL is the login host; default EntraLoginURL (national clouds
	// have their own).
	BaseURL string
	// GraphURL is Microsoft Graph's root; default EntraGraphURL.
	GraphURL string
	// UserClaim is OIDCConfig.UserClaim (default sub, which Entra makes
	// different for every app; "oid" for the user's object id,
	// "preferred_username" for the UPN).
	UserClaim string
}

var guidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// ParseEntraTenant reads a tenant_id: a GUID, organizations or common (in
// any case); multi reports a multi-tenant endpoint.
func ParseEntraTenant(s string) (tenant string, multi bool, err error) {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == EntraOrganizations || s == EntraCommon:
		return s, true, nil
	case guidPattern.MatchString(s):
		return s, false, nil
	case s == "consumers":
		return "", false, errors.New(`"consumers" (personal Microsoft accounts only) is not supported; use common`)
	}
	return "", false, fmt.Errorf("%q is not a tenant id: use the Directory (tenant) ID, a GUID from the app registration's Overview, or organizations / common", s)
}

// ParseEntraAllowedTenant reads an allowed_tenants entry: a GUID or "*".
func ParseEntraAllowedTenant(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s != "*" && !guidPattern.MatchString(s) {
		return "", fmt.Errorf("%q is not a tenant id (a GUID) or '*'", s)
	}
	return s, nil
}

// NewEntra returns the Microsoft Entra ID provider: OpenID Connect on the
// v2.0 endpoints of the tenant (for organizations and common, every
// token's issuer must be the template's with the token's own tid, which
// must be allowed); groups from the groups claim (object ids), or on group
// overage from Microsoft Graph's /me/transitiveMemberOf; app roles as
// "role:<name>"; tid and oid in Identity.Extra.
func NewEntra(ctx context.Context, c EntraConfig) (*OIDC, error) {
	tenant, multi, err := ParseEntraTenant(c.TenantID)
	if err != nil {
		return nil, fmt.Errorf("entra: tenant_id: %w", err)
	}
	h := &entraHook{tenant: tenant, multi: multi, allowUnverified: c.AllowUnverifiedEmail,
		base: strings.TrimRight(cmp.Or(c.BaseURL, EntraLoginURL), "/")}
	for _, t := range c.AllowedTenants {
		t, err := ParseEntraAllowedTenant(t)
		if err != nil {
			return nil, fmt.Errorf("entra: allowed_tenants: %w", err)
		}
		h.allowed = append(h.allowed, t)
	}
	if multi != (len(h.allowed) > 0) {
		return nil, errors.New("entra: allowed_tenants is required with tenant_id organizations or common (\"*\" admits every tenant), and only there")
	}
	preset := oidcPreset{typ: "entra", displayName: "Microsoft"}
	if multi {
		preset.issuerTemplate, preset.checkIssuer = h.base+"/{tenantid}/v2.0", h.checkIssuer
	}
	common := c.Common
	common.Scopes = defaultScopes(common.Scopes, "openid", "profile", "email", "offline_access", "User.Read")
	o, err := newOIDC(ctx, OIDCConfig{Common: common, IssuerURL: h.base + "/" + tenant + "/v2.0", UserClaim: c.UserClaim, GroupsClaim: "groups"}, preset)
	if err != nil {
		return nil, err
	}
	h.graph, err = newAPIClient("Microsoft Graph", cmp.Or(c.GraphURL, EntraGraphURL), o.c.HTTPClient, o.c.Now,
		http.Header{"Accept": {"application/json"}, "User-Agent": {"Gatehouse"}})
	if err != nil {
		return nil, fmt.Errorf("provider %q: %w", o.c.ID, err)
	}
	o.preset.identity = h.identity
	return o, nil
}

// entraHook checks tenants and maps groups and roles.
type entraHook struct {
	tenant          string // GUID, organizations or common
	multi           bool
	allowed         []string // tenant ids, or "*"
	allowUnverified bool
	base            string
	graph           apiClient
}

// checkIssuer: a multi-tenant token's iss must be the template with a
// tenant id filled in, and that tenant must be the token's tid.
func (h *entraHook) checkIssuer(iss string, claims map[string]any) error {
	tid, ok := strings.CutPrefix(iss, h.base+"/")
	tid, ok2 := strings.CutSuffix(tid, "/v2.0")
	if !ok || !ok2 || !guidPattern.MatchString(tid) {
		return fmt.Errorf("issuer %q is not %s/<tenant id>/v2.0", truncate(iss, 200), h.base)
	}
	if claims != nil {
		if t, _ := claimString(claims, "tid"); t != tid {
			return fmt.Errorf("issuer %q does not name the token's tenant %q", truncate(iss, 200), truncate(t, 64))
		}
	}
	return nil
}

func (h *entraHook) identity(ctx context.Context, in presetInput, id *Identity) error {
	if in.claims == nil {
		return nil // a refresh without an ID token keeps the login's
	}
	tid, _ := claimString(in.claims, "tid")
	oid, _ := claimString(in.claims, "oid")
	switch {
	case !h.multi && tid != h.tenant:
		return untrusted(fmt.Errorf("entra: token of tenant %q, want %s", truncate(tid, 64), h.tenant))
	case h.multi && !slices.Contains(h.allowed, "*") && !slices.Contains(h.allowed, tid):
		return notAllowed("Your Microsoft organisation is not allowed to sign in here.", fmt.Errorf("entra: tenant %s is not in allowed_tenants", tid))
	}
	id.Extra = maps.Clone(id.Extra)
	if id.Extra == nil {
		id.Extra = map[string]string{}
	}
	id.Extra["tid"] = tid
	if oid != "" && checkPrintable(oid) == nil {
		id.Extra["oid"] = oid
	}
	// In a multi-tenant app any tenant's administrator sets email claims:
	// only a domain Microsoft verified for the tenant counts.
	if verified, _ := claimBool(in.claims, "xms_edov"); h.multi && !verified && !h.allowUnverified {
		id.Email, id.EmailVerified = "", false
	}
	if entraOverage(in.claims) {
		groups, err := h.transitiveGroups(ctx, in.accessToken)
		if err != nil {
			return err
		}
		id.Groups = groups
	}
	for _, r := range claimStrings(in.claims, "roles") {
		id.Groups = append(id.Groups, "role:"+r)
	}
	return nil
}

// entraOverage reports whether the token says the user has more groups
// than it can carry.
func entraOverage(claims map[string]any) bool {
	names, _ := claims["_claim_names"].(map[string]any)
	_, overage := names["groups"]
	has, _ := claimBool(claims, "hasgroups")
	return overage || has
}
