package providers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"golang.org/x/oauth2"
)

// OAuth2Config configures a generic OAuth2 provider. Zero values are safe
// defaults where a default exists.
type OAuth2Config struct {
	// Common: ID is required; DisplayName defaults to ID; ClientID is
	// required, ClientSecret too unless ClientAuth is none; UserPrefix
	// defaults to ID + ":".
	Common
	// Type is Info().Type; default "oauth2". Presets set their own.
	Type string
	// AuthURL, TokenURL and UserinfoURL are the provider's endpoints; all
	// required, absolute http(s) URLs.
	AuthURL, TokenURL, UserinfoURL string
	// ClientAuth is body, basic or none; default body.
	ClientAuth ClientAuth
	// PKCE is S256, plain or off; default S256.
	PKCE PKCEMethod
	// ScopeSeparator joins Scopes in the authorize URL; default " ". No
	// scope parameter is sent when Scopes is empty.
	ScopeSeparator string
	// AuthParams are extra authorize query parameters. They may not replace
	// the parameters Gatehouse sets itself (see IsReservedAuthParam).
	AuthParams map[string]string
	// OmitRedirectURI leaves redirect_uri out of the authorize and token
	// requests, for providers that use the registered callback (OSDN).
	OmitRedirectURI bool
	// UserinfoEnvelope is a dotted path unwrapped from the userinfo response
	// before claims are read, e.g. "data".
	UserinfoEnvelope string
	// Claims maps the userinfo document to an Identity.
	Claims ClaimMapping
}

// OAuth2 is a generic OAuth2 authorization-code provider whose identity comes
// from a userinfo endpoint. It is safe for concurrent use.
type OAuth2 struct {
	c     OAuth2Config // with defaults filled in
	token tokenClient
	// fetchUserinfo, when set, replaces the GET of UserinfoURL (GitHub's
	// API wants its own headers and has rate limits).
	fetchUserinfo func(ctx context.Context, accessToken string) (map[string]any, error)
	// identityHook lets presets adjust or refuse an identity from the raw
	// userinfo document; with accessToken it may ask the service's API
	// more. An error wrapping ErrUnauthorized refuses the login, and ends
	// the session on refresh.
	identityHook func(ctx context.Context, doc map[string]any, accessToken string, id *Identity) error
}

var _ Provider = (*OAuth2)(nil)

// NewOAuth2 validates c and returns the provider.
func NewOAuth2(c OAuth2Config) (*OAuth2, error) {
	if c.ID == "" {
		return nil, errors.New("oauth2 provider: id is required")
	}
	c.Common = c.withDefaults(c.ID, c.ID)
	c.Type = cmp.Or(c.Type, "oauth2")
	if c.ClientID == "" {
		return nil, fmt.Errorf("provider %q: client_id is required", c.ID)
	}
	auth, err := ParseClientAuth(string(c.ClientAuth))
	if err != nil {
		return nil, fmt.Errorf("provider %q: client_auth %q: %w", c.ID, c.ClientAuth, err)
	}
	c.ClientAuth = cmp.Or(auth, ClientAuthBody)
	if c.ClientAuth != ClientAuthNone && c.ClientSecret == "" {
		return nil, fmt.Errorf("provider %q: client_secret is required with client_auth %s (use client_auth: none for a public client)", c.ID, c.ClientAuth)
	}
	pkce, err := ParsePKCEMethod(string(c.PKCE))
	if err != nil {
		return nil, fmt.Errorf("provider %q: pkce %q: %w", c.ID, c.PKCE, err)
	}
	c.PKCE = cmp.Or(pkce, PKCES256)
	for name, u := range map[string]string{"auth_url": c.AuthURL, "token_url": c.TokenURL, "userinfo_url": c.UserinfoURL} {
		if err := checkEndpoint(u); err != nil {
			return nil, fmt.Errorf("provider %q: %s: %w", c.ID, name, err)
		}
	}
	for k := range c.AuthParams {
		if IsReservedAuthParam(k) {
			return nil, fmt.Errorf("provider %q: auth_params may not set %q", c.ID, k)
		}
	}
	c.ScopeSeparator = cmp.Or(c.ScopeSeparator, " ")
	return &OAuth2{c: c, token: tokenClient{
		url: c.TokenURL, auth: c.ClientAuth, clientID: c.ClientID, clientSecret: c.ClientSecret, http: c.HTTPClient, now: c.Now,
	}}, nil
}

// Info implements Provider.
func (o *OAuth2) Info() Info { return Info{ID: o.c.ID, Type: o.c.Type, DisplayName: o.c.DisplayName} }

// AuthCodeURL implements Provider.
func (o *OAuth2) AuthCodeURL(_ context.Context, p AuthParams) (string, error) {
	if p.State == "" {
		return "", errors.New("oauth2: empty state")
	}
	cfg := oauth2.Config{ClientID: o.c.ClientID, Endpoint: oauth2.Endpoint{AuthURL: o.c.AuthURL}}
	if !o.c.OmitRedirectURI {
		cfg.RedirectURL = p.RedirectURL
	}
	var opts []oauth2.AuthCodeOption
	if len(o.c.Scopes) > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("scope", strings.Join(o.c.Scopes, o.c.ScopeSeparator)))
	}
	pkce, err := pkceOptions(o.c.PKCE, p.CodeVerifier)
	if err != nil {
		return "", err
	}
	opts = append(opts, pkce...)
	for _, k := range slices.Sorted(maps.Keys(o.c.AuthParams)) {
		opts = append(opts, oauth2.SetAuthURLParam(k, o.c.AuthParams[k]))
	}
	return cfg.AuthCodeURL(p.State, opts...), nil
}

