package providers

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-proxy/gatehouse/internal/jwks"
)

// LogoutTokenVerifier is implemented by providers that accept OpenID
// Connect Back-Channel Logout 1.0: the provider POSTs a signed logout
// token naming a user (sub) or one of their provider sessions (sid)
// whose sessions must end.
type LogoutTokenVerifier interface {
	// Info describes the provider.
	Info() Info
	// AcceptsLogoutToken reports whether a logout token claiming issuer
	// and audience is meant for this provider, before it is verified.
	AcceptsLogoutToken(issuer string, audience []string) bool
	// VerifyLogoutToken verifies raw as the specification requires and
	// returns its claims; any failure is an error (the caller answers 400).
	// Whether its jti was seen before is the caller's to check.
	VerifyLogoutToken(ctx context.Context, raw string) (LogoutClaims, error)
}

// LogoutClaims are the verified claims of a back-channel logout token.
// At least one of Subject and SessionID is set.
type LogoutClaims struct {
	Issuer    string
	Subject   string
	SessionID string
	// TokenID is the jti: a token must be used once.
	TokenID string
	// IssuedAt and Expiry bound the token's use; a replay cache must keep
	// TokenID until ReplayUntil.
	IssuedAt, Expiry time.Time
}

// ReplayUntil is how long the token's jti must be remembered: as long as
// VerifyLogoutToken would accept the token.
func (c LogoutClaims) ReplayUntil() time.Time {
	until := c.IssuedAt.Add(LogoutTokenMaxAge + LogoutTokenSkew)
	if c.Expiry.Before(until) {
		until = c.Expiry.Add(LogoutTokenSkew)
	}
	return until
}

// Logout token age limits: a token must have been issued at most
// LogoutTokenMaxAge ago, and no more than LogoutTokenSkew in the future,
// allowing LogoutTokenSkew of clock difference either way.
const (
	LogoutTokenMaxAge = 5 * time.Minute
	LogoutTokenSkew   = time.Minute
)

// backchannelEvent is the member of the events claim that makes a JWT a
// logout token.
const backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"

// maxSIDLen bounds the sid and sub of logout tokens and ID tokens.
const maxSIDLen = 255

var _ LogoutTokenVerifier = (*OIDC)(nil)

// logoutSupport is what discovery says about back-channel logout.
type logoutSupport struct {
	Supported        *bool `json:"backchannel_logout_supported"`
	SessionSupported *bool `json:"backchannel_logout_session_supported"`
}

// initLifecycle prepares logout token verification with the provider's
// keys, reads what discovery says about back-channel logout, and warns
// when re-validation is asked for but there is nothing to ask.
func (o *OIDC) initLifecycle(provider *oidc.Provider) {
	// The provider's verifier: its key set (shared with ID tokens) and the
	// asymmetric algorithms it advertises, never none or HMAC.
	o.logoutVerifier = o.newLogoutVerifier(provider)
	_ = provider.Claims(&o.logoutSupport) // absent without discovery
	if o.c.Revalidate.Every > 0 && o.ValidateEvery() == 0 {
		o.log.Warn("session re-validation is on, but the provider has no userinfo endpoint and no introspection_url is set; sessions are not re-checked")
	}
}

// newLogoutVerifier verifies logout tokens with the provider's keys
// through a jwks.KeySet: the back-channel endpoint is open to anyone, and
// go-oidc's own key set would fetch the JWKS again for every token naming
// an unknown key id.
func (o *OIDC) newLogoutVerifier(provider *oidc.Provider) *oidc.IDTokenVerifier {
	var meta struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	_ = provider.Claims(&meta) // absent without discovery
	algs := slices.DeleteFunc(slices.Clone(meta.Algs), func(a string) bool { return !slices.Contains(asymmetricAlgs, a) })
	switch {
	case len(algs) > 0:
	case meta.JWKSURI == "":
		algs = asymmetricAlgs // without discovery, as the ID-token verifier
	default:
		algs = []string{oidc.RS256}
	}
	issuer, jwksURL := cmp.Or(meta.Issuer, o.c.IssuerURL), cmp.Or(meta.JWKSURI, o.c.JWKSURL)
	keys := jwks.NewKeySet(jwksURL, o.c.HTTPClient, algs, 0)
	return oidc.NewVerifier(issuer, keys, &oidc.Config{ClientID: o.c.ClientID, Now: o.c.Now, SupportedSigningAlgs: algs})
}

// BackchannelLogoutSupport reports what discovery said:
// backchannel_logout_supported and backchannel_logout_session_supported,
// each nil when discovery did not say (or was skipped).
func (o *OIDC) BackchannelLogoutSupport() (supported, sessionSupported *bool) {
	return o.logoutSupport.Supported, o.logoutSupport.SessionSupported
}

