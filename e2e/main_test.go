package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// suite holds what every test shares: the gatehouse binary built once, the
// folder screenshots go to, and the browser (browser_test.go).
var suite struct {
	tmp string

	buildOnce sync.Once
	binary    string
	buildErr  error

	artifactsDir  string
	keepArtifacts bool
	mu            sync.Mutex
	artifacts     []string
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

// e2eParallel is how many tests run at once unless -parallel says
// otherwise. The tests mostly wait for a browser, a provider or a token's
// expiry, so more of them than CPUs (go test's default) fit.
const e2eParallel = 4

func runMain(m *testing.M) int {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit && runtime.GOMAXPROCS(0) < e2eParallel {
		_ = flag.Set("test.parallel", strconv.Itoa(e2eParallel))
	}
	tmp, err := os.MkdirTemp("", "gatehouse-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	suite.tmp = tmp
	suite.artifactsDir = os.Getenv("GATEHOUSE_E2E_ARTIFACTS")
	suite.keepArtifacts = suite.artifactsDir != ""
	if !suite.keepArtifacts {
		suite.artifactsDir = filepath.Join(tmp, "artifacts")
	}
	if suite.artifactsDir, err = filepath.Abs(suite.artifactsDir); err == nil {
		err = os.MkdirAll(suite.artifactsDir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: artifacts folder:", err)
		return 1
	}

	code := m.Run()
	closeBrowser()
	listArtifacts()
	return code
}

// listArtifacts prints the screenshots the run wrote.
func listArtifacts() {
	suite.mu.Lock()
	defer suite.mu.Unlock()
	if len(suite.artifacts) == 0 {
		return
	}
	slices.Sort(suite.artifacts)
	where := suite.artifactsDir
	if !suite.keepArtifacts {
		where += " (temporary: set GATEHOUSE_E2E_ARTIFACTS=DIR to keep them)"
	}
	fmt.Printf("e2e: %d screenshots in %s:\n", len(suite.artifacts), where)
	for _, a := range suite.artifacts {
		fmt.Println("  " + a)
	}
}

// writeArtifact saves data as name under the artifacts folder.
func writeArtifact(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(suite.artifactsDir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatalf("writing %s: %v", p, err)
	}
	suite.mu.Lock()
	suite.artifacts = append(suite.artifacts, name)
	suite.mu.Unlock()
	return p
}

// repoRoot returns the repository's top folder (the tests run in e2e/).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod above the e2e folder: %v", err)
	}
	return root
}

// gatehouseBinary builds ./cmd/gatehouse once per run (with the race
// detector when the tests have it, so a race in the gateway shows up here
// too) and returns its path.
func gatehouseBinary(t testing.TB) string {
	t.Helper()
	suite.buildOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			suite.buildErr = fmt.Errorf("the go command is not in PATH: %w", err)
			return
		}
		out := filepath.Join(suite.tmp, "gatehouse")
		args := []string{"build", "-o", out}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/gatehouse")
		cmd := exec.Command(goBin, args...)
		cmd.Dir = repoRoot(t)
		start := time.Now()
		if b, err := cmd.CombinedOutput(); err != nil {
			suite.buildErr = fmt.Errorf("go %v: %v\n%s", args, err, b)
			return
		}
		suite.binary = out
		t.Logf("built gatehouse (race=%v) in %s", raceEnabled, time.Since(start).Round(time.Millisecond))
	})
	if suite.buildErr != nil {
		t.Fatalf("building gatehouse: %v", suite.buildErr)
	}
	return suite.binary
}
