package assertion_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-proxy/gatehouse/proxy/assertion"
)

// --- begin docs/assertion.md example ---

// Identity is who Gatehouse says the user is.
type Identity struct {
	Subject  string   `json:"sub"`
	User     string   `json:"user"`
	Email    string   `json:"email"`
	Groups   []string `json:"groups"`
	Name     string   `json:"name"`
	Provider string   `json:"provider"`
}

type identityKey struct{}

// RequireGatehouse admits only requests carrying a valid assertion from
// the Gatehouse at issuer, for the host name audience, and puts the
// identity in the request's context. jwksURL is Gatehouse's
// /.well-known/jwks.json; the key set is fetched once and again when an
// unknown key id appears (rotation).
func RequireGatehouse(ctx context.Context, issuer, jwksURL, audience string, next http.Handler) http.Handler {
	keys := oidc.NewRemoteKeySet(ctx, jwksURL)
	verifier := oidc.NewVerifier(issuer, keys, &oidc.Config{
		ClientID:             audience,
		SupportedSigningAlgs: []string{oidc.ES256, oidc.RS256},
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, err := verifier.Verify(r.Context(), r.Header.Get("X-Gatehouse-Assertion"))
		var id Identity
		if err == nil {
			err = token.Claims(&id)
		}
		if err != nil {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// --- end docs/assertion.md example ---

// Example shows an upstream verifying what a Gatehouse with an EC key
// signs.
func Example() {
	key, _ := assertion.ParseKey(sec1(nil, exampleKey()))
	signer, _ := assertion.NewSigner(assertion.Config{Keys: []*assertion.Key{key}, Issuer: "https://auth.example.com"})
	jwks := httptest.NewServer(http.HandlerFunc(signer.ServeJWKS)) // Gatehouse's /.well-known/jwks.json
	defer jwks.Close()

	app := RequireGatehouse(context.Background(), "https://auth.example.com", jwks.URL, "app.example.com",
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Context().Value(identityKey{}).(Identity)
			fmt.Fprintf(w, "hello %s (%s) of %s", id.Name, id.Email, strings.Join(id.Groups, ", "))
		}))

	for _, audience := range []string{"app.example.com", "other.example.com"} {
		raw, _ := signer.Sign(assertion.Claims{Audience: audience, Subject: "248289761001", User: "248289761001",
			Email: "alice@example.com", Groups: []string{"admins"}, Name: "Alice", Provider: "corp"})
		req := httptest.NewRequest(http.MethodGet, "https://app.example.com/", nil)
		req.Header.Set("X-Gatehouse-Assertion", raw)
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, req)
		fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	// Output:
	// 200 hello Alice (alice@example.com) of admins
	// 403 forbidden
}
