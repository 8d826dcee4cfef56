// Package providers turns an identity provider's OAuth2 / OpenID Connect
// endpoints into one small interface: build an authorization URL, redeem a
// code, refresh a grant. It does no HTTP routing of its own.
package providers

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Provider is one configured identity provider.
//
// Implementations are safe for concurrent use. Every method that talks to the
// provider honours ctx's cancellation and deadline.
type Provider interface {
	// Info describes the provider for the sign-in page and the session.
	Info() Info

	// AuthCodeURL returns the URL the browser is sent to in order to log in.
	// p carries the per-flow secrets (state, nonce, PKCE verifier) that the
	// caller keeps until the callback, and, for providers that need one,
	// the instance the user asked for.
	AuthCodeURL(ctx context.Context, p AuthParams) (string, error)

	// Redeem exchanges an authorization code for a grant. p is the same
	// value that was given to AuthCodeURL for this flow. Implementations
	// verify everything they can (ID-token signature, issuer, audience,
	// expiry, nonce) before returning; a returned Grant is trusted.
	Redeem(ctx context.Context, code string, p AuthParams) (Grant, error)

	// Refresh renews g with its refresh token. It returns ErrInvalidGrant
	// (wrapped) when the provider rejected the refresh token, meaning the
	// session must end, and ErrNoRefreshToken when g cannot be refreshed.
	// Any other error is transient (provider unreachable, 5xx).
	Refresh(ctx context.Context, g Grant) (Grant, error)
}

// Info describes a configured provider.
type Info struct {
	// ID is the provider's configured identifier, unique in one Gatehouse
	// (e.g. "oidc", "osu", "corp-sso"). It is used in URLs (?provider=ID),
	// in sessions and in authorization rules.
	ID string
	// Type is the implementation, e.g. "oidc", "oauth2", "osu", "mastodon".
	Type string
	// DisplayName is shown on the sign-in button ("Sign in with ...").
	DisplayName string
	// NeedsInstance is true for providers where the user names the server to
	// log in with (Mastodon): the sign-in page asks for it and passes it to
	// /oauth2/start as ?instance=.
	NeedsInstance bool
}

// AuthParams are the per-login values a flow carries from /oauth2/start to
// /oauth2/callback.
type AuthParams struct {
	// State is the anti-CSRF value echoed back by the provider.
	State string
	// Nonce binds an ID token to this flow (OpenID Connect only).
	Nonce string
	// CodeVerifier is the PKCE verifier (RFC 7636); the challenge is derived
	// from it by the provider according to its PKCE setting.
	CodeVerifier string
	// RedirectURL is the absolute callback URL registered with the provider.
	RedirectURL string
	// Instance is the server the user chose, for providers whose
	// Info().NeedsInstance is true; empty otherwise. Providers normalise and
	// validate it in AuthCodeURL and must re-validate it in Redeem.
	Instance string
	// Reauthenticate asks the provider to let the user choose or re-enter
	// the account instead of reusing its own session ("use another
	// account"): OpenID Connect providers send prompt=login; providers
	// without such a parameter ignore it.
	Reauthenticate bool
}

// Grant is what a successful login or refresh yields: who the user is and
// the tokens that prove it.
type Grant struct {
	Identity Identity
	Tokens   Tokens
}

// Tokens are the OAuth2 tokens of a grant.
type Tokens struct {
	AccessToken  string `json:"at,omitempty"`
	TokenType    string `json:"tt,omitempty"`
	RefreshToken string `json:"rt,omitempty"`
	IDToken      string `json:"it,omitempty"`
	// Expiry is when AccessToken expires; zero means it does not expire
	// (or the provider did not say).
	Expiry time.Time `json:"exp,omitzero"`
	// Scope is the scope the provider says it granted, nil when it did not
	// say. Extra holds the token response's other fields (Quaily's expiry,
	// Mastodon's created_at, ...). Both describe the response a Redeem or
	// Refresh just read: sessions do not keep them, so they cannot grow
	// the session cookie.
	Scope []string       `json:"-"`
	Extra map[string]any `json:"-"`
}

