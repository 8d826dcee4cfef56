package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

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
	if o.preset.checkIssuer != nil {
		if err := o.preset.checkIssuer(idt.Issuer, claims); err != nil {
			return nil, nil, fmt.Errorf("ID token issuer: %w", err)
		}
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
	p.groups, p.hasGroups = oidcGroups(doc, o.c.GroupsClaim)
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

// oidcGroups reads the groups claim: a string (one group), an array of
// strings/numbers, or an object whose keys are the names (ZITADEL's
// roles: {"admin": {"<org id>": "<org domain>"}}). present is false when
// the claim is absent.
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
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if k != "" {
				groups = append(groups, k)
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
	if o.preset.userinfoGroups {
		p.groups, p.hasGroups = nil, false // userinfo's alone count
	}
	var info map[string]any
	if (!p.hasEmail || !p.hasName || !p.hasGroups) && o.userinfoURL != "" && accessToken != "" {
		var err error
		if info, err = o.userinfo(ctx, idt.Subject, accessToken); err != nil {
			return Identity{}, err
		}
		if info != nil {
			p.merge(o.readProfile(info))
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
		case o.c.AllowUnverifiedEmail:
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
	if o.preset.identity != nil {
		in := presetInput{claims: claims, userinfo: info, accessToken: accessToken, refresh: prev != nil}
		if err := o.preset.identity(ctx, in, &id); err != nil {
			return Identity{}, err
		}
	}
	id.Groups = slices.DeleteFunc(id.Groups, func(g string) bool { return checkPrintable(g) != nil })
	o.c.clean(&id)
	id.User = o.userValue(id, claims)
	id.SessionID = sessionIDClaim(claims, prev)
	return id, nil
}

// userinfo reads the userinfo endpoint, whose sub must be the ID
// token's. It returns nil, nil when the endpoint refuses the token.
func (o *OIDC) userinfo(ctx context.Context, sub, accessToken string) (map[string]any, error) {
	doc, err := getJSON(ctx, o.c.HTTPClient, o.userinfoURL, accessToken)
	var pe *Error
	switch {
	case err == nil:
		if s, _ := scalarString(doc["sub"]); s != sub {
			return nil, untrusted(errors.New("userinfo sub differs from the ID token's"))
		}
		return doc, nil
	case errors.As(err, &pe) && pe.Code != CodeProviderUnavailable:
		o.log.Warn("userinfo refused; using the ID token's claims only", "err", err)
		return nil, nil
	}
	return nil, err
}

// userValue is the X-Forwarded-User value: the configured claim, or the
// subject when that claim is absent or unusable.
func (o *OIDC) userValue(id Identity, claims map[string]any) string {
	var v string
	switch o.c.UserClaim {
	case "", "sub":
	case "email":
		v = id.Email
	case "preferred_username":
		v = id.PreferredUsername
	default:
		v, _ = scalarString(claims[o.c.UserClaim])
	}
	if v == "" || checkPrintable(v) != nil {
		return id.Subject
	}
	return v
}
