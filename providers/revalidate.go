package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Revalidation says how often a session's access token is re-checked at
// the provider, so that a token the provider revoked (a disabled user)
// ends the session before it expires. OIDC and OAuth2 providers (and the
// presets built on OAuth2) implement Validator with it.
type Revalidation struct {
	// Every is the longest a session goes without a check (a refresh
	// counts as one); zero disables.
	Every time.Duration
	// IntrospectionURL is an RFC 7662 token introspection endpoint, asked
	// with the client's credentials, instead of the userinfo endpoint.
	IntrospectionURL string
}

var (
	_ Validator = (*OIDC)(nil)
	_ Validator = (*OAuth2)(nil)
)

// ValidateEvery implements Validator: Revalidate.Every, or zero when the
// provider has neither a userinfo endpoint nor an introspection endpoint
// to ask.
func (o *OIDC) ValidateEvery() time.Duration {
	if o.userinfoURL == "" && o.c.Revalidate.IntrospectionURL == "" {
		return 0
	}
	return o.c.Revalidate.Every
}

// Validate implements Validator: the access token must still be active at
// the introspection endpoint, or accepted by the userinfo endpoint, for
// the same subject.
func (o *OIDC) Validate(ctx context.Context, g Grant) error {
	if o.c.Revalidate.IntrospectionURL != "" {
		return o.token.introspect(ctx, o.c.Revalidate.IntrospectionURL, g)
	}
	doc, err := getJSON(ctx, o.c.HTTPClient, o.userinfoURL, g.Tokens.AccessToken)
	if err != nil {
		return err
	}
	if sub, _ := scalarString(doc["sub"]); sub != g.Identity.Subject {
		return fmt.Errorf("provider %q: userinfo names another subject: %w", o.c.ID, ErrInvalidGrant)
	}
	return nil
}

// ValidateEvery implements Validator.
func (o *OAuth2) ValidateEvery() time.Duration { return o.c.Revalidate.Every }

// Validate implements Validator: the access token must still be active at
// the introspection endpoint, or still read the same identity from the
// userinfo endpoint, which the provider's own rules (a restricted osu!
// account) must still allow.
func (o *OAuth2) Validate(ctx context.Context, g Grant) error {
	if o.c.Revalidate.IntrospectionURL != "" {
		return o.token.introspect(ctx, o.c.Revalidate.IntrospectionURL, g)
	}
	id, err := o.identity(ctx, g.Tokens.AccessToken)
	switch {
	case errors.Is(err, ErrUnauthorized):
		return fmt.Errorf("provider %q: %w: %w", o.c.ID, ErrInvalidGrant, err)
	case err != nil:
		return err
	case id.Subject != g.Identity.Subject:
		return fmt.Errorf("provider %q: userinfo names another subject: %w", o.c.ID, ErrInvalidGrant)
	}
	return nil
}

// introspect asks an RFC 7662 endpoint about g's access token: inactive,
// or active for another subject, wraps ErrInvalidGrant; any failure to get
// an answer (unreachable, 5xx, our own credentials refused) is transient.
func (c tokenClient) introspect(ctx context.Context, endpoint string, g Grant) error {
	req, err := c.post(ctx, endpoint, url.Values{"token": {g.Tokens.AccessToken}, "token_type_hint": {"access_token"}})
	if err != nil {
		return err
	}
	status, _, body, err := do(c.http, req)
	if err != nil {
		return err
	}
	doc, perr := decodeJSONObject(body)
	switch {
	case status >= 500:
		return unavailable(fmt.Errorf("introspection: HTTP %d%s", status, describeError(doc)))
	case status != http.StatusOK:
		// 401/403 refuse Gatehouse's credentials, not the user's token.
		return &Error{Code: CodeProviderError, Message: "The identity provider refused to check the session.",
			Err: fmt.Errorf("introspection: HTTP %d%s", status, describeError(doc))}
	case perr != nil:
		return badResponse(fmt.Errorf("introspection: %w", perr))
	}
	active, ok := doc["active"].(bool)
	if !ok {
		return badResponse(errors.New("introspection: no boolean active member"))
	}
	if !active {
		return fmt.Errorf("introspection: token inactive: %w", ErrInvalidGrant)
	}
	if sub, _ := scalarString(doc["sub"]); sub != "" && sub != g.Identity.Subject {
		return fmt.Errorf("introspection: token belongs to another subject: %w", ErrInvalidGrant)
	}
	return nil
}
