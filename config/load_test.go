package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// env returns a lookupEnv over m.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// writeFile writes content to name in a fresh temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// configErrors flattens a joined error into its *Error values.
func configErrors(t *testing.T, err error) []*Error {
	t.Helper()
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if e, ok := errors.AsType[*Error](err); ok {
			out = append(out, e)
			return
		}
		t.Errorf("error %q is not a *config.Error", err)
	}
	walk(err)
	return out
}

// findError returns the *Error in err whose Key is key.
func findError(t *testing.T, err error, key string) *Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one for %s", key)
	}
	for _, e := range configErrors(t, err) {
		if e.Key == key {
			return e
		}
	}
	t.Fatalf("no error for key %q in:\n%v", key, err)
	return nil
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	o := Defaults()
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"http-address", o.HTTPAddress, "127.0.0.1:4180"},
		{"shutdown-timeout", o.ShutdownTimeout, 15 * time.Second},
		{"provider", o.Provider, "oidc"},
		{"cookie-secure", o.CookieSecure, true},
		{"cookie-expire", o.CookieExpire, 168 * time.Hour},
		{"cookie-refresh", o.CookieRefresh, time.Duration(0)},
		{"refresh-window", o.RefreshWindow, time.Minute},
		{"provider-sign-out", o.ProviderSignOut, true},
		{"session-store", o.SessionStore, "cookie"},
		{"redis-key-prefix", o.RedisKeyPrefix, "gatehouse:"},
		{"cookie-samesite", o.CookieSameSite, "lax"},
		{"reverse-proxy", o.ReverseProxy, false},
		{"upstream", o.Upstream, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// Every default tag must be reproduced by parsing it as a flag.
	for _, opt := range optionList() {
		if !opt.hasDefault || opt.name == "" {
			continue
		}
		fromFlag, err := Load([]string{"--" + opt.name + "=" + opt.def}, nil, nil)
		if err != nil {
			t.Fatalf("--%s=%s: %v", opt.name, opt.def, err)
		}
		got := reflect.ValueOf(fromFlag).Elem().Field(opt.index).Interface()
		want := reflect.ValueOf(o).Elem().Field(opt.index).Interface()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("default of --%s: %v, flag gives %v", opt.name, want, got)
		}
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "gatehouse.yaml", "http_address: 127.0.0.1:1111\ncookie_expire: 1h\nupstream: http://file\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"default", nil, nil, "127.0.0.1:4180"},
		{"file", []string{"--config", file}, nil, "127.0.0.1:1111"},
		{"file from GATEHOUSE_CONFIG", nil, map[string]string{"GATEHOUSE_CONFIG": file}, "127.0.0.1:1111"},
		{"env over file", []string{"--config=" + file}, map[string]string{"GATEHOUSE_HTTP_ADDRESS": "127.0.0.1:2222"}, "127.0.0.1:2222"},
		{"empty env is unset", []string{"--config=" + file}, map[string]string{"GATEHOUSE_HTTP_ADDRESS": ""}, "127.0.0.1:1111"},
		{"flag over env and file", []string{"--config", file, "--http-address", "127.0.0.1:3333"},
			map[string]string{"GATEHOUSE_HTTP_ADDRESS": "127.0.0.1:2222"}, "127.0.0.1:3333"},
		{"flag over default", []string{"-http-address=127.0.0.1:3333"}, nil, "127.0.0.1:3333"},
		{"last flag wins", []string{"--http-address=127.0.0.1:1", "--http-address=127.0.0.1:2"}, nil, "127.0.0.1:2"},
		{"--config flag over GATEHOUSE_CONFIG", []string{"--config", file}, map[string]string{"GATEHOUSE_CONFIG": "/does/not/exist.yaml"}, "127.0.0.1:1111"},
		{"unknown GATEHOUSE_ variable ignored", nil, map[string]string{"GATEHOUSE_NO_SUCH_OPTION": "x", "GATEHOUSE_VERSION": "1.2.3"}, "127.0.0.1:4180"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := Load(tt.args, env(tt.env), nil)
			if err != nil {
				t.Fatal(err)
			}
			if o.HTTPAddress != tt.want {
				t.Errorf("http-address = %q, want %q", o.HTTPAddress, tt.want)
			}
		})
	}

	// Options the higher levels leave alone keep the file's value.
	o, err := Load([]string{"--config", file, "--http-address=127.0.0.1:3333"}, env(map[string]string{"GATEHOUSE_UPSTREAM": "http://env"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.CookieExpire != time.Hour || o.Upstream != "http://env" || o.ConfigFile != file {
		t.Errorf("cookie-expire %v (want 1h from file), upstream %q (want env), config %q", o.CookieExpire, o.Upstream, o.ConfigFile)
	}
}

func TestTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(*Options) bool
	}{
		{"bool flag false", []string{"--cookie-secure=false"}, nil, func(o *Options) bool { return !o.CookieSecure }},
		{"bool flag bare", []string{"--reverse-proxy"}, nil, func(o *Options) bool { return o.ReverseProxy }},
		{"bool env", nil, map[string]string{"GATEHOUSE_COOKIE_SECURE": "false"}, func(o *Options) bool { return !o.CookieSecure }},
		{"duration flag", []string{"--cookie-expire", "12h"}, nil, func(o *Options) bool { return o.CookieExpire == 12*time.Hour }},
		{"duration env", nil, map[string]string{"GATEHOUSE_REDIS_TIMEOUT": "250ms"}, func(o *Options) bool { return o.RedisTimeout == 250*time.Millisecond }},
		{"version", []string{"--version"}, nil, func(o *Options) bool { return o.Version }},
		{"version not from env", nil, map[string]string{"GATEHOUSE_VERSION": "true"}, func(o *Options) bool { return !o.Version }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := Load(tt.args, env(tt.env), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Errorf("unexpected options %+v", o)
			}
		})
	}
}

