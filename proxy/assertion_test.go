package proxy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

const assertionIssuer = "https://auth.example.test"

// writeSigningKey writes a fresh key (ec: P-256, else RSA 2048) as PEM to
// a 0600 file.
func writeSigningKey(t testing.TB, ec bool) string {
	t.Helper()
	var (
		der []byte
		typ string
	)
	if ec {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ = x509.MarshalECPrivateKey(k)
		typ = "EC PRIVATE KEY"
	} else {
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		der, typ = x509.MarshalPKCS1PrivateKey(k), "RSA PRIVATE KEY"
	}
	path := filepath.Join(t.TempDir(), "signing.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// assertionVerifier is what an upstream builds: go-oidc's verifier with a
// remote key set at the gateway's JWKS.
func assertionVerifier(t testing.TB, g *testutil.Gateway, audience string) *oidc.IDTokenVerifier {
	t.Helper()
	keys := oidc.NewRemoteKeySet(t.Context(), g.Server.URL+"/.well-known/jwks.json")
	return oidc.NewVerifier(assertionIssuer, keys, &oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{oidc.ES256, oidc.RS256}})
}

type assertedClaims struct {
	Sub      string   `json:"sub"`
	User     string   `json:"user"`
	Email    string   `json:"email"`
	Groups   []string `json:"groups"`
	Name     string   `json:"name"`
	Provider string   `json:"provider"`
	Jti      string   `json:"jti"`
}

func verifyAssertion(t testing.TB, v *oidc.IDTokenVerifier, raw string) assertedClaims {
	t.Helper()
	if raw == "" {
		t.Fatal("no assertion")
	}
	tok, err := v.Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("assertion refused by go-oidc: %v", err)
	}
	var c assertedClaims
	if err := tok.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAssertionSentUpstream: every proxied request carries a fresh
// assertion that verifies against the JWKS the gateway serves, for the
// host asked for; the one a client sends never passes, in any spelling.
func TestAssertionSentUpstream(t *testing.T) {
	t.Parallel()
	key := writeSigningKey(t, true)
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.SigningKeyFiles = []string{key}
		o.AssertionIssuer = assertionIssuer
	}})
	echo := testutil.DecodeEcho(t, g.Login(t, "alice", "/"))
	v := assertionVerifier(t, g, "127.0.0.1")
	c := verifyAssertion(t, v, echo.Header.Get("X-Gatehouse-Assertion"))
	want := assertedClaims{Sub: devidp.Subject("alice"), User: devidp.Subject("alice"), Email: "alice@example.com",
		Groups: []string{"admins", "engineering"}, Name: "Alice Admin", Provider: "oidc", Jti: c.Jti}
	if c.Sub != want.Sub || c.User != want.User || c.Email != want.Email || !slices.Equal(c.Groups, want.Groups) ||
		c.Name != want.Name || c.Provider != want.Provider {
		t.Errorf("claims = %+v, want %+v", c, want)
	}

	forged := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."
	for _, name := range []string{"X-Gatehouse-Assertion", "X_Gatehouse_Assertion", "x-gatehouse-assertion"} {
		echo := testutil.DecodeEcho(t, g.Get(t, "/", "Accept", "application/json", name, forged))
		got := echo.Header.Values("X-Gatehouse-Assertion")
		if len(got) != 1 || got[0] == forged {
			t.Fatalf("client sent %s: upstream got %q, want only Gatehouse's own", name, got)
		}
		if echo.Header.Get("X_Gatehouse_Assertion") != "" {
			t.Errorf("the underscore spelling %s reached the upstream", name)
		}
		if n := verifyAssertion(t, v, got[0]); n.Jti == c.Jti {
			t.Error("two requests carried the same assertion (jti)")
		}
	}

	// Another host name is another audience.
	other := testutil.DecodeEcho(t, g.Get(t, "/", "Accept", "application/json"))
	if _, err := assertionVerifier(t, g, "app.example.com").Verify(t.Context(), other.Header.Get("X-Gatehouse-Assertion")); err == nil {
		t.Error("an assertion for 127.0.0.1 verified for app.example.com")
	}
}

