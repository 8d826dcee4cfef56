package providers

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// OsuBaseURL is osu!'s site; the OAuth endpoints and API live under it.
const OsuBaseURL = "https://osu.ppy.sh"

// OsuConfig configures the osu! preset.
type OsuConfig struct {
	// ID defaults to "osu"; DisplayName to "osu!".
	ID, DisplayName string
	// ClientID is the numeric id of the OAuth application; ClientSecret its
	// secret. Both required.
	ClientID, ClientSecret string
	// Scopes requested; "identify" is always added.
	Scopes []string
	// BaseURL defaults to OsuBaseURL; AuthURL, TokenURL and MeURL override
	// single endpoints (default BaseURL + /oauth/authorize, /oauth/token,
	// /api/v2/me).
	BaseURL, AuthURL, TokenURL, MeURL string
	// PKCE is off by default (a confidential client); S256 may be enabled.
	PKCE PKCEMethod
	// RefuseRestricted refuses restricted, bot and deleted accounts.
	RefuseRestricted bool
	// UserPrefix of X-Forwarded-User, default "<ID>:".
	UserPrefix string
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the clock token lifetimes are measured on; default time.Now.
	Now func() time.Time
}

// NewOsu returns the osu! provider: identity is the numeric user id
// ("osu:123") with the username as PreferredUsername, groups from the user's
// osu! groups (identifier, e.g. "gmt"), country code in Extra["country"].
// osu! never gives an email. Refresh tokens rotate: every Refresh returns
// the new one.
func NewOsu(c OsuConfig) (*OAuth2, error) {
	if c.ClientID == "" || strings.Trim(c.ClientID, "0123456789") != "" {
		return nil, fmt.Errorf("osu: client_id %q must be the numeric id of the OAuth application", c.ClientID)
	}
	base := strings.TrimRight(cmp.Or(c.BaseURL, OsuBaseURL), "/")
	scopes := slices.Clone(c.Scopes)
	if !slices.Contains(scopes, "identify") {
		scopes = append([]string{"identify"}, scopes...)
	}
	o, err := NewOAuth2(OAuth2Config{
		ID:           cmp.Or(c.ID, "osu"),
		Type:         "osu",
		DisplayName:  cmp.Or(c.DisplayName, "osu!"),
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		AuthURL:      cmp.Or(c.AuthURL, base+"/oauth/authorize"),
		TokenURL:     cmp.Or(c.TokenURL, base+"/oauth/token"),
		UserinfoURL:  cmp.Or(c.MeURL, base+"/api/v2/me"),
		ClientAuth:   ClientAuthBody,
		PKCE:         cmp.Or(c.PKCE, PKCEOff),
		Scopes:       scopes,
		Claims:       ClaimMapping{Subject: "id", Username: "username", Name: "username", Picture: "avatar_url"},
		UserPrefix:   c.UserPrefix,
		HTTPClient:   c.HTTPClient,
		Logger:       c.Logger,
		Now:          c.Now,
	})
	if err != nil {
		return nil, err
	}
	o.identityHook = func(doc map[string]any, id *Identity) error {
		if c.RefuseRestricted {
			for _, flag := range []string{"is_restricted", "is_bot", "is_deleted"} {
				if v, _ := claimBool(doc, flag); v {
					return &Error{
						Code:    CodeAccountNotAllowed,
						Message: "This osu! account cannot sign in here (restricted, bot or deleted).",
						Err:     fmt.Errorf("osu user %s: %s: %w", id.Subject, flag, ErrUnauthorized),
					}
				}
			}
		}
		id.Groups = slices.DeleteFunc(claimStrings(doc, "groups", "identifier", "short_name"), func(g string) bool { return checkPrintable(g) != nil })
		if cc, ok := claimString(doc, "country_code"); ok && cc != "" && checkPrintable(cc) == nil {
			id.Extra = map[string]string{"country": cc}
		}
		if id.PreferredUsername == "" {
			return badResponse(errors.New("osu /me: no username"))
		}
		return nil
	}
	return o, nil
}
