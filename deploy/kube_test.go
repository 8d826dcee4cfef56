package deploy_test

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// manifests are the Kubernetes objects of one or more YAML streams, decoded
// strictly into their API types.
type manifests struct {
	Deployments         []*appsv1.Deployment
	Services            []*corev1.Service
	ConfigMaps          []*corev1.ConfigMap
	Secrets             []*corev1.Secret
	ServiceAccounts     []*corev1.ServiceAccount
	PodDisruptionBudget []*policyv1.PodDisruptionBudget
	Ingresses           []*networkingv1.Ingress
	ServiceMonitors     []*monitoringv1.ServiceMonitor
}

// docSeparator splits a YAML stream into documents.
var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)

// decodeManifests splits stream into documents and decodes each strictly
// into the Kubernetes API type of its apiVersion and kind: a field the type
// does not have (a typo, a wrong level of indentation) or a duplicated key is
// an error, as it would be for `kubectl apply --validate=strict`. Documents
// holding only comments are skipped.
func decodeManifests(name string, stream []byte) (*manifests, error) {
	var m manifests
	for i, doc := range docSeparator.Split(string(stream), -1) {
		var head metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if head.APIVersion == "" && head.Kind == "" {
			if strings.TrimSpace(stripComments(doc)) != "" {
				return nil, fmt.Errorf("%s: document %d has no apiVersion and kind", name, i)
			}
			continue
		}
		var err error
		switch gvk := head.APIVersion + " " + head.Kind; gvk {
		case "apps/v1 Deployment":
			m.Deployments, err = appendStrict(m.Deployments, doc)
		case "v1 Service":
			m.Services, err = appendStrict(m.Services, doc)
		case "v1 ConfigMap":
			m.ConfigMaps, err = appendStrict(m.ConfigMaps, doc)
		case "v1 Secret":
			m.Secrets, err = appendStrict(m.Secrets, doc)
		case "v1 ServiceAccount":
			m.ServiceAccounts, err = appendStrict(m.ServiceAccounts, doc)
		case "policy/v1 PodDisruptionBudget":
			m.PodDisruptionBudget, err = appendStrict(m.PodDisruptionBudget, doc)
		case "networking.k8s.io/v1 Ingress":
			m.Ingresses, err = appendStrict(m.Ingresses, doc)
		case "monitoring.coreos.com/v1 ServiceMonitor":
			m.ServiceMonitors, err = appendStrict(m.ServiceMonitors, doc)
		default:
			err = fmt.Errorf("unexpected kind %q: teach decodeManifests its type", gvk)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d (%s): %w", name, i, head.Kind, err)
		}
	}
	return &m, nil
}

// appendStrict decodes doc strictly into a new T and appends it.
func appendStrict[T any](list []*T, doc string) ([]*T, error) {
	v := new(T)
	if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
		return list, err
	}
	return append(list, v), nil
}

// stripComments drops the comment lines of a YAML document.
func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// readManifests decodes the given files of dir.
func readManifests(t *testing.T, dir string, files ...string) *manifests {
	t.Helper()
	var all bytes.Buffer
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		// Decode each file alone first so an error names the file.
		if _, err := decodeManifests(f, b); err != nil {
			t.Fatal(err)
		}
		all.Write(b)
		all.WriteString("\n---\n")
	}
	m, err := decodeManifests(dir, all.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// container returns the named container of d.
func container(t *testing.T, d *appsv1.Deployment, name string) *corev1.Container {
	t.Helper()
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == name {
			return c
		}
	}
	t.Fatalf("Deployment %s has no %q container", d.Name, name)
	return nil
}

// podFiles is what a container sees of its volumes: file path → content.
type podFiles map[string]string