func TestLists(t *testing.T) {
	t.Parallel()
	yamlFile := func(content string) []string {
		return []string{"--config", writeFile(t, "c.yaml", content)}
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"repeated flag", []string{"--email-domain", "a.com", "--email-domain=b.com"}, nil, []string{"a.com", "b.com"}},
		{"flag is not split", []string{"--email-domain", "a.com,b.com"}, nil, []string{"a.com,b.com"}},
		{"env comma-separated", nil, map[string]string{"GATEHOUSE_EMAIL_DOMAIN": "a.com, b.com,,"}, []string{"a.com", "b.com"}},
		{"flag replaces env", []string{"--email-domain=c.com"}, map[string]string{"GATEHOUSE_EMAIL_DOMAIN": "a.com,b.com"}, []string{"c.com"}},
		{"yaml list", yamlFile("email_domain:\n  - a.com\n  - b.com\n"), nil, []string{"a.com", "b.com"}},
		{"yaml flow list", yamlFile("email_domain: [a.com, b.com]\n"), nil, []string{"a.com", "b.com"}},
		{"yaml scalar", yamlFile("email_domain: a.com\n"), nil, []string{"a.com"}},
		{"yaml comma scalar", yamlFile("email_domain: a.com, b.com\n"), nil, []string{"a.com", "b.com"}},
		{"yaml null keeps default", yamlFile("email_domain:\n"), nil, nil},
		{"env replaces yaml", yamlFile("email_domain: [a.com, b.com]\n"), map[string]string{"GATEHOUSE_EMAIL_DOMAIN": "c.com"}, []string{"c.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := Load(tt.args, env(tt.env), nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.EmailDomains, tt.want) {
				t.Errorf("email-domain = %q, want %q", o.EmailDomains, tt.want)
			}
		})
	}
}

