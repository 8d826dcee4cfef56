package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// runArgs runs the command with args and returns the exit code and output.
func runArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runContext(t.Context(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCommands(t *testing.T) {
	t.Setenv("GATEHOUSE_CONFIG", "")
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr []string
		notStdout      []string
	}{
		{"version", []string{"version"}, 0, []string{"gatehouse version ", "commit:", "built:", "go:      " + runtime.Version()}, nil, []string{"gatehouse dev"}},
		{"--version", []string{"--version"}, 0, []string{"gatehouse version ", "go:      " + runtime.Version()}, nil, []string{"gatehouse dev"}},
		{"help", []string{"help"}, 0, []string{"serve", "dev", "config", "secret", "sessions", "version", "help"}, nil, nil},
		{"help serve", []string{"help", "serve"}, 0, []string{"--cookie-secret", "--metrics-address", "--https-address"}, nil, nil},
		{"help config", []string{"help", "config"}, 0, []string{"gatehouse config check"}, nil, nil},
		{"help dev", []string{"help", "dev"}, 0, []string{"gatehouse dev"}, nil, nil},
		{"help sessions", []string{"help", "sessions"}, 0, []string{"gatehouse sessions list"}, nil, nil},
		{"help unknown", []string{"help", "nope"}, 2, nil, []string{`unknown command "nope"`}, nil},
		{"unknown command", []string{"serv"}, 2, nil, []string{`unknown command "serv"`, "Fix:"}, nil},
		{"config without check", []string{"config"}, 2, nil, []string{"gatehouse config check"}, nil},
		{"serve --help", []string{"serve", "--help"}, 0, []string{"--cookie-secret"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runArgs(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tt.notStdout {
				if strings.Contains(stdout, s) {
					t.Errorf("stdout contains %q:\n%s", s, stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}

// TestHelpListsEveryCommand keeps --help's command list in step with the
// commands run dispatches.
func TestHelpListsEveryCommand(t *testing.T) {
	_, stdout, _ := runArgs(t, "--help")
	for _, c := range commands() {
		if !strings.Contains(stdout, "\n  "+c.name+" ") {
			t.Errorf("--help does not list the %s command", c.name)
		}
	}
}

func TestSecretCommand(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		code, stdout, _ := runArgs(t, "secret")
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		s := strings.TrimSpace(stdout)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != 32 {
			t.Fatalf("secret %q: %d bytes, %v; want the base64 of 32 bytes", s, len(b), err)
		}
		if seen[s] {
			t.Fatal("the same secret twice")
		}
		seen[s] = true
		// What it prints is a cookie secret Gatehouse accepts.
		code, _, stderr := runArgs(t, "config", "check", "--oidc-issuer-url", "https://sso.example.com", "--client-id", "id",
			"--client-secret", "x", "--cookie-secret", s, "--email-domain", "*")
		if code != 0 {
			t.Errorf("config check refuses the generated secret: %s", stderr)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	t.Setenv("GATEHOUSE_CONFIG", "")
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const clientSecret = "very-secret-client-value"
	valid := write("valid.yaml", `
http_address: 127.0.0.1:0
upstream: http://127.0.0.1:9
email_domain: [example.com]
cookie_secret: `+testutil.TestCookieSecret+`
session_store: redis
redis_url: redis://user:redis-pass-value@127.0.0.1:1/0
providers:
  - id: corp
    type: oidc
    issuer_url: https://sso.invalid.example
    client_id: gatehouse
    client_secret: `+clientSecret+`
`)
	// Nothing is contacted: the issuer and Redis do not exist.
	code, stdout, stderr := runArgs(t, "config", "check", "--config", valid, "--cookie-previous-secret", "CMz6m42Blf5jEzXvt9oe5IkKE6BHR9JbfoKLp1syhYc=")
	if code != 0 {
		t.Fatalf("valid file: exit %d: %s", code, stderr)
	}
	for _, secret := range []string{clientSecret, testutil.TestCookieSecret, "redis-pass-value", "CMz6m42Blf5jEzXvt9oe5IkKE6BHR9JbfoKLp1syhYc="} {
		if strings.Contains(stdout, secret) {
			t.Errorf("config check prints a secret %q:\n%s", secret, stdout)
		}
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, stdout)
	}
	if doc["cookie_secret"] != "<redacted>" || doc["http_address"] != "127.0.0.1:0" || doc["session_store"] != "redis" {
		t.Errorf("effective values: cookie_secret %v, http_address %v, session_store %v", doc["cookie_secret"], doc["http_address"], doc["session_store"])
	}
	if got := doc["redis_url"]; got != "redis://user:<redacted>@127.0.0.1:1/0" {
		t.Errorf("redis_url = %v", got)
	}
	provs, _ := doc["providers"].([]any)
	if len(provs) != 1 || provs[0].(map[string]any)["client_secret"] != "<redacted>" || provs[0].(map[string]any)["client_id"] != "gatehouse" {
		t.Errorf("providers = %v", doc["providers"])
	}

	invalid := write("invalid.yaml", "http_address: nowhere\nemail_domain: [example.com]\ncookie_secret: changeme-changeme-changeme-12345\n")
	code, stdout, stderr = runArgs(t, "config", "check", "--config", invalid)
	if code != 2 || stdout != "" {
		t.Fatalf("invalid file: exit %d, stdout %q; want 2 and nothing", code, stdout)
	}
	for _, want := range []string{"http-address", "cookie-secret", "gatehouse secret", "client-id"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "changeme-changeme") {
		t.Errorf("stderr repeats the secret:\n%s", stderr)
	}

	// A custom template serve would refuse is refused here too.
	tmpl := filepath.Join(dir, "templates")
	if err := os.Mkdir(tmpl, 0o700); err != nil {
		t.Fatal(err)
	}
	write("templates/error.html", "{{.NoSuchField}}")
	code, _, stderr = runArgs(t, "config", "check", "--config", valid, "--custom-templates-dir", tmpl)
	if code != 2 || !strings.Contains(stderr, "error.html") {
		t.Errorf("broken custom template: exit %d, stderr %s", code, stderr)
	}
}
