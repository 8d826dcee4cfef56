package providers

import "golang.org/x/oauth2"

// NewCodeVerifier returns a fresh PKCE code verifier (RFC 7636 section
// 4.1): 43 characters encoding 32 random bytes. Every login flow makes one.
func NewCodeVerifier() string { return oauth2.GenerateVerifier() }

// ValidCodeVerifier reports whether v is a well-formed PKCE code verifier:
// 43 to 128 characters from the unreserved set [A-Za-z0-9-._~].
func ValidCodeVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := range len(v) {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}
