package providers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCConfig configures an OpenID Connect provider. Zero values are safe
// defaults except for IssuerURL and ClientID, which are required.
type OIDCConfig struct {
	// ID is the provider's identifier (Info.ID); default "oidc".
	ID string
	// DisplayName is the sign-in button text; default "OpenID Connect".
	DisplayName string
	// IssuerURL is the issuer; its /.well-known/openid-configuration is
	// fetched by NewOIDC and its "issuer" must equal IssuerURL exactly.
	IssuerURL string
	// ClientID is the client registered with the provider.
	ClientID string
	// ClientSecret is the client's secret; empty for a public client.
	ClientSecret string
	// Scopes to request; default openid, email, profile. "openid" is
	// always added.
	Scopes []string
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
	// AllowUnverifiedEmail keeps an email the provider marks
	// email_verified=false (Identity.EmailVerified stays false). By default
	// such an email is dropped.
	AllowUnverifiedEmail bool
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
	// HTTPClient talks to the provider; nil means a client with a 30 s
	// timeout.
	HTTPClient *http.Client
	// Logger receives diagnostics (never tokens); nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock ID-token expiry is checked against; nil means
	// time.Now. For tests that run a fake clock.
	Now func() time.Time
}

// OIDC is an OpenID Connect provider: authorization-code flow with PKCE
// S256 and nonce, ID-token verification, userinfo fallback, refresh and
// RP-initiated logout. It is safe for concurrent use.
type OIDC struct {
	info                 Info
	issuer               string
	audiences            []string // ClientID first
	provider             *oidc.Provider
	verifier             *oidc.IDTokenVerifier
	oauth                oauth2.Config // RedirectURL is set per flow
	groupsClaim          string
	userClaim            string
	allowUnverifiedEmail bool
	userinfoURL          string
	endSessionURL        string
	responseIssuer       bool // discovery promised iss on authorization responses
	client               *http.Client
	log                  *slog.Logger
	now                  func() time.Time // nil: wall clock
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
	EndSessionEndpoint  string   `json:"end_session_endpoint"`
	TokenAuthMethods    []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethod []string `json:"code_challenge_methods_supported"`
	// ResponseIssuer is authorization_response_iss_parameter_supported
	// (RFC 9207): the provider adds iss to every authorization response.
	ResponseIssuer bool `json:"authorization_response_iss_parameter_supported"`
}

