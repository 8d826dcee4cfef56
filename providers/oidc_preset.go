package providers

import "context"

// oidcPreset is how a preset (GitLab, Google, Entra ID, Keycloak) extends
// the generic OpenID Connect provider instead of copying it. The zero
// value is plain OIDC.
type oidcPreset struct {
	// typ is Info().Type; displayName the default button text.
	typ, displayName string
	// authParams are added to every authorization request (Google's
	// access_type and hd).
	authParams map[string]string
	// issuerTemplate, when set, is the issuer discovery must announce
	// instead of IssuerURL (Entra ID's multi-tenant
	// "https://login.microsoftonline.com/{tenantid}/v2.0"); checkIssuer
	// then decides which issuer each token may name.
	issuerTemplate string
	// checkIssuer checks iss, the issuer of an ID token with its verified
	// claims, or of an authorization response (claims nil). With
	// issuerTemplate set it replaces the comparison with IssuerURL;
	// otherwise it runs in addition to it.
	checkIssuer func(iss string, claims map[string]any) error
	// userinfoGroups makes userinfo always read and its groups claim the
	// only one (GitLab's ID token carries direct memberships only).
	userinfoGroups bool
	// identity completes or refuses the identity built from the ID token
	// and userinfo. An error wrapping ErrUnauthorized refuses the login,
	// and on refresh ends the session; a rate-limited or unavailable
	// service is transient.
	identity func(ctx context.Context, in presetInput, id *Identity) error
}

// presetInput is what a preset's identity hook reads.
type presetInput struct {
	// claims are the verified ID token's; nil on a refresh that returned
	// no ID token, when the identity is the previous one.
	claims map[string]any
	// userinfo is the userinfo answer when it was read, else nil.
	userinfo map[string]any
	// accessToken is the grant's access token, for the service's API.
	accessToken string
	// refresh is true when the grant is being refreshed.
	refresh bool
}
