package assertion

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Header names the assertion travels in.
const (
	// UpstreamHeader carries the assertion on every proxied request.
	UpstreamHeader = "X-Gatehouse-Assertion"
	// AuthHeader carries it on /oauth2/auth answers (nginx auth_request,
	// forward-auth), for the proxy in front to pass on.
	AuthHeader = "X-Auth-Request-Assertion"
)

// Lifetime is how long an assertion is valid after it is issued: long
// enough for a request to reach the upstream through a slow network and
// some clock skew, short enough that a copied assertion is soon useless.
const Lifetime = 2 * time.Minute

// JWKSMaxAge is how long clients may cache the JWKS document. A new key
// must be published (listed after the signing key) for longer than this
// before it starts signing.
const JWKSMaxAge = 5 * time.Minute

// Config configures a Signer.
type Config struct {
	// Keys are the loaded keys: the first signs, all are published.
	// At least one is required.
	Keys []*Key
	// Issuer is the iss claim, e.g. "https://auth.example.com"; required.
	Issuer string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Claims are the per-request claims of an assertion. Empty values are
// left out of the token.
type Claims struct {
	// Audience is the aud claim: the host name the client asked for,
	// without port, lower-case.
	Audience string
	// Subject is the provider's subject (sub).
	Subject string
	// User is X-Forwarded-User (user).
	User string
	// Email is a verified email; "" leaves the claim out.
	Email string
	// Groups are the user's groups.
	Groups []string
	// Name is the display name.
	Name string
	// Provider is the id of the provider the user signed in with.
	Provider string
}

// Signer signs assertions with the first of its keys and serves the JWKS
// of all of them. It is safe for concurrent use.
type Signer struct {
	signer jose.Signer
	kid    string
	iss    json.RawMessage // the issuer, JSON-encoded once
	now    func() time.Time
	jwks   []byte
	etag   string
}

// NewSigner checks c and prepares the signer and the JWKS document.
func NewSigner(c Config) (*Signer, error) {
	if len(c.Keys) == 0 {
		return nil, errors.New("assertion: at least one signing key is required")
	}
	if c.Issuer == "" {
		return nil, errors.New("assertion: an issuer is required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	first := c.Keys[0]
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: first.alg, Key: jose.JSONWebKey{Key: first.private, KeyID: first.kid, Algorithm: string(first.alg)}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return nil, fmt.Errorf("assertion: %w", err)
	}
	iss, err := json.Marshal(c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("assertion: issuer: %w", err)
	}
	set := jose.JSONWebKeySet{}
	seen := map[string]bool{}
	for _, k := range c.Keys {
		if seen[k.kid] {
			return nil, fmt.Errorf("assertion: signing key %q is listed twice (key id %s)", k.file, k.kid)
		}
		seen[k.kid] = true
		set.Keys = append(set.Keys, k.PublicJWK())
	}
	doc, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("assertion: JWKS: %w", err)
	}
	sum := sha256.Sum256(doc)
	return &Signer{
		signer: signer, kid: first.kid, iss: iss, now: c.Now,
		jwks: doc, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`,
	}, nil
}

// payload is an assertion's claim set in the order it is written.
type payload struct {
	Iss      json.RawMessage `json:"iss"`
	Aud      string          `json:"aud"`
	Sub      string          `json:"sub"`
	User     string          `json:"user,omitempty"`
	Email    string          `json:"email,omitempty"`
	Groups   []string        `json:"groups,omitempty"`
	Name     string          `json:"name,omitempty"`
	Provider string          `json:"provider,omitempty"`
	Iat      int64           `json:"iat"`
	Nbf      int64           `json:"nbf"`
	Exp      int64           `json:"exp"`
	Jti      string          `json:"jti"`
}

// Sign returns the compact JWT asserting c, valid for Lifetime from now:
// one signature, a fresh jti.
func (s *Signer) Sign(c Claims) (string, error) {
	now := s.now().Unix()
	var jti [16]byte
	_, _ = rand.Read(jti[:]) // crypto/rand.Read never fails (Go 1.24+)
	body, err := json.Marshal(payload{
		Iss: s.iss, Aud: c.Audience, Sub: c.Subject, User: c.User, Email: c.Email,
		Groups: c.Groups, Name: c.Name, Provider: c.Provider,
		Iat: now, Nbf: now, Exp: now + int64(Lifetime/time.Second),
		Jti: base64.RawURLEncoding.EncodeToString(jti[:]),
	})
	if err != nil {
		return "", fmt.Errorf("assertion: claims: %w", err)
	}
	jws, err := s.signer.Sign(body)
	if err != nil {
		return "", fmt.Errorf("assertion: signing: %w", err)
	}
	return jws.CompactSerialize()
}

// KeyID is the kid of the signing key.
func (s *Signer) KeyID() string { return s.kid }

// ServeJWKS answers GET and HEAD with the JWKS document, cacheable for
// JWKSMaxAge, with an ETag for conditional requests.
func (s *Signer) ServeJWKS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(JWKSMaxAge/time.Second)))
	h.Set("ETag", s.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(s.jwks))
}
