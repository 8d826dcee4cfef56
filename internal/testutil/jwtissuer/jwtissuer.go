// Package jwtissuer is an in-test OpenID issuer of machine tokens: it
// serves discovery and a JWKS on loopback and signs JWTs with keys it can
// rotate, so bearer-token checks run against real HTTP and real
// signatures.
package jwtissuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Issuer is a running token issuer.
type Issuer struct {
	Server *httptest.Server
	// JWKSFetches counts requests to the JWKS.
	JWKSFetches atomic.Int64

	mu        sync.Mutex
	keys      []jose.JSONWebKey // private keys, the last one signs
	published int               // how many of keys the JWKS shows
	down      bool
	algs      []string
}

// Start runs an issuer with one RSA key until the test ends.
func Start(t testing.TB) *Issuer {
	t.Helper()
	is := &Issuer{algs: []string{"RS256", "ES256"}}
	is.Server = httptest.NewServer(http.HandlerFunc(is.serve))
	t.Cleanup(is.Server.Close)
	is.Rotate(t, true)
	return is
}

// URL is the issuer URL (iss).
func (is *Issuer) URL() string { return is.Server.URL }

// SetDown makes discovery and the JWKS answer 503 (an unreachable issuer).
func (is *Issuer) SetDown(down bool) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.down = down
}

// Rotate adds a new signing key; publish says whether the JWKS shows it
// at once (false: tokens carry a kid the JWKS does not know yet, until
// Publish).
func (is *Issuer) Rotate(t testing.TB, publish bool) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append(is.keys, jose.JSONWebKey{Key: k, KeyID: fmt.Sprintf("k%d", len(is.keys)+1), Algorithm: "RS256", Use: "sig"})
	if publish {
		is.published = len(is.keys)
	}
}

// Publish shows every key in the JWKS.
func (is *Issuer) Publish() {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.published = len(is.keys)
}

func (is *Issuer) serve(w http.ResponseWriter, r *http.Request) {
	is.mu.Lock()
	down := is.down
	is.mu.Unlock()
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": is.URL(), "jwks_uri": is.URL() + "/jwks", "authorization_endpoint": is.URL() + "/auth",
			"token_endpoint": is.URL() + "/token", "id_token_signing_alg_values_supported": is.algs,
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		})
	case "/jwks":
		is.JWKSFetches.Add(1)
		is.mu.Lock()
		var set jose.JSONWebKeySet
		for _, k := range is.keys[:is.published] {
			set.Keys = append(set.Keys, k.Public())
		}
		is.mu.Unlock()
		_ = json.NewEncoder(w).Encode(set)
	default:
		http.NotFound(w, r)
	}
}

// Claims returns valid claims for sub with audience aud, expiring in an
// hour.
func (is *Issuer) Claims(sub, aud string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": is.URL(), "sub": sub, "aud": aud, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// Sign signs claims with the current key (RS256).
func (is *Issuer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	is.mu.Lock()
	k := is.keys[len(is.keys)-1]
	is.mu.Unlock()
	return sign(t, jose.SigningKey{Algorithm: jose.RS256, Key: k}, claims)
}

// SignForeign signs claims with a fresh EC key the issuer never
// published, under kid.
func (is *Issuer) SignForeign(t testing.TB, kid string, claims map[string]any) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: k, KeyID: kid}}, claims)
}

// SignNone returns claims as an unsigned JWT (alg none).
func (is *Issuer) SignNone(t testing.TB, claims map[string]any) string {
	t.Helper()
	return encodeParts(t, map[string]any{"alg": "none", "typ": "JWT"}, claims) + "."
}

// SignHS256WithPublicKey signs claims with HMAC-SHA256 keyed with the
// current RSA public key's JWK bytes: the key-confusion attack.
func (is *Issuer) SignHS256WithPublicKey(t testing.TB, claims map[string]any) string {
	t.Helper()
	is.mu.Lock()
	pub := is.keys[len(is.keys)-1].Public()
	is.mu.Unlock()
	secret, err := pub.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return sign(t, jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: secret, KeyID: pub.KeyID}}, claims)
}

func sign(t testing.TB, key jose.SigningKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(key, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func encodeParts(t testing.TB, header, claims map[string]any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
}
