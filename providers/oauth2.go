package providers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/oauth2"
)

// Error codes of *Error that the providers in this package return.
const (
	// CodeAccessDenied: the user declined consent at the provider.
	CodeAccessDenied = "access_denied"
	// CodeProviderUnavailable: the provider could not be reached or failed (5xx).
	CodeProviderUnavailable = "provider_unavailable"
	// CodeInvalidClient: the provider rejected Gatehouse's client credentials.
	CodeInvalidClient = "invalid_client"
	// CodeInvalidGrant: the authorization code was expired, reused or forged.
	CodeInvalidGrant = "invalid_grant"
	// CodeBadResponse: the provider answered something Gatehouse cannot read.
	CodeBadResponse = "bad_response"
	// CodeProviderError: the provider refused the request for another reason.
	CodeProviderError = "provider_error"
	// CodeAccountNotAllowed: the account exists but the provider's own
	// settings refuse it (e.g. a restricted osu! account).
	CodeAccountNotAllowed = "account_not_allowed"
	// CodeInstanceNotAllowed: the Mastodon instance is not in the allow-list.
	CodeInstanceNotAllowed = "instance_not_allowed"
	// CodeInvalidInstance: the Mastodon instance name is malformed.
	CodeInvalidInstance = "invalid_instance"
)

// maxResponseBytes bounds every provider response body Gatehouse reads.
const maxResponseBytes = 1 << 20

// defaultHTTPTimeout bounds every provider request when no client is given.
const defaultHTTPTimeout = 30 * time.Second

// ClientAuth is how a client authenticates to the token endpoint.
type ClientAuth string

// Client authentication methods.
const (
	// ClientAuthBody sends client_id and client_secret as form fields.
	ClientAuthBody ClientAuth = "body"
	// ClientAuthBasic sends them as HTTP Basic credentials (RFC 6749 §2.3.1).
	ClientAuthBasic ClientAuth = "basic"
	// ClientAuthNone sends only client_id: a public client.
	ClientAuthNone ClientAuth = "none"
)

// PKCEMethod is the PKCE code-challenge method (RFC 7636) used, if any.
type PKCEMethod string

// PKCE methods.
const (
	PKCES256  PKCEMethod = "S256"
	PKCEPlain PKCEMethod = "plain"
	PKCEOff   PKCEMethod = "off"
)

// OAuth2Config configures a generic OAuth2 provider. Zero values are safe
// defaults where a default exists.
type OAuth2Config struct {
	// ID is the provider's configured id; Type defaults to "oauth2".
	ID, Type string
	// DisplayName is the sign-in button's text; default ID.
	DisplayName string
	// ClientID is required; ClientSecret is required unless ClientAuth is none.
	ClientID, ClientSecret string
	// AuthURL, TokenURL and UserinfoURL are the provider's endpoints; all
	// required, absolute http(s) URLs.
	AuthURL, TokenURL, UserinfoURL string
	// ClientAuth is body, basic or none; default body.
	ClientAuth ClientAuth
	// PKCE is S256, plain or off; default S256.
	PKCE PKCEMethod
	// Scopes are requested in the authorize URL, joined by ScopeSeparator
	// (default " "). No scope parameter is sent when empty.
	Scopes         []string
	ScopeSeparator string
	// AuthParams are extra authorize query parameters. They may not replace
	// the parameters Gatehouse sets itself (state, client_id, ...).
	AuthParams map[string]string
	// OmitRedirectURI leaves redirect_uri out of the authorize and token
	// requests, for providers that use the registered callback (OSDN).
	OmitRedirectURI bool
	// UserinfoEnvelope is a dotted path unwrapped from the userinfo response
	// before claims are read, e.g. "data".
	UserinfoEnvelope string
	// Claims maps the userinfo document to an Identity.
	Claims ClaimMapping
	// UserPrefix prefixes Subject in Identity.User (X-Forwarded-User);
	// default ID + ":". Use "-" for no prefix.
	UserPrefix string
	// AllowUnverifiedEmail keeps an email the provider does not vouch for
	// (email_verified false or absent). Default: such emails are dropped.
	AllowUnverifiedEmail bool
	// HTTPClient makes every request; default a client with a 30 s timeout.
	HTTPClient *http.Client
	// Logger receives warnings; default slog.Default().
	Logger *slog.Logger
	// Now is the clock token lifetimes (expires_in) are measured on;
	// default time.Now.
	Now func() time.Time
}

