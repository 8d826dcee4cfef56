package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// tokenClient talks to one token endpoint (RFC 6749 §3.2) for every
// provider: it redeems codes and refresh tokens, authenticates the client,
// reads the many shapes real providers answer in, and turns every failure
// into an *Error through one classifier (tokenError).
type tokenClient struct {
	url                    string
	auth                   ClientAuth // body when empty
	clientID, clientSecret string
	http                   *http.Client
	now                    func() time.Time // nil: time.Now
}

// tokenOp says what a token request is for; failures are classified by it.
type tokenOp int

const (
	opRedeem  tokenOp = iota // authorization_code
	opRefresh                // refresh_token
	opOther                  // e.g. client_credentials
)

// redeem exchanges an authorization code. redirectURI and verifier are
// sent when not empty.
func (c tokenClient) redeem(ctx context.Context, code, redirectURI, verifier string) (Tokens, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}}
	if redirectURI != "" {
		form.Set("redirect_uri", redirectURI)
	}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	return c.request(ctx, form, opRedeem)
}

// refresh redeems a refresh token. A refusal wraps ErrInvalidGrant.
func (c tokenClient) refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	return c.request(ctx, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}, opRefresh)
}

// request sends form with the client's credentials and parses the answer
// into Tokens or an *Error.
func (c tokenClient) request(ctx context.Context, form url.Values, op tokenOp) (Tokens, error) {
	form = maps.Clone(form) // Set below replaces, never appends
	switch c.auth {
	case ClientAuthBasic:
	case ClientAuthNone:
		form.Set("client_id", c.clientID)
		if c.clientSecret != "" {
			form.Set("client_secret", c.clientSecret)
		}
	default:
		form.Set("client_id", c.clientID)
		form.Set("client_secret", c.clientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(form.Encode()))
	if err != nil {
		return Tokens{}, &Error{Code: CodeProviderError, Message: "The login could not be completed.", Err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.auth == ClientAuthBasic {
		// RFC 6749 §2.3.1: each part form-urlencoded first.
		req.SetBasicAuth(url.QueryEscape(c.clientID), url.QueryEscape(c.clientSecret))
	}
	status, ctype, body, err := do(c.http, req)
	if err != nil {
		return Tokens{}, err
	}
	doc, perr := parseTokenBody(ctype, body)
	if perr != nil {
		doc = nil
	}
	// Some providers (Quaily's other endpoints) wrap answers as {"data": ...}.
	if _, ok := doc["access_token"]; !ok {
		if inner, ok := doc["data"].(map[string]any); ok {
			if _, ok := inner["access_token"]; ok {
				doc = inner
			}
		}
	}
	if e := tokenError(op, status, aliasTokenError(doc), perr); e != nil {
		return Tokens{}, e
	}
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	return tokenFromDoc(doc, now())
}

// tokenError classifies a token endpoint's answer: nil for a success that
// carries an access token, else the *Error saying what went wrong. doc is
// nil when the body could not be read (perr says why).
//
//   - 5xx, temporarily_unavailable, server_error: the provider is
//     unavailable (transient).
//   - On refresh, invalid_grant or a 400/401 naming no error code: the
//     refresh token was refused (wraps ErrInvalidGrant; the session ends).
//   - Otherwise a 401 naming no code is invalid_client (RFC 6749 §5.2),
//     and the RFC 6749 code decides (errorFromStatus).
func tokenError(op tokenOp, status int, doc map[string]any, perr error) *Error {
	const what = "token endpoint"
	code := parseOAuthError(doc).Code
	switch {
	case status >= 500:
		return unavailable(fmt.Errorf("%s: HTTP %d%s", what, status, describeError(doc)))
	case op == opRefresh && status >= 400 && (code == "invalid_grant" ||
		(code == "" && (status == http.StatusBadRequest || status == http.StatusUnauthorized))):
		return invalidGrant("The identity provider no longer accepts this login. Please sign in again.",
			fmt.Errorf("%s: refresh refused: HTTP %d%s", what, status, describeError(doc)))
	case status == http.StatusUnauthorized && code == "":
		// RFC 6749 §5.2: 401 is failed client authentication.
		doc = maps.Clone(doc)
		if doc == nil {
			doc = map[string]any{}
		}
		doc["error"] = "invalid_client"
		return errorFromStatus(status, doc, what)
	case perr != nil && status >= 400:
		return errorFromStatus(status, nil, what)
	case perr != nil:
		return badResponse(fmt.Errorf("%s: %w", what, perr))
	case status >= 400 || doc["access_token"] == nil:
		if status < 400 && !hasErrorField(doc) {
			return badResponse(errors.New("token endpoint: no access_token in response"))
		}
		return errorFromStatus(status, doc, what)
	}
	return nil
}

// tokenErrorAliases are token-endpoint error codes that services use
// instead of RFC 6749's for the same thing (GitHub's, which it answers
// with status 200).
var tokenErrorAliases = map[string]string{
	"bad_verification_code":        "invalid_grant",
	"bad_refresh_token":            "invalid_grant",
	"incorrect_client_credentials": "invalid_client",
}

// aliasTokenError returns doc with an aliased error code replaced by the
// RFC 6749 one; the original stays in the description for logs.
func aliasTokenError(doc map[string]any) map[string]any {
	code, _ := doc["error"].(string)
	std, ok := tokenErrorAliases[code]
	if !ok {
		return doc
	}
	doc = maps.Clone(doc)
	doc["error"] = std
	desc, _ := doc["error_description"].(string)
	doc["error_description"] = strings.TrimSpace(code + ": " + desc)
	return doc
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

// tokenFromDoc converts a successful token response leniently: expires_in
// as a number or a string (or an RFC 3339 "expiry"), scope as a string or
// an array; every other field is kept in Extra.
func tokenFromDoc(doc map[string]any, now time.Time) (Tokens, error) {
	t := Tokens{Extra: map[string]any{}}
	for k, dst := range map[string]*string{
		"access_token": &t.AccessToken, "token_type": &t.TokenType,
		"refresh_token": &t.RefreshToken, "id_token": &t.IDToken,
	} {
		v, ok := doc[k]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return Tokens{}, badResponse(fmt.Errorf("token endpoint: %s is not a string", k))
		}
		*dst = s
	}
	if t.AccessToken == "" {
		return Tokens{}, badResponse(errors.New("token endpoint: empty access_token"))
	}
	if t.TokenType != "" && !strings.EqualFold(t.TokenType, "bearer") {
		return Tokens{}, badResponse(fmt.Errorf("token endpoint: unsupported token_type %q", t.TokenType))
	}
	t.Expiry = tokenExpiry(doc, now)
	switch v := doc["scope"].(type) {
	case string:
		t.Scope = strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })
	case []any:
		for _, e := range v {
			if s, ok := e.(string); ok {
				t.Scope = append(t.Scope, s)
			}
		}
	}
	for k, v := range doc {
		switch k {
		case "access_token", "token_type", "refresh_token", "id_token", "expires_in", "scope":
		default:
			t.Extra[k] = v
		}
	}
	return t, nil
}

// tokenExpiry reads expires_in (a number or a numeric string), else an
// RFC 3339 "expiry" in the future; zero when neither says.
func tokenExpiry(doc map[string]any, now time.Time) time.Time {
	switch v := doc["expires_in"].(type) {
	case json.Number:
		if secs, err := v.Float64(); err == nil {
			if e := expiryAfter(now, secs); !e.IsZero() {
				return e
			}
		}
	case string:
		if secs, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			if e := expiryAfter(now, secs); !e.IsZero() {
				return e
			}
		}
	}
	if s, ok := doc["expiry"].(string); ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil && t.After(now) {
			return t
		}
	}
	return time.Time{}
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