// TestAssertionOnAuthRequest: /oauth2/auth answers carry the assertion for
// the proxy in front to pass on, audience the original host.
func TestAssertionOnAuthRequest(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.SigningKeyFiles = []string{writeSigningKey(t, false)}
		o.AssertionIssuer = assertionIssuer
		o.ReverseProxy = true
	}})
	g.Login(t, "bob", "/")
	resp := g.Get(t, "/oauth2/auth", "X-Forwarded-Host", "app.example.com:8443", "X-Auth-Request-Assertion", "forged")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, want 202", resp.StatusCode)
	}
	raw := resp.Header.Get("X-Auth-Request-Assertion")
	if raw == "forged" {
		t.Fatal("the client's header came back")
	}
	c := verifyAssertion(t, assertionVerifier(t, g, "app.example.com"), raw)
	if c.Sub != devidp.Subject("bob") || c.Email != "bob@other.org" {
		t.Errorf("claims = %+v", c)
	}
	jws, _ := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if jws.Signatures[0].Header.Algorithm != "RS256" {
		t.Errorf("alg %s, want RS256 for an RSA key", jws.Signatures[0].Header.Algorithm)
	}
	// Without a session there is no assertion.
	anon := testutil.Do(t, testutil.NewBrowser(t), g.Server.URL+"/oauth2/auth")
	if anon.StatusCode != http.StatusUnauthorized || anon.Header.Get("X-Auth-Request-Assertion") != "" {
		t.Errorf("anonymous: status %d, assertion %q", anon.StatusCode, anon.Header.Get("X-Auth-Request-Assertion"))
	}
}

// TestAssertionKeyRotation: with two keys the first signs and both are
// published, so an upstream holding an assertion of the old key (signed by
// a replica not yet restarted) still verifies it.
func TestAssertionKeyRotation(t *testing.T) {
	t.Parallel()
	oldKey, newKey := writeSigningKey(t, false), writeSigningKey(t, true)
	old := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.SigningKeyFiles, o.AssertionIssuer = []string{oldKey}, assertionIssuer
	}})
	rotated := testutil.StartGateway(t, testutil.GatewayConfig{IdPServer: old.IdP, Options: func(o *config.Options) {
		o.SigningKeyFiles, o.AssertionIssuer = []string{newKey, oldKey}, assertionIssuer
	}})
	v := assertionVerifier(t, rotated, "127.0.0.1")
	for name, g := range map[string]*testutil.Gateway{"old key": old, "new key": rotated} {
		raw := testutil.DecodeEcho(t, g.Login(t, "alice", "/")).Header.Get("X-Gatehouse-Assertion")
		verifyAssertion(t, v, raw)
		jws, _ := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
		if alg := jws.Signatures[0].Header.Algorithm; (name == "new key") != (alg == "ES256") {
			t.Errorf("%s: signed with %s", name, alg)
		}
	}
	resp := rotated.Get(t, "/.well-known/jwks.json")
	var set jose.JSONWebKeySet
	if err := jsonDecode(resp, &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("JWKS: %d keys (%v), want both", len(set.Keys), err)
	}
	if resp.Header.Get("Cache-Control") != "public, max-age=300" {
		t.Errorf("JWKS Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	// The JWKS is public: no session needed; other methods are refused.
	if anon := testutil.Do(t, testutil.NewBrowser(t), rotated.Server.URL+"/.well-known/jwks.json"); anon.StatusCode != http.StatusOK {
		t.Errorf("anonymous JWKS: status %d", anon.StatusCode)
	}
	post, err := http.Post(rotated.Server.URL+"/.well-known/jwks.json", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Body.Close()
	if post.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST JWKS: status %d, want 405", post.StatusCode)
	}
}

func jsonDecode(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

// TestNoAssertionWithoutKeys: without --signing-key-file nothing is signed
// and no JWKS is served by Gatehouse (the path goes to the upstream).
func TestNoAssertionWithoutKeys(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{})
	echo := testutil.DecodeEcho(t, g.Login(t, "alice", "/"))
	if echo.Header.Get("X-Gatehouse-Assertion") != "" {
		t.Error("assertion sent without signing keys")
	}
	echo = testutil.DecodeEcho(t, g.Get(t, "/.well-known/jwks.json", "Accept", "application/json"))
	if echo.Path != "/.well-known/jwks.json" {
		t.Errorf("JWKS path not proxied: %q", echo.Path)
	}
}

// TestSigningKeyReadableByOthersWarned: a key file its group or other
// users can read is used, with a warning naming it.
func TestSigningKeyReadableByOthersWarned(t *testing.T) {
	t.Parallel()
	for _, perm := range []os.FileMode{0o600, 0o644} {
		key := writeSigningKey(t, true)
		if err := os.Chmod(key, perm); err != nil {
			t.Fatal(err)
		}
		var logs safeLog
		g := testutil.StartGateway(t, testutil.GatewayConfig{
			Options: func(o *config.Options) { o.SigningKeyFiles, o.AssertionIssuer = []string{key}, assertionIssuer },
			Deps:    gateway.Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		})
		warned := strings.Contains(logs.String(), "readable by its group or other users") && strings.Contains(logs.String(), key)
		if warned != (perm == 0o644) {
			t.Errorf("mode %v: warned %v; logs:\n%s", perm, warned, logs.String())
		}
		if echo := testutil.DecodeEcho(t, g.Login(t, "alice", "/")); echo.Header.Get("X-Gatehouse-Assertion") == "" {
			t.Errorf("mode %v: no assertion", perm)
		}
	}
}

// safeLog collects log output written from several goroutines.
type safeLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *safeLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *safeLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