// Identity is the authenticated user as the provider described them.
type Identity struct {
	// Subject is the provider's stable key for the user (OIDC "sub", an
	// osu! user id, a Mastodon account id). Never empty in a trusted grant.
	Subject string `json:"sub"`
	// User is the value sent upstream as X-Forwarded-User: the OIDC subject,
	// or a provider-qualified name for providers without a global namespace
	// ("osu:123", "alice@mastodon.example").
	User string `json:"user"`
	// Email is empty when the provider gave none or it is not verified.
	Email string `json:"email,omitempty"`
	// EmailVerified reports whether the provider vouched for Email.
	EmailVerified bool `json:"email_verified,omitempty"`
	// Name is the display name.
	Name string `json:"name,omitempty"`
	// PreferredUsername is the display handle (X-Forwarded-Preferred-Username).
	PreferredUsername string `json:"preferred_username,omitempty"`
	// Groups are the groups or roles the provider reports, if any.
	Groups []string `json:"groups,omitempty"`
	// Picture is an avatar URL, if any.
	Picture string `json:"picture,omitempty"`
	// Issuer names who vouched for the identity: the OIDC issuer, or the
	// Mastodon instance host.
	Issuer string `json:"iss,omitempty"`
	// Extra holds provider-specific attributes that rules and headers may
	// use (e.g. "uuid" for Quaily, "acct" for Mastodon).
	Extra map[string]string `json:"extra,omitempty"`
	// SessionID is the provider's session the login belongs to (the OIDC
	// ID token's sid claim), which back-channel logout tokens name; empty
	// when the provider gave none. It is kept across refreshes.
	SessionID string `json:"sid,omitempty"`
}

// SignOutURLer is implemented by providers that can end the user's session
// at the provider too (OIDC RP-initiated logout).
type SignOutURLer interface {
	// SignOutURL returns the provider's logout URL for g, sending the browser
	// back to postLogoutRedirect afterwards; "" when not configured.
	SignOutURL(g Grant, postLogoutRedirect string) string
}

// ResponseIssuerChecker is implemented by providers that know which issuer
// must have sent an authorization response (RFC 9207), which defeats mix-up
// attacks when several providers share one callback.
type ResponseIssuerChecker interface {
	// CheckResponseIssuer returns an error wrapping ErrIssuerMismatch when
	// the callback's iss parameter (present reports whether there was one)
	// names another issuer, or is missing although the provider promised
	// to send it. It applies to error responses too.
	CheckResponseIssuer(iss string, present bool) error
}

// Validator is implemented by providers whose tokens do not expire but can be
// revoked (Mastodon): the session periodically asks whether g is still good.
type Validator interface {
	// ValidateEvery is how often a grant should be re-checked; 0 disables.
	ValidateEvery() time.Duration
	// Validate returns ErrInvalidGrant (wrapped) when g was revoked, another
	// error when the check itself failed.
	Validate(ctx context.Context, g Grant) error
}

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrInvalidGrant means the provider rejected a code or refresh token:
	// the login or session cannot continue.
	ErrInvalidGrant = errors.New("provider rejected the grant")
	// ErrNoRefreshToken means the grant has no refresh token.
	ErrNoRefreshToken = errors.New("grant has no refresh token")
	// ErrUnauthorized means the identity is valid but not allowed by the
	// provider's own restrictions (e.g. unverified email, restricted account).
	ErrUnauthorized = errors.New("identity not allowed")
	// ErrIssuerMismatch means an authorization response came from another
	// issuer than the one the login was started with (RFC 9207).
	ErrIssuerMismatch = errors.New("authorization response from another issuer")
)

// Error is a provider failure with a message that is safe to show the user.
// Err is the underlying cause for logs; it never contains secrets.
type Error struct {
	// Code is a short machine-readable code, e.g. "access_denied",
	// "provider_unavailable", "invalid_client", "bad_response".
	Code string
	// Message is a sentence for the error page, without internals.
	Message string
	// Err is the cause, for logs and errors.Is.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }
