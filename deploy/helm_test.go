package deploy_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/gatehouse-proxy/gatehouse/config"
)

// helmInstall is how scripts/test.sh installs the pinned helm.
const helmInstall = "go install helm.sh/helm/v3/cmd/helm@v3.22.0"

// chartDir is the Gatehouse chart.
const chartDir = "helm/gatehouse"

// kubeVersion is the Kubernetes version charts are rendered for (helm
// built by go install assumes v1.20, below the chart's kubeVersion).
const kubeVersion = "1.31.0"

// helmPath finds helm on PATH or in $(go env GOPATH)/bin. Without it the
// test is skipped, naming the install command, unless
// GATEHOUSE_TEST_STRICT=1 (scripts/test.sh) or CI=true, where it fails.
func helmPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if out, err := exec.CommandContext(t.Context(), "go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			if p := filepath.Join(dir, "bin", "helm"); isExecutable(p) {
				return p
			}
		}
	}
	if os.Getenv("GATEHOUSE_TEST_STRICT") == "1" || os.Getenv("CI") == "true" {
		t.Fatalf("helm not found on PATH or in $(go env GOPATH)/bin; install it with: %s", helmInstall)
	}
	t.Skipf("helm not found on PATH or in $(go env GOPATH)/bin; install it with: %s (scripts/test.sh does)", helmInstall)
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// helmTemplate renders the chart with the given values (a YAML document)
// and returns the output, or the error output when helm fails.
func helmTemplate(t *testing.T, values string) (string, error) {
	t.Helper()
	vf := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(vf, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), helmPath(t), "template", "gh", chartDir,
		"--namespace", "auth", "--kube-version", kubeVersion, "--values", vf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stderr.String(), err
	}
	return stdout.String(), nil
}

// randomKey returns a fresh cookie secret as 'openssl rand -base64 32' does.
func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// chartSecrets are the secret values a chart test gives, so that it can
// check they reach Gatehouse through files and nowhere else.
type chartSecrets struct {
	cookie, client, redis, sentinel string
}

// providerValues configure a provider Gatehouse accepts.
const providerValues = `
config:
  provider: oidc
  oidc_issuer_url: https://sso.example.com/realms/example
  client_id: gatehouse
  redirect_url: https://app.example.com/oauth2/callback
  email_domain: [example.com]
  upstream: http://app.apps.svc:8080
`

// values returns chart values creating the Secret from s, after
// providerValues, followed by extra.
func (s chartSecrets) values(extra string) string {
	return providerValues + `
secret:
  cookieSecret: "` + s.cookie + `"
  clientSecret: "` + s.client + `"
  redisPassword: "` + s.redis + `"
  redisSentinelPassword: "` + s.sentinel + `"
` + extra
}

// userSecret is an existingSecret the way a user creates it.
func userSecret(name string, s chartSecrets) string {
	return `apiVersion: v1
kind: Secret
metadata:
  name: ` + name + `
stringData:
  cookie-secret: "` + s.cookie + `"
  client-secret: "` + s.client + `"
  redis-password: "` + s.redis + `"
`
}

