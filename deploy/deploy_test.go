// Package deploy_test checks that the shipped deployment examples are
// accepted by Gatehouse's own configuration loader, so a renamed option
// breaks a test instead of a user's deployment.
package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
)

// testCookieSecret is a valid cookie secret for tests: the base64 of 32
// bytes, as 'openssl rand -base64 32' prints it.
const testCookieSecret = "lvYO4leQrGlastM1jLPSfSm7Z5+8dY/QGt9WWVzi8Ic="

// loadInPod runs Gatehouse's own configuration loader and validator on a
// container's args as the container would see them: every file of files is
// written under a temporary root, and each in-container path in args and
// in the files' content (a --config file naming *_file paths) is rewritten
// to point there. A Load error fails the test (an unknown option or
// key); Validate's error is returned.
func loadInPod(t *testing.T, args []string, env map[string]string, files podFiles) (*loaded, error) {
	t.Helper()
	root := t.TempDir()
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	// Longest first, so /a/b-c is not rewritten as /a/b plus "-c".
	slices.SortFunc(paths, func(a, b string) int { return len(b) - len(a) })
	var pairs []string
	for _, p := range paths {
		pairs = append(pairs, p, filepath.Join(root, p))
	}
	rewrite := strings.NewReplacer(pairs...)
	for _, p := range paths {
		local := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(local), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(local, []byte(rewrite.Replace(files[p])), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	local := make([]string, len(args))
	for i, a := range args {
		local[i] = rewrite.Replace(a)
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	o, err := config.Load(local, lookup, nil)
	if err != nil {
		t.Fatalf("config.Load(%q): %v", local, err)
	}
	cfg, err := o.Validate()
	return &loaded{Options: o, cfg: cfg}, err
}

// loaded is a configuration as a pod loads it: the options as given and,
// when they validate, what Validate resolved from them.
type loaded struct {
	*config.Options
	cfg *config.Config
}

// ProviderList is the effective provider list, secrets read.
func (l *loaded) ProviderList() []config.ProviderOptions { return l.cfg.Providers }

// CookieSecretKeys are the decoded cookie secrets.
func (l *loaded) CookieSecretKeys() [][]byte { return l.cfg.CookieSecretKeys }

// RedisPassword is the password read from --redis-password-file.
func (l *loaded) RedisPassword() string { return l.cfg.RedisPassword }

// RedisSentinelPassword is the password read from
// --redis-sentinel-password-file.
func (l *loaded) RedisSentinelPassword() string { return l.cfg.RedisSentinelPassword }

// withTestSecrets replaces the values of every Secret in m (the shipped
// examples hold placeholders, which Gatehouse refuses) with valid test
// values under the same keys.
func withTestSecrets(m *manifests) {
	for _, s := range m.Secrets {
		for k := range s.StringData {
			s.StringData[k] = "test-" + k + "\n"
			if strings.Contains(k, "cookie") {
				s.StringData[k] = testCookieSecret + "\n"
			}
		}
	}
}

func TestKubernetesExamplesLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file         string
		wantUpstream string
		wantConfig   bool
	}{
		{"kubernetes/deployment.yaml", "http://127.0.0.1:8080", true},
		{"kubernetes/ingress-nginx-external-auth.yaml", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			m := readManifests(t, "kubernetes", "configmap.yaml", "secret.example.yaml", filepath.Base(tt.file))
			d := m.Deployments[0]
			c := container(t, d, "gatehouse")

			// As shipped, the example Secret's placeholders are refused.
			_, err := loadInPod(t, c.Args, nil, mountedFiles(t, d, c, m))
			if err == nil || !strings.Contains(err.Error(), "cookie-secret") {
				t.Errorf("with the example Secret's placeholders, Validate = %v; want the cookie secret refused", err)
			}

			withTestSecrets(m)
			o, err := loadInPod(t, c.Args, nil, mountedFiles(t, d, c, m))
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if o.HTTPAddress != "0.0.0.0:4180" {
				t.Errorf("http-address = %q, want 0.0.0.0:4180 (the probes and Service use :4180)", o.HTTPAddress)
			}
			if o.Upstream != tt.wantUpstream {
				t.Errorf("upstream = %q, want %q", o.Upstream, tt.wantUpstream)
			}
			if len(o.TrustedProxies) == 0 {
				t.Error("no trusted_proxies; the examples sit behind an ingress controller")
			}
			if !o.CookieSecure {
				t.Error("cookie-secure is off in a production example")
			}
			if (o.ConfigFile != "") != tt.wantConfig {
				t.Errorf("config file = %q, want one: %v", o.ConfigFile, tt.wantConfig)
			}
			if o.ClientSecret != "" || o.CookieSecret != "" {
				t.Error("a secret is given inline; the examples must read them from files")
			}
			if keys := o.CookieSecretKeys(); len(keys) != 1 {
				t.Errorf("cookie secret file gave %d keys, want 1", len(keys))
			}
		})
	}
}
