package providers

import (
	"cmp"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Common holds the settings every provider shares. Each provider's
// configuration embeds it, and the presets (OSDN, Quaily, osu!) hand it
// whole to the generic OAuth2 provider they are built on.
type Common struct {
	// ID identifies the provider in URLs (?provider=ID), sessions and
	// authorization rules; each constructor defaults it to the type.
	ID string
	// DisplayName is the sign-in button's text; each constructor has a
	// default.
	DisplayName string
	// ClientID and ClientSecret are the client registered with the
	// provider; whether the secret is required depends on the provider.
	ClientID, ClientSecret string
	// Scopes are requested at login; each provider has a default.
	Scopes []string
	// UserPrefix prefixes Subject in Identity.User (X-Forwarded-User) for
	// providers without a global namespace; default ID + ":". "-" means no
	// prefix. OIDC and Mastodon do not use it.
	UserPrefix string
	// AllowUnverifiedEmail keeps an email the provider does not vouch for
	// (Identity.EmailVerified stays false). By default it is dropped.
	AllowUnverifiedEmail bool
	// HTTPClient makes every request to the provider; nil means a client
	// with a 30 s timeout.
	HTTPClient *http.Client
	// Logger receives diagnostics, never tokens; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock token lifetimes and ID-token expiry are measured on;
	// nil means time.Now.
	Now func() time.Time
	// OfflineAccess says whether OpenID Connect providers (and the presets
	// built on them) add the offline_access scope, which many providers
	// (Dex, Entra ID, Okta...) require before they issue a refresh token:
	// OfflineAuto (or "") when discovery lists it in scopes_supported
	// (never for Keycloak, where it asks for a different kind of session),
	// OfflineAlways, OfflineNever. Other providers ignore it.
	OfflineAccess string
	// Revalidate re-checks sessions' access tokens (OIDC, OAuth2 and the
	// presets built on it; Mastodon has its own ValidateEvery); the zero
	// value never does.
	Revalidate Revalidation
}

// withDefaults returns c with an empty ID, DisplayName, HTTPClient, Logger
// and Now filled in.
func (c Common) withDefaults(id, displayName string) Common {
	c.ID = cmp.Or(c.ID, id)
	c.DisplayName = cmp.Or(c.DisplayName, displayName)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// userPrefix is the prefix of Identity.User: UserPrefix, its default, or
// nothing for "-".
func (c Common) userPrefix() string {
	switch c.UserPrefix {
	case "":
		return c.ID + ":"
	case "-":
		return ""
	}
	return c.UserPrefix
}

// ClientAuth is how a client authenticates to the token endpoint.
type ClientAuth string

// Client authentication methods.
const (
	// ClientAuthBody sends client_id and client_secret as form fields.
	ClientAuthBody ClientAuth = "body"
	// ClientAuthBasic sends them as HTTP Basic credentials, each
	// form-urlencoded first (RFC 6749 §2.3.1).
	ClientAuthBasic ClientAuth = "basic"
	// ClientAuthNone sends only client_id: a public client.
	ClientAuthNone ClientAuth = "none"
)

// ParseClientAuth reads a client_auth setting: body, basic or none, in any
// case and with surrounding spaces; "" means the provider's default.
func ParseClientAuth(s string) (ClientAuth, error) {
	switch a := ClientAuth(strings.ToLower(strings.TrimSpace(s))); a {
	case "", ClientAuthBody, ClientAuthBasic, ClientAuthNone:
		return a, nil
	}
	return "", errors.New("must be body, basic or none")
}

// PKCEMethod is the PKCE code-challenge method (RFC 7636) used, if any.
type PKCEMethod string

// PKCE methods.
const (
	PKCES256  PKCEMethod = "S256"
	PKCEPlain PKCEMethod = "plain"
	PKCEOff   PKCEMethod = "off"
)

// ParsePKCEMethod reads a pkce setting: S256, plain or off (also written
// none or false), in any case; "" means the provider's default.
func ParsePKCEMethod(s string) (PKCEMethod, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return "", nil
	case "s256":
		return PKCES256, nil
	case "plain":
		return PKCEPlain, nil
	case "off", "none", "false":
		return PKCEOff, nil
	}
	return "", errors.New("must be S256, plain or off")
}

// reservedAuthParams carry a login's own values (CSRF state, PKCE, nonce,
// the client and callback): configured authorize parameters may not
// replace them.
var reservedAuthParams = []string{
	"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method",
}

// IsReservedAuthParam reports whether name (in any case) is an authorize
// parameter Gatehouse sets itself for every login.
func IsReservedAuthParam(name string) bool {
	return slices.Contains(reservedAuthParams, strings.ToLower(name))
}

func defaultScopes(s []string, def ...string) []string {
	if len(s) > 0 {
		return s
	}
	return def
}
