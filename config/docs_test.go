package config

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md from the Options tags")

const docsPath = "../docs/configuration.md"

// TestDocs checks docs/configuration.md is what the tags generate;
// 'go test ./config -run TestDocs -update' rewrites it.
func TestDocs(t *testing.T) {
	var b strings.Builder
	writeMarkdown(&b)
	got := b.String()
	if *update {
		if err := os.MkdirAll(filepath.Dir(docsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(docsPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("%v (run 'go test ./config -run TestDocs -update')", err)
	}
	if got != string(want) {
		t.Errorf("%s is out of date with config/options.go; run 'go test ./config -run TestDocs -update'", docsPath)
	}
	for _, o := range optionList() {
		if o.name != "" && !strings.Contains(got, "`--"+o.name+"`") {
			t.Errorf("docs lack --%s", o.name)
		}
		if o.yamlKey != "" && !strings.Contains(got, "`"+o.yamlKey+"`") {
			t.Errorf("docs lack %s", o.yamlKey)
		}
	}
	for _, key := range yamlKeys(reflect.TypeFor[ProviderOptions]()) {
		if !strings.Contains(got, "`"+key+"`") {
			t.Errorf("docs lack provider key %s", key)
		}
	}
}

// TestExampleYAML loads and validates the example of the docs, with its
// secret files created.
func TestExampleYAML(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"cookie_secret":      "CMz6m42Blf5jEzXvt9oe5IkKE6BHR9JbfoKLp1syhYc=\n",
		"redis_password":     "redis\n",
		"corp_client_secret": "corp\n",
		"osu_client_secret":  "osu\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yaml := strings.ReplaceAll(exampleYAML, "/run/secrets/", dir+"/")
	path := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := Load([]string{"--config", path}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := o.Validate()
	if err != nil {
		t.Fatal(err)
	}
	list := cfg.Providers
	if len(list) != 3 || list[0].ID != "corp" || list[0].ClientSecret != "corp" || list[1].ID != "osu" || list[2].ID != "mastodon" {
		t.Errorf("providers %+v", list)
	}
	if cfg.RedisPassword != "redis" || cfg.WhitelistDomains[0].String() != ".example.com" {
		t.Errorf("redis password %q, whitelist %q", cfg.RedisPassword, cfg.WhitelistDomains)
	}
}