// TestHelmChart renders the chart with several value sets and decodes
// every document strictly into its Kubernetes API type, then checks what
// the deployment needs to work: Gatehouse's own loader accepts the
// container's arguments with the files the pod mounts, the secrets reach
// it only as files, the pod is hardened and probed, and Service,
// PodDisruptionBudget, Ingress and ServiceMonitor point at the right pods
// and ports.
func TestHelmChart(t *testing.T) {
	t.Parallel()
	helmPath(t)
	sec := chartSecrets{cookie: randomKey(), client: "client-" + randomKey(), redis: "redis-" + randomKey(), sentinel: "sentinel-" + randomKey()}
	ca := testCAPEM(t)

	tests := []struct {
		name   string
		values string
		extra  string // objects the user creates (existingSecret, CA)
		check  func(t *testing.T, r *rendered)
	}{
		{
			name:   "defaults",
			values: "secret:\n  cookieSecret: \"" + sec.cookie + "\"\n",
			check: func(t *testing.T, r *rendered) {
				// The defaults leave the provider to the user: Gatehouse
				// then names exactly those keys.
				for _, key := range []string{"oidc-issuer-url", "client-id", "client-secret", "email-domain"} {
					if r.validateErr == nil || !strings.Contains(r.validateErr.Error(), key) {
						t.Errorf("Validate = %v; want it to ask for %s", r.validateErr, key)
					}
				}
				if len(r.m.PodDisruptionBudget) != 1 {
					t.Errorf("%d PodDisruptionBudgets with 2 replicas, want 1", len(r.m.PodDisruptionBudget))
				}
				if len(r.m.Ingresses)+len(r.m.ServiceMonitors) != 0 {
					t.Error("an Ingress or ServiceMonitor by default")
				}
			},
		},
		{
			name:   "standalone redis",
			values: sec.values("replicaCount: 1\nredis:\n  enabled: true\n  url: rediss://redis.data.svc:6380/0\n  auth: {enabled: true}\n  caSecret: redis-ca\n  keyPrefix: \"gh:\"\n"),
			extra:  "apiVersion: v1\nkind: Secret\nmetadata: {name: redis-ca}\nstringData:\n  ca.crt: |\n" + indent(ca, "    "),
			check: func(t *testing.T, r *rendered) {
				o := r.mustValidate(t)
				if o.SessionStore != "redis" || o.RedisURL != "rediss://redis.data.svc:6380/0" || o.RedisKeyPrefix != "gh:" || o.RedisCAFile == "" {
					t.Errorf("store %q url %q prefix %q ca %q", o.SessionStore, o.RedisURL, o.RedisKeyPrefix, o.RedisCAFile)
				}
				if o.RedisPassword() != sec.redis {
					t.Error("the Redis password is not read from the mounted Secret")
				}
				if len(r.m.PodDisruptionBudget) != 0 {
					t.Error("a PodDisruptionBudget with 1 replica blocks node drains")
				}
			},
		},
		{
			name:   "sentinel",
			values: sec.values("redis:\n  enabled: true\n  mode: sentinel\n  sentinel: {master: mymaster, addrs: [s-0.redis:26379, s-1.redis:26379]}\n  auth: {enabled: true, sentinel: true}\n"),
			check: func(t *testing.T, r *rendered) {
				o := r.mustValidate(t)
				if o.RedisSentinelMaster != "mymaster" || !slices.Equal(o.RedisSentinelAddrs, []string{"s-0.redis:26379", "s-1.redis:26379"}) {
					t.Errorf("sentinel %q %v", o.RedisSentinelMaster, o.RedisSentinelAddrs)
				}
				if o.RedisPassword() != sec.redis || o.RedisSentinelPassword() != sec.sentinel {
					t.Error("the Redis and Sentinel passwords are not read from the mounted Secret")
				}
			},
		},
		{
			name:   "cluster",
			values: sec.values("redis:\n  enabled: true\n  mode: cluster\n  cluster: {addrs: [c-0.redis:6379, c-1.redis:6379]}\n"),
			check: func(t *testing.T, r *rendered) {
				o := r.mustValidate(t)
				if !slices.Equal(o.RedisClusterAddrs, []string{"c-0.redis:6379", "c-1.redis:6379"}) || o.RedisPasswordFile != "" {
					t.Errorf("cluster %v, password file %q", o.RedisClusterAddrs, o.RedisPasswordFile)
				}
			},
		},
		{
			name:   "rotation",
			values: chartSecrets{cookie: randomKey() + `\n` + sec.cookie + `\n`, client: sec.client}.values(""),
			check: func(t *testing.T, r *rendered) {
				if o := r.mustValidate(t); len(o.CookieSecretKeys()) != 2 {
					t.Errorf("%d cookie keys, want the new and the previous", len(o.CookieSecretKeys()))
				}
			},
		},
		{
			name:   "metrics and ServiceMonitor",
			values: sec.values("metrics:\n  enabled: true\n  serviceMonitor: {enabled: true, labels: {release: prom}}\n"),
			check: func(t *testing.T, r *rendered) {
				r.mustValidate(t)
				if !slices.Contains(r.c.Args, "--metrics-address=0.0.0.0:9090") {
					t.Errorf("args %q lack --metrics-address=0.0.0.0:9090", r.c.Args)
				}
				checkServiceTargets(t, r.svc, r.d, "gatehouse", "metrics")
				if len(r.m.ServiceMonitors) != 1 {
					t.Fatalf("%d ServiceMonitors, want 1", len(r.m.ServiceMonitors))
				}
				sm := r.m.ServiceMonitors[0]
				for k, v := range sm.Spec.Selector.MatchLabels {
					if r.svc.Labels[k] != v {
						t.Errorf("ServiceMonitor selects %s=%s, which the Service lacks", k, v)
					}
				}
				if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
					t.Errorf("ServiceMonitor endpoints = %+v, want port metrics, path /metrics", sm.Spec.Endpoints)
				}
				if sm.Labels["release"] != "prom" {
					t.Error("serviceMonitor.labels not applied")
				}
			},
		},
		{
			name:   "ingress and TLS",
			values: sec.values("ingress:\n  enabled: true\n  className: nginx\n  hosts: [{host: app.example.com, paths: [{path: /, pathType: Prefix}]}]\n  tls: [{secretName: app-tls, hosts: [app.example.com]}]\ntls:\n  enabled: true\n  secretName: gh-tls\n  minVersion: \"1.3\"\n"),
			extra:  tlsSecret(t, "gh-tls"),
			check: func(t *testing.T, r *rendered) {
				r.mustValidate(t)
				if len(r.m.Ingresses) != 1 {
					t.Fatalf("%d Ingresses, want 1", len(r.m.Ingresses))
				}
				ing := r.m.Ingresses[0]
				b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
				if b.Name != r.svc.Name || b.Port.Name != "http" {
					t.Errorf("Ingress backend %s:%s, want %s:http", b.Name, b.Port.Name, r.svc.Name)
				}
				checkServiceTargets(t, r.svc, r.d, "gatehouse", "https")
				for _, want := range []string{"--https-address=0.0.0.0:8443", "--tls-cert-file=/etc/gatehouse/tls/tls.crt", "--tls-key-file=/etc/gatehouse/tls/tls.key", "--tls-min-version=1.3"} {
					if !slices.Contains(r.c.Args, want) {
						t.Errorf("args %q lack %s", r.c.Args, want)
					}
					if _, file, ok := strings.Cut(want, "-file="); ok {
						if _, mounted := r.files[file]; !mounted {
							t.Errorf("%s is not mounted", file)
						}
					}
				}
			},
		},
		{
			name:   "existingSecret",
			values: providerValues + "existingSecret: my-gatehouse\nreplicaCount: 3\npodDisruptionBudget: {maxUnavailable: 1}\nredis:\n  enabled: true\n  url: redis://redis:6379\n  auth: {enabled: true}\n",
			extra:  userSecret("my-gatehouse", sec),
			check: func(t *testing.T, r *rendered) {
				o := r.mustValidate(t)
				if len(r.m.Secrets) != 0 {
					t.Error("the chart created a Secret although existingSecret is set")
				}
				if _, ok := r.d.Spec.Template.Annotations["checksum/secret"]; ok {
					t.Error("checksum/secret without a chart-made Secret")
				}
				if o.ProviderList()[0].ClientSecret != sec.client || o.RedisPassword() != sec.redis {
					t.Error("the client secret or Redis password is not read from the existing Secret")
				}
				pdb := r.m.PodDisruptionBudget
				if len(pdb) != 1 || pdb[0].Spec.MaxUnavailable == nil || pdb[0].Spec.MaxUnavailable.IntValue() != 1 || pdb[0].Spec.MinAvailable != nil {
					t.Errorf("PodDisruptionBudget = %+v, want maxUnavailable 1 only", pdb)
				}
			},
		},
		{
			name: "providers list",
			values: `
config:
  redirect_url: https://app.example.com/oauth2/callback
  email_domain: ["*"]
  providers:
    - {id: corp, type: oidc, issuer_url: "https://sso.example.com", client_id: gh, client_secret_file: /etc/gatehouse/secrets/client-secret}
    - {type: osu, client_id: "12345", client_secret_file: /etc/gatehouse/secrets/osu-secret}
secret:
  cookieSecret: "` + sec.cookie + `"
  clientSecret: "` + sec.client + `"
  extra:
    osu-secret: "osu-` + sec.client + `"
`,
			check: func(t *testing.T, r *rendered) {
				o := r.mustValidate(t)
				ps := o.ProviderList()
				if len(ps) != 2 || ps[0].ClientSecret != sec.client || ps[1].ClientSecret != "osu-"+sec.client {
					t.Errorf("providers %d; the secrets of config.providers are not read from secret and secret.extra", len(ps))
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := helmTemplate(t, tt.values)
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, out)
			}
			r := inspectChart(t, out, tt.extra)
			tt.check(t, r)
		})
	}
}