// NewOIDC builds the provider, fetching discovery unless c.SkipDiscovery.
// ctx bounds the discovery request only.
func NewOIDC(ctx context.Context, c OIDCConfig) (*OIDC, error) {
	if c.ID == "" {
		c.ID = "oidc"
	}
	if c.DisplayName == "" {
		c.DisplayName = "OpenID Connect"
	}
	if c.ClientID == "" {
		return nil, fmt.Errorf("provider %q: client id is required", c.ID)
	}
	if c.IssuerURL == "" {
		return nil, fmt.Errorf("provider %q: issuer URL is required", c.ID)
	}
	if err := checkOIDCEndpoint(c.IssuerURL); err != nil {
		return nil, fmt.Errorf("provider %q: issuer URL: %w", c.ID, err)
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("provider", c.ID)
	client := c.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	if u, _ := url.Parse(c.IssuerURL); u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		log.Warn("OIDC issuer uses plain http; tokens and keys can be intercepted", "issuer", c.IssuerURL)
	}

	scopes := c.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}

	o := &OIDC{
		now:                  c.Now,
		info:                 Info{ID: c.ID, Type: "oidc", DisplayName: c.DisplayName},
		issuer:               c.IssuerURL,
		audiences:            append([]string{c.ClientID}, c.ExtraAudiences...),
		groupsClaim:          c.GroupsClaim,
		userClaim:            c.UserClaim,
		allowUnverifiedEmail: c.AllowUnverifiedEmail,
		client:               client,
		log:                  log,
	}
	if o.groupsClaim == "" {
		o.groupsClaim = "groups"
	}

	cctx := oidc.ClientContext(ctx, client)
	var extras discoveryExtras
	if c.SkipDiscovery {
		for _, f := range [][2]string{{"auth URL", c.AuthURL}, {"token URL", c.TokenURL}, {"JWKS URL", c.JWKSURL}} {
			if f[1] == "" {
				return nil, fmt.Errorf("provider %q: %s is required when discovery is skipped", c.ID, f[0])
			}
		}
		o.provider = (&oidc.ProviderConfig{
			IssuerURL:   c.IssuerURL,
			AuthURL:     c.AuthURL,
			TokenURL:    c.TokenURL,
			JWKSURL:     c.JWKSURL,
			UserInfoURL: c.UserinfoURL,
			Algorithms:  asymmetricAlgs,
		}).NewProvider(cctx)
		o.endSessionURL = c.EndSessionURL
	} else {
		p, err := oidc.NewProvider(cctx, c.IssuerURL)
		if err != nil {
			return nil, fmt.Errorf("provider %q: OIDC discovery for %s: %w", c.ID, c.IssuerURL, unwrapURLError(err))
		}
		if err := p.Claims(&extras); err != nil {
			return nil, fmt.Errorf("provider %q: reading discovery document: %w", c.ID, err)
		}
		o.provider = p
		o.endSessionURL = extras.EndSessionEndpoint
		o.responseIssuer = extras.ResponseIssuer
		if len(extras.CodeChallengeMethod) > 0 && !slices.Contains(extras.CodeChallengeMethod, "S256") {
			log.Warn("provider does not advertise PKCE S256; sending it anyway", "methods", extras.CodeChallengeMethod)
		}
	}
	o.userinfoURL = o.provider.UserInfoEndpoint()

	ep := o.provider.Endpoint()
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
		if err := checkOIDCEndpoint(f.url); err != nil {
			return nil, fmt.Errorf("provider %q: %s: %w", c.ID, f.name, err)
		}
	}
	ep.AuthStyle = authStyle(c.ClientSecret, extras.TokenAuthMethods)
	o.oauth = oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret,
		Endpoint:     ep,
		Scopes:       scopes,
	}
	o.verifier = o.provider.Verifier(&oidc.Config{
		ClientID: c.ClientID,
		// With extra audiences go-oidc's single-audience check is replaced
		// by checkAudience; without them both apply.
		SkipClientIDCheck: len(c.ExtraAudiences) > 0,
		Now:               c.Now,
	})
	return o, nil
}

// authStyle picks client_secret_basic unless the provider only supports
// client_secret_post; public clients send client_id in the body.
func authStyle(secret string, methods []string) oauth2.AuthStyle {
	switch {
	case secret == "":
		return oauth2.AuthStyleInParams
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		return oauth2.AuthStyleInHeader
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	default:
		return oauth2.AuthStyleInHeader
	}
}

// checkOIDCEndpoint accepts absolute http(s) URLs without credentials or
// fragment.
func checkOIDCEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", redactURL(raw))
	}
	if u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q must not contain credentials or a fragment", redactURL(raw))
	}
	return nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Info implements Provider.
func (o *OIDC) Info() Info { return o.info }

// AuthCodeURL implements Provider. It always sends the nonce and an S256
// PKCE challenge; p.State, p.Nonce, p.CodeVerifier and p.RedirectURL are
// required.
func (o *OIDC) AuthCodeURL(_ context.Context, p AuthParams) (string, error) {
	if err := o.checkParams(p); err != nil {
		return "", err
	}
	cfg := o.oauth
	cfg.RedirectURL = p.RedirectURL
	return cfg.AuthCodeURL(p.State, oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.CodeVerifier)), nil
}

