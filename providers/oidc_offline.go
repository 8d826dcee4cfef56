package providers

import (
	"slices"
	"sync"
)

// Values of Common.OfflineAccess.
const (
	// OfflineAuto requests offline_access when discovery lists it in
	// scopes_supported (not for Keycloak).
	OfflineAuto = "auto"
	// OfflineAlways always requests offline_access.
	OfflineAlways = "true"
	// OfflineNever never adds offline_access (it is still sent when listed
	// in Scopes).
	OfflineNever = "false"
)

// offlineState is what an OIDC provider knows about refresh tokens.
type offlineState struct {
	// refreshExpected: discovery lists the refresh_token grant, or
	// offline_access is requested; a login without a refresh token is
	// then worth a warning.
	refreshExpected bool
	warnOnce        sync.Once
}

// initOffline adds offline_access to the scopes as Common.OfflineAccess
// says, and decides whether a login should bring a refresh token.
func (o *OIDC) initOffline(extras discoveryExtras) {
	const scope = "offline_access"
	var add bool
	switch o.c.OfflineAccess {
	case OfflineAlways:
		add = true
	case OfflineNever:
	default:
		// Keycloak's offline_access makes offline sessions, which outlive
		// the SSO session: not what a gateway session wants.
		add = slices.Contains(extras.ScopesSupported, scope) && o.preset.typ != "keycloak"
	}
	if add && !slices.Contains(o.c.Scopes, scope) {
		o.c.Scopes = append(slices.Clip(o.c.Scopes), scope)
	}
	o.offline.refreshExpected = slices.Contains(extras.GrantTypes, "refresh_token") || slices.Contains(o.c.Scopes, scope)
}

// checkRefreshToken warns, once per provider, when a login that should
// have brought a refresh token did not: every session then ends when its
// access token expires.
func (o *OIDC) checkRefreshToken(t Tokens) {
	if t.RefreshToken != "" || !o.offline.refreshExpected {
		return
	}
	o.offline.warnOnce.Do(func() {
		o.log.Warn("the provider issues refresh tokens but returned none at login: sessions will end when the access token expires "+
			"(request offline_access with offline_access: true / --oidc-offline-access=true, or allow refresh tokens for this client at the provider; see docs/providers.md)",
			"scopes", o.c.Scopes)
	})
}
