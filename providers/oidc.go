package providers

import (
	"cmp"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCConfig configures an OpenID Connect provider. Zero values are safe
// defaults except for IssuerURL and ClientID, which are required.
type OIDCConfig struct {
	// Common: ID defaults to "oidc", DisplayName to "OpenID Connect";
	// ClientSecret is empty for a public client; Scopes default to openid,
	// email, profile, and "openid" is always added; AllowUnverifiedEmail
	// keeps an email the provider marks email_verified=false. UserPrefix
	// is not used: X-Forwarded-User is UserClaim's value.
	Common
	// IssuerURL is the issuer; its /.well-known/openid-configuration is
	// fetched by NewOIDC and its "issuer" must equal IssuerURL exactly.
	IssuerURL string
	// GroupsClaim names the ID-token/userinfo claim holding groups; default
	// "groups". A name that is not a top-level claim but contains dots is
	// read as a path into nested objects ("realm_access.roles").
	GroupsClaim string
	// UserClaim names the claim sent upstream as X-Forwarded-User: "sub"
	// (default), "email" (the accepted email), "preferred_username", or
	// any other string claim; the subject when the claim is absent.
	UserClaim string
	// ExtraAudiences are accepted as ID-token audience besides ClientID.
	ExtraAudiences []string
	// SkipDiscovery uses the endpoints below instead of discovery. AuthURL,
	// TokenURL and JWKSURL are then required.
	SkipDiscovery bool
	// AuthURL is the authorization endpoint (with SkipDiscovery).
	AuthURL string
	// TokenURL is the token endpoint (with SkipDiscovery).
	TokenURL string
	// JWKSURL is the provider's key set (with SkipDiscovery).
	JWKSURL string
	// UserinfoURL is the userinfo endpoint (with SkipDiscovery; optional).
	UserinfoURL string
	// EndSessionURL is the RP-initiated logout endpoint (with SkipDiscovery;
	// optional).
	EndSessionURL string
}

// OIDC is an OpenID Connect provider: authorization-code flow with PKCE
// S256 and nonce, ID-token verification, userinfo fallback, refresh and
// RP-initiated logout. It is safe for concurrent use.
type OIDC struct {
	c              OIDCConfig // with defaults filled in
	audiences      []string   // ClientID first
	verifier       *oidc.IDTokenVerifier
	authURL        string
	token          tokenClient
	userinfoURL    string // from discovery, or c.UserinfoURL
	endSessionURL  string // from discovery, or c.EndSessionURL
	responseIssuer bool   // discovery promised iss on authorization responses
	log            *slog.Logger
	provider       *oidc.Provider // for presets that verify other JWTs (Keycloak's access token)
	preset         oidcPreset

	logoutVerifier *oidc.IDTokenVerifier // back-channel logout tokens
	logoutSupport  logoutSupport         // what discovery says about them

	offline offlineState // offline_access and the missing-refresh-token warning
}

var (
	_ Provider              = (*OIDC)(nil)
	_ SignOutURLer          = (*OIDC)(nil)
	_ ResponseIssuerChecker = (*OIDC)(nil)
)

// Signing algorithms accepted without discovery: asymmetric only, so a key
// set can never be misused as an HMAC secret.
var asymmetricAlgs = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// discoveryExtras are the discovery fields go-oidc does not expose.
type discoveryExtras struct {
	Issuer              string   `json:"issuer"`
	EndSessionEndpoint  string   `json:"end_session_endpoint"`
	TokenAuthMethods    []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethod []string `json:"code_challenge_methods_supported"`
	// ResponseIssuer is authorization_response_iss_parameter_supported
	// (RFC 9207): the provider adds iss to every authorization response.
	ResponseIssuer bool `json:"authorization_response_iss_parameter_supported"`
	// ScopesSupported and GrantTypes say whether the provider knows
	// offline_access and issues refresh tokens.
	ScopesSupported []string `json:"scopes_supported"`
	GrantTypes      []string `json:"grant_types_supported"`
}

// NewOIDC builds the provider, fetching discovery unless c.SkipDiscovery.
// ctx bounds the discovery request only.
func NewOIDC(ctx context.Context, c OIDCConfig) (*OIDC, error) {
	return newOIDC(ctx, c, oidcPreset{})
}

// newOIDC is NewOIDC extended by a preset (GitLab, Google, Entra ID,
// Keycloak).
func newOIDC(ctx context.Context, c OIDCConfig, preset oidcPreset) (*OIDC, error) {
	c.Common = c.withDefaults(cmp.Or(preset.typ, "oidc"), cmp.Or(preset.displayName, "OpenID Connect"))
	if c.ClientID == "" {
		return nil, fmt.Errorf("provider %q: client id is required", c.ID)
	}
	if c.IssuerURL == "" {
		return nil, fmt.Errorf("provider %q: issuer URL is required", c.ID)
	}
	if err := checkEndpoint(c.IssuerURL); err != nil {
		return nil, fmt.Errorf("provider %q: issuer URL: %w", c.ID, err)
	}
	log := c.Logger.With("provider", c.ID)
	if u, _ := url.Parse(c.IssuerURL); u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		log.Warn("OIDC issuer uses plain http; tokens and keys can be intercepted", "issuer", c.IssuerURL)
	}
	c.Scopes = defaultScopes(c.Scopes, oidc.ScopeOpenID, "email", "profile")
	if !slices.Contains(c.Scopes, oidc.ScopeOpenID) {
		c.Scopes = append([]string{oidc.ScopeOpenID}, c.Scopes...)
	}
	if c.GroupsClaim == "" {
		c.GroupsClaim = "groups"
	}
	o := &OIDC{c: c, audiences: append([]string{c.ClientID}, c.ExtraAudiences...), log: log, preset: preset}

	provider, extras, err := o.discover(ctx)
	if err != nil {
		return nil, err
	}
	o.provider = provider
	ep := provider.Endpoint()
	o.authURL, o.userinfoURL = ep.AuthURL, provider.UserInfoEndpoint()
	for _, f := range []struct {
		name, url string
		optional  bool
	}{
		{"authorization endpoint", ep.AuthURL, false},
		{"token endpoint", ep.TokenURL, false},
		{"userinfo endpoint", o.userinfoURL, true},
		{"end_session endpoint", o.endSessionURL, true},
	} {
		if f.url == "" && f.optional {
			continue
		}
		if err := checkEndpoint(f.url); err != nil {
			return nil, fmt.Errorf("provider %q: %s: %w", c.ID, f.name, err)
		}
	}
	o.token = tokenClient{url: ep.TokenURL, auth: clientAuth(c.ClientSecret, extras.TokenAuthMethods),
		clientID: c.ClientID, clientSecret: c.ClientSecret, http: c.HTTPClient, now: c.Now}
	o.verifier = provider.Verifier(&oidc.Config{
		ClientID: c.ClientID,
		// With extra audiences go-oidc's single-audience check is replaced
		// by checkAudience; without them both apply.
		SkipClientIDCheck: len(c.ExtraAudiences) > 0,
		// A template issuer is checked by the preset (verifyIDToken).
		SkipIssuerCheck: preset.issuerTemplate != "",
		Now:             c.Now,
	})
	o.initLifecycle(provider)
	o.initOffline(extras)
	return o, nil
}

