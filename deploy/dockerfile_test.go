package deploy_test

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"go/ast"
	"go/parser"
	"go/token"
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
	ldflags string // with the build arguments replaced by buildArgs' values
	pkg     string // ./cmd/...
}

const testVersion = "v0.0.0-dockerfile-test"

// buildArgs are the build arguments the Dockerfile stamps into the binary
// (-X main.NAME=${ARG}) and its labels, with the values the tests give.
var buildArgs = []struct{ arg, variable, value, label string }{
	{"VERSION", "version", testVersion, "org.opencontainers.image.version"},
	{"COMMIT", "commit", "0123456789abcdef0123456789abcdef01234567", "org.opencontainers.image.revision"},
	{"DATE", "date", "2026-01-02T03:04:05Z", "org.opencontainers.image.created"},
}

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
	ldflags := m[1]
	for _, a := range buildArgs {
		ldflags = strings.ReplaceAll(ldflags, "${"+a.arg+"}", a.value)
		if !strings.Contains(ldflags, "-X main."+a.variable+"="+a.value) {
			t.Errorf("ldflags %q do not set main.%s from the build argument %s", m[1], a.variable, a.arg)
		}
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
	// Every stamped variable the program declares must show: -X on a
	// misspelled or missing variable is silently ignored by the linker.
	vars := mainStringVars(t, filepath.Join("..", build.pkg))
	for _, a := range buildArgs {
		if !vars[a.variable] {
			t.Errorf("main.%s is not declared: -X main.%s has no effect", a.variable, a.variable)
			continue
		}
		if !strings.Contains(string(out), a.value) {
			t.Errorf("gatehouse --version = %q, want it to contain %s %q", out, a.variable, a.value)
		}
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

// mainStringVars returns the names of the package-level variables of the
// Go package in dir (the targets -X can set).
func mainStringVars(t *testing.T, dir string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.VAR {
				for _, spec := range g.Specs {
					for _, n := range spec.(*ast.ValueSpec).Names {
						vars[n.Name] = true
					}
				}
			}
		}
	}
	return vars
}

// TestDockerfileLabels checks the image's OCI labels: every standard one
// Gatehouse sets is there, version, revision and created come from the
// build arguments that are also stamped into the binary (declared again in
// the final stage, where build arguments would otherwise be empty), and the
// license is the LICENSE file's.
func TestDockerfileLabels(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, then read the final stage.
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	stages := regexp.MustCompile(`(?m)^FROM `).Split(text, -1)
	final := stages[len(stages)-1]
	labels := map[string]string{}
	declared := map[string]bool{}
	for line := range strings.Lines(final) {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "ARG":
			name, _, _ := strings.Cut(fields[1], "=")
			declared[name] = true
		case "LABEL":
			for _, m := range regexp.MustCompile(`([a-z.]+)="([^"]*)"`).FindAllStringSubmatch(line, -1) {
				labels[m[1]] = m[2]
				if strings.Contains(m[2], "${") {
					arg := strings.TrimSuffix(strings.TrimPrefix(m[2], "${"), "}")
					if !declared[arg] {
						t.Errorf("label %s uses ${%s}, which the final stage does not declare (before the LABEL) with ARG", m[1], arg)
					}
				}
			}
		}
	}
	for _, key := range []string{"title", "description", "source", "licenses"} {
		if labels["org.opencontainers.image."+key] == "" {
			t.Errorf("label org.opencontainers.image.%s is missing or empty", key)
		}
	}
	for _, a := range buildArgs {
		if got := labels[a.label]; got != "${"+a.arg+"}" {
			t.Errorf("label %s = %q, want ${%s}", a.label, got, a.arg)
		}
	}
	if got := labels["org.opencontainers.image.licenses"]; got != "Apache-2.0" {
		t.Errorf("licenses label %q, want Apache-2.0 (the LICENSE file's)", got)
	}
}

// apache2SHA256 is the SHA-256 of the standard text of the Apache License
// 2.0 (https://www.apache.org/licenses/LICENSE-2.0.txt), appendix included.
const apache2SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"

// TestLicense checks that LICENSE is a copyright line followed by the
// unmodified standard text of the Apache License 2.0.
func TestLicense(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	copyright, text, _ := strings.Cut(string(b), "\n")
	if copyright != "Copyright 2026 The Gatehouse authors" {
		t.Errorf("LICENSE starts with %q, want the copyright line", copyright)
	}
	if sum := sha256.Sum256([]byte(text)); hex.EncodeToString(sum[:]) != apache2SHA256 {
		t.Error("LICENSE after the copyright line is not the unmodified Apache License 2.0 text")
	}
}
