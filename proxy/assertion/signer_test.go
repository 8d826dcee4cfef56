package assertion_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-proxy/gatehouse/proxy/assertion"
)

const issuer = "https://auth.example.com"

func mustKey(t testing.TB, pem []byte) *assertion.Key {
	t.Helper()
	k, err := assertion.ParseKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newSigner(t testing.TB, now func() time.Time, keys ...*assertion.Key) *assertion.Signer {
	t.Helper()
	s, err := assertion.NewSigner(assertion.Config{Keys: keys, Issuer: issuer, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serveJWKS serves s's JWKS and returns a go-oidc verifier for audience
// against it, as an upstream would build one.
func serveJWKS(t testing.TB, s *assertion.Signer, audience string, now func() time.Time) *oidc.IDTokenVerifier {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(s.ServeJWKS))
	t.Cleanup(srv.Close)
	keys := oidc.NewRemoteKeySet(context.Background(), srv.URL)
	return oidc.NewVerifier(issuer, keys, &oidc.Config{
		ClientID: audience, SupportedSigningAlgs: []string{oidc.ES256, oidc.RS256}, Now: now,
	})
}

type claims struct {
	Iss      string   `json:"iss"`
	Aud      string   `json:"aud"`
	Sub      string   `json:"sub"`
	User     string   `json:"user"`
	Email    *string  `json:"email"`
	Groups   []string `json:"groups"`
	Name     string   `json:"name"`
	Provider string   `json:"provider"`
	Iat      int64    `json:"iat"`
	Nbf      int64    `json:"nbf"`
	Exp      int64    `json:"exp"`
	Jti      string   `json:"jti"`
}

func TestSignedAssertionVerifiesWithGoOIDC(t *testing.T) {
	t.Parallel()
	testKeys(t)
	for _, tc := range []struct {
		name string
		key  *assertion.Key
	}{{"ES256", mustKey(t, sec1(t, ecKey))}, {"RS256", mustKey(t, pkcs8(t, rsaKey))}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			now := time.Now().Truncate(time.Second)
			clock := func() time.Time { return now }
			s := newSigner(t, clock, tc.key)
			raw, err := s.Sign(assertion.Claims{
				Audience: "app.example.com", Subject: "u-1", User: "alice", Email: "alice@example.com",
				Groups: []string{"admins", "eng"}, Name: "Alice", Provider: "corp",
			})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := serveJWKS(t, s, "app.example.com", clock).Verify(t.Context(), raw)
			if err != nil {
				t.Fatalf("go-oidc refused the assertion: %v", err)
			}
			var c claims
			if err := tok.Claims(&c); err != nil {
				t.Fatal(err)
			}
			if c.Iss != issuer || c.Aud != "app.example.com" || c.Sub != "u-1" || c.User != "alice" ||
				c.Email == nil || *c.Email != "alice@example.com" || !slices.Equal(c.Groups, []string{"admins", "eng"}) ||
				c.Name != "Alice" || c.Provider != "corp" {
				t.Errorf("claims = %+v", c)
			}
			if c.Iat != now.Unix() || c.Nbf != now.Unix() || c.Exp != now.Add(assertion.Lifetime).Unix() ||
				assertion.Lifetime > 5*time.Minute || len(c.Jti) < 16 {
				t.Errorf("times/jti = iat %d nbf %d exp %d jti %q (now %d)", c.Iat, c.Nbf, c.Exp, c.Jti, now.Unix())
			}
			jws, _ := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
			if h := jws.Signatures[0].Header; h.KeyID != tc.key.KeyID() || h.Algorithm != tc.name {
				t.Errorf("header kid %q alg %q, want %q %s", h.KeyID, h.Algorithm, tc.key.KeyID(), tc.name)
			}
			// Another audience, or a later time, is refused.
			if _, err := serveJWKS(t, s, "other.example.com", clock).Verify(t.Context(), raw); err == nil {
				t.Error("verified for another audience")
			}
			late := func() time.Time { return now.Add(assertion.Lifetime + time.Second) }
			if _, err := serveJWKS(t, s, "app.example.com", late).Verify(t.Context(), raw); err == nil {
				t.Error("verified after exp")
			}
		})
	}
}

func TestSignOmitsEmptyClaimsAndUsesFreshJTI(t *testing.T) {
	t.Parallel()
	testKeys(t)
	s := newSigner(t, nil, mustKey(t, sec1(t, ecKey)))
	jtis := map[string]bool{}
	for range 3 {
		raw, err := s.Sign(assertion.Claims{Audience: "app", Subject: "s", User: "s"})
		if err != nil {
			t.Fatal(err)
		}
		jws, _ := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256})
		var m map[string]any
		_ = json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &m)
		for _, k := range []string{"email", "groups", "name", "provider"} {
			if _, ok := m[k]; ok {
				t.Errorf("claim %q present although empty", k)
			}
		}
		jtis[m["jti"].(string)] = true
	}
	if len(jtis) != 3 {
		t.Errorf("jti repeated: %v", jtis)
	}
}

