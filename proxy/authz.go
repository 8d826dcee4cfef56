package proxy

import (
	"errors"
	"fmt"

	"github.com/gatehouse-proxy/gatehouse/proxy/policy"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// ErrNotAllowed is returned (wrapped) by Authorizer.Allow for an identity
// the rules refuse.
var ErrNotAllowed = errors.New("not allowed")

// Authorizer holds the authorization rules applied to every authenticated
// session, in order: allowed email domains first, then per-provider rules.
// Both are policy.Rules, compared as package policy describes.
type Authorizer struct {
	domains   policy.Rule
	providers map[string]policy.Rule
}

// ProviderRule narrows who may log in through one provider. Empty fields do
// not restrict; when both are given, matching either admits.
type ProviderRule struct {
	// Users lists allowed X-Forwarded-User values (e.g. "osu:123",
	// "alice@mastodon.example") or subjects, compared exactly.
	Users []string
	// Groups lists groups of which the user must have at least one,
	// compared exactly.
	Groups []string
}

// NewAuthorizer returns an Authorizer for the --email-domain list ("*" for
// any, which also admits identities without email) and per-provider rules.
// An empty domain list admits nobody.
func NewAuthorizer(emailDomains []string, rules map[string]ProviderRule) *Authorizer {
	a := &Authorizer{providers: make(map[string]policy.Rule, len(rules))}
	a.domains = policy.Rule{Name: "--email-domain", EmailDomains: emailDomains}
	for id, r := range rules {
		a.providers[id] = policy.Rule{Name: fmt.Sprintf("provider %q", id), Users: r.Users, Groups: r.Groups}
	}
	return a
}

// Allow returns nil when s may pass, or an error wrapping ErrNotAllowed
// that says why (for logs, not for users).
func (a *Authorizer) Allow(s *session.Session) error {
	if len(a.domains.EmailDomains) == 0 {
		// An empty Rule admits everyone; an empty list admits nobody.
		return fmt.Errorf("%w: --email-domain is empty", ErrNotAllowed)
	}
	id := policy.NewIdentity(s.ProviderID, s.Identity)
	if d := policy.All(id, a.domains, a.providers[s.ProviderID]); !d.Admitted {
		return fmt.Errorf("%w: %s", ErrNotAllowed, d.Reason)
	}
	return nil
}