// OAuth2 is a generic OAuth2 authorization-code provider whose identity comes
// from a userinfo endpoint. It is safe for concurrent use.
type OAuth2 struct {
	c          OAuth2Config
	info       Info
	client     *http.Client
	log        *slog.Logger
	userPrefix string
	// identityHook lets presets adjust or refuse an identity from the raw
	// userinfo document.
	identityHook func(doc map[string]any, id *Identity) error
}

var _ Provider = (*OAuth2)(nil)

// reservedAuthParams are set by Gatehouse and cannot be configured.
var reservedAuthParams = []string{"state", "client_id", "redirect_uri", "response_type", "code_challenge", "code_challenge_method", "nonce", "scope"}

// NewOAuth2 validates c and returns the provider.
func NewOAuth2(c OAuth2Config) (*OAuth2, error) {
	if c.ID == "" {
		return nil, errors.New("oauth2 provider: id is required")
	}
	if c.Type == "" {
		c.Type = "oauth2"
	}
	if c.DisplayName == "" {
		c.DisplayName = c.ID
	}
	if c.ClientID == "" {
		return nil, fmt.Errorf("provider %q: client_id is required", c.ID)
	}
	switch c.ClientAuth {
	case "":
		c.ClientAuth = ClientAuthBody
	case ClientAuthBody, ClientAuthBasic, ClientAuthNone:
	default:
		return nil, fmt.Errorf("provider %q: client_auth %q: want body, basic or none", c.ID, c.ClientAuth)
	}
	if c.ClientAuth != ClientAuthNone && c.ClientSecret == "" {
		return nil, fmt.Errorf("provider %q: client_secret is required with client_auth %s (use client_auth: none for a public client)", c.ID, c.ClientAuth)
	}
	switch strings.ToLower(string(c.PKCE)) {
	case "", "s256":
		c.PKCE = PKCES256
	case "plain":
		c.PKCE = PKCEPlain
	case "off", "none", "false":
		c.PKCE = PKCEOff
	default:
		return nil, fmt.Errorf("provider %q: pkce %q: want S256, plain or off", c.ID, c.PKCE)
	}
	for name, u := range map[string]string{"auth_url": c.AuthURL, "token_url": c.TokenURL, "userinfo_url": c.UserinfoURL} {
		if err := checkEndpoint(u); err != nil {
			return nil, fmt.Errorf("provider %q: %s: %w", c.ID, name, err)
		}
	}
	for k := range c.AuthParams {
		if slices.Contains(reservedAuthParams, strings.ToLower(k)) {
			return nil, fmt.Errorf("provider %q: auth_params may not set %q", c.ID, k)
		}
	}
	if c.ScopeSeparator == "" {
		c.ScopeSeparator = " "
	}
	o := &OAuth2{
		c:          c,
		info:       Info{ID: c.ID, Type: c.Type, DisplayName: c.DisplayName},
		client:     c.HTTPClient,
		log:        c.Logger,
		userPrefix: c.UserPrefix,
	}
	if o.client == nil {
		o.client = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	switch o.userPrefix {
	case "":
		o.userPrefix = c.ID + ":"
	case "-":
		o.userPrefix = ""
	}
	return o, nil
}

// checkEndpoint requires an absolute http(s) URL without a fragment.
func checkEndpoint(raw string) error {
	if raw == "" {
		return errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	return nil
}

// Info implements Provider.
func (o *OAuth2) Info() Info { return o.info }

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
	switch method {
	case PKCEOff:
		return nil, nil
	case PKCEPlain:
		if !ValidCodeVerifier(verifier) {
			return nil, errors.New("oauth2: PKCE enabled but no valid code verifier")
		}
		return []oauth2.AuthCodeOption{
			oauth2.SetAuthURLParam("code_challenge", verifier),
			oauth2.SetAuthURLParam("code_challenge_method", "plain"),
		}, nil
	default:
		if !ValidCodeVerifier(verifier) {
			return nil, errors.New("oauth2: PKCE enabled but no valid code verifier")
		}
		return []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, nil
	}
}

// Redeem implements Provider.
func (o *OAuth2) Redeem(ctx context.Context, code string, p AuthParams) (Grant, error) {
	if code == "" {
		return Grant{}, &Error{Code: CodeInvalidGrant, Message: "The provider sent no authorization code. Please try again.", Err: ErrInvalidGrant}
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}}
	if !o.c.OmitRedirectURI && p.RedirectURL != "" {
		form.Set("redirect_uri", p.RedirectURL)
	}
	if o.c.PKCE != PKCEOff {
		form.Set("code_verifier", p.CodeVerifier)
	}
	tr, err := o.tokenRequest(ctx, form)
	if err != nil {
		return Grant{}, err
	}
	id, err := o.identity(ctx, tr.Tokens.AccessToken)
	if err != nil {
		return Grant{}, err
	}
	return Grant{Identity: id, Tokens: tr.Tokens}, nil
}