// rendered is one rendering of the chart, inspected.
type rendered struct {
	m           *manifests
	d           *appsv1.Deployment
	c           *corev1.Container
	svc         *corev1.Service
	files       podFiles
	opts        *loaded
	validateErr error
}

// mustValidate fails unless Gatehouse accepted the configuration.
func (r *rendered) mustValidate(t *testing.T) *loaded {
	t.Helper()
	if r.validateErr != nil {
		t.Fatalf("Gatehouse refuses the chart's configuration: %v", r.validateErr)
	}
	return r.opts
}

// inspectChart decodes a rendering strictly and runs the checks every value
// set shares; extra holds objects the user creates beside the chart.
func inspectChart(t *testing.T, out, extra string) *rendered {
	t.Helper()
	m, err := decodeManifests("helm template", []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Deployments) != 1 || len(m.Services) != 1 || len(m.ConfigMaps) != 1 || len(m.ServiceAccounts) != 1 {
		t.Fatalf("rendered %d Deployments, %d Services, %d ConfigMaps, %d ServiceAccounts; want 1 each",
			len(m.Deployments), len(m.Services), len(m.ConfigMaps), len(m.ServiceAccounts))
	}
	r := &rendered{m: m, d: m.Deployments[0], svc: m.Services[0]}
	r.c = container(t, r.d, "gatehouse")
	checkHardened(t, r.d, r.c)
	checkProbes(t, r.c, true)
	checkServiceTargets(t, r.svc, r.d, "gatehouse", "http")
	if r.d.Spec.Template.Spec.ServiceAccountName != m.ServiceAccounts[0].Name {
		t.Errorf("pods use ServiceAccount %q, the chart makes %q", r.d.Spec.Template.Spec.ServiceAccountName, m.ServiceAccounts[0].Name)
	}
	for _, pdb := range m.PodDisruptionBudget {
		for k, v := range pdb.Spec.Selector.MatchLabels {
			if r.d.Spec.Template.Labels[k] != v {
				t.Errorf("PodDisruptionBudget selects %s=%s, which the pods lack", k, v)
			}
		}
	}
	if _, ok := r.d.Spec.Template.Annotations["checksum/config"]; !ok {
		t.Error("no checksum/config annotation: a configuration change would not roll the pods")
	}

	withUser := m
	if extra != "" {
		user, err := decodeManifests("user objects", []byte(extra))
		if err != nil {
			t.Fatal(err)
		}
		both := *m
		both.Secrets = append(slices.Clone(m.Secrets), user.Secrets...)
		withUser = &both
	}
	r.files = mountedFiles(t, r.d, r.c, withUser)
	checkNoSecretOutsideFiles(t, r, withUser)

	env := map[string]string{}
	for _, e := range r.c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	r.opts, r.validateErr = loadInPod(t, knownArgs(t, r.c.Args), env, r.files)
	if r.validateErr == nil {
		if keys, want := r.opts.CookieSecretKeys(), cookieKeys(t, r.files); !slices.EqualFunc(keys, want, bytes.Equal) {
			t.Error("the cookie secret Gatehouse decoded is not the Secret's")
		}
		if r.opts.HTTPAddress != "0.0.0.0:4180" || r.opts.ConfigFile == "" {
			t.Errorf("http-address %q, config %q; want 0.0.0.0:4180 and the ConfigMap's file", r.opts.HTTPAddress, r.opts.ConfigFile)
		}
	}
	return r
}

