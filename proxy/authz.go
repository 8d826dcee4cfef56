package proxy

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// ErrNotAllowed is returned (wrapped) by Authorizer.Allow for an identity
// the rules refuse.
var ErrNotAllowed = errors.New("not allowed")

// Authorizer holds the authorization rules applied to every authenticated
// session, in order: allowed email domains first, then per-provider rules.
type Authorizer struct {
	anyEmail  bool
	domains   []string // "example.com" exact, ".example.com" subdomains
	providers map[string]ProviderRule
}

// ProviderRule narrows who may log in through one provider. Empty fields do
// not restrict; non-empty ones must all match (users OR groups when both).
type ProviderRule struct {
	// Users lists allowed X-Forwarded-User values (e.g. "osu:123",
	// "alice@mastodon.example") or subjects.
	Users []string
	// Groups lists groups of which the user must have at least one.
	Groups []string
}

// NewAuthorizer returns an Authorizer for the --email-domain list ("*" for
// any, which also admits identities without email) and per-provider rules.
func NewAuthorizer(emailDomains []string, rules map[string]ProviderRule) *Authorizer {
	a := &Authorizer{providers: rules}
	for _, d := range emailDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "*":
			a.anyEmail = true
		case strings.HasPrefix(d, "*."):
			a.domains = append(a.domains, d[1:])
		case d != "":
			a.domains = append(a.domains, d)
		}
	}
	return a
}

// Allow returns nil when s may pass, or an error wrapping ErrNotAllowed
// that says why (for logs, not for users).
func (a *Authorizer) Allow(s *session.Session) error {
	id := s.Identity
	if !a.anyEmail {
		if id.Email == "" {
			return fmt.Errorf("%w: identity has no verified email and --email-domain is not '*'", ErrNotAllowed)
		}
		if !a.emailAllowed(id.Email) {
			return fmt.Errorf("%w: email domain not in --email-domain", ErrNotAllowed)
		}
	}
	rule, ok := a.providers[s.ProviderID]
	if !ok || (len(rule.Users) == 0 && len(rule.Groups) == 0) {
		return nil
	}
	if slices.ContainsFunc(rule.Users, func(u string) bool {
		return strings.EqualFold(u, id.User) || u == id.Subject
	}) {
		return nil
	}
	for _, g := range rule.Groups {
		if slices.Contains(id.Groups, g) {
			return nil
		}
	}
	return fmt.Errorf("%w: not in the allowed users or groups of provider %q", ErrNotAllowed, s.ProviderID)
}

func (a *Authorizer) emailAllowed(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return false
	}
	domain := strings.ToLower(email[at+1:])
	for _, d := range a.domains {
		if strings.HasPrefix(d, ".") {
			if strings.HasSuffix(domain, d) {
				return true
			}
			continue
		}
		if domain == d {
			return true
		}
	}
	return false
}
