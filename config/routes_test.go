package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const routesYAML = `
upstream: http://127.0.0.1:8080
routes:
  - name: metrics-public
    path: /healthz
    public: true
  - name: admin
    host: app.example.com
    path: /admin/
    methods: [GET, POST]
    upstream: http://127.0.0.1:9000
    allow:
      emails: [alice@example.com]
      email_domains: [example.com]
      groups: [admins]
      users: ["osu:2001"]
      providers: [dex]
      claims: {org: acme}
  - name: api
    path: /api/
    api: true
    bearer: true
jwt_bearer:
  - issuer_url: https://sso.example.com/realms/corp
    audiences: [gatehouse]
`

func loadYAML(t *testing.T, yaml string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := Load([]string{"--config", path, "--oidc-issuer-url", "https://sso.example.com", "--client-id", "g",
		"--client-secret", testClientSecret, "--cookie-secret", testCookieRaw, "--email-domain", "example.com"}, nil, nil)
	if err != nil {
		return nil, err
	}
	return o.Validate()
}

func TestRoutesYAML(t *testing.T) {
	t.Parallel()
	c, err := loadYAML(t, routesYAML)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Routes) != 3 || c.Routes[1].Name != "admin" || c.Routes[1].UpstreamURL.String() != "http://127.0.0.1:9000" ||
		!c.Routes[1].HasAllow || c.Routes[1].Allow.Claims["org"] != "acme" || c.Routes[0].HasAllow || !c.Routes[2].Bearer {
		t.Errorf("routes = %+v", c.Routes)
	}
	if len(c.JWTBearer) != 1 || c.JWTBearer[0].Audiences[0] != "gatehouse" {
		t.Errorf("jwt_bearer = %+v", c.JWTBearer)
	}
}

func TestRoutesErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "routes:\n  - name: a\n    pathh: /x\n", `routes[0] ("a").pathh: is not a known key`},
		{"unknown allow key", "routes:\n  - name: a\n    allow: {group: [x]}\n", `routes[0] ("a").allow.group: is not a known key`},
		{"duplicate", "routes:\n  - name: a\n  - name: a\n", `routes[1] ("a").name: is also the name of routes[0]`},
		{"no name", "routes:\n  - path: /x\n", `routes[0].name: is required`},
		{"bad regexp", "routes:\n  - name: re\n    path: \"~([\"\n", `routes[0] ("re"): path "~([" does not compile`},
		{"relative path", "routes:\n  - name: p\n    path: admin\n", `routes[0] ("p"): path "admin": start it with '/'`},
		{"upstream scheme", "routes:\n  - name: u\n    upstream: 127.0.0.1:9000\n", `routes[0] ("u").upstream: has no scheme`},
		{"public allow", "routes:\n  - name: pa\n    public: true\n    allow: {groups: [a]}\n", `routes[0] ("pa"): is public and has allow rules`},
		{"bearer no issuer", "routes:\n  - name: b\n    bearer: true\n", `routes[0] ("b").bearer: is true, but no jwt_bearer issuer`},
		{"strip without prefix", "routes:\n  - name: s\n    path: =/x\n    strip_prefix: true\n", `routes[0] ("s").strip_prefix: needs a '/prefix' path`},
		{"issuer http", "jwt_bearer:\n  - issuer_url: http://sso.example.com\n    audiences: [a]\n", `jwt_bearer[0].issuer_url: uses http://`},
		{"no audience", "jwt_bearer:\n  - issuer_url: https://sso.example.com\n", `jwt_bearer[0].audiences: is required`},
		{"skip without issuer", "skip_jwt_bearer_tokens: true\n", `skip-jwt-bearer-tokens`},
		{"bad host", "routes:\n  - name: h\n    host: https://app.example.com\n", `routes[0] ("h"): host "https://app.example.com"`},
	} {
		_, err := loadYAML(t, tc.yaml)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Fix:") && tc.name != "unknown key" && tc.name != "unknown allow key" {
			t.Errorf("%s: err = %v; want it to contain %q and a fix", tc.name, err, tc.want)
		}
	}
}