func (o *OIDC) checkParams(p AuthParams) error {
	switch {
	case p.State == "":
		return fmt.Errorf("provider %q: state is required", o.info.ID)
	case p.Nonce == "":
		return fmt.Errorf("provider %q: nonce is required", o.info.ID)
	case !ValidCodeVerifier(p.CodeVerifier):
		return fmt.Errorf("provider %q: a valid PKCE code verifier is required", o.info.ID)
	case checkOIDCEndpoint(p.RedirectURL) != nil:
		return fmt.Errorf("provider %q: redirect URL must be an absolute http(s) URL", o.info.ID)
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
	cctx := oidc.ClientContext(ctx, o.client)
	cfg := o.oauth
	cfg.RedirectURL = p.RedirectURL
	tok, err := cfg.Exchange(cctx, code, oauth2.VerifierOption(p.CodeVerifier))
	if err != nil {
		return Grant{}, o.exchangeError(ctx, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Grant{}, badResponse(errors.New("token response has no id_token"))
	}
	idt, claims, err := o.verifyIDToken(ctx, raw, tok.AccessToken)
	if err != nil {
		return Grant{}, untrusted(err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(p.Nonce)) != 1 {
		return Grant{}, untrusted(errors.New("ID token nonce does not match this login"))
	}
	id, err := o.identity(ctx, idt, claims, tok.AccessToken, nil)
	if err != nil {
		return Grant{}, err
	}
	return Grant{
		Identity: id,
		Tokens: Tokens{
			AccessToken:  tok.AccessToken,
			TokenType:    tok.TokenType,
			RefreshToken: tok.RefreshToken,
			IDToken:      raw,
			Expiry:       o.tokenExpiry(tok),
		},
	}, nil
}

func untrusted(err error) *Error {
	return &Error{Code: CodeBadResponse, Message: "The identity provider's answer could not be verified. Please try again.", Err: err}
}

// exchangeError maps a failed code exchange to an *Error.
func (o *OIDC) exchangeError(ctx context.Context, err error) *Error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		doc := map[string]any{}
		if re.ErrorCode != "" {
			doc["error"] = re.ErrorCode
		}
		if re.ErrorDescription != "" {
			doc["error_description"] = re.ErrorDescription
		}
		e := errorFromStatus(status, doc, "token request")
		if e.Code == CodeInvalidGrant {
			e.Message = "The login link expired or was already used. Please try again."
		}
		return e
	}
	if ctx.Err() != nil {
		return &Error{Code: CodeProviderUnavailable, Message: "The login took too long. Please try again.", Err: ctx.Err()}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return unavailable(fmt.Errorf("token request: %w", unwrapURLError(err)))
	}
	// The response was not a token (bad JSON, no access_token).
	return badResponse(fmt.Errorf("token request: %w", err))
}

// verifyIDToken checks raw and returns it with its claims (numbers kept
// exact). accessToken, when the token carries at_hash, must match it.
func (o *OIDC) verifyIDToken(ctx context.Context, raw, accessToken string) (*oidc.IDToken, map[string]any, error) {
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, nil, fmt.Errorf("verifying ID token: %w", err)
	}
	if err := o.checkAudience(idt); err != nil {
		return nil, nil, err
	}
	if idt.Subject == "" {
		return nil, nil, errors.New("ID token has no sub")
	}
	if err := checkPrintable(idt.Subject); err != nil {
		return nil, nil, fmt.Errorf("ID token sub: %w", err)
	}
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(accessToken); err != nil {
			return nil, nil, fmt.Errorf("ID token at_hash: %w", err)
		}
	}
	var rawClaims json.RawMessage
	if err := idt.Claims(&rawClaims); err != nil {
		return nil, nil, fmt.Errorf("ID token claims: %w", err)
	}
	claims, err := decodeJSONObject(rawClaims)
	if err != nil {
		return nil, nil, fmt.Errorf("ID token claims: %w", err)
	}
	return idt, claims, nil
}

// checkAudience accepts the token when one of its audiences is the client
// or an extra audience, and, when it names an authorized party, that party
// is one of those too.
func (o *OIDC) checkAudience(idt *oidc.IDToken) error {
	if !slices.ContainsFunc(idt.Audience, func(a string) bool { return slices.Contains(o.audiences, a) }) {
		return fmt.Errorf("ID token audience %q is not accepted", idt.Audience)
	}
	var c struct {
		AZP string `json:"azp"`
	}
	if err := idt.Claims(&c); err != nil {
		return fmt.Errorf("ID token claims: %w", err)
	}
	if c.AZP != "" && !slices.Contains(o.audiences, c.AZP) {
		return fmt.Errorf("ID token authorized party %q is not accepted", c.AZP)
	}
	return nil
}

// profile is the identity attributes read from one claims document.
type profile struct {
	email, name, username, picture string
	groups                         []string
	emailVerified, verifiedPresent bool
	hasEmail, hasName, hasGroups   bool
	hasUsername, hasPicture        bool
}

func (o *OIDC) readProfile(doc map[string]any) profile {
	var p profile
	p.email, p.hasEmail = nonEmptyString(doc, "email")
	p.emailVerified, p.verifiedPresent = claimBool(doc, "email_verified")
	p.name, p.hasName = nonEmptyString(doc, "name")
	p.username, p.hasUsername = nonEmptyString(doc, "preferred_username")
	p.picture, p.hasPicture = nonEmptyString(doc, "picture")
	p.groups, p.hasGroups = oidcGroups(doc, o.groupsClaim)
	return p
}

