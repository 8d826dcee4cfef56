package metrics

import "testing"

func TestEndpoint(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/realms/corp/.well-known/openid-configuration": "discovery",
		"/realms/corp/protocol/openid-connect/certs":    "jwks",
		"/.well-known/jwks.json":                        "discovery",
		"/oauth2/v3/certs":                              "jwks",
		"/jwks":                                         "jwks",
		"/oauth/token":                                  "token",
		"/login/oauth/access_token":                     "token",
		"/realms/corp/protocol/openid-connect/token/introspect": "introspection",
		"/userinfo":                           "userinfo",
		"/user":                               "userinfo",
		"/api/v1/accounts/verify_credentials": "userinfo",
		"/api/v1/apps":                        "registration",
		"/orgs/acme/members/alice":            "api",
		"/realms/corp/protocol/openid-connect/revoke": "revocation",
	} {
		if got := Endpoint(path); got != want {
			t.Errorf("Endpoint(%q) = %s, want %s", path, got, want)
		}
	}
}
