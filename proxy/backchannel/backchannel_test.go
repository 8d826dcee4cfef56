package backchannel

import (
	"encoding/base64"
	"slices"
	"testing"
)

// jwt builds an unsigned compact JWT around payload (peek never checks
// signatures: the provider it picks does).
func jwt(payload string) string {
	b64 := base64.RawURLEncoding.EncodeToString
	return b64([]byte(`{"alg":"RS256"}`)) + "." + b64([]byte(payload)) + ".c2ln"
}

func TestPeek(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, raw, iss string
		aud            []string
		ok             bool
	}{
		{"aud string", jwt(`{"iss":"https://idp","aud":"c"}`), "https://idp", []string{"c"}, true},
		{"aud list", jwt(`{"iss":"https://idp","aud":["a","c"]}`), "https://idp", []string{"a", "c"}, true},
		{"aud number", jwt(`{"iss":"https://idp","aud":7}`), "", nil, false},
		{"no aud", jwt(`{"iss":"https://idp"}`), "", nil, false},
		{"not JSON", jwt(`nope`), "", nil, false},
		{"two parts", "a.b", "", nil, false},
		{"bad base64", "a.!!!.c", "", nil, false},
	} {
		iss, aud, err := peek(tc.raw)
		if (err == nil) != tc.ok || iss != tc.iss || !slices.Equal(aud, tc.aud) {
			t.Errorf("%s: peek = %q %q %v", tc.name, iss, aud, err)
		}
	}
}

func TestNewRequiresDeps(t *testing.T) {
	t.Parallel()
	if _, err := New(Deps{}); err == nil {
		t.Error("New accepted no providers, replay cache or sessions")
	}
}