func TestYAMLProviders(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "c.yaml", `
providers:
  - id: corp
    type: oidc
    issuer_url: https://sso.example.com
    client_id: "123"
    scopes: openid email
    extra_audiences: [a, b]
    auth_params: {prompt: login}
    send_redirect_uri: true
    validate_every: 15m
    claims:
      email: data.mail
  - type: mastodon
    allowed_instances: mastodon.social
`)
	o, err := Load([]string{"--config", path}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Providers) != 2 {
		t.Fatalf("got %d providers, want 2", len(o.Providers))
	}
	p := o.Providers[0]
	if p.ID != "corp" || p.ClientID != "123" || p.IssuerURL != "https://sso.example.com" ||
		!slices.Equal(p.Scopes, []string{"openid email"}) || !slices.Equal(p.ExtraAudiences, []string{"a", "b"}) ||
		p.AuthParams["prompt"] != "login" || p.SendRedirectURI == nil || !*p.SendRedirectURI ||
		p.ValidateEvery != 15*time.Minute || p.Claims.Email != "data.mail" {
		t.Errorf("providers[0] = %+v", p)
	}
	if !slices.Equal(o.Providers[1].AllowedInstances, []string{"mastodon.social"}) {
		t.Errorf("providers[1].allowed_instances = %q", o.Providers[1].AllowedInstances)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	yamlFile := func(content string) []string {
		return []string{"--config", writeFile(t, "c.yaml", content)}
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		key  string
		want []string // substrings of the message
	}{
		{"unknown yaml key with suggestion", yamlFile("email_domains: [a.com]\n"), nil,
			"email_domains", []string{`email_domains: is not a known key`, `line 1`, `did you mean "email_domain"?`}},
		{"flag spelling in yaml", yamlFile("cookie-secret-file: /x\n"), nil,
			"cookie-secret-file", []string{`did you mean "cookie_secret_file"?`}},
		{"unknown yaml key without suggestion", yamlFile("upstream: http://x\nfrobnicate: 1\n"), nil,
			"frobnicate", []string{"line 2", "see docs/configuration.md"}},
		{"unknown provider key", yamlFile("providers:\n  - type: oidc\n    client_idd: x\n"), nil,
			"providers[0].client_idd", []string{`did you mean "client_id"?`, "line 3"}},
		{"unknown claims key", yamlFile("providers:\n  - type: oauth2\n    claims: {emial: x}\n"), nil,
			"providers[0].claims.emial", []string{`did you mean "email"?`}},
		{"duplicate key", yamlFile("upstream: http://a\nupstream: http://b\n"), nil,
			"upstream", []string{"given twice (first on line 1)"}},
		{"yaml-only-by-flag key", yamlFile("config: other.yaml\n"), nil,
			"config", []string{"cannot be set in the configuration file"}},
		{"version in yaml", yamlFile("version: true\n"), nil,
			"version", []string{"cannot be set in the configuration file"}},
		{"bad duration in yaml", yamlFile("cookie_expire: 7\n"), nil,
			"cookie-expire", []string{`"7" is not a duration`, "line 1", "e.g. 30s"}},
		{"bad bool in yaml", yamlFile("cookie_secure: maybe\n"), nil,
			"cookie-secure", []string{`"maybe" is not a boolean`}},
		{"list for scalar", yamlFile("upstream: [a, b]\n"), nil,
			"upstream", []string{"single value"}},
		{"mapping for list", yamlFile("email_domain: {a: b}\n"), nil,
			"email-domain", []string{"list of strings"}},
		{"providers not a list", yamlFile("providers: {type: oidc}\n"), nil,
			"providers", []string{"must be a list"}},
		{"bad provider duration", yamlFile("providers:\n  - type: mastodon\n    validate_every: often\n"), nil,
			"providers[0].validate_every", []string{`"often" is not a duration`}},
		{"top level not a mapping", yamlFile("- a\n- b\n"), nil,
			"config", []string{"must be a mapping"}},
		{"invalid yaml", yamlFile("upstream: [\n"), nil,
			"config", []string{"is not valid YAML"}},
		{"two documents", yamlFile("upstream: http://a\n---\nupstream: http://b\n"), nil,
			"config", []string{"more than one YAML document"}},
		{"missing file", []string{"--config", "/does/not/exist.yaml"}, nil,
			"config", []string{`"/does/not/exist.yaml"`, "no such file"}},
		{"missing file from env", nil, map[string]string{"GATEHOUSE_CONFIG": "/does/not/exist.yaml"},
			"config", []string{"GATEHOUSE_CONFIG", "/does/not/exist.yaml"}},
		{"bad duration in env", nil, map[string]string{"GATEHOUSE_COOKIE_EXPIRE": "forever"},
			"cookie-expire", []string{`GATEHOUSE_COOKIE_EXPIRE="forever" is not a duration`}},
		{"bad bool in env", nil, map[string]string{"GATEHOUSE_COOKIE_SECURE": "nope"},
			"cookie-secure", []string{`GATEHOUSE_COOKIE_SECURE="nope" is not a boolean`}},
		{"bad duration flag", []string{"--cookie-refresh=soon"}, nil,
			"cookie-refresh", []string{`--cookie-refresh="soon" is not a duration`}},
		{"bad bool flag", []string{"--cookie-secure=nah"}, nil,
			"cookie-secure", []string{`--cookie-secure="nah" is not a boolean`}},
		{"unknown flag with suggestion", []string{"--email-domains=a.com"}, nil,
			"--email-domains", []string{"is not a flag", "did you mean --email-domain?"}},
		{"flag needs a value", []string{"--upstream"}, nil,
			"upstream", []string{"needs a value"}},
		{"bool flag with separate value", []string{"--cookie-secure", "false"}, nil,
			"command line", []string{`"false"`, "--cookie-secure=false"}},
		{"positional argument", []string{"--upstream=http://a", "serve"}, nil,
			"command line", []string{"argument #2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := Load(tt.args, env(tt.env), nil)
			if o != nil {
				t.Errorf("got options with an error")
			}
			e := findError(t, err, tt.key)
			for _, w := range tt.want {
				if !strings.Contains(e.Error(), w) {
					t.Errorf("message %q does not contain %q", e.Error(), w)
				}
			}
		})
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "c.yaml", "email_domains: [a]\ncookie_expire: x\nproviders:\n  - typ: oidc\n")
	_, err := Load([]string{"--config", path}, env(map[string]string{"GATEHOUSE_REDIS_TIMEOUT": "y"}), nil)
	if got := len(configErrors(t, err)); got != 4 {
		t.Errorf("got %d errors, want 4:\n%v", got, err)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"--help", "-h", "-help"} {
		var out strings.Builder
		o, err := Load([]string{arg}, nil, &out)
		if !errors.Is(err, flag.ErrHelp) || o != nil {
			t.Fatalf("%s: got %v, %v; want flag.ErrHelp", arg, o, err)
		}
		help := out.String()
		for _, opt := range optionList() {
			if opt.name == "" {
				if !strings.Contains(help, opt.yamlKey+" (YAML only)") {
					t.Errorf("%s: %s missing", arg, opt.yamlKey)
				}
				continue
			}
			line := "  --" + opt.name
			if v := valueName(opt.typ); v != "" {
				line += " " + v
			}
			if opt.def != "" {
				d := opt.def
				if opt.typ.Kind() == reflect.String {
					d = `"` + d + `"`
				}
				line += "  (default " + d + ")"
			}
			if !strings.Contains(help, line+"\n") {
				t.Errorf("%s: help lacks %q", arg, line)
			}
			if opt.env != "" && !strings.Contains(help, opt.env) {
				t.Errorf("%s: help lacks %s", arg, opt.env)
			}
		}
		for _, key := range yamlKeys(reflect.TypeFor[ProviderOptions]()) {
			if !strings.Contains(help, " "+key+" (") {
				t.Errorf("%s: help lacks provider key %s", arg, key)
			}
		}
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	known := []string{"email_domain", "whitelist_domain", "cookie_secret", "cookie_secret_file", "upstream"}
	tests := []struct{ key, want string }{
		{"email_domains", "email_domain"},
		{"email-domain", "email_domain"},
		{"EMAIL_DOMAIN", "email_domain"},
		{"cookie_secrt", "cookie_secret"},
		{"upstrem", "upstream"},
		{"whitelist_domains", "whitelist_domain"},
		{"listen", ""},
		{"x", ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.key, known); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

// TestAliases: --profile-url is the older spelling of --userinfo-url and
// works as a flag, a variable and a YAML key; both spellings in one place
// are an error naming both; across places the usual precedence applies.
func TestAliases(t *testing.T) {
	t.Parallel()
	const u = "https://idp.example/me"
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		yaml string
		want string // UserinfoURL; "" when an error is expected
		both string // with want "": the two spellings the error names
	}{
		{name: "flag", args: []string{"--profile-url=" + u}, want: u},
		{name: "env", env: map[string]string{"GATEHOUSE_PROFILE_URL": u}, want: u},
		{name: "yaml", yaml: "profile_url: " + u + "\n", want: u},
		{name: "new flag over old variable", args: []string{"--userinfo-url=" + u}, env: map[string]string{"GATEHOUSE_PROFILE_URL": "https://old/me"}, want: u},
		{name: "both flags", args: []string{"--userinfo-url=" + u, "--profile-url=" + u}, both: "--userinfo-url and --profile-url"},
		{name: "both variables", env: map[string]string{"GATEHOUSE_USERINFO_URL": u, "GATEHOUSE_PROFILE_URL": u}, both: "GATEHOUSE_USERINFO_URL and GATEHOUSE_PROFILE_URL"},
		{name: "both keys", yaml: "userinfo_url: " + u + "\nprofile_url: " + u + "\n", both: "userinfo_url and profile_url"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := tt.args
			if tt.yaml != "" {
				args = append(args, "--config="+writeFile(t, "gatehouse.yaml", tt.yaml))
			}
			o, err := Load(args, env(tt.env), nil)
			if tt.want != "" {
				if err != nil || o.UserinfoURL != tt.want {
					t.Fatalf("UserinfoURL = %v, %v; want %q", o, err, tt.want)
				}
				return
			}
			e := findError(t, err, "userinfo-url")
			if !strings.Contains(e.Error(), tt.both) || !strings.Contains(e.Error(), "--profile-url") {
				t.Errorf("error %q does not name %s (and the alias)", e, tt.both)
			}
		})
	}
}