// cookieKeys returns the decoded cookie secrets mounted in the pod, one a
// line.
func cookieKeys(t *testing.T, files podFiles) [][]byte {
	t.Helper()
	var keys [][]byte
	for line := range strings.Lines(files["/etc/gatehouse/secrets/cookie-secret"]) {
		k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("mounted cookie secret: %v", err)
		}
		keys = append(keys, k)
	}
	return keys
}

// checkNoSecretOutsideFiles checks that no value of a Secret appears in the
// container's args or env, in the ConfigMap, or in the pod template.
func checkNoSecretOutsideFiles(t *testing.T, r *rendered, objs *manifests) {
	t.Helper()
	pod, err := yaml.Marshal(r.d.Spec.Template)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := yaml.Marshal(r.m.ConfigMaps)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range objs.Secrets {
		for k, v := range secretData(t, objs, s.Name) {
			v = strings.TrimSpace(v)
			if len(v) < 8 {
				continue // test fixtures such as "cert"
			}
			if bytes.Contains(pod, []byte(v)) || bytes.Contains(cm, []byte(v)) {
				t.Errorf("the value of Secret %s key %s appears in the pod template or ConfigMap", s.Name, k)
			}
		}
	}
	for _, e := range r.c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			t.Errorf("env %s comes from a Secret; secrets must be files", e.Name)
		}
	}
}

