package fakes

// Helpers shared by the self-tests of the OIDC-based fakes (GitLab,
// Google, Entra, Keycloak).

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

const testVerifier = "0123456789012345678901234567890123456789abc"

// oidcAuthURL is a correct authorization request to endpoint.
func oidcAuthURL(endpoint, clientID, callback, scope string, extra ...string) string {
	q := url.Values{"client_id": {clientID}, "redirect_uri": {callback}, "response_type": {"code"}, "scope": {scope}, "state": {"st"},
		"nonce": {"n0nce"}, "code_challenge": {s256(testVerifier)}, "code_challenge_method": {"S256"}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return endpoint + "?" + q.Encode()
}

// codeForm is a correct authorization_code token request (client
// credentials in the body).
func (f *oidcFront) codeForm(code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.Callback}, "code_verifier": {testVerifier},
		"client_id": {f.ClientID}, "client_secret": {f.ClientSecret}}
}

// refreshForm is a correct refresh_token token request.
func (f *oidcFront) refreshForm(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {f.ClientID}, "client_secret": {f.ClientSecret}}
}

// postToken sends form to tokenURL and decodes the JSON answer.
func postToken(t *testing.T, tokenURL string, form url.Values) (int, map[string]any) {
	t.Helper()
	status, body := call(t, http.MethodPost, tokenURL, form, nil)
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("token answer %d: %s", status, body)
	}
	return status, m
}

// oidcLogin authorizes at authURL and redeems the code at tokenURL.
func oidcLogin(t *testing.T, f *oidcFront, authURL, tokenURL string) map[string]any {
	t.Helper()
	status, tok := postToken(t, tokenURL, f.codeForm(code(t, authURL)))
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}
	return tok
}

// jwtClaims decodes a JWT's payload without verifying it.
func jwtClaims(t *testing.T, token any) map[string]any {
	t.Helper()
	s, _ := token.(string)
	jws, err := jose.ParseSignedCompact(s, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("JWT %q: %v", s, err)
	}
	var m map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// verifyJWT checks token's signature against the JWKS at jwksURL and
// returns its claims.
func verifyJWT(t *testing.T, jwksURL string, token any) map[string]any {
	t.Helper()
	_, body := call(t, http.MethodGet, jwksURL, nil, nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	s, _ := token.(string)
	jws, err := jose.ParseSignedCompact(s, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("no key %q in %s", jws.Signatures[0].Header.KeyID, body)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// bearer sets an Authorization: Bearer header.
func bearer(token any) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token.(string)) }
}

// getJSON sends GET target with edit and decodes a JSON object answer.
func getJSON(t *testing.T, target string, edit func(*http.Request)) (int, map[string]any) {
	t.Helper()
	resp, body := apiCall(t, http.MethodGet, target, edit)
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	return resp.StatusCode, m
}
