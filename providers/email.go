package providers

import (
	"errors"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/internal/hostport"
)

// Email is an address that ParseEmail accepted: one local part of plain
// ASCII atoms and one DNS domain. Rules compare its local part exactly and
// its domain case-insensitively; headers carry String, the address as the
// provider wrote it. The zero Email is "no address".
type Email struct {
	raw    string
	local  string
	domain string // lower-case
}

// ErrMalformedEmail is returned (wrapped) by ParseEmail.
var ErrMalformedEmail = errors.New("malformed email address")

// maxEmailLen bounds an address (RFC 5321 §4.5.3.1: 254 in a path).
const maxEmailLen = 254

// ParseEmail accepts an address of the form local@domain, strictly: exactly
// one '@'; a local part of at most 64 bytes made of dot-separated atoms of
// letters, digits and !#$%&'*+-/=?^_`{|}~ (no quotes, spaces, commas,
// brackets or control characters, no empty atom); a domain that is a DNS
// name (letters, digits, '-'; internationalised domains in punycode). The
// forms attackers use to smuggle a second address past a domain check
// ("a@evil.example,b@example.com", "a@evil.example b@example.com",
// "\"a@evil.example\"@example.com") are all refused.
func ParseEmail(s string) (Email, error) {
	if s == "" || len(s) > maxEmailLen {
		return Email{}, ErrMalformedEmail
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok || strings.Contains(domain, "@") || !validLocalPart(local) {
		return Email{}, ErrMalformedEmail
	}
	lower := strings.ToLower(domain)
	if strings.HasSuffix(lower, ".") || !hostport.ValidHost(lower) {
		return Email{}, ErrMalformedEmail
	}
	return Email{raw: s, local: local, domain: lower}, nil
}

// validLocalPart reports whether s is a dot-atom local part (RFC 5322
// §3.2.3) of at most 64 bytes.
func validLocalPart(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for atom := range strings.SplitSeq(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			c := atom[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0) {
				return false
			}
		}
	}
	return true
}

// String is the address as it was parsed; "" for the zero Email.
func (e Email) String() string { return e.raw }

// IsZero reports whether e holds no address.
func (e Email) IsZero() bool { return e.raw == "" }

// Local is the part before '@', compared exactly.
func (e Email) Local() string { return e.local }

// Domain is the part after '@', lower-cased.
func (e Email) Domain() string { return e.domain }

// Same reports whether e and o are the same mailbox: local parts equal
// byte for byte, domains equal in any case. Zero Emails match nothing.
func (e Email) Same(o Email) bool {
	return !e.IsZero() && !o.IsZero() && e.local == o.local && e.domain == o.domain
}

// ValidGroupName reports whether g can travel in a comma-separated
// X-Forwarded-Groups / X-Auth-Request-Groups header and in a rule without
// ambiguity: not empty, no comma, no control characters, and no leading or
// trailing space (which a reader splitting on ", " would lose). Groups that
// fail are dropped from identities wherever they are made.
func ValidGroupName(g string) bool {
	return g != "" && !strings.Contains(g, ",") && strings.TrimSpace(g) == g && checkPrintable(g) == nil
}

// cleanIdentity applies the rules every identity obeys, whichever provider
// made it: an email that ParseEmail refuses is dropped (with its verified
// flag), and so are groups that ValidGroupName refuses. It reports what it
// dropped, for a log line.
func cleanIdentity(id *Identity) (droppedEmail bool, droppedGroups int) {
	if id.Email != "" {
		if _, err := ParseEmail(id.Email); err != nil {
			id.Email, id.EmailVerified, droppedEmail = "", false, true
		}
	}
	n := len(id.Groups)
	id.Groups = deleteInvalidGroups(id.Groups)
	return droppedEmail, n - len(id.Groups)
}

func deleteInvalidGroups(groups []string) []string {
	out := groups[:0]
	for _, g := range groups {
		if ValidGroupName(g) {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// clean applies cleanIdentity to an identity this provider made, logging
// what it dropped (never the values).
func (c Common) clean(id *Identity) {
	email, groups := cleanIdentity(id)
	if (email || groups > 0) && c.Logger != nil {
		c.Logger.Info("identity values refused", "provider", c.ID, "malformed_email", email, "invalid_groups", groups)
	}
}