// Refresh implements Provider. The identity is read again, so changes (a
// renamed or restricted account) take effect; a different subject is refused.
func (o *OAuth2) Refresh(ctx context.Context, g Grant) (Grant, error) {
	if g.Tokens.RefreshToken == "" {
		return Grant{}, ErrNoRefreshToken
	}
	tr, err := o.tokenRequest(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.Tokens.RefreshToken}})
	if err != nil {
		return Grant{}, err
	}
	if tr.Tokens.RefreshToken == "" {
		tr.Tokens.RefreshToken = g.Tokens.RefreshToken // not rotated
	}
	id, err := o.identity(ctx, tr.Tokens.AccessToken)
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
	return Grant{Identity: id, Tokens: tr.Tokens}, nil
}

func (o *OAuth2) tokenRequest(ctx context.Context, form url.Values) (*tokenResponse, error) {
	tr, err := postToken(ctx, o.client, o.c.TokenURL, form, o.c.ClientAuth, o.c.ClientID, o.c.ClientSecret, o.c.Now)
	if e, ok := errors.AsType[*Error](err); ok && e.Code == CodeInvalidClient {
		// Only the administrator can fix this: say so loudly, once per attempt.
		o.log.WarnContext(ctx, "provider rejected the client credentials; check client_id, client_secret and client_auth",
			"provider", o.c.ID, "client_auth", string(o.c.ClientAuth), "error", e.Err)
	}
	return tr, err
}

// identity fetches and maps the userinfo document.
func (o *OAuth2) identity(ctx context.Context, accessToken string) (Identity, error) {
	doc, err := getJSON(ctx, o.client, o.c.UserinfoURL, accessToken)
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
	id.User = o.userPrefix + id.Subject
	if o.identityHook != nil {
		if err := o.identityHook(m, &id); err != nil {
			return Identity{}, err
		}
	}
	return id, nil
}

// mapIdentity applies a claim mapping to a userinfo document.
func mapIdentity(doc map[string]any, c ClaimMapping, allowUnverifiedEmail bool) (Identity, error) {
	paths := func(configured string, defaults ...string) []string {
		if configured != "" {
			return []string{configured}
		}
		return defaults
	}
	var id Identity
	id.Subject = firstClaimString(doc, paths(c.Subject, "sub", "id")...)
	if id.Subject == "" {
		return Identity{}, errors.New("userinfo has no subject")
	}
	if err := checkPrintable(id.Subject); err != nil {
		return Identity{}, fmt.Errorf("subject: %w", err)
	}
	email := firstClaimString(doc, paths(c.Email, "email")...)
	verified, _ := claimBool(doc, cmp.Or(c.EmailVerified, "email_verified"))
	if email != "" && checkPrintable(email) == nil && (verified || allowUnverifiedEmail) {
		id.Email, id.EmailVerified = email, verified
	}
	id.Name = firstClaimString(doc, paths(c.Name, "name")...)
	id.PreferredUsername = firstClaimString(doc, paths(c.Username, "preferred_username", "username", "login")...)
	id.Picture = firstClaimString(doc, paths(c.Picture, "picture")...)
	id.Groups = claimStrings(doc, cmp.Or(c.Groups, "groups"))
	for _, s := range []*string{&id.Name, &id.PreferredUsername, &id.Picture} {
		if checkPrintable(*s) != nil {
			*s = "" // never forward control characters into headers
		}
	}
	id.Groups = slices.DeleteFunc(id.Groups, func(g string) bool { return checkPrintable(g) != nil })
	return id, nil
}

