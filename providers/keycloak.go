package providers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

// KeycloakConfig configures the Keycloak preset.
type KeycloakConfig struct {
	// Common: ID defaults to "keycloak", DisplayName to "Keycloak";
	// ClientID and ClientSecret are the realm's confidential OpenID
	// Connect client; Scopes default to openid, email and profile.
	Common
	// IssuerURL is the realm's issuer:
	// https://sso.example.com/realms/<realm> (before Keycloak 17,
	// .../auth/realms/<realm>). Required.
	IssuerURL string
	// UserClaim is OIDCConfig.UserClaim (default sub, the user's id).
	UserClaim string
}

// NewKeycloak returns the Keycloak provider: OpenID Connect against the
// realm, the groups mapper's "groups" claim as groups (as Keycloak writes
// them: full paths like /staff/admins, or bare names), and the user's realm
// roles as "role:<name>" and client roles as "<client>:role:<name>". Roles
// are read from the ID token or userinfo when mappers put them there, else
// from the access token (where Keycloak 19 and later keep them by
// default), which is then verified as a JWT against the realm's keys.
func NewKeycloak(ctx context.Context, c KeycloakConfig) (*OIDC, error) {
	if c.IssuerURL != "" && !strings.Contains(c.IssuerURL, "/realms/") {
		return nil, fmt.Errorf("keycloak: issuer_url %q is not a realm's issuer (https://<host>/realms/<realm>)", redactURL(c.IssuerURL))
	}
	o, err := newOIDC(ctx, OIDCConfig{Common: c.Common, IssuerURL: c.IssuerURL, UserClaim: c.UserClaim, GroupsClaim: "groups"},
		oidcPreset{typ: "keycloak", displayName: "Keycloak"})
	if err != nil {
		return nil, err
	}
	k := keycloakRoles{clientID: o.c.ClientID, verifier: o.provider.Verifier(&oidc.Config{SkipClientIDCheck: true, Now: o.c.Now})}
	o.preset.identity = k.identity
	return o, nil
}

// keycloakRoles maps Keycloak's roles to groups.
type keycloakRoles struct {
	clientID string
	// verifier checks access tokens: realm signature, issuer, expiry
	// (their audience is not Gatehouse).
	verifier *oidc.IDTokenVerifier
}

// identity adds the roles to the groups claim's groups.
func (k keycloakRoles) identity(ctx context.Context, in presetInput, id *Identity) error {
	if in.claims == nil { // refresh without an ID token: the roles again
		id.Groups = slices.DeleteFunc(id.Groups, isKeycloakRole)
	}
	src := in.claims
	if !hasKeycloakRoles(src) {
		src = in.userinfo
	}
	if !hasKeycloakRoles(src) {
		var err error
		if src, err = k.accessTokenClaims(ctx, in.accessToken, id.Subject); err != nil {
			return err
		}
	}
	id.Groups = append(id.Groups, keycloakRoleGroups(src)...)
	return nil
}

// isKeycloakRole reports whether g is a group this preset made of a role.
func isKeycloakRole(g string) bool {
	return strings.HasPrefix(g, "role:") || strings.Contains(g, ":role:")
}

func hasKeycloakRoles(doc map[string]any) bool {
	_, realm := doc["realm_access"]
	_, resource := doc["resource_access"]
	return realm || resource
}

// accessTokenClaims verifies a JWT access token and returns its claims;
// nil when the token is not a JWT (a lightweight or opaque token: no
// roles then).
func (k keycloakRoles) accessTokenClaims(ctx context.Context, token, subject string) (map[string]any, error) {
	if strings.Count(token, ".") != 2 {
		return nil, nil
	}
	t, err := k.verifier.Verify(ctx, token)
	if err != nil {
		return nil, untrusted(fmt.Errorf("keycloak access token: %w", err))
	}
	var claims map[string]any
	if err := t.Claims(&claims); err != nil {
		return nil, untrusted(fmt.Errorf("keycloak access token claims: %w", err))
	}
	if azp, _ := claims["azp"].(string); azp != k.clientID {
		return nil, untrusted(fmt.Errorf("keycloak access token: azp %q is not this client", truncate(azp, 100)))
	}
	if t.Subject != subject {
		return nil, untrusted(errors.New("keycloak access token: another subject than the ID token's"))
	}
	return claims, nil
}

// keycloakRoleGroups are realm_access.roles as "role:<name>", then each
// client's resource_access.<client>.roles as "<client>:role:<name>".
func keycloakRoleGroups(doc map[string]any) []string {
	var out []string
	for _, r := range claimStrings(doc, "realm_access.roles") {
		out = append(out, "role:"+r)
	}
	resource, _ := doc["resource_access"].(map[string]any)
	for _, client := range slices.Sorted(maps.Keys(resource)) {
		entry, _ := resource[client].(map[string]any)
		for _, r := range claimStrings(entry, "roles") {
			out = append(out, client+":role:"+r)
		}
	}
	return out
}
