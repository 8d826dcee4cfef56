package providers

import "cmp"

// OSDN's documented endpoints. The current-user path is not confirmed by any
// document Gatehouse holds, so it is a setting (OSDNConfig.UserinfoURL).
const (
	OSDNAuthURL     = "https://osdn.net/account/oauth2ui/authorize"
	OSDNTokenURL    = "https://osdn.net/api/v0/token"
	OSDNUserinfoURL = "https://osdn.net/api/v0/user"
)

// OSDNConfig configures the OSDN preset. Empty endpoints take the defaults
// above.
type OSDNConfig struct {
	// Common: ID defaults to "osdn", DisplayName to "OSDN", Scopes to
	// "profile". ClientID and ClientSecret of the app registered on the
	// OSDN account page are both required (OSDN takes them in the token
	// request body). AllowUnverifiedEmail keeps the profile's email, which
	// OSDN does not mark as verified; by default it is dropped and the
	// identity is osdn:<id>.
	Common
	// AuthURL, TokenURL and UserinfoURL override the endpoints.
	AuthURL, TokenURL, UserinfoURL string
	// SendRedirectURI sends redirect_uri (OSDN's docs list none: the callback
	// registered with the app is used). Default false.
	SendRedirectURI bool
}

// NewOSDN returns the OSDN provider: secret in the token request body, no
// PKCE, identity keyed by the numeric user id ("osdn:42"), PreferredUsername
// the login name, Name the display name, email optional.
func NewOSDN(c OSDNConfig) (*OAuth2, error) {
	common := c.Common
	common.ID = cmp.Or(common.ID, "osdn")
	common.DisplayName = cmp.Or(common.DisplayName, "OSDN")
	common.Scopes = defaultScopes(common.Scopes, "profile")
	return NewOAuth2(OAuth2Config{
		Common:          common,
		Type:            "osdn",
		AuthURL:         cmp.Or(c.AuthURL, OSDNAuthURL),
		TokenURL:        cmp.Or(c.TokenURL, OSDNTokenURL),
		UserinfoURL:     cmp.Or(c.UserinfoURL, OSDNUserinfoURL),
		ClientAuth:      ClientAuthBody,
		PKCE:            PKCEOff,
		OmitRedirectURI: !c.SendRedirectURI,
		Claims:          ClaimMapping{Subject: "id", Name: "display_name", Username: "name"},
	})
}