// contractFlags are the metrics and TLS options the chart passes; the
// issue's command-line contract fixes their names.
var contractFlags = []string{"metrics-address", "https-address", "tls-cert-file", "tls-key-file", "tls-min-version"}

// knownArgs returns args, failing the test for a contract flag that
// gatehouse --help does not list (the chart would pass an unknown flag).
func knownArgs(t *testing.T, args []string) []string {
	t.Helper()
	var usage bytes.Buffer
	config.Usage(&usage)
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if slices.Contains(contractFlags, name) && !strings.Contains(usage.String(), "--"+name+" ") {
			t.Errorf("the chart passes %s, which gatehouse --help does not list", a)
		}
	}
	return args
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		b.WriteString(prefix + line)
	}
	return b.String()
}

// testCAPEM returns a self-signed CA certificate in PEM (its key is thrown
// away): a file Gatehouse's --redis-ca-file check accepts.
func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Gatehouse test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestHelmChartRefuses checks that the chart fails to render, naming the
// value to fix, where the deployment could not work or would be insecure:
// above all a cookie secret that is missing or a placeholder when the chart
// creates the Secret (anyone knowing a published key can forge sessions).
func TestHelmChartRefuses(t *testing.T) {
	t.Parallel()
	helmPath(t)
	key := randomKey()
	tests := []struct {
		name, values, want string
	}{
		{"no cookie secret", providerValues, "secret.cookieSecret is required"},
		{"empty cookie secret", providerValues + "secret: {cookieSecret: \"  \"}\n", "secret.cookieSecret is required"},
		{"old kustomize placeholder", providerValues + "secret: {cookieSecret: REPLACE-ME-output-of-openssl-rand-base64-32}\n", "placeholder"},
		{"32-byte placeholder", providerValues + "secret: {cookieSecret: REPLACE-ME-with-32-random-bytes!}\n", "placeholder"},
		{"shipped placeholder", providerValues + "secret: {cookieSecret: \"REPLACE ME: the output of 'gatehouse secret'\"}\n", "placeholder"},
		{"placeholder as previous key", providerValues + "secret:\n  cookieSecret: |\n    " + key + "\n    changeme-changeme-changeme-12345\n", "line 2 is a placeholder"},
		{"wrong length", providerValues + "secret: {cookieSecret: " + key[:40] + "}\n", "not 32 bytes"},
		{"redis without url", providerValues + "secret: {cookieSecret: \"" + key + "\"}\nredis: {enabled: true}\n", "redis.url"},
		{"password in redis url", providerValues + "secret: {cookieSecret: \"" + key + "\"}\nredis: {enabled: true, url: \"redis://:hunter2@redis:6379\"}\n", "redis.url carries a password"},
		{"redis auth without password", providerValues + "secret: {cookieSecret: \"" + key + "\"}\nredis: {enabled: true, url: \"redis://redis:6379\", auth: {enabled: true}}\n", "secret.redisPassword"},
		{"sentinel without addrs", providerValues + "secret: {cookieSecret: \"" + key + "\"}\nredis: {enabled: true, mode: sentinel, sentinel: {master: m}}\n", "redis.sentinel.addrs"},
		{"ServiceMonitor without metrics", providerValues + "secret: {cookieSecret: \"" + key + "\"}\nmetrics: {serviceMonitor: {enabled: true}}\n", "needs metrics.enabled"},
		{"secret in config", providerValues + "  client_secret: s3cret\nsecret: {cookieSecret: \"" + key + "\"}\n", "config: client_secret holds a secret"},
		{"secret in providers", providerValues + "  providers: [{type: osu, client_id: x, client_secret: s3cret}]\nsecret: {cookieSecret: \"" + key + "\"}\n", "config: client_secret holds a secret"},
		{"unknown value (schema)", providerValues + "secret: {cookieSecret: \"" + key + "\"}\nreplicas: 3\n", "replicas"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := helmTemplate(t, tt.values)
			if err == nil {
				t.Fatalf("helm template succeeded; want it to fail with %q", tt.want)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("helm template failed with\n%s\nwant a message containing %q", out, tt.want)
			}
			if strings.Contains(out, key) {
				t.Error("the error message repeats the cookie secret")
			}
		})
	}
}