// TestRotation: with [new, old] the new key signs and both are published,
// so assertions the old key signed (in flight, or from a replica not yet
// restarted) still verify against the new JWKS.
func TestRotation(t *testing.T) {
	t.Parallel()
	testKeys(t)
	oldKey, newKey := mustKey(t, pkcs8(t, rsaKey)), mustKey(t, sec1(t, ecKey))
	before := newSigner(t, nil, oldKey)
	after := newSigner(t, nil, newKey, oldKey)
	if after.KeyID() != newKey.KeyID() {
		t.Fatalf("signing kid %q, want the first key's %q", after.KeyID(), newKey.KeyID())
	}
	verify := serveJWKS(t, after, "app", nil)
	for name, s := range map[string]*assertion.Signer{"old key": before, "new key": after} {
		raw, err := s.Sign(assertion.Claims{Audience: "app", Subject: "s"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verify.Verify(t.Context(), raw); err != nil {
			t.Errorf("%s: refused by the rotated JWKS: %v", name, err)
		}
	}
	// Once the old key is gone from the list, its assertions are refused.
	if _, err := serveJWKS(t, newSigner(t, nil, newKey), "app", nil).Verify(t.Context(), mustSign(t, before)); err == nil {
		t.Error("an assertion of a retired key verified")
	}
}

func mustSign(t testing.TB, s *assertion.Signer) string {
	t.Helper()
	raw, err := s.Sign(assertion.Claims{Audience: "app", Subject: "s"})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestJWKSDocument(t *testing.T) {
	t.Parallel()
	testKeys(t)
	ec, rs := mustKey(t, sec1(t, ecKey)), mustKey(t, pkcs8(t, rsaKey))
	s := newSigner(t, nil, ec, rs)
	rec := httptest.NewRecorder()
	s.ServeJWKS(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Cache-Control"), "max-age=300") ||
		!strings.Contains(rec.Header().Get("Cache-Control"), "public") || rec.Header().Get("ETag") == "" {
		t.Fatalf("status %d, headers %v", rec.Code, rec.Header())
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 2 {
		t.Fatalf("%d keys, want 2", len(doc.Keys))
	}
	for i, want := range []struct{ kid, alg, kty string }{{ec.KeyID(), "ES256", "EC"}, {rs.KeyID(), "RS256", "RSA"}} {
		k := doc.Keys[i]
		if k["kid"] != want.kid || k["alg"] != want.alg || k["kty"] != want.kty || k["use"] != "sig" {
			t.Errorf("key %d = %v, want %+v", i, k, want)
		}
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Errorf("key %d publishes the private member %q", i, private)
			}
		}
	}
	// A conditional request with the ETag is answered 304.
	req := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
	req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
	rec2 := httptest.NewRecorder()
	s.ServeJWKS(rec2, req)
	if rec2.Code != http.StatusNotModified {
		t.Errorf("If-None-Match: status %d, want 304", rec2.Code)
	}
}

func TestNewSignerRefuses(t *testing.T) {
	t.Parallel()
	testKeys(t)
	k := mustKey(t, sec1(t, ecKey))
	for name, c := range map[string]assertion.Config{
		"no keys":    {Issuer: issuer},
		"no issuer":  {Keys: []*assertion.Key{k}},
		"duplicates": {Keys: []*assertion.Key{k, mustKey(t, pkcs8(t, ecKey))}, Issuer: issuer},
	} {
		if _, err := assertion.NewSigner(c); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// BenchmarkSign is the cost of one assertion alone, per algorithm.
func BenchmarkSign(b *testing.B) {
	testKeys(b)
	for _, tc := range []struct {
		name string
		key  *assertion.Key
	}{{"ES256", mustKey(b, sec1(b, ecKey))}, {"RS256", mustKey(b, pkcs8(b, rsaKey))}} {
		s := newSigner(b, nil, tc.key)
		c := assertion.Claims{Audience: "app.example.com", Subject: "248289761001", User: "248289761001",
			Email: "alice@example.com", Groups: []string{"admins", "engineering"}, Name: "Alice Admin", Provider: "corp"}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Sign(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
