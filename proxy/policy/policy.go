// Package policy decides whether an identity may pass a rule. It is the one
// place where Gatehouse compares identities with configuration: every rule
// (the global --email-domain list, a provider's allowed users and groups,
// /oauth2/auth's per-location allowed_groups and allowed_emails) is a Rule,
// and Rule.Admit applies the same comparison to each kind of value:
//
//   - groups, users, subjects, providers and claims: exactly, byte for byte
//     (a list-valued claim admits when one of its items is equal);
//   - email addresses: parsed strictly by providers.ParseEmail on both
//     sides, the local part compared exactly, the domain in any case;
//   - email domains: in any case; "*.example.com" matches the subdomains of
//     example.com (not example.com itself), "*" any identity.
package policy

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

// Identity is what rules look at: a session's identity with its email
// parsed once. Build it with NewIdentity.
type Identity struct {
	// Provider is the id of the provider the user signed in with.
	Provider string
	// User is the X-Forwarded-User value; Subject the provider's key.
	User, Subject string
	// Email is the parsed address; zero when the provider gave none or one
	// that ParseEmail refuses (a malformed address matches no rule).
	Email providers.Email
	// Groups are the user's groups that providers.ValidGroupName accepts.
	Groups []string
	// Claims are the provider-specific attributes (Identity.Extra).
	Claims map[string]string
	// ListClaims are claims whose value is a list (a bearer token's
	// "roles": ["a", "b"]); a rule's claim admits when the list holds it.
	ListClaims map[string][]string
}

// NewIdentity returns the rule view of id, signed in through provider.
// Values a provider should never have produced (a malformed email, a group
// name with a comma) are left out, so that not even a session stored before
// providers refused them can match a rule with them.
func NewIdentity(provider string, id providers.Identity) Identity {
	out := Identity{Provider: provider, User: id.User, Subject: id.Subject, Claims: id.Extra}
	if out.User == "" {
		out.User = id.Subject
	}
	if e, err := providers.ParseEmail(id.Email); err == nil {
		out.Email = e
	}
	for _, g := range id.Groups {
		if providers.ValidGroupName(g) {
			out.Groups = append(out.Groups, g)
		}
	}
	return out
}

// Rule admits the identities that match at least one of its entries; a
// Rule with no entries admits everyone. Several Rules that must all hold
// are checked one after the other (see All).
type Rule struct {
	// Name says where the rule comes from in reasons ("--email-domain",
	// "provider \"corp\"", "allowed_groups").
	Name string
	// Emails are addresses (as written in configuration; an entry that
	// ParseEmail refuses matches nobody).
	Emails []string
	// EmailDomains are "example.com", "*.example.com" or "*" (which also
	// admits identities without an email).
	EmailDomains []string
	// Groups the user must share at least one of.
	Groups []string
	// Users are X-Forwarded-User values or subjects.
	Users []string
	// Providers are provider ids.
	Providers []string
	// Claims maps an attribute name to the values admitted.
	Claims map[string][]string
}

// Decision is the outcome of a rule: admitted or not, and why.
type Decision struct {
	// Admitted reports whether the identity may pass.
	Admitted bool
	// Reason explains the decision for logs; it names rules and kinds of
	// values, never the user's values.
	Reason string
}

// Empty reports whether r has no entries (and so admits everyone).
func (r Rule) Empty() bool {
	return len(r.Emails) == 0 && len(r.EmailDomains) == 0 && len(r.Groups) == 0 &&
		len(r.Users) == 0 && len(r.Providers) == 0 && len(r.Claims) == 0
}

// Admit decides whether id matches r.
func (r Rule) Admit(id Identity) Decision {
	if r.Empty() {
		return Decision{Admitted: true, Reason: r.Name + ": no restriction"}
	}
	for _, m := range []struct {
		kind string
		ok   func() bool
	}{
		{"email domain", func() bool {
			return slices.ContainsFunc(r.EmailDomains, func(d string) bool { return MatchEmailDomain(d, id.Email) })
		}},
		{"email", func() bool {
			return slices.ContainsFunc(r.Emails, func(e string) bool { return MatchEmail(e, id.Email) })
		}},
		{"group", func() bool {
			return slices.ContainsFunc(r.Groups, func(g string) bool { return slices.Contains(id.Groups, g) })
		}},
		{"user", func() bool {
			return slices.ContainsFunc(r.Users, func(u string) bool { return MatchExact(u, id.User) || MatchExact(u, id.Subject) })
		}},
		{"provider", func() bool {
			return slices.ContainsFunc(r.Providers, func(p string) bool { return MatchExact(p, id.Provider) })
		}},
		{"claim", func() bool { return r.claimsMatch(id) }},
	} {
		if m.ok() {
			return Decision{Admitted: true, Reason: fmt.Sprintf("%s: %s matches", r.Name, m.kind)}
		}
	}
	why := "matches none of its entries"
	if id.Email.IsZero() && (len(r.Emails) > 0 || len(r.EmailDomains) > 0) {
		why += " (the identity has no well-formed email)"
	}
	return Decision{Reason: r.Name + ": " + why}
}

func (r Rule) claimsMatch(id Identity) bool {
	for name, values := range r.Claims {
		if v, ok := id.Claims[name]; ok && slices.ContainsFunc(values, func(want string) bool { return MatchExact(want, v) }) {
			return true
		}
		if list := id.ListClaims[name]; slices.ContainsFunc(values, func(want string) bool { return slices.Contains(list, want) && want != "" }) {
			return true
		}
	}
	return false
}

// All admits id when every rule does; its reason is the first refusal's.
func All(id Identity, rules ...Rule) Decision {
	for _, r := range rules {
		if d := r.Admit(id); !d.Admitted {
			return d
		}
	}
	return Decision{Admitted: true, Reason: "every rule admits"}
}

// MatchExact is the comparison of groups, users, subjects, providers and
// claims: byte for byte, and an empty want matches nothing.
func MatchExact(want, have string) bool { return want != "" && want == have }

// MatchEmail reports whether the configured address want and have are the
// same mailbox (providers.Email.Same); a want that ParseEmail refuses
// matches nothing.
func MatchEmail(want string, have providers.Email) bool {
	w, err := providers.ParseEmail(want)
	return err == nil && w.Same(have)
}

// MatchEmailDomain reports whether have's domain is allowed by want:
// "example.com" exactly, "*.example.com" (or ".example.com") its
// subdomains, in any case; "*" any identity, with or without email.
func MatchEmailDomain(want string, have providers.Email) bool {
	want = strings.ToLower(strings.TrimSpace(want))
	switch {
	case want == "*":
		return true
	case want == "" || have.IsZero():
		return false
	}
	if suffix, ok := strings.CutPrefix(want, "*"); ok || strings.HasPrefix(want, ".") {
		if !ok {
			suffix = want
		}
		return strings.HasPrefix(suffix, ".") && len(suffix) > 1 && strings.HasSuffix(have.Domain(), suffix)
	}
	return have.Domain() == want
}

// SplitList splits a comma-separated rule parameter (allowed_groups=a,b),
// dropping empty entries; it is how every list written on one line is read.
func SplitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
