package config

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// TestWeakCookieSecretsRefused: placeholders and guessable keys are
// refused with a message saying how to make a good one; random keys in
// every accepted form pass.
func TestWeakCookieSecretsRefused(t *testing.T) {
	t.Parallel()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	weak := []struct{ name, secret string }{
		{"old kustomize placeholder", "REPLACE-ME-output-of-openssl-rand-base64-32"},
		{"replace me raw", "REPLACE-ME-REPLACE-ME-REPLACE-ME"},
		{"changeme", "changeme-changeme-changeme-12345"},
		{"changeme base64", b64("changeme0000000000000000changeme")},
		{"one character", strings.Repeat("a", 32)},
		{"one character base64", b64(strings.Repeat("x", 32))},
		{"zero bytes base64", base64.StdEncoding.EncodeToString(make([]byte, 32))},
		{"word repeated", "secretsecretsecretsecretsecretse"},
		{"digits repeated", "0123456789abcdef0123456789abcdef"},
		{"passphrase", "this is my super cookie password"},
		{"passphrase base64", b64("e2e-test-cookie-secret-32-bytes!")},
		{"letters only phrase", "correct horse battery staple ok!"},
	}
	for _, tt := range weak {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := validOptions()
			o.CookieSecret = tt.secret
			_, err := o.Validate()
			if err == nil {
				t.Fatalf("%q accepted as a cookie secret", tt.secret)
			}
			if !strings.Contains(err.Error(), "gatehouse secret") {
				t.Errorf("message does not say to run 'gatehouse secret': %v", err)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("message repeats the secret: %v", err)
			}
		})
	}
	for i, good := range []string{
		base64.StdEncoding.EncodeToString(testKey(7)),
		base64.RawURLEncoding.EncodeToString(testKey(8)),
		hex.EncodeToString(testKey(9)[:16]), // openssl rand -hex 16: 32 printable bytes
		testCookieRaw,
	} {
		o := validOptions()
		o.CookieSecret = good
		o.CookiePreviousSecret = []string{base64.StdEncoding.EncodeToString(testKey(byte(20 + i)))}
		if _, err := o.Validate(); err != nil {
			t.Errorf("random secret %d refused: %v", i, err)
		}
	}
	// Previous secrets and file lines are checked too.
	o := validOptions()
	o.CookiePreviousSecret = []string{strings.Repeat("z", 32)}
	if _, err := o.Validate(); err == nil || !strings.Contains(err.Error(), "cookie-previous-secret") {
		t.Errorf("weak previous secret: %v", err)
	}
}
