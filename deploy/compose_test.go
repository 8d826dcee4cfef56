package deploy_test

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeFile is the part of a Compose file these tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

// composeService is the part of a Compose service these tests read.
type composeService struct {
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	Secrets     []string          `yaml:"secrets"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	User        string   `yaml:"user"`
	ReadOnly    bool     `yaml:"read_only"`
	CapDrop     []string `yaml:"cap_drop"`
	SecurityOpt []string `yaml:"security_opt"`
}

// composeDefault expands ${NAME:-default} the way Compose does when NAME is
// unset.
var composeDefault = regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`)

// imageEnv returns the GATEHOUSE_* environment the Dockerfile's image sets.
func imageEnv(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ENV (GATEHOUSE_[A-Z_]+)=(\S+)$`).FindAllStringSubmatch(string(b), -1) {
		env[m[1]] = m[2]
	}
	return env
}

// TestCompose checks deploy/compose.yaml without Docker: Gatehouse is built
// from the Dockerfile, its mounted configuration file is accepted by
// Gatehouse's own loader with the secrets read from the files Compose
// mounts under /run/secrets (never environment or arguments), Redis and the
// application are the hosts it is configured for, and the containers are
// hardened.
func TestCompose(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	dec := yaml.NewDecoder(strings.NewReader(composeDefault.ReplaceAllString(string(b), "$1")))
	if err := dec.Decode(&cf); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	gh, ok := cf.Services["gatehouse"]
	if !ok {
		t.Fatal("compose.yaml has no gatehouse service")
	}
	if gh.Build == nil || filepath.Clean(gh.Build.Context) != ".." || gh.Build.Dockerfile != "deploy/Dockerfile" {
		t.Errorf("gatehouse build = %+v, want context .. and dockerfile deploy/Dockerfile", gh.Build)
	}
	for name, s := range cf.Services {
		if s.User == "" || strings.HasPrefix(s.User, "0") || !s.ReadOnly || !slices.Equal(s.CapDrop, []string{"ALL"}) ||
			!slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
			t.Errorf("service %s: user %q, read_only %v, cap_drop %v, security_opt %v; want non-root, read-only, cap_drop [ALL], no-new-privileges",
				name, s.User, s.ReadOnly, s.CapDrop, s.SecurityOpt)
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("service %s publishes %q beyond loopback", name, p)
			}
		}
		if name != "gatehouse" && len(s.Ports) > 0 {
			t.Errorf("service %s is published on the host; only Gatehouse may be", name)
		}
	}

	// The files the gatehouse container sees: bind mounts and secrets.
	files := podFiles{}
	for _, v := range gh.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[0], ".") {
			continue
		}
		content, err := os.ReadFile(parts[0])
		if err != nil {
			t.Fatalf("volume %s: %v", v, err)
		}
		files[parts[1]] = string(content)
	}
	placeholders := podFiles{}
	for k, v := range files {
		placeholders[k] = v
	}
	for _, s := range gh.Secrets {
		def, ok := cf.Secrets[s]
		if !ok || def.File == "" {
			t.Fatalf("gatehouse uses secret %q, which compose.yaml does not define as a file", s)
		}
		shipped, err := os.ReadFile(def.File)
		if err != nil {
			t.Fatalf("secret %s: %v", s, err)
		}
		placeholders[path.Join("/run/secrets", s)] = string(shipped)
		files[path.Join("/run/secrets", s)] = "test-" + s + "\n"
		if s == "cookie_secret" {
			files[path.Join("/run/secrets", s)] = testCookieSecret + "\n"
		}
	}
	for k := range gh.Environment {
		if secretKey.MatchString(k) {
			t.Errorf("gatehouse environment %s holds a secret; use a secrets: file", k)
		}
	}

	env := imageEnv(t)
	for k, v := range gh.Environment {
		env[k] = v
	}
	// As shipped, the placeholders stop Gatehouse.
	if _, err := loadInPod(t, gh.Command, env, placeholders); err == nil || !strings.Contains(err.Error(), "cookie-secret-file") {
		t.Errorf("with the shipped secret files, Validate = %v; want the cookie secret refused", err)
	}
	o, err := loadInPod(t, gh.Command, env, files)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if o.ConfigFile == "" {
		t.Error("no --config file")
	}
	if o.HTTPAddress != "0.0.0.0:4180" {
		t.Errorf("http-address = %q; the published port 4180 needs 0.0.0.0:4180", o.HTTPAddress)
	}
	if o.ClientSecret != "" || o.CookieSecret != "" || o.ClientSecretFile == "" || o.CookieSecretFile == "" || o.RedisPasswordFile == "" {
		t.Error("secrets must come from the /run/secrets files (client, cookie and Redis password)")
	}
	if got := o.ProviderList()[0].ClientSecret; got != "test-client_secret" {
		t.Errorf("client secret read = %q, want the client_secret file's", got)
	}
	if o.RedisPassword() != "test-redis_password" {
		t.Errorf("Redis password read = %q, want the redis_password file's", o.RedisPassword())
	}
	if o.SessionStore != "redis" || !strings.HasPrefix(o.RedisURL, "redis://redis:") {
		t.Errorf("session store %q at %q, want redis at the redis service", o.SessionStore, o.RedisURL)
	}
	redis, ok := cf.Services["redis"]
	if !ok || !strings.HasPrefix(redis.Image, "redis:") || !slices.Contains(redis.Secrets, "redis_password") {
		t.Errorf("redis service = %+v; want the redis image reading the redis_password secret", redis)
	}
	if gh.DependsOn["redis"].Condition != "service_healthy" {
		t.Error("gatehouse does not wait for a healthy redis")
	}
	app := strings.TrimPrefix(o.Upstream, "http://")
	app, _, _ = strings.Cut(app, ":")
	if _, ok := cf.Services[app]; !ok {
		t.Errorf("upstream %q is not a service of compose.yaml", o.Upstream)
	}
}