// pkceOptions returns the authorize parameters for method and verifier.
func pkceOptions(method PKCEMethod, verifier string) ([]oauth2.AuthCodeOption, error) {
	if method == PKCEOff {
		return nil, nil
	}
	if !ValidCodeVerifier(verifier) {
		return nil, errors.New("oauth2: PKCE enabled but no valid code verifier")
	}
	if method == PKCEPlain {
		return []oauth2.AuthCodeOption{
			oauth2.SetAuthURLParam("code_challenge", verifier),
			oauth2.SetAuthURLParam("code_challenge_method", "plain"),
		}, nil
	}
	return []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, nil
}

// Redeem implements Provider.
func (o *OAuth2) Redeem(ctx context.Context, code string, p AuthParams) (Grant, error) {
	if code == "" {
		return Grant{}, &Error{Code: CodeInvalidGrant, Message: "The provider sent no authorization code. Please try again.", Err: ErrInvalidGrant}
	}
	redirect, verifier := p.RedirectURL, p.CodeVerifier
	if o.c.OmitRedirectURI {
		redirect = ""
	}
	if o.c.PKCE == PKCEOff {
		verifier = ""
	}
	tokens, err := o.token.redeem(ctx, code, redirect, verifier)
	if err != nil {
		return Grant{}, o.tokenFailed(ctx, err)
	}
	id, err := o.identity(ctx, tokens.AccessToken)
	if err != nil {
		return Grant{}, err
	}
	return Grant{Identity: id, Tokens: tokens}, nil
}

// Refresh implements Provider. The identity is read again, so changes (a
// renamed or restricted account) take effect; a different subject is refused.
func (o *OAuth2) Refresh(ctx context.Context, g Grant) (Grant, error) {
	if g.Tokens.RefreshToken == "" {
		return Grant{}, ErrNoRefreshToken
	}
	tokens, err := o.token.refresh(ctx, g.Tokens.RefreshToken)
	if err != nil {
		return Grant{}, o.tokenFailed(ctx, err)
	}
	if tokens.RefreshToken == "" {
		tokens.RefreshToken = g.Tokens.RefreshToken // not rotated
	}
	id, err := o.identity(ctx, tokens.AccessToken)
	if errors.Is(err, ErrUnauthorized) {
		// The account is no longer allowed (e.g. restricted): end the session.
		return Grant{}, fmt.Errorf("%w: %w", ErrInvalidGrant, err)
	}
	if err != nil {
		return Grant{}, err
	}
	if id.Subject != g.Identity.Subject {
		return Grant{}, fmt.Errorf("%s: refreshed token belongs to another subject: %w", o.c.ID, ErrInvalidGrant)
	}
	return Grant{Identity: id, Tokens: tokens}, nil
}

// tokenFailed returns err, saying loudly, once per attempt, when only the
// administrator can fix it.
func (o *OAuth2) tokenFailed(ctx context.Context, err error) error {
	if e, ok := errors.AsType[*Error](err); ok && e.Code == CodeInvalidClient {
		o.c.Logger.WarnContext(ctx, "provider rejected the client credentials; check client_id, client_secret and client_auth",
			"provider", o.c.ID, "client_auth", string(o.c.ClientAuth), "error", e.Err)
	}
	return err
}

// identity fetches and maps the userinfo document.
func (o *OAuth2) identity(ctx context.Context, accessToken string) (Identity, error) {
	fetch := o.fetchUserinfo
	if fetch == nil {
		fetch = func(ctx context.Context, token string) (map[string]any, error) {
			return getJSON(ctx, o.c.HTTPClient, o.c.UserinfoURL, token)
		}
	}
	doc, err := fetch(ctx, accessToken)
	if err != nil {
		return Identity{}, err
	}
	var body any = doc
	if o.c.UserinfoEnvelope != "" {
		body, err = lookupPath(doc, o.c.UserinfoEnvelope)
		if err != nil {
			return Identity{}, badResponse(fmt.Errorf("userinfo envelope: %w", err))
		}
	}
	m, ok := body.(map[string]any)
	if !ok {
		return Identity{}, badResponse(errors.New("userinfo is not a JSON object"))
	}
	id, err := mapIdentity(m, o.c.Claims, o.c.AllowUnverifiedEmail)
	if inner, wrapped := m["data"].(map[string]any); err != nil && wrapped && o.c.UserinfoEnvelope == "" {
		// Services that wrap answers as {"data": ..., "ts": ...} (Quaily)
		// may wrap this one too.
		if wid, werr := mapIdentity(inner, o.c.Claims, o.c.AllowUnverifiedEmail); werr == nil {
			m, id, err = inner, wid, nil
		}
	}
	if err != nil {
		return Identity{}, badResponse(err)
	}
	id.User = o.c.userPrefix() + id.Subject
	if o.identityHook != nil {
		if err := o.identityHook(ctx, m, accessToken, &id); err != nil {
			return Identity{}, err
		}
	}
	o.c.clean(&id)
	return id, nil
}
