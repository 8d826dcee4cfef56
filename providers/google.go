package providers

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Google's OpenID issuer and the Admin SDK's host.
const (
	GoogleIssuer       = "https://accounts.google.com"
	GoogleDirectoryURL = "https://admin.googleapis.com"
)

// DefaultGoogleGroupsCacheFor is how long Directory groups are kept per
// user when GoogleConfig.GroupsCacheFor is not set.
const DefaultGoogleGroupsCacheFor = 10 * time.Minute

// GoogleConfig configures the Google preset.
type GoogleConfig struct {
	// Common: ID defaults to "google", DisplayName to "Google"; ClientID
	// and ClientSecret of a "Web application" OAuth client; Scopes default
	// to openid, email and profile.
	Common
	// IssuerURL defaults to GoogleIssuer.
	IssuerURL string
	// UserClaim is OIDCConfig.UserClaim (default sub, Google's numeric
	// account id; "email" for the address).
	UserClaim string
	// HostedDomains restricts sign-in to Google Workspace accounts whose
	// hd claim (the organisation's primary domain) is listed; "*" admits
	// any Workspace account but no consumer account. Empty admits every
	// Google account. Checked in the ID token at login and every refresh;
	// one entry is also sent as the hd parameter (a hint for the account
	// chooser, which users can ignore).
	HostedDomains []string
	// ServiceAccountKey is a service account's JSON key with domain-wide
	// delegation of the admin.directory.group.readonly scope; with
	// AdminEmail, the groups of Workspace users are read from the Admin
	// SDK Directory API. Optional.
	ServiceAccountKey []byte
	// AdminEmail is the Workspace administrator the service account acts
	// as. Users whose hd is this address's domain, or one of
	// HostedDomains, get groups.
	AdminEmail string
	// DirectoryURL defaults to GoogleDirectoryURL.
	DirectoryURL string
	// GroupsCacheFor is how long a user's Directory groups are reused;
	// default DefaultGoogleGroupsCacheFor.
	GroupsCacheFor time.Duration
}

// NewGoogle returns the Google provider: OpenID Connect with
// access_type=offline (a refresh token at first consent), the hosted
// domain restriction checked in the ID token, hd in Identity.Extra, and
// optionally the user's Workspace groups (their email addresses, lower
// case) from the Directory API.
func NewGoogle(ctx context.Context, c GoogleConfig) (*OIDC, error) {
	domains, err := parseHostedDomains(c.HostedDomains)
	if err != nil {
		return nil, fmt.Errorf("google: hosted_domain: %w", err)
	}
	params := map[string]string{"access_type": "offline"}
	if len(domains) == 1 {
		params["hd"] = domains[0]
	}
	o, err := newOIDC(ctx, OIDCConfig{Common: c.Common, IssuerURL: cmp.Or(c.IssuerURL, GoogleIssuer), UserClaim: c.UserClaim},
		oidcPreset{typ: "google", displayName: "Google", authParams: params})
	if err != nil {
		return nil, err
	}
	h := &googleHook{domains: domains}
	if len(c.ServiceAccountKey) > 0 || c.AdminEmail != "" {
		if h.dir, err = newGoogleDirectory(c, o.c.Common); err != nil {
			return nil, fmt.Errorf("provider %q: %w", o.c.ID, err)
		}
		_, h.adminDomain, _ = strings.Cut(strings.ToLower(c.AdminEmail), "@")
	}
	o.preset.identity = h.identity
	return o, nil
}

// parseHostedDomains lower-cases the entries and refuses what is not a
// domain or "*".
func parseHostedDomains(in []string) ([]string, error) {
	var out []string
	for _, d := range in {
		d = strings.ToLower(strings.TrimSpace(d))
		if d != "*" && (d == "" || strings.ContainsAny(d, "@/: *") || !strings.Contains(d, ".")) {
			return nil, fmt.Errorf("%q is not a domain (e.g. example.com) or '*'", d)
		}
		out = append(out, d)
	}
	return out, nil
}

// googleHook is the Google identity hook.
type googleHook struct {
	domains     []string // lower case; "*" any Workspace domain
	dir         *googleDirectory
	adminDomain string
}

func (h *googleHook) identity(ctx context.Context, in presetInput, id *Identity) error {
	hd := id.Extra["hd"] // a refresh without an ID token keeps the login's
	if in.claims != nil {
		hd, _ = claimString(in.claims, "hd")
		hd = strings.ToLower(hd)
	}
	if len(h.domains) > 0 && !(hd != "" && (slices.Contains(h.domains, "*") || slices.Contains(h.domains, hd))) {
		return notAllowed("Your Google account is not in an allowed Google Workspace domain. Please sign in with your organisation's account.",
			fmt.Errorf("google account %s: hd %q not in %v", id.Subject, hd, h.domains))
	}
	id.Extra = maps.Clone(id.Extra)
	delete(id.Extra, "hd")
	if hd != "" && checkPrintable(hd) == nil {
		if id.Extra == nil {
			id.Extra = map[string]string{}
		}
		id.Extra["hd"] = hd
	}
	if h.dir == nil {
		return nil
	}
	id.Groups = nil
	if hd == "" || id.Email == "" || !id.EmailVerified || (hd != h.adminDomain && !slices.Contains(h.domains, hd)) {
		return nil // not a user of the administrator's directory
	}
	groups, err := h.dir.groups(ctx, id.Email)
	if err != nil {
		return err
	}
	id.Groups = groups
	return nil
}