// discover fetches the discovery document, or, with SkipDiscovery, builds
// the provider from the configured endpoints. It sets endSessionURL and
// responseIssuer.
func (o *OIDC) discover(ctx context.Context) (*oidc.Provider, discoveryExtras, error) {
	c := o.c
	cctx := oidc.ClientContext(ctx, c.HTTPClient)
	var extras discoveryExtras
	if c.SkipDiscovery {
		for _, f := range [][2]string{{"auth URL", c.AuthURL}, {"token URL", c.TokenURL}, {"JWKS URL", c.JWKSURL}} {
			if f[1] == "" {
				return nil, extras, fmt.Errorf("provider %q: %s is required when discovery is skipped", c.ID, f[0])
			}
		}
		o.endSessionURL = c.EndSessionURL
		return (&oidc.ProviderConfig{
			IssuerURL:   c.IssuerURL,
			AuthURL:     c.AuthURL,
			TokenURL:    c.TokenURL,
			JWKSURL:     c.JWKSURL,
			UserInfoURL: c.UserinfoURL,
			Algorithms:  asymmetricAlgs,
		}).NewProvider(cctx), extras, nil
	}
	if o.preset.issuerTemplate != "" {
		// Checked below against the template instead of IssuerURL.
		cctx = oidc.InsecureIssuerURLContext(cctx, o.preset.issuerTemplate)
	}
	p, err := oidc.NewProvider(cctx, c.IssuerURL)
	if err != nil {
		return nil, extras, fmt.Errorf("provider %q: OIDC discovery for %s: %w", c.ID, c.IssuerURL, unwrapURLError(err))
	}
	if err := p.Claims(&extras); err != nil {
		return nil, extras, fmt.Errorf("provider %q: reading discovery document: %w", c.ID, err)
	}
	if o.preset.issuerTemplate != "" && extras.Issuer != o.preset.issuerTemplate {
		return nil, extras, fmt.Errorf("provider %q: discovery for %s names issuer %q, want %q", c.ID, c.IssuerURL, truncate(extras.Issuer, 200), o.preset.issuerTemplate)
	}
	o.endSessionURL = extras.EndSessionEndpoint
	o.responseIssuer = extras.ResponseIssuer
	if len(extras.CodeChallengeMethod) > 0 && !slices.Contains(extras.CodeChallengeMethod, "S256") {
		o.log.Warn("provider does not advertise PKCE S256; sending it anyway", "methods", extras.CodeChallengeMethod)
	}
	return p, extras, nil
}