// checkPrintable refuses values that could split or forge HTTP headers.
func checkPrintable(s string) error {
	if len(s) > 1024 {
		return errors.New("value too long")
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return errors.New("value contains control or invalid characters")
		}
	}
	return nil
}

// ---- token endpoint ----

// tokenResponse is a leniently parsed token endpoint response.
type tokenResponse struct {
	// Tokens.Scope is the granted scope, from a space/comma-separated
	// string or an array; Tokens.Extra every other field of the response.
	Tokens Tokens
}

// postToken sends a token request and parses the answer into a tokenResponse
// or an *Error.
func postToken(ctx context.Context, client *http.Client, endpoint string, form url.Values, auth ClientAuth, clientID, clientSecret string, now func() time.Time) (*tokenResponse, error) {
	form = maps.Clone(form) // Set below replaces, never appends
	switch auth {
	case ClientAuthBasic:
	case ClientAuthNone:
		form.Set("client_id", clientID)
		if clientSecret != "" {
			form.Set("client_secret", clientSecret)
		}
	default:
		form.Set("client_id", clientID)
		form.Set("client_secret", clientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, &Error{Code: CodeProviderError, Message: "The login could not be completed.", Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if auth == ClientAuthBasic {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(clientSecret))
	}
	status, ctype, body, err := do(client, req)
	if err != nil {
		return nil, err
	}
	doc, perr := parseTokenBody(ctype, body)
	if status >= 500 {
		return nil, unavailable(fmt.Errorf("token endpoint: HTTP %d%s", status, describeError(doc)))
	}
	if perr != nil {
		if status == http.StatusUnauthorized {
			return nil, errorFromStatus(status, map[string]any{"error": "invalid_client"}, "token endpoint")
		}
		if status >= 400 {
			return nil, errorFromStatus(status, nil, "token endpoint")
		}
		return nil, badResponse(fmt.Errorf("token endpoint: %w", perr))
	}
	// Some providers (Quaily's other endpoints) wrap answers as {"data": ...}.
	if _, ok := doc["access_token"]; !ok {
		if inner, ok := doc["data"].(map[string]any); ok {
			if _, ok := inner["access_token"]; ok {
				doc = inner
			}
		}
	}
	if status == http.StatusUnauthorized && parseOAuthError(doc).Code == "" {
		doc["error"] = "invalid_client" // RFC 6749 §5.2: 401 is failed client authentication
	}
	if status >= 400 || doc["access_token"] == nil {
		if status < 400 && !hasErrorField(doc) {
			return nil, badResponse(errors.New("token endpoint: no access_token in response"))
		}
		return nil, errorFromStatus(status, doc, "token endpoint")
	}
	if now == nil {
		now = time.Now
	}
	return tokenFromDoc(doc, now())
}

// parseTokenBody reads JSON, or form encoding when the provider answers so.
func parseTokenBody(ctype string, body []byte) (map[string]any, error) {
	mt, _, _ := mime.ParseMediaType(ctype)
	if mt == "application/x-www-form-urlencoded" || mt == "text/plain" {
		if v, err := url.ParseQuery(string(body)); err == nil && len(v) > 0 {
			m := make(map[string]any, len(v))
			for k := range v {
				m[k] = v.Get(k)
			}
			return m, nil
		}
	}
	return decodeJSONObject(body)
}

// tokenFromDoc converts a successful token response leniently.
func tokenFromDoc(doc map[string]any, now time.Time) (*tokenResponse, error) {
	tr := &tokenResponse{Tokens: Tokens{Extra: map[string]any{}}}
	str := func(k string) (string, error) {
		v, ok := doc[k]
		if !ok || v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("token endpoint: %s is not a string", k)
		}
		return s, nil
	}
	var err error
	for k, dst := range map[string]*string{
		"access_token": &tr.Tokens.AccessToken, "token_type": &tr.Tokens.TokenType,
		"refresh_token": &tr.Tokens.RefreshToken, "id_token": &tr.Tokens.IDToken,
	} {
		if *dst, err = str(k); err != nil {
			return nil, badResponse(err)
		}
	}
	if tr.Tokens.AccessToken == "" {
		return nil, badResponse(errors.New("token endpoint: empty access_token"))
	}
	if tr.Tokens.TokenType != "" && !strings.EqualFold(tr.Tokens.TokenType, "bearer") {
		return nil, badResponse(fmt.Errorf("token endpoint: unsupported token_type %q", tr.Tokens.TokenType))
	}
	switch v := doc["expires_in"].(type) {
	case json.Number:
		if secs, err := v.Float64(); err == nil {
			tr.Tokens.Expiry = expiryAfter(now, secs)
		}
	case string:
		if secs, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			tr.Tokens.Expiry = expiryAfter(now, secs)
		}
	}
	if tr.Tokens.Expiry.IsZero() {
		if s, ok := doc["expiry"].(string); ok {
			if t, err := time.Parse(time.RFC3339, s); err == nil && t.After(now) {
				tr.Tokens.Expiry = t
			}
		}
	}
	switch v := doc["scope"].(type) {
	case string:
		tr.Tokens.Scope = strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				tr.Tokens.Scope = append(tr.Tokens.Scope, s)
			}
		}
	}
	for k, v := range doc {
		switch k {
		case "access_token", "token_type", "refresh_token", "id_token", "expires_in", "scope":
		default:
			tr.Tokens.Extra[k] = v
		}
	}
	return tr, nil
}

