package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePEMKey writes a PKCS #8 PEM of key to a 0600 file in dir.
func writePEMKey(t *testing.T, dir, name string, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidateSigningKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := writePEMKey(t, dir, "good.pem", ec)
	weakPath := writePEMKey(t, dir, "weak.pem", weak)

	o := validOptions()
	o.SigningKeyFiles = []string{good}
	o.RedirectURL = "https://auth.example.com:8443/oauth2/callback"
	c, err := o.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SigningKeys) != 1 || c.SigningKeys[0].File() != good || c.AssertionIssuer != "https://auth.example.com:8443" {
		t.Errorf("keys %v, issuer %q; want the key and the redirect URL's origin", c.SigningKeys, c.AssertionIssuer)
	}
	o.AssertionIssuer = "https://id.example.com"
	if c, err = o.Validate(); err != nil || c.AssertionIssuer != "https://id.example.com" {
		t.Errorf("explicit issuer: %q, %v", c.AssertionIssuer, err)
	}

	for _, tc := range []struct {
		name, key, want string
		mod             func(*Options)
	}{
		{"weak key names the file", "signing-key-file", weakPath, func(o *Options) { o.SigningKeyFiles = []string{good, weakPath} }},
		{"missing key names the file", "signing-key-file", filepath.Join(dir, "absent.pem"), func(o *Options) {
			o.SigningKeyFiles = []string{filepath.Join(dir, "absent.pem")}
		}},
		{"no issuer", "assertion-issuer", "--redirect-url", func(o *Options) { o.SigningKeyFiles = []string{good} }},
		{"bad issuer", "assertion-issuer", "scheme", func(o *Options) {
			o.SigningKeyFiles, o.AssertionIssuer = []string{good}, "auth.example.com"
		}},
		{"issuer without keys", "assertion-issuer", "--signing-key-file", func(o *Options) { o.AssertionIssuer = "https://id.example.com" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := validOptions()
			tc.mod(o)
			_, err := o.Validate()
			e := findError(t, err, tc.key)
			if !strings.Contains(e.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", e, tc.want)
			}
		})
	}
}

func TestValidateBackchannelLogout(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	oidc := func(b *bool) ProviderOptions {
		return ProviderOptions{ID: "corp", Type: "oidc", IssuerURL: "https://a", ClientID: "a", ClientSecret: "s", BackchannelLogout: b}
	}
	osu := ProviderOptions{Type: "osu", ClientID: "1", ClientSecret: "s"}
	redis := func(o *Options) { o.SessionStore, o.RedisURL = "redis", "redis://127.0.0.1:6379" }
	for _, tc := range []struct {
		name  string
		store func(*Options)
		p     ProviderOptions
		want  bool
	}{
		{"redis default on", redis, oidc(nil), true},
		{"redis turned off", redis, oidc(&no), false},
		{"redis asked for", redis, oidc(&yes), true},
		{"cookie default off", func(*Options) {}, oidc(nil), false},
		{"cookie turned off", func(*Options) {}, oidc(&no), false},
		{"not oidc", redis, osu, false},
		{"keycloak default on", redis, ProviderOptions{Type: "keycloak", IssuerURL: "https://kc/realms/corp", ClientID: "a", ClientSecret: "s"}, true},
		{"gitlab default off", redis, ProviderOptions{Type: "gitlab", ClientID: "a", ClientSecret: "s"}, false},
		{"gitlab asked for", redis, ProviderOptions{Type: "gitlab", ClientID: "a", ClientSecret: "s", BackchannelLogout: &yes}, true},
	} {
		o := validOptions()
		o.OIDCIssuerURL, o.ClientID, o.ClientSecret = "", "", ""
		o.Providers = []ProviderOptions{tc.p}
		tc.store(o)
		c, err := o.Validate()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if b := c.Providers[0].BackchannelLogout; b == nil || *b != tc.want {
			t.Errorf("%s: BackchannelLogout = %v, want %v", tc.name, b, tc.want)
		}
		if tc.p.BackchannelLogout == nil && o.Providers[0].BackchannelLogout != nil {
			t.Errorf("%s: Validate changed the Options", tc.name)
		}
	}

	// Asked for with the cookie store: an error naming the fix.
	o := validOptions()
	o.OIDCIssuerURL, o.ClientID, o.ClientSecret = "", "", ""
	o.Providers = []ProviderOptions{oidc(&yes)}
	_, err := o.Validate()
	if e := findError(t, err, "providers[0].backchannel_logout"); !strings.Contains(e.Error(), "--session-store redis") {
		t.Errorf("error %q does not name --session-store redis", e)
	}
	// Asked for on a provider type without it.
	o.Providers = []ProviderOptions{{Type: "osu", ClientID: "1", ClientSecret: "s", BackchannelLogout: &yes}}
	redis(o)
	_, err = o.Validate()
	findError(t, err, "providers[0].backchannel_logout")
}

func TestValidateSessionValidateInterval(t *testing.T) {
	t.Parallel()
	o := validOptions()
	o.OIDCIssuerURL, o.ClientID, o.ClientSecret = "", "", ""
	o.SessionValidateInterval = 10 * time.Minute
	o.Providers = []ProviderOptions{
		{ID: "a", Type: "oidc", IssuerURL: "https://a", ClientID: "a", ClientSecret: "s"},
		{ID: "b", Type: "oauth2", AuthURL: "https://b/a", TokenURL: "https://b/t", UserinfoURL: "https://b/u", ClientID: "b", ClientSecret: "s",
			ValidateEvery: time.Minute, IntrospectionURL: "https://b/introspect"},
	}
	c, err := o.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if c.Providers[0].ValidateEvery != 10*time.Minute || c.Providers[1].ValidateEvery != time.Minute || c.SessionValidateInterval != 10*time.Minute {
		t.Errorf("validate_every = %v, %v; want the global default, then the provider's own", c.Providers[0].ValidateEvery, c.Providers[1].ValidateEvery)
	}

	// A negative interval, and introspection over plain http, are refused.
	o = validOptions()
	o.SessionValidateInterval = -time.Second
	_, err = o.Validate()
	findError(t, err, "session-validate-interval")
	o = validOptions()
	o.OIDCIssuerURL, o.ClientID, o.ClientSecret = "", "", ""
	o.Providers = []ProviderOptions{{Type: "oidc", IssuerURL: "https://a", ClientID: "a", ClientSecret: "s", IntrospectionURL: "http://idp.example.com/introspect"}}
	_, err = o.Validate()
	findError(t, err, "providers[0].introspection_url")
}
