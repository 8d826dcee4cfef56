package config

import (
	"strings"
)

// secretCommandFix tells how to make a good cookie secret.
const secretCommandFix = "run 'gatehouse secret' (or 'openssl rand -base64 32') and use its output"

// placeholderPrefixes start the placeholders of example files and
// tutorials; a secret starting with one was never replaced.
var placeholderPrefixes = []string{
	"replace-me", "replace_me", "replaceme", "replace me",
	"change-me", "change_me", "changeme", "change me", "change-this", "changethis",
	"your-secret", "your_secret", "yoursecret", "insert-", "todo", "xxx", "example", "placeholder",
}

// commonWords are words that random keys do not contain but chosen
// passphrases do (none is spelt with hex digits only, so the output of
// 'openssl rand -hex 16' never matches by chance).
var commonWords = []string{
	"secret", "password", "passw0rd", "cookie", "gatehouse", "changeme", "admin", "example",
	"letmein", "qwerty", "welcome", "monkey", "dragon", "sunshine", "master", "default",
	"session", "oauth", "proxy", "token", "super", "private", "hello", "world", "test",
	"dummy", "sample", "replace", "insecure", "notsecure", "mysecret", "kubernetes",
}

// weakSecret reports why a cookie secret is a known placeholder or has
// too little entropy, "" when it looks random. raw is the secret as
// configured, key its decoded 32 bytes. The problem never includes the
// secret.
func weakSecret(raw string, key []byte) string {
	lower := strings.ToLower(strings.TrimSpace(raw))
	for _, p := range placeholderPrefixes {
		if strings.HasPrefix(lower, p) {
			return "is a placeholder from an example, not a secret; anyone who read the example could forge sessions"
		}
	}
	for _, b := range [][]byte{[]byte(raw), key} {
		if distinctBytes(b) < 8 {
			return "has too little entropy (a few characters repeated); anyone could guess it and forge sessions"
		}
		if repeatedUnit(b) {
			return "has too little entropy (one word repeated); anyone could guess it and forge sessions"
		}
	}
	if printable(key) {
		kl := strings.ToLower(string(key))
		for _, w := range commonWords {
			if strings.Contains(kl, w) {
				return "is made of words rather than random bytes; anyone could guess it and forge sessions"
			}
		}
		if onlyLetters(key) && distinctBytes(key) < 16 {
			return "is made of letters only, like a word or a phrase, rather than random bytes; anyone could guess it and forge sessions"
		}
	}
	return ""
}

// distinctBytes counts the different byte values in b.
func distinctBytes(b []byte) int {
	var seen [256]bool
	n := 0
	for _, c := range b {
		if !seen[c] {
			seen[c] = true
			n++
		}
	}
	return n
}

// repeatedUnit reports whether b is a shorter sequence repeated (the last
// repetition may be cut short): "abcabcabca".
func repeatedUnit(b []byte) bool {
	for unit := 1; unit <= len(b)/2; unit++ {
		same := true
		for i := unit; i < len(b) && same; i++ {
			same = b[i] == b[i-unit]
		}
		if same {
			return true
		}
	}
	return false
}

// printable reports whether b is printable ASCII only.
func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// onlyLetters reports whether b has letters, spaces and punctuation
// between words only: no digit.
func onlyLetters(b []byte) bool {
	for _, c := range b {
		if c >= '0' && c <= '9' {
			return false
		}
	}
	return true
}
