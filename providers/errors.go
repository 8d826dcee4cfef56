package providers

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
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
	// CodeRateLimited: the service is rate limiting Gatehouse's API calls
	// (GitHub, Microsoft Graph, Google's Directory API); try again later.
	CodeRateLimited = "rate_limited"
)

// unavailable: the provider could not be reached or failed; try later.
func unavailable(err error) *Error {
	return &Error{Code: CodeProviderUnavailable, Message: "The identity provider is unavailable right now. Please try again later.", Err: err}
}

// badResponse: the provider answered something Gatehouse cannot read.
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
		return invalidGrant("The login link expired or was already used. Please try again.", cause)
	case e.Code == "access_denied":
		return &Error{Code: CodeAccessDenied, Message: "Access was denied at the identity provider.", Err: cause}
	case e.Code == "invalid_token" || ((status == http.StatusUnauthorized || status == http.StatusForbidden) && e.Code == ""):
		// A resource endpoint refusing the token (Mastodon answers prose).
		return invalidGrant("The identity provider no longer accepts this login. Please sign in again.", cause)
	case status >= 400 || e.Code != "":
		return &Error{Code: CodeProviderError, Message: "The identity provider refused the login request. Please try again.", Err: cause}
	default:
		return badResponse(cause)
	}
}

// invalidGrant is an *Error wrapping ErrInvalidGrant: the code or refresh
// token was refused, so the login or session cannot go on.
func invalidGrant(message string, cause error) *Error {
	return &Error{Code: CodeInvalidGrant, Message: message, Err: fmt.Errorf("%w: %w", ErrInvalidGrant, cause)}
}

// untrusted: the provider's answer failed verification (signature,
// issuer, audience, nonce, subject).
func untrusted(err error) *Error {
	return &Error{Code: CodeBadResponse, Message: "The identity provider's answer could not be verified. Please try again.", Err: err}
}

// notAllowed is an *Error wrapping ErrUnauthorized: the account is valid
// but the provider's own restrictions refuse it. message tells the user
// what is missing; on refresh the session ends.
func notAllowed(message string, cause error) *Error {
	return &Error{Code: CodeAccountNotAllowed, Message: message, Err: fmt.Errorf("%w: %w", ErrUnauthorized, cause)}
}

// rateLimited: service refuses more API calls for now. retry is how long
// it asked Gatehouse to wait (0 when it did not say). It is transient:
// it never wraps ErrInvalidGrant, so a re-validation that meets it keeps
// the session.
func rateLimited(service string, retry time.Duration, cause error) *Error {
	when := "in a few minutes"
	switch {
	case retry <= 0:
	case retry < 90*time.Second:
		when = "in a minute"
	case retry < 90*time.Minute:
		when = fmt.Sprintf("in about %d minutes", int((retry+30*time.Second)/time.Minute))
	default:
		when = fmt.Sprintf("in about %d hours", int((retry+30*time.Minute)/time.Hour))
	}
	return &Error{Code: CodeRateLimited,
		Message: fmt.Sprintf("%s is limiting how often Gatehouse may ask it about your account. Please try again %s.", service, when),
		Err:     fmt.Errorf("%s rate limit (retry after %s): %w", service, retry, cause)}
}