// clientAuth picks client_secret_basic unless the provider only supports
// client_secret_post; public clients send client_id in the body.
func clientAuth(secret string, methods []string) ClientAuth {
	switch {
	case secret == "":
		return ClientAuthNone
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		return ClientAuthBasic
	case slices.Contains(methods, "client_secret_post"):
		return ClientAuthBody
	default:
		return ClientAuthBasic
	}
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Info implements Provider.
func (o *OIDC) Info() Info {
	return Info{ID: o.c.ID, Type: cmp.Or(o.preset.typ, "oidc"), DisplayName: o.c.DisplayName}
}

// AuthCodeURL implements Provider. It always sends the nonce and an S256
// PKCE challenge; p.State, p.Nonce, p.CodeVerifier and p.RedirectURL are
// required.
func (o *OIDC) AuthCodeURL(_ context.Context, p AuthParams) (string, error) {
	if err := o.checkParams(p); err != nil {
		return "", err
	}
	cfg := oauth2.Config{ClientID: o.c.ClientID, Endpoint: oauth2.Endpoint{AuthURL: o.authURL}, Scopes: o.c.Scopes, RedirectURL: p.RedirectURL}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.CodeVerifier)}
	for _, k := range slices.Sorted(maps.Keys(o.preset.authParams)) {
		opts = append(opts, oauth2.SetAuthURLParam(k, o.preset.authParams[k]))
	}
	if p.Reauthenticate {
		opts = append(opts, oauth2.SetAuthURLParam("prompt", "login"))
	}
	return cfg.AuthCodeURL(p.State, opts...), nil
}

func (o *OIDC) checkParams(p AuthParams) error {
	switch {
	case p.State == "":
		return fmt.Errorf("provider %q: state is required", o.c.ID)
	case p.Nonce == "":
		return fmt.Errorf("provider %q: nonce is required", o.c.ID)
	case !ValidCodeVerifier(p.CodeVerifier):
		return fmt.Errorf("provider %q: a valid PKCE code verifier is required", o.c.ID)
	case checkEndpoint(p.RedirectURL) != nil:
		return fmt.Errorf("provider %q: redirect URL must be an absolute http(s) URL", o.c.ID)
	}
	return nil
}

