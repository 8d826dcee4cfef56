package providers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// OsuBaseURL is osu!'s site; the OAuth endpoints and API live under it.
const OsuBaseURL = "https://osu.ppy.sh"

// OsuConfig configures the osu! preset.
type OsuConfig struct {
	// Common: ID defaults to "osu", DisplayName to "osu!". ClientID is the
	// numeric id of the OAuth application, ClientSecret its secret; both
	// are required. "identify" is always added to Scopes.
	Common
	// APIBase defaults to OsuBaseURL; AuthURL, TokenURL and UserinfoURL
	// override single endpoints (default APIBase + /oauth/authorize,
	// /oauth/token, /api/v2/me).
	APIBase, AuthURL, TokenURL, UserinfoURL string
	// PKCE is off by default (a confidential client); S256 may be enabled.
	PKCE PKCEMethod
	// RefuseRestricted refuses restricted, bot and deleted accounts.
	RefuseRestricted bool
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
	base := strings.TrimRight(cmp.Or(c.APIBase, OsuBaseURL), "/")
	common := c.Common
	common.ID = cmp.Or(common.ID, "osu")
	common.DisplayName = cmp.Or(common.DisplayName, "osu!")
	common.Scopes = slices.Clone(common.Scopes)
	if !slices.Contains(common.Scopes, "identify") {
		common.Scopes = append([]string{"identify"}, common.Scopes...)
	}
	common.AllowUnverifiedEmail = false // osu! has no email
	o, err := NewOAuth2(OAuth2Config{
		Common:      common,
		Type:        "osu",
		AuthURL:     cmp.Or(c.AuthURL, base+"/oauth/authorize"),
		TokenURL:    cmp.Or(c.TokenURL, base+"/oauth/token"),
		UserinfoURL: cmp.Or(c.UserinfoURL, base+"/api/v2/me"),
		ClientAuth:  ClientAuthBody,
		PKCE:        cmp.Or(c.PKCE, PKCEOff),
		Claims:      ClaimMapping{Subject: "id", Username: "username", Name: "username", Picture: "avatar_url"},
	})
	if err != nil {
		return nil, err
	}
	o.identityHook = func(_ context.Context, doc map[string]any, _ string, id *Identity) error {
		return osuIdentity(doc, id, c.RefuseRestricted)
	}
	return o, nil
}

// osuIdentity completes an osu! identity from the /me document, refusing
// restricted, bot and deleted accounts when refuse is set.
func osuIdentity(doc map[string]any, id *Identity, refuse bool) error {
	if refuse {
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