// TestHelmChartRollsPods checks the checksum annotations: a changed
// configuration or chart-made Secret changes the pod template, so the
// Deployment rolls (Gatehouse reads both only at start-up).
func TestHelmChartRollsPods(t *testing.T) {
	t.Parallel()
	helmPath(t)
	sec := chartSecrets{cookie: randomKey(), client: "client"}
	annotations := func(values string) map[string]string {
		t.Helper()
		out, err := helmTemplate(t, values)
		if err != nil {
			t.Fatalf("helm template: %v\n%s", err, out)
		}
		m, err := decodeManifests("helm template", []byte(out))
		if err != nil {
			t.Fatal(err)
		}
		return m.Deployments[0].Spec.Template.Annotations
	}
	base := annotations(sec.values(""))
	rotated := sec
	rotated.cookie = randomKey() + `\n` + sec.cookie // a YAML escape: two lines
	for _, tt := range []struct {
		name, values, changes, keeps string
	}{
		{"config", sec.values("") + "config: {cookie_expire: 24h}\n", "checksum/config", "checksum/secret"},
		{"secret", rotated.values(""), "checksum/secret", "checksum/config"},
	} {
		got := annotations(tt.values)
		if got[tt.changes] == "" || got[tt.changes] == base[tt.changes] {
			t.Errorf("changing the %s leaves %s at %q", tt.name, tt.changes, got[tt.changes])
		}
		if got[tt.keeps] != base[tt.keeps] {
			t.Errorf("changing the %s changes %s too", tt.name, tt.keeps)
		}
	}
}

// TestHelmLint runs helm lint --strict with values that render.
func TestHelmLint(t *testing.T) {
	t.Parallel()
	vf := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(vf, []byte(chartSecrets{cookie: randomKey(), client: "c"}.values("")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), helmPath(t), "lint", "--strict", "--kube-version", kubeVersion, "--values", vf, chartDir).CombinedOutput()
	if err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
}

// TestHelmPinned checks that scripts/test.sh installs the helm version the
// skip message names.
func TestHelmPinned(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../scripts/test.sh")
	if err != nil {
		t.Fatal(err)
	}
	_, version, _ := strings.Cut(helmInstall, "@")
	if !strings.Contains(string(b), "HELM_VERSION="+version+"\n") || !strings.Contains(string(b), "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") {
		t.Errorf("scripts/test.sh does not install helm %s as %q says", version, helmInstall)
	}
}

// tlsSecret returns a kubernetes.io/tls Secret named name holding a fresh
// self-signed certificate and its key, which Gatehouse's --tls-cert-file
// check loads.
func tlsSecret(t *testing.T, name string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "app.example.com"},
		DNSNames:     []string{"app.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return "apiVersion: v1\nkind: Secret\nmetadata: {name: " + name + "}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n" +
		indent(string(certPEM), "    ") + "  tls.key: |\n" + indent(string(keyPEM), "    ")
}