// maxTokenLifetime is the longest expires_in taken literally; beyond it
// (and for zero, negative or non-finite values) the token is treated as
// not expiring, where a literal reading would overflow time.Duration into
// an expiry in the past.
const maxTokenLifetime = 100 * 365 * 24 * time.Hour

// expiryAfter is the expiry of a token issued at now that lives secs seconds.
func expiryAfter(now time.Time, secs float64) time.Time {
	if !(secs > 0) || secs > maxTokenLifetime.Seconds() {
		return time.Time{}
	}
	return now.Add(time.Duration(secs * float64(time.Second)))
}

// ---- resource requests ----

// getJSON GETs a JSON object with a Bearer token.
func getJSON(ctx context.Context, client *http.Client, endpoint, accessToken string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, &Error{Code: CodeProviderError, Message: "The login could not be completed.", Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	status, _, body, err := do(client, req)
	if err != nil {
		return nil, err
	}
	doc, perr := decodeJSONObject(body)
	if status != http.StatusOK {
		if perr != nil {
			doc = nil
		}
		return nil, errorFromStatus(status, doc, "GET "+redactURL(endpoint))
	}
	if perr != nil {
		return nil, badResponse(fmt.Errorf("GET %s: %w", redactURL(endpoint), perr))
	}
	return doc, nil
}

// do performs req and reads a bounded body. Transport failures become
// provider_unavailable.
func do(client *http.Client, req *http.Request) (status int, ctype string, body []byte, err error) {
	resp, err := client.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return 0, "", nil, &Error{Code: CodeProviderUnavailable, Message: "The login took too long. Please try again.", Err: req.Context().Err()}
		}
		return 0, "", nil, unavailable(fmt.Errorf("%s %s: %w", req.Method, redactURL(req.URL.String()), unwrapURLError(err)))
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return 0, "", nil, unavailable(fmt.Errorf("%s %s: reading response: %w", req.Method, redactURL(req.URL.String()), err))
	}
	if len(body) > maxResponseBytes {
		return 0, "", nil, badResponse(fmt.Errorf("%s %s: response larger than %d bytes", req.Method, redactURL(req.URL.String()), maxResponseBytes))
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), body, nil
}