// merge fills the attributes p lacks from u; email and email_verified
// travel together.
func (p *profile) merge(u profile) {
	if !p.hasEmail && u.hasEmail {
		p.email, p.hasEmail = u.email, true
		p.emailVerified, p.verifiedPresent = u.emailVerified, u.verifiedPresent
	}
	if !p.hasName && u.hasName {
		p.name, p.hasName = u.name, true
	}
	if !p.hasUsername && u.hasUsername {
		p.username, p.hasUsername = u.username, true
	}
	if !p.hasPicture && u.hasPicture {
		p.picture, p.hasPicture = u.picture, true
	}
	if !p.hasGroups && u.hasGroups {
		p.groups, p.hasGroups = u.groups, true
	}
}

func nonEmptyString(doc map[string]any, key string) (string, bool) {
	s, ok := scalarString(doc[key])
	return s, ok && s != ""
}

// oidcGroups reads the groups claim: a string (one group) or an array of
// strings/numbers. present is false when the claim is absent.
func oidcGroups(doc map[string]any, claim string) (groups []string, present bool) {
	v, ok := doc[claim]
	if !ok && strings.Contains(claim, ".") {
		var err error
		v, err = lookupPath(doc, claim)
		ok = err == nil
	}
	if !ok || v == nil {
		return nil, false
	}
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if s, ok := scalarString(e); ok && s != "" {
				groups = append(groups, s)
			}
		}
	default:
		if s, ok := scalarString(v); ok && s != "" {
			groups = []string{s}
		}
	}
	return groups, true
}

// identity builds the Identity from verified ID-token claims, asking the
// userinfo endpoint for what the ID token lacks. On refresh, prev is the
// grant's identity: profile attributes that neither the new ID token nor
// userinfo carry are kept from it (providers often mint minimal ID tokens on
// refresh), but groups never are, so a user removed from every group loses
// them.
//
// A userinfo failure fails the login only when it is transient; when the
// endpoint refuses the token (some providers issue access tokens for another
// resource) the identity is built from the ID token alone, which can only
// grant less.
func (o *OIDC) identity(ctx context.Context, idt *oidc.IDToken, claims map[string]any, accessToken string, prev *Identity) (Identity, error) {
	p := o.readProfile(claims)
	if (!p.hasEmail || !p.hasName || !p.hasGroups) && o.userinfoURL != "" && accessToken != "" {
		doc, err := getJSON(ctx, o.client, o.userinfoURL, accessToken)
		var pe *Error
		switch {
		case err == nil:
			if sub, _ := scalarString(doc["sub"]); sub != idt.Subject {
				return Identity{}, untrusted(errors.New("userinfo sub differs from the ID token's"))
			}
			p.merge(o.readProfile(doc))
		case errors.As(err, &pe) && pe.Code != CodeProviderUnavailable:
			o.log.Warn("userinfo refused; using the ID token's claims only", "err", err)
		default:
			return Identity{}, err
		}
	}
	if prev != nil {
		p.merge(profile{
			email: prev.Email, hasEmail: prev.Email != "",
			emailVerified: prev.EmailVerified, verifiedPresent: prev.Email != "" && prev.EmailVerified,
			name: prev.Name, hasName: prev.Name != "",
			username: prev.PreferredUsername, hasUsername: prev.PreferredUsername != "",
			picture: prev.Picture, hasPicture: prev.Picture != "",
		})
	}
	id := Identity{
		Subject:           idt.Subject,
		User:              idt.Subject,
		Name:              p.name,
		PreferredUsername: p.username,
		Picture:           p.picture,
		Groups:            p.groups,
		Issuer:            idt.Issuer,
	}
	if p.email != "" && checkPrintable(p.email) == nil {
		switch {
		case !p.verifiedPresent:
			// Providers that never send email_verified (e.g. some
			// enterprise IdPs) vouch for the address by issuing it.
			id.Email = p.email
		case p.emailVerified:
			id.Email, id.EmailVerified = p.email, true
		case o.allowUnverifiedEmail:
			id.Email = p.email
		default:
			o.log.Debug("dropping unverified email", "sub", idt.Subject)
		}
	}
	for _, s := range []*string{&id.Name, &id.PreferredUsername, &id.Picture} {
		if checkPrintable(*s) != nil {
			*s = "" // never forward control characters into headers
		}
	}
	id.Groups = slices.DeleteFunc(id.Groups, func(g string) bool { return checkPrintable(g) != nil })
	id.User = o.userValue(id, claims)
	return id, nil
}