// mountedFiles lays out the files the volume mounts of c show, the way the
// kubelet does: a ConfigMap or Secret volume shows one file per key under
// the mount path (only the key named by subPath when one is given). The
// ConfigMaps and Secrets are looked up in objs; a volume whose object is
// missing is an error (the pod would not start). Other volume types
// (emptyDir) hold no files.
func mountedFiles(t *testing.T, d *appsv1.Deployment, c *corev1.Container, objs *manifests) podFiles {
	t.Helper()
	files := podFiles{}
	for _, vm := range c.VolumeMounts {
		var keys map[string]string
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name {
				continue
			}
			switch {
			case v.ConfigMap != nil:
				keys = configMapData(t, objs, v.ConfigMap.Name)
			case v.Secret != nil:
				keys = secretData(t, objs, v.Secret.SecretName)
			default:
				keys = map[string]string{}
			}
		}
		if keys == nil {
			t.Fatalf("container %s mounts %q, which is not a volume of the pod", c.Name, vm.Name)
		}
		if vm.SubPath != "" {
			content, ok := keys[vm.SubPath]
			if !ok {
				t.Fatalf("volume %q has no key %q for subPath", vm.Name, vm.SubPath)
			}
			files[vm.MountPath] = content
			continue
		}
		for k, content := range keys {
			files[path.Join(vm.MountPath, k)] = content
		}
	}
	return files
}

// configMapData returns the data of the named ConfigMap in objs.
func configMapData(t *testing.T, objs *manifests, name string) map[string]string {
	t.Helper()
	for _, cm := range objs.ConfigMaps {
		if cm.Name == name {
			return cm.Data
		}
	}
	t.Fatalf("no ConfigMap %q", name)
	return nil
}

// secretData returns the data and stringData of the named Secret in objs.
func secretData(t *testing.T, objs *manifests, name string) map[string]string {
	t.Helper()
	for _, s := range objs.Secrets {
		if s.Name == name {
			out := map[string]string{}
			for k, v := range s.Data {
				out[k] = string(v)
			}
			for k, v := range s.StringData {
				out[k] = v
			}
			return out
		}
	}
	t.Fatalf("no Secret %q", name)
	return nil
}

// checkHardened checks the pod and container security settings every
// shipped Deployment keeps: non-root uid 65532, read-only root filesystem,
// no privilege escalation, no capabilities, RuntimeDefault seccomp, no
// service-account token.
func checkHardened(t *testing.T, d *appsv1.Deployment, c *corev1.Container) {
	t.Helper()
	pod := d.Spec.Template.Spec
	psc := pod.SecurityContext
	sc := c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatalf("%s/%s: securityContext missing (pod %v, container %v)", d.Name, c.Name, psc != nil, sc != nil)
	}
	nonRoot := func(v *bool) bool { return v != nil && *v }
	if !nonRoot(psc.RunAsNonRoot) && !nonRoot(sc.RunAsNonRoot) {
		t.Errorf("%s/%s: runAsNonRoot is not true", d.Name, c.Name)
	}
	uid := psc.RunAsUser
	if sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if uid == nil || *uid != 65532 {
		t.Errorf("%s/%s: runAsUser is not 65532 (the image's nonroot user)", d.Name, c.Name)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("%s/%s: readOnlyRootFilesystem is not true", d.Name, c.Name)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("%s/%s: allowPrivilegeEscalation is not false", d.Name, c.Name)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("%s/%s: capabilities = %+v, want drop [ALL] and nothing added", d.Name, c.Name, sc.Capabilities)
	}
	seccomp := psc.SeccompProfile
	if sc.SeccompProfile != nil {
		seccomp = sc.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s/%s: seccompProfile is not RuntimeDefault", d.Name, c.Name)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken is not false; Gatehouse calls no Kubernetes API", d.Name)
	}
}

