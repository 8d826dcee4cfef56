// Package deploy_test checks that the shipped deployment examples are
// accepted by Gatehouse's own configuration loader, so a renamed option
// breaks a test instead of a user's deployment.
package deploy_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-proxy/gatehouse/config"
)

// container is the part of a Kubernetes container spec these tests read.
type container struct {
	Name string   `yaml:"name"`
	Args []string `yaml:"args"`
}

// podSpecDoc is the part of a Deployment these tests read.
type podSpecDoc struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Template struct {
			Spec struct {
				Containers []container `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// gatehouseArgs returns the args of the "gatehouse" container of the first
// Deployment in path.
func gatehouseArgs(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	for {
		var d podSpecDoc
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: no Deployment with a gatehouse container (%v)", path, err)
		}
		if d.Kind != "Deployment" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == "gatehouse" {
				return c.Args
			}
		}
	}
}

// localize rewrites the in-pod paths of args to files under dir holding
// valid test values, and returns the rewritten args.
func localize(t *testing.T, args []string, dir string) []string {
	t.Helper()
	files := map[string]string{
		"/etc/gatehouse/secrets/client-secret": "test-client-secret\n",
		"/etc/gatehouse/secrets/cookie-secret": base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")) + "\n",
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	b, err := os.ReadFile(filepath.Join("kubernetes", "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatalf("configmap.yaml: %v", err)
	}
	files["/etc/gatehouse/gatehouse.yaml"] = cm.Data["gatehouse.yaml"]

	out := make([]string, 0, len(args))
	for _, a := range args {
		for inPod, content := range files {
			if !strings.HasSuffix(a, "="+inPod) {
				continue
			}
			local := filepath.Join(dir, filepath.Base(inPod))
			if err := os.WriteFile(local, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			a = strings.TrimSuffix(a, inPod) + local
		}
		out = append(out, a)
	}
	return out
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
			args := localize(t, gatehouseArgs(t, tt.file), t.TempDir())
			o, err := config.Load(args, nil, nil)
			if err != nil {
				t.Fatalf("config.Load(%q): %v", args, err)
			}
			cfg, err := o.Validate()
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if o.HTTPAddress != "0.0.0.0:4180" {
				t.Errorf("http-address = %q, want 0.0.0.0:4180 (the probes and Service use :4180)", o.HTTPAddress)
			}
			if o.Upstream != tt.wantUpstream {
				t.Errorf("upstream = %q, want %q", o.Upstream, tt.wantUpstream)
			}
			if !o.ReverseProxy {
				t.Error("reverse-proxy is off; the examples sit behind an ingress controller")
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
			if keys := cfg.CookieSecretKeys; len(keys) != 1 {
				t.Errorf("cookie secret file gave %d keys, want 1", len(keys))
			}
		})
	}
}