// userValue is the X-Forwarded-User value: the configured claim, or the
// subject when that claim is absent or unusable.
func (o *OIDC) userValue(id Identity, claims map[string]any) string {
	var v string
	switch o.userClaim {
	case "", "sub":
	case "email":
		v = id.Email
	case "preferred_username":
		v = id.PreferredUsername
	default:
		v, _ = scalarString(claims[o.userClaim])
	}
	if v == "" || checkPrintable(v) != nil {
		return id.Subject
	}
	return v
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
		return Grant{}, fmt.Errorf("provider %q: refresh: grant has no subject", o.info.ID)
	}
	cctx := oidc.ClientContext(ctx, o.client)
	tok, err := o.oauth.TokenSource(cctx, &oauth2.Token{RefreshToken: g.Tokens.RefreshToken}).Token()
	if err != nil {
		return Grant{}, o.refreshError(err)
	}
	ng := Grant{
		Identity: g.Identity,
		Tokens: Tokens{
			AccessToken:  tok.AccessToken,
			TokenType:    tok.TokenType,
			RefreshToken: tok.RefreshToken,
			IDToken:      g.Tokens.IDToken,
			Expiry:       o.tokenExpiry(tok),
		},
	}
	if ng.Tokens.RefreshToken == "" {
		ng.Tokens.RefreshToken = g.Tokens.RefreshToken
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return ng, nil
	}
	idt, claims, err := o.verifyIDToken(ctx, raw, tok.AccessToken)
	if err != nil {
		return Grant{}, fmt.Errorf("provider %q: refresh: %w", o.info.ID, err)
	}
	if idt.Subject != g.Identity.Subject {
		return Grant{}, fmt.Errorf("provider %q: refresh: %w: refreshed ID token names another subject", o.info.ID, ErrInvalidGrant)
	}
	id, err := o.identity(ctx, idt, claims, tok.AccessToken, &g.Identity)
	if err != nil {
		return Grant{}, fmt.Errorf("provider %q: refresh: %w", o.info.ID, err)
	}
	ng.Identity = id
	ng.Tokens.IDToken = raw
	return ng, nil
}

// refreshError: rejections (invalid_grant, 400, 401) end the session;
// everything else is transient.
func (o *OIDC) refreshError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		desc := fmt.Sprintf("HTTP %d", status)
		if re.ErrorCode != "" {
			desc += " " + truncate(re.ErrorCode, 64)
		}
		if re.ErrorDescription != "" {
			desc += ": " + truncate(re.ErrorDescription, 200)
		}
		if status < 500 && (re.ErrorCode == "invalid_grant" || status == http.StatusBadRequest || status == http.StatusUnauthorized) {
			return fmt.Errorf("provider %q: refresh: %w (%s)", o.info.ID, ErrInvalidGrant, desc)
		}
		return fmt.Errorf("provider %q: refresh failed (%s)", o.info.ID, desc)
	}
	return fmt.Errorf("provider %q: refresh: %w", o.info.ID, unwrapURLError(err))
}

// CheckResponseIssuer implements ResponseIssuerChecker: an iss parameter must
// be the issuer exactly (RFC 9207 §2.4, simple string comparison), and must
// be present when discovery said authorization_response_iss_parameter_supported.
func (o *OIDC) CheckResponseIssuer(iss string, present bool) error {
	switch {
	case present && iss != o.issuer:
		return fmt.Errorf("%w: iss %q, want %q", ErrIssuerMismatch, truncate(iss, 200), o.issuer)
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
	q.Set("client_id", o.oauth.ClientID)
	u.RawQuery = q.Encode()
	return u.String()
}

// tokenExpiry is when tok's access token expires on the provider's clock:
// x/oauth2 computes Expiry from expires_in with the wall clock, so with an
// injected clock the lifetime is re-based on it.
func (o *OIDC) tokenExpiry(tok *oauth2.Token) time.Time {
	if o.now != nil && tok.ExpiresIn > 0 {
		return o.now().Add(time.Duration(tok.ExpiresIn) * time.Second)
	}
	return tok.Expiry
}
