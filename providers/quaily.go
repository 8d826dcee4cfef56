package providers

import (
	"cmp"
	"context"
	"errors"
	"strings"
)

// Quaily's documented bases.
const (
	QuailyAuthURL = "https://quaily.com/oauth/authorize"
	QuailyAPIBase = "https://api.quaily.com"
)

// QuailyConfig configures the Quaily preset.
type QuailyConfig struct {
	// Common: ID defaults to "quaily", DisplayName to "Quaily", Scopes to
	// "user.public". ClientID is required. ClientSecret is optional:
	// Quaily apps are public clients using PKCE; a configured secret is
	// sent in the body. AllowUnverifiedEmail keeps an email whose
	// email_verified is not true.
	Common
	// AuthURL defaults to QuailyAuthURL; APIBase (token and userinfo) to
	// QuailyAPIBase; TokenURL and UserinfoURL override single endpoints.
	AuthURL, APIBase, TokenURL, UserinfoURL string
	// PKCE is S256 (default) or plain.
	PKCE PKCEMethod
}

// NewQuaily returns the Quaily provider: a public client with PKCE, token
// and userinfo on the API base, raw JSON responses ({"data":...} wrapped
// errors understood). Subject is the pairwise "sub"; the user's global
// "uuid" is Extra["uuid"] and makes X-Forwarded-User "quaily:<uuid>".
func NewQuaily(c QuailyConfig) (*OAuth2, error) {
	base := strings.TrimRight(cmp.Or(c.APIBase, QuailyAPIBase), "/")
	auth := ClientAuthNone
	if c.ClientSecret != "" {
		auth = ClientAuthBody
	}
	common := c.Common
	common.ID = cmp.Or(common.ID, "quaily")
	common.DisplayName = cmp.Or(common.DisplayName, "Quaily")
	common.Scopes = defaultScopes(common.Scopes, "user.public")
	o, err := NewOAuth2(OAuth2Config{
		Common:      common,
		Type:        "quaily",
		AuthURL:     cmp.Or(c.AuthURL, QuailyAuthURL),
		TokenURL:    cmp.Or(c.TokenURL, base+"/oauth/token"),
		UserinfoURL: cmp.Or(c.UserinfoURL, base+"/oauth/userinfo"),
		ClientAuth:  auth,
		PKCE:        c.PKCE, // default S256
		Claims:      ClaimMapping{Subject: "sub"},
	})
	if err != nil {
		return nil, err
	}
	if o.c.PKCE == PKCEOff { // however it was spelled
		return nil, errors.New("quaily: PKCE cannot be off (Quaily apps are public clients)")
	}
	o.identityHook = func(_ context.Context, doc map[string]any, _ string, id *Identity) error {
		uuid, _ := claimString(doc, "uuid")
		if uuid == "" {
			return nil // keep "quaily:<sub>"
		}
		if err := checkPrintable(uuid); err != nil {
			return badResponse(errors.New("quaily userinfo: bad uuid"))
		}
		id.User = o.c.userPrefix() + uuid
		id.Extra = map[string]string{"uuid": uuid}
		return nil
	}
	return o, nil
}
