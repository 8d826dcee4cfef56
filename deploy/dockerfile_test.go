package deploy_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

// dockerBuild is the Dockerfile's go build line, read by readDockerfile.
type dockerBuild struct {
	ldflags string // with ${VERSION} replaced by testVersion
	pkg     string // ./cmd/...
}

const testVersion = "v0.0.0-dockerfile-test"

// readDockerfile checks what the distroless/static image needs from the
// Dockerfile's text and returns its go build line.
func readDockerfile(t *testing.T) dockerBuild {
	t.Helper()
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
	ldflags := strings.ReplaceAll(m[1], "${VERSION}", testVersion)
	if !strings.Contains(ldflags, "-X main.version="+testVersion) {
		t.Fatalf("ldflags %q do not set main.version from VERSION", m[1])
	}
	for _, f := range strings.Fields(ldflags) {
		// Without cgo Go links internally, and the result is static;
		// these would bring the system linker and libc back.
		if strings.HasPrefix(f, "-linkmode") || strings.HasPrefix(f, "-extld") {
			t.Errorf("ldflags %q ask for external linking; distroless/static needs a static binary", m[1])
		}
	}
	return dockerBuild{ldflags: ldflags, pkg: m[2]}
}

// TestDockerfile checks the Dockerfile (there is no Docker engine in CI):
// its text, and that the program it builds needs no cgo on the platforms
// an image is built for: a dependency that only builds with cgo has all its
// files excluded under CGO_ENABLED=0, which go list reports. go list does
// not compile, so this is quick.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	build := readDockerfile(t)
	for _, arch := range []string{"amd64", "arm64"} {
		cmd := exec.CommandContext(t.Context(), "go", "list", "-e", "-deps",
			"-f", "{{with .Error}}{{$.ImportPath}}: {{.}}\n{{end}}",
			build.pkg)
		cmd.Dir = ".." // the Dockerfile builds from the repository root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		out, err := cmd.CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("linux/%s without cgo, %s does not build: %v\n%s", arch, build.pkg, err, out)
		}
	}
}

// TestDockerfileBinary links the Dockerfile's program with its ldflags
// and checks the result reports the injected version and is stripped.
//
// The packages are compiled with the settings of this test binary (-race,
// CGO_ENABLED, -tags, -trimpath), not the image's CGO_ENABLED=0 -trimpath:
// under "go test ./..." they are then already in the build cache from the
// other packages' tests and only the link step runs, where the image's
// settings would compile everything, the standard library included, once
// more (a minute and more on a cold cache). What CGO_ENABLED=0 guarantees
// is checked by TestDockerfile; the binary is checked for static linking
// when this test itself was built without cgo.
func TestDockerfileBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("links the binary")
	}
	t.Parallel()
	build := readDockerfile(t)

	bin := filepath.Join(t.TempDir(), "gatehouse")
	args := []string{"build", "-ldflags=" + build.ldflags, "-o", bin}
	env := os.Environ()
	cgo := "1"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "-race", "-trimpath", "-msan", "-asan":
				if s.Value == "true" {
					args = append(args, s.Key)
				}
			case "-tags", "-gcflags", "-asmflags":
				args = append(args, s.Key+"="+s.Value)
			case "CGO_ENABLED":
				cgo = s.Value
				env = append(env, "CGO_ENABLED="+s.Value)
			}
		}
	}
	cmd := exec.CommandContext(t.Context(), "go", append(args, build.pkg)...)
	cmd.Dir = ".."
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	out, err := exec.CommandContext(t.Context(), bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("gatehouse --version: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), testVersion) {
		t.Errorf("gatehouse --version = %q, want it to contain %q", out, testVersion)
	}

	if runtime.GOOS != "linux" {
		return
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Section(".symtab") != nil {
		t.Error("binary has a symbol table; -s was not applied")
	}
	if cgo == "0" {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("binary has a dynamic loader (PT_INTERP); distroless/static cannot run it")
			}
		}
	}
}
