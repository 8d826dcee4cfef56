package deploy_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestDockerfileBuild runs the Dockerfile's go build line (there is no
// Docker engine in CI) and checks the result is what the distroless/static
// image needs: a static binary that reports the injected version.
func TestDockerfileBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	t.Parallel()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{
		"CGO_ENABLED=0", "-trimpath", "gcr.io/distroless/static",
		`ENTRYPOINT ["/gatehouse"]`, "EXPOSE 4180", "USER 65532",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	m := regexp.MustCompile(`-ldflags="([^"]*)"[\s\\]*-o \S+ (\./cmd/\S+)`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal(`Dockerfile: no 'go build ... -ldflags="..." -o OUT ./cmd/...' line`)
	}
	const version = "v0.0.0-dockerfile-test"
	ldflags := strings.ReplaceAll(m[1], "${VERSION}", version)
	if !strings.Contains(ldflags, "-X main.version="+version) {
		t.Fatalf("ldflags %q do not set main.version from VERSION", m[1])
	}

	bin := filepath.Join(t.TempDir(), "gatehouse")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags="+ldflags, "-o", bin, m[2])
	cmd.Dir = ".." // the Dockerfile builds from the repository root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build as in the Dockerfile: %v\n%s", err, out)
	}

	out, err := exec.CommandContext(t.Context(), bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("gatehouse --version: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), version) {
		t.Errorf("gatehouse --version = %q, want it to contain %q", out, version)
	}

	if runtime.GOOS == "linux" {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("binary has a dynamic loader (PT_INTERP); distroless/static cannot run it")
			}
		}
		if f.Section(".symtab") != nil {
			t.Error("binary has a symbol table; -s was not applied")
		}
	}
}