// AcceptsLogoutToken implements LogoutTokenVerifier: the token must name
// this provider's issuer and client.
func (o *OIDC) AcceptsLogoutToken(issuer string, audience []string) bool {
	return issuer == o.c.IssuerURL && slices.Contains(audience, o.c.ClientID)
}

// VerifyLogoutToken implements LogoutTokenVerifier, following OpenID
// Connect Back-Channel Logout 1.0 §2.6: a single signature by one of the
// provider's keys with one of its asymmetric algorithms, typ logout+jwt
// (or JWT) when present, iss the issuer, aud containing the client id,
// not expired, iat within LogoutTokenMaxAge (with LogoutTokenSkew), a jti,
// an events claim with the back-channel logout member (a JSON object), a
// sid and/or a sub, and no nonce.
func (o *OIDC) VerifyLogoutToken(ctx context.Context, raw string) (LogoutClaims, error) {
	if err := checkLogoutHeader(raw); err != nil {
		return LogoutClaims{}, err
	}
	ctx = oidc.ClientContext(ctx, o.c.HTTPClient)
	tok, err := o.logoutVerifier.VerifyLogout(ctx, raw)
	if err != nil {
		return LogoutClaims{}, fmt.Errorf("logout token: %w", err)
	}
	var extra struct {
		IssuedAt *json.Number               `json:"iat"`
		Events   map[string]json.RawMessage `json:"events"`
	}
	if err := tok.Claims(&extra); err != nil {
		return LogoutClaims{}, fmt.Errorf("logout token claims: %w", err)
	}
	if ev, ok := extra.Events[backchannelEvent]; !ok || !isJSONObject(ev) {
		return LogoutClaims{}, errors.New("logout token: the events claim has no back-channel logout object")
	}
	if extra.IssuedAt == nil {
		return LogoutClaims{}, errors.New("logout token: no iat")
	}
	now := o.now()
	switch {
	case tok.IssuedAt.After(now.Add(LogoutTokenSkew)):
		return LogoutClaims{}, fmt.Errorf("logout token: issued in the future (iat %s)", tok.IssuedAt.UTC().Format(time.RFC3339))
	case now.Sub(tok.IssuedAt) > LogoutTokenMaxAge+LogoutTokenSkew:
		return LogoutClaims{}, fmt.Errorf("logout token: too old (iat %s)", tok.IssuedAt.UTC().Format(time.RFC3339))
	}
	for name, v := range map[string]string{"sub": tok.Subject, "sid": tok.SessionID, "jti": tok.TokenID} {
		if len(v) > maxSIDLen || checkPrintable(v) != nil {
			return LogoutClaims{}, fmt.Errorf("logout token: malformed %s", name)
		}
	}
	return LogoutClaims{Issuer: tok.Issuer, Subject: tok.Subject, SessionID: tok.SessionID,
		TokenID: tok.TokenID, IssuedAt: tok.IssuedAt, Expiry: tok.Expiry}, nil
}

// checkLogoutHeader refuses, before any key is fetched, tokens that are
// not a single JWS with an acceptable typ.
func checkLogoutHeader(raw string) error {
	if len(raw) > 16<<10 {
		return errors.New("logout token: too large")
	}
	jws, err := jose.ParseSignedCompact(raw, asymmetricJOSEAlgs)
	if err != nil {
		return fmt.Errorf("logout token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return errors.New("logout token: not exactly one signature")
	}
	if typ, ok := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string); ok {
		switch strings.ToLower(strings.TrimPrefix(strings.ToLower(typ), "application/")) {
		case "logout+jwt", "jwt":
		default:
			return fmt.Errorf("logout token: typ %q is not logout+jwt", truncate(typ, 40))
		}
	}
	return nil
}

// asymmetricJOSEAlgs are asymmetricAlgs for go-jose.
var asymmetricJOSEAlgs = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(asymmetricAlgs))
	for i, a := range asymmetricAlgs {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

func isJSONObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

func (o *OIDC) now() time.Time {
	if o.c.Now != nil {
		return o.c.Now()
	}
	return time.Now()
}

// sessionIDClaim is the provider session of an identity: the ID token's
// sid when it carries a usable one, else the one the session had (refresh
// keeps the sid of the login: that is what logout tokens name).
func sessionIDClaim(claims map[string]any, prev *Identity) string {
	if prev != nil && prev.SessionID != "" {
		return prev.SessionID
	}
	sid, _ := claims["sid"].(string)
	if len(sid) > maxSIDLen || checkPrintable(sid) != nil {
		return ""
	}
	return sid
}
