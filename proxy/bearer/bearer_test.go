package bearer

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/jwtissuer"
)

// waitReady waits (bounded) until v has discovered every issuer.
func waitReady(t *testing.T, v *Verifier) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for v.Ready(t.Context()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", v.Ready(t.Context()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newVerifier(t *testing.T, is *jwtissuer.Issuer, minRefresh time.Duration) *Verifier {
	t.Helper()
	v := New(t.Context(), []IssuerConfig{{IssuerURL: is.URL(), Audiences: []string{"gatehouse", "ci"}, MinRefresh: minRefresh}}, nil, nil)
	waitReady(t, v)
	return v
}

func TestVerify(t *testing.T) {
	t.Parallel()
	is := jwtissuer.Start(t)
	other := jwtissuer.Start(t)
	v := newVerifier(t, is, 0)

	good := is.Claims("svc-ci", "gatehouse")
	good["email"] = "ci@example.com"
	good["groups"] = []string{"deployers", "readers"}
	good["org"] = "acme"
	p, err := v.Verify(t.Context(), is.Sign(t, good))
	if err != nil {
		t.Fatal(err)
	}
	if p.Identity.User != "svc-ci" || p.Identity.Subject != "svc-ci" || p.Identity.Email != "ci@example.com" ||
		len(p.Identity.Groups) != 2 || p.Claims["org"] != "acme" || p.Lists["groups"][0] != "deployers" {
		t.Errorf("principal = %+v", p)
	}

	unverified := is.Claims("svc", "ci")
	unverified["email"], unverified["email_verified"] = "boss@example.com", false
	if p, err := v.Verify(t.Context(), is.Sign(t, unverified)); err != nil || p.Identity.Email != "" {
		t.Errorf("email_verified=false: %+v, %v; want no email", p.Identity, err)
	}

	expired := is.Claims("svc", "gatehouse")
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	wrongAud := is.Claims("svc", "someone-else")
	wrongIss := is.Claims("svc", "gatehouse")
	wrongIss["iss"] = "https://evil.example"
	for name, tok := range map[string]string{
		"expired":              is.Sign(t, expired),
		"wrong audience":       is.Sign(t, wrongAud),
		"unknown issuer":       is.Sign(t, wrongIss),
		"other issuer's token": other.Sign(t, other.Claims("svc", "gatehouse")),
		"our iss, foreign key": other.Sign(t, is.Claims("svc", "gatehouse")),
		"alg none":             is.SignNone(t, is.Claims("svc", "gatehouse")),
		"HS256 with public":    is.SignHS256WithPublicKey(t, is.Claims("svc", "gatehouse")),
		"not a jwt":            "abc",
		"garbage payload":      "a.b.c",
	} {
		if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: err = %v; want ErrInvalidToken", name, err)
		}
	}
}

// TestUnknownKidRateLimited: tokens with a key id the issuer never
// published make Gatehouse fetch the JWKS at most once per MinRefresh.
func TestUnknownKidRateLimited(t *testing.T) {
	t.Parallel()
	is := jwtissuer.Start(t)
	v := newVerifier(t, is, time.Hour)
	if _, err := v.Verify(t.Context(), is.Sign(t, is.Claims("svc", "gatehouse"))); err != nil {
		t.Fatal(err)
	}
	before := is.JWKSFetches.Load()
	for range 50 {
		if _, err := v.Verify(t.Context(), is.SignForeign(t, "unknown-kid", is.Claims("svc", "gatehouse"))); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("foreign kid: %v", err)
		}
	}
	if n := is.JWKSFetches.Load() - before; n > 1 {
		t.Errorf("50 tokens with an unknown kid made %d JWKS fetches within MinRefresh; want at most 1 (the burst's second)", n)
	}
}

// TestRotatedKeys: a token signed with a key published after the JWKS
// was cached verifies once the JWKS is fetched again for its kid.
func TestRotatedKeys(t *testing.T) {
	t.Parallel()
	is := jwtissuer.Start(t)
	v := newVerifier(t, is, time.Nanosecond)
	if _, err := v.Verify(t.Context(), is.Sign(t, is.Claims("svc", "gatehouse"))); err != nil {
		t.Fatal(err)
	}
	is.Rotate(t, false) // signs with a kid the JWKS does not show yet
	if _, err := v.Verify(t.Context(), is.Sign(t, is.Claims("svc", "gatehouse"))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("unpublished key: %v; want ErrInvalidToken", err)
	}
	is.Publish()
	if _, err := v.Verify(t.Context(), is.Sign(t, is.Claims("svc", "gatehouse"))); err != nil {
		t.Fatalf("rotated, published key: %v", err)
	}
}

// TestUnreachableIssuer: discovery is retried in the background; Ready
// names the issuer until it answers, and its tokens are refused meanwhile.
func TestUnreachableIssuer(t *testing.T) {
	t.Parallel()
	is := jwtissuer.Start(t)
	is.SetDown(true)
	v := New(t.Context(), []IssuerConfig{{IssuerURL: is.URL(), Audiences: []string{"gatehouse"}}}, nil, nil)
	if err := v.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), is.URL()) {
		t.Fatalf("Ready = %v; want an error naming %s", err, is.URL())
	}
	if _, err := v.Verify(t.Context(), is.Sign(t, is.Claims("svc", "gatehouse"))); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("token of an undiscovered issuer: %v", err)
	}
	is.SetDown(false)
	waitReady(t, v)
	if _, err := v.Verify(t.Context(), is.Sign(t, is.Claims("svc", "gatehouse"))); err != nil {
		t.Errorf("after the issuer came back: %v", err)
	}
}