// checkProbes checks that the container's probes ask Gatehouse's health
// endpoints on its HTTP port: liveness (and startup) /ping, readiness /ready.
func checkProbes(t *testing.T, c *corev1.Container, wantStartup bool) {
	t.Helper()
	port := ""
	for _, p := range c.Ports {
		if p.ContainerPort == 4180 {
			port = p.Name
		}
	}
	if port == "" {
		t.Fatalf("container %s has no port 4180", c.Name)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
		want  bool
	}{
		{"liveness", c.LivenessProbe, "/ping", true},
		{"readiness", c.ReadinessProbe, "/ready", true},
		{"startup", c.StartupProbe, "/ping", wantStartup},
	} {
		switch {
		case p.probe == nil && p.want:
			t.Errorf("%s: no %s probe", c.Name, p.name)
		case p.probe == nil:
		case p.probe.HTTPGet == nil:
			t.Errorf("%s: %s probe is not an HTTP GET", c.Name, p.name)
		case p.probe.HTTPGet.Path != p.path:
			t.Errorf("%s: %s probe path = %q, want %q", c.Name, p.name, p.probe.HTTPGet.Path, p.path)
		case p.probe.HTTPGet.Port.String() != port && p.probe.HTTPGet.Port.IntValue() != 4180:
			t.Errorf("%s: %s probe port = %s, want %s (4180)", c.Name, p.name, p.probe.HTTPGet.Port.String(), port)
		}
	}
}

// TestKubernetesManifestsStrict decodes every manifest of
// deploy/kubernetes strictly into its Kubernetes API type and checks the
// pods are hardened and probed, and that the sidecar's args find every file
// they name in the volumes the pod mounts.
func TestKubernetesManifestsStrict(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir("kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "kustomization.yaml" {
			files = append(files, e.Name())
		}
	}
	for _, f := range files {
		m := readManifests(t, "kubernetes", f)
		for _, d := range m.Deployments {
			for i := range d.Spec.Template.Spec.Containers {
				checkHardened(t, d, &d.Spec.Template.Spec.Containers[i])
			}
			checkProbes(t, container(t, d, "gatehouse"), false)
		}
	}

	// The kustomization's resources exist and make one consistent sidecar
	// deployment: the Service selects the pods and targets Gatehouse.
	var k struct {
		Resources []string `json:"resources"`
	}
	b, err := os.ReadFile("kubernetes/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	m := readManifests(t, "kubernetes", k.Resources...)
	if len(m.Deployments) != 1 || len(m.Services) != 1 {
		t.Fatalf("kustomization: %d Deployments and %d Services, want 1 and 1", len(m.Deployments), len(m.Services))
	}
	d, svc := m.Deployments[0], m.Services[0]
	checkServiceTargets(t, svc, d, "gatehouse", "http")
	files2 := mountedFiles(t, d, container(t, d, "gatehouse"), m)
	for _, a := range container(t, d, "gatehouse").Args {
		if _, p, ok := strings.Cut(a, "-file="); ok {
			if _, mounted := files2[p]; !mounted {
				t.Errorf("arg %s names a file no volume provides", a)
			}
		}
	}
}

// checkServiceTargets checks that svc selects d's pods and that its port
// named portName reaches container's port of the same name.
func checkServiceTargets(t *testing.T, svc *corev1.Service, d *appsv1.Deployment, containerName, portName string) {
	t.Helper()
	labels := d.Spec.Template.Labels
	for k, v := range svc.Spec.Selector {
		if labels[k] != v {
			t.Errorf("Service %s selects %s=%s, which the pods of %s lack", svc.Name, k, v, d.Name)
		}
	}
	if len(svc.Spec.Selector) == 0 {
		t.Errorf("Service %s selects nothing", svc.Name)
	}
	c := container(t, d, containerName)
	for _, sp := range svc.Spec.Ports {
		if sp.Name != portName {
			continue
		}
		for _, cp := range c.Ports {
			if cp.Name == sp.TargetPort.String() || cp.ContainerPort == sp.TargetPort.IntVal {
				return
			}
		}
		t.Errorf("Service %s port %s targets %s, which container %s does not expose", svc.Name, sp.Name, sp.TargetPort.String(), c.Name)
		return
	}
	t.Errorf("Service %s has no port %q", svc.Name, portName)
}