// Redeem implements Provider: it exchanges code (with the PKCE verifier),
// verifies the ID token's signature, issuer, audience, expiry, nonce and
// at_hash, and completes the identity from userinfo when the ID token
// lacks email, name or groups. Failures are *Error values.
func (o *OIDC) Redeem(ctx context.Context, code string, p AuthParams) (Grant, error) {
	if err := o.checkParams(p); err != nil {
		return Grant{}, &Error{Code: CodeProviderError, Message: "The login could not be completed. Please try again.", Err: err}
	}
	if code == "" {
		return Grant{}, &Error{Code: CodeBadResponse, Message: "The identity provider did not send a login code. Please try again.", Err: errors.New("empty authorization code")}
	}
	tokens, err := o.token.redeem(ctx, code, p.RedirectURL, p.CodeVerifier)
	if err != nil {
		return Grant{}, err
	}
	if tokens.IDToken == "" {
		return Grant{}, badResponse(errors.New("token response has no id_token"))
	}
	o.checkRefreshToken(tokens)
	idt, claims, err := o.verifyIDToken(ctx, tokens.IDToken, tokens.AccessToken)
	if err != nil {
		return Grant{}, untrusted(err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(p.Nonce)) != 1 {
		return Grant{}, untrusted(errors.New("ID token nonce does not match this login"))
	}
	id, err := o.identity(ctx, idt, claims, tokens.AccessToken, nil)
	if err != nil {
		return Grant{}, err
	}
	return Grant{Identity: id, Tokens: tokens}, nil
}

// Refresh implements Provider. A refresh token the provider rejects yields
// an error wrapping ErrInvalidGrant; an ID token in the response must be
// valid and name the same subject (no nonce is expected); without one the
// old identity and ID token are kept, as is the old refresh token when no
// new one is returned.
func (o *OIDC) Refresh(ctx context.Context, g Grant) (Grant, error) {
	if g.Tokens.RefreshToken == "" {
		return Grant{}, ErrNoRefreshToken
	}
	if g.Identity.Subject == "" {
		return Grant{}, fmt.Errorf("provider %q: refresh: grant has no subject", o.c.ID)
	}
	tokens, err := o.token.refresh(ctx, g.Tokens.RefreshToken)
	if err != nil {
		return Grant{}, fmt.Errorf("provider %q: refresh: %w", o.c.ID, err)
	}
	ng := Grant{Identity: g.Identity, Tokens: tokens}
	if ng.Tokens.RefreshToken == "" {
		ng.Tokens.RefreshToken = g.Tokens.RefreshToken
	}
	if tokens.IDToken == "" {
		ng.Tokens.IDToken = g.Tokens.IDToken
		if o.preset.identity == nil {
			return ng, nil
		}
		// The preset re-checks what it can from the new access token.
		id := g.Identity
		id.Groups, id.Extra = slices.Clone(id.Groups), maps.Clone(id.Extra)
		if err := o.preset.identity(ctx, presetInput{accessToken: tokens.AccessToken, refresh: true}, &id); err != nil {
			return Grant{}, o.refreshFailed(err)
		}
		o.c.clean(&id)
		ng.Identity = id
		return ng, nil
	}
	idt, claims, err := o.verifyIDToken(ctx, tokens.IDToken, tokens.AccessToken)
	if err != nil {
		return Grant{}, fmt.Errorf("provider %q: refresh: %w", o.c.ID, err)
	}
	if idt.Subject != g.Identity.Subject {
		return Grant{}, fmt.Errorf("provider %q: refresh: %w: refreshed ID token names another subject", o.c.ID, ErrInvalidGrant)
	}
	id, err := o.identity(ctx, idt, claims, tokens.AccessToken, &g.Identity)
	if err != nil {
		return Grant{}, o.refreshFailed(err)
	}
	ng.Identity = id
	return ng, nil
}

// refreshFailed wraps an identity failure on refresh: an identity the
// provider's own restrictions now refuse ends the session.
func (o *OIDC) refreshFailed(err error) error {
	if errors.Is(err, ErrUnauthorized) {
		return fmt.Errorf("provider %q: refresh: %w: %w", o.c.ID, ErrInvalidGrant, err)
	}
	return fmt.Errorf("provider %q: refresh: %w", o.c.ID, err)
}

// CheckResponseIssuer implements ResponseIssuerChecker: an iss parameter must
// be the issuer exactly (RFC 9207 §2.4, simple string comparison), and must
// be present when discovery said authorization_response_iss_parameter_supported.
func (o *OIDC) CheckResponseIssuer(iss string, present bool) error {
	if o.preset.checkIssuer != nil && present {
		if err := o.preset.checkIssuer(iss, nil); err != nil {
			return fmt.Errorf("%w: %w", ErrIssuerMismatch, err)
		}
		if o.preset.issuerTemplate != "" {
			return nil // the template's issuers, not IssuerURL
		}
	}
	switch {
	case present && iss != o.c.IssuerURL:
		return fmt.Errorf("%w: iss %q, want %q", ErrIssuerMismatch, truncate(iss, 200), o.c.IssuerURL)
	case !present && o.responseIssuer:
		return fmt.Errorf("%w: iss missing although the provider advertises it", ErrIssuerMismatch)
	}
	return nil
}

// SignOutURL implements SignOutURLer: the provider's end_session_endpoint
// with id_token_hint, post_logout_redirect_uri and client_id, or "" when
// the provider has none.
func (o *OIDC) SignOutURL(g Grant, postLogoutRedirect string) string {
	if o.endSessionURL == "" {
		return ""
	}
	u, err := url.Parse(o.endSessionURL)
	if err != nil {
		return ""
	}
	q := u.Query()
	if g.Tokens.IDToken != "" {
		q.Set("id_token_hint", g.Tokens.IDToken)
	}
	if postLogoutRedirect != "" {
		q.Set("post_logout_redirect_uri", postLogoutRedirect)
	}
	q.Set("client_id", o.c.ClientID)
	u.RawQuery = q.Encode()
	return u.String()
}