// unwrapURLError drops *url.Error's copy of the URL (it may carry a query).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		var ne net.Error
		if errors.As(ue.Err, &ne) && ne.Timeout() {
			return fmt.Errorf("timeout: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

// redactURL keeps scheme, host and path: never a query.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// ---- errors ----

func unavailable(err error) *Error {
	return &Error{Code: CodeProviderUnavailable, Message: "The identity provider is unavailable right now. Please try again later.", Err: err}
}

func badResponse(err error) *Error {
	return &Error{Code: CodeBadResponse, Message: "The identity provider sent an unexpected answer. Please try again later.", Err: err}
}

// oauthError is an RFC 6749 §5.2 error, possibly wrapped as {"data": ...}
// or with non-standard field names.
type oauthError struct {
	Code, Description string
}

func hasErrorField(doc map[string]any) bool {
	return parseOAuthError(doc).Code != "" || parseOAuthError(doc).Description != ""
}

// parseOAuthError reads error/error_description, also from {"data": {...}},
// {"error": {"code":..,"message":..}} and {"message": ...} shapes.
func parseOAuthError(doc map[string]any) oauthError {
	if doc == nil {
		return oauthError{}
	}
	var e oauthError
	switch v := doc["error"].(type) {
	case string:
		e.Code = v
	case map[string]any:
		e.Code = firstClaimString(v, "code", "error", "type")
		e.Description = firstClaimString(v, "message", "description", "error_description")
	}
	if d := firstClaimString(doc, "error_description", "message", "msg"); d != "" && e.Description == "" {
		e.Description = d
	}
	if e.Code == "" {
		e.Code = firstClaimString(doc, "code")
	}
	if e.Code == "" && e.Description == "" {
		if inner, ok := doc["data"].(map[string]any); ok {
			return parseOAuthError(inner)
		}
	}
	// Mastodon puts prose in "error": keep standard codes as codes only.
	if strings.ContainsAny(e.Code, " .") {
		if e.Description == "" {
			e.Description = e.Code
		}
		e.Code = ""
	}
	e.Code = truncate(e.Code, 64)
	e.Description = truncate(e.Description, 200)
	return e
}

func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func describeError(doc map[string]any) string {
	e := parseOAuthError(doc)
	if e.Code == "" && e.Description == "" {
		return ""
	}
	return fmt.Sprintf(" (%s: %s)", e.Code, e.Description)
}

// errorFromStatus turns a failed response into an *Error with a user-safe
// message, the provider's error code and description kept for logs.
func errorFromStatus(status int, doc map[string]any, what string) *Error {
	e := parseOAuthError(doc)
	cause := fmt.Errorf("%s: HTTP %d%s", what, status, describeError(doc))
	switch {
	case status >= 500 || e.Code == "temporarily_unavailable" || e.Code == "server_error":
		return unavailable(cause)
	case e.Code == "invalid_client" || e.Code == "unauthorized_client":
		return &Error{Code: CodeInvalidClient, Message: "The identity provider rejected Gatehouse's client credentials. Please tell the administrator.", Err: cause}
	case e.Code == "invalid_grant":
		return &Error{Code: CodeInvalidGrant, Message: "The login expired or was already used. Please try again.", Err: fmt.Errorf("%w: %w", ErrInvalidGrant, cause)}
	case e.Code == "access_denied":
		return &Error{Code: CodeAccessDenied, Message: "Access was denied at the identity provider.", Err: cause}
	case e.Code == "invalid_token" || ((status == http.StatusUnauthorized || status == http.StatusForbidden) && e.Code == ""):
		// A resource endpoint refusing the token (Mastodon answers prose).
		return &Error{Code: CodeInvalidGrant, Message: "The identity provider no longer accepts this login. Please sign in again.", Err: fmt.Errorf("%w: %w", ErrInvalidGrant, cause)}
	case status >= 400 || e.Code != "":
		return &Error{Code: CodeProviderError, Message: "The identity provider refused the login request. Please try again.", Err: cause}
	default:
		return badResponse(cause)
	}
}
