package providers

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Quaily's documented bases.
const (
	QuailyAuthURL = "https://quaily.com/oauth/authorize"
	QuailyAPIBase = "https://api.quaily.com"
)

// QuailyConfig configures the Quaily preset.
type QuailyConfig struct {
	// ID defaults to "quaily"; DisplayName to "Quaily".
	ID, DisplayName string
	// ClientID is required. ClientSecret is optional: Quaily apps are public
	// clients using PKCE; a configured secret is sent in the body.
	ClientID, ClientSecret string
	// Scopes default to "user.public".
	Scopes []string
	// AuthURL defaults to QuailyAuthURL; APIBase (token and userinfo) to
	// QuailyAPIBase; TokenURL and UserinfoURL override single endpoints.
	AuthURL, APIBase, TokenURL, UserinfoURL string
	// PKCE is S256 (default) or plain.
	PKCE PKCEMethod
	// AllowUnverifiedEmail keeps an email whose email_verified is not true.
	AllowUnverifiedEmail bool
	// UserPrefix of X-Forwarded-User, default "<ID>:".
	UserPrefix string
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now is the clock token lifetimes are measured on; default time.Now.
	Now func() time.Time
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
	pkce := c.PKCE
	if pkce == "" {
		pkce = PKCES256
	}
	id := cmp.Or(c.ID, "quaily")
	o, err := NewOAuth2(OAuth2Config{
		ID:                   id,
		Type:                 "quaily",
		DisplayName:          cmp.Or(c.DisplayName, "Quaily"),
		ClientID:             c.ClientID,
		ClientSecret:         c.ClientSecret,
		AuthURL:              cmp.Or(c.AuthURL, QuailyAuthURL),
		TokenURL:             cmp.Or(c.TokenURL, base+"/oauth/token"),
		UserinfoURL:          cmp.Or(c.UserinfoURL, base+"/oauth/userinfo"),
		ClientAuth:           auth,
		PKCE:                 pkce,
		Scopes:               defaultScopes(c.Scopes, "user.public"),
		Claims:               ClaimMapping{Subject: "sub"},
		UserPrefix:           c.UserPrefix,
		AllowUnverifiedEmail: c.AllowUnverifiedEmail,
		HTTPClient:           c.HTTPClient,
		Logger:               c.Logger,
		Now:                  c.Now,
	})
	if err != nil {
		return nil, err
	}
	if o.c.PKCE == PKCEOff { // however it was spelled
		return nil, errors.New("quaily: PKCE cannot be off (Quaily apps are public clients)")
	}
	o.identityHook = func(doc map[string]any, id *Identity) error {
		uuid, _ := claimString(doc, "uuid")
		if uuid == "" {
			return nil // keep "quaily:<sub>"
		}
		if err := checkPrintable(uuid); err != nil {
			return badResponse(errors.New("quaily userinfo: bad uuid"))
		}
		id.User = o.userPrefix + uuid
		id.Extra = map[string]string{"uuid": uuid}
		return nil
	}
	return o, nil
}
