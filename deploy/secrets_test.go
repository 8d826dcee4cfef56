package deploy_test

import (
	"crypto/rand"
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-proxy/gatehouse/config"
)

// cookieSecretError reports why Gatehouse would refuse content as the
// content of its --cookie-secret-file, or nil when it would start with it.
// It is the one place these tests ask config about cookie secrets: the rest
// of the configuration is valid, so any error is the secret's.
func cookieSecretError(t *testing.T, content string) error {
	t.Helper()
	file := filepath.Join(t.TempDir(), "cookie-secret")
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := config.Load([]string{
		"--provider=oidc", "--oidc-issuer-url=https://sso.example.com", "--client-id=gatehouse",
		"--client-secret=test-client-secret", "--email-domain=example.com",
		"--cookie-secret-file=" + file,
	}, nil, nil)
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	_, err = o.Validate()
	return err
}

// secretValue is a secret found in a shipped file.
type secretValue struct {
	where string // file and key
	value string
}

// secretKey matches keys whose value is a secret itself (not a file name
// or a reference to a Secret): cookieSecret, client_secret,
// redis-password, GATEHOUSE_COOKIE_SECRET, ...
var secretKey = regexp.MustCompile(`(?i)(secret|password)$`)

// notSecretKey matches keys ending like secretKey that name a Secret
// rather than hold one.
var notSecretKey = regexp.MustCompile(`(?i)^(existing|ca)secret$|secretname$`)

// secretArg matches a command-line option or environment assignment
// carrying a secret: --cookie-secret=X, GATEHOUSE_REDIS_PASSWORD=X.
var secretArg = regexp.MustCompile(`(?i)^(--[a-z-]*(secret|password)|[A-Z_]*(SECRET|PASSWORD))=(.*)$`)

// findSecrets returns every secret value in the YAML and secret files
// under dir: values of Kubernetes Secrets, of keys named like a secret
// (Helm values, compose environment), of --*-secret= arguments, and the
// content of files whose name says they hold a secret (compose secrets).
// Helm templates are not YAML and are covered by rendering the chart.
func findSecrets(t *testing.T, dir string) []secretValue {
	t.Helper()
	var found []secretValue
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "templates" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		name := strings.ToLower(d.Name())
		switch ext := filepath.Ext(name); {
		case ext == ".yaml" || ext == ".yml":
			found = append(found, yamlSecrets(t, p)...)
		case ext == "" && secretKey.MatchString(strings.NewReplacer("_", "", "-", "").Replace(name)):
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			found = append(found, secretValue{p, string(b)})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// yamlSecrets returns the secrets in the documents of one YAML file.
func yamlSecrets(t *testing.T, file string) []secretValue {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var found []secretValue
	dec := yaml.NewDecoder(f)
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if err.Error() == "EOF" {
				return found
			}
			t.Fatalf("%s: %v", file, err)
		}
		var kind struct {
			Kind string `yaml:"kind"`
		}
		_ = doc.Decode(&kind)
		walkSecrets(&doc, file, kind.Kind == "Secret", "", &found)
	}
}

// walkSecrets collects the secrets under n; inSecret is true inside a
// Kubernetes Secret, whose data (base64) and stringData are all secret.
func walkSecrets(n *yaml.Node, where string, inSecret bool, parent string, found *[]secretValue) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			walkSecrets(c, where, inSecret, parent, found)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			at := where + ": " + k
			switch {
			case inSecret && (k == "data" || k == "stringData") && v.Kind == yaml.MappingNode:
				for j := 0; j+1 < len(v.Content); j += 2 {
					val := v.Content[j+1].Value
					if k == "data" {
						b, _ := base64.StdEncoding.DecodeString(val)
						val = string(b)
					}
					*found = append(*found, secretValue{at + "." + v.Content[j].Value, val})
				}
			case v.Kind == yaml.ScalarNode && secretKey.MatchString(k) && !notSecretKey.MatchString(k) && !strings.HasSuffix(strings.ToLower(parent), "keys"):
				// (Under secretKeys the values are key names.)
				*found = append(*found, secretValue{at, v.Value})
			default:
				walkSecrets(v, at, inSecret, k, found)
			}
		}
	case yaml.ScalarNode:
		if m := secretArg.FindStringSubmatch(n.Value); m != nil {
			*found = append(*found, secretValue{where + ": " + m[1], m[4]})
		}
	}
}

// TestShippedSecretsAreRefused applies Gatehouse's own cookie-secret
// validation to every secret value shipped in deploy/: none may be a key
// Gatehouse would start with, or applying an example as shipped would run
// with a publicly known key that lets anyone forge sessions.
func TestShippedSecretsAreRefused(t *testing.T) {
	t.Parallel()

	// The check can fail: a fresh key is accepted.
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := cookieSecretError(t, base64.StdEncoding.EncodeToString(key)+"\n"); err != nil {
		t.Fatalf("control: a random key refused: %v", err)
	}
	// The placeholder shipped before, the base64 of exactly 32 bytes, is
	// refused as a placeholder, with the command that makes a good one.
	err := cookieSecretError(t, "REPLACE-ME-output-of-openssl-rand-base64-32")
	if err == nil || !strings.Contains(err.Error(), "gatehouse secret") {
		t.Fatalf("the old placeholder: %v; want refused, naming 'gatehouse secret'", err)
	}

	found := findSecrets(t, ".")
	for _, want := range []string{
		"kubernetes/secret.example.yaml: stringData.cookie-secret",
		"helm/gatehouse/values.yaml: secret: cookieSecret",
		"compose/secrets/cookie_secret",
	} {
		ok := false
		for _, s := range found {
			ok = ok || strings.Contains(s.where, want)
		}
		if !ok {
			t.Errorf("no secret found at %q; the scan no longer sees it", want)
		}
	}
	for _, s := range found {
		if err := cookieSecretError(t, s.value); err == nil {
			t.Errorf("%s: Gatehouse accepts %q as a cookie secret; ship a placeholder it refuses", s.where, s.value)
		}
	}
	t.Logf("checked %d shipped secret values", len(found))
}
