package providers

import (
	"cmp"
	"log/slog"
	"net/http"
	"time"
)

// OSDN's documented endpoints. The current-user path is not confirmed by any
// document Gatehouse holds, so it is a setting (OSDNConfig.ProfileURL).
const (
	OSDNAuthURL    = "https://osdn.net/account/oauth2ui/authorize"
	OSDNTokenURL   = "https://osdn.net/api/v0/token"
	OSDNProfileURL = "https://osdn.net/api/v0/user"
)

// OSDNConfig configures the OSDN preset. Empty endpoints take the defaults
// above.
type OSDNConfig struct {
	// ID defaults to "osdn"; DisplayName to "OSDN".
	ID, DisplayName string
	// ClientID and ClientSecret of the app registered on the OSDN account
	// page; both required (OSDN takes them in the token request body).
	ClientID, ClientSecret string
	// Scopes default to "profile".
	Scopes []string
	// AuthURL, TokenURL, ProfileURL override the endpoints.
	AuthURL, TokenURL, ProfileURL string
	// SendRedirectURI sends redirect_uri (OSDN's docs list none: the callback
	// registered with the app is used). Default false.
	SendRedirectURI bool
	// AllowUnverifiedEmail keeps the profile's email, which OSDN does not
	// mark as verified. Default: dropped, the identity is osdn:<id>.
	AllowUnverifiedEmail bool
	// UserPrefix of X-Forwarded-User, default "<ID>:".
	UserPrefix string
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the clock token lifetimes are measured on; default time.Now.
	Now func() time.Time
}

// NewOSDN returns the OSDN provider: secret in the token request body, no
// PKCE, identity keyed by the numeric user id ("osdn:42"), PreferredUsername
// the login name, Name the display name, email optional.
func NewOSDN(c OSDNConfig) (*OAuth2, error) {
	return NewOAuth2(OAuth2Config{
		ID:                   cmp.Or(c.ID, "osdn"),
		Type:                 "osdn",
		DisplayName:          cmp.Or(c.DisplayName, "OSDN"),
		ClientID:             c.ClientID,
		ClientSecret:         c.ClientSecret,
		AuthURL:              cmp.Or(c.AuthURL, OSDNAuthURL),
		TokenURL:             cmp.Or(c.TokenURL, OSDNTokenURL),
		UserinfoURL:          cmp.Or(c.ProfileURL, OSDNProfileURL),
		ClientAuth:           ClientAuthBody,
		PKCE:                 PKCEOff,
		Scopes:               defaultScopes(c.Scopes, "profile"),
		OmitRedirectURI:      !c.SendRedirectURI,
		Claims:               ClaimMapping{Subject: "id", Name: "display_name", Username: "name"},
		UserPrefix:           c.UserPrefix,
		AllowUnverifiedEmail: c.AllowUnverifiedEmail,
		HTTPClient:           c.HTTPClient,
		Logger:               c.Logger,
		Now:                  c.Now,
	})
}

func defaultScopes(s []string, def ...string) []string {
	if len(s) > 0 {
		return s
	}
	return def
}
