package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/oidcprovider"
)

// strict reports whether a missing prerequisite fails the test rather than
// skipping it: scripts/test.sh (and so CI) sets GATEHOUSE_TEST_STRICT=1.
func strict() bool { return os.Getenv("GATEHOUSE_TEST_STRICT") == "1" }

// prerequisite is something outside Go that a test needs.
type prerequisite int

const (
	needChromium prerequisite = iota
	needNode                  // node and the oidc-provider npm packages
	needAxe                   // e2e/node_modules/axe-core
	needRedis
	needNginx
)

// require skips the test (fails it in strict mode) when one of the
// prerequisites is missing, naming it and how to get it.
func require(t testing.TB, needs ...prerequisite) {
	t.Helper()
	var errs []error
	for _, n := range needs {
		if err := n.check(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return
	}
	msg := fmt.Sprintf("missing prerequisite: %v; run ./scripts/test.sh (it installs them), or see e2e/doc.go", errors.Join(errs...))
	if strict() {
		t.Fatal(msg + " [GATEHOUSE_TEST_STRICT=1: not skipped]")
	}
	t.Skip(msg)
}

func (n prerequisite) check() error {
	switch n {
	case needChromium:
		_, err := chromiumPath()
		return err
	case needNode:
		if _, err := exec.LookPath("node"); err != nil {
			return errors.New("node (apt-get install nodejs, 20.19 or later)")
		}
		if _, err := os.Stat(filepath.Join(oidcprovider.Dir(), "node_modules", "oidc-provider", "package.json")); err != nil {
			return errors.New("oidc-provider npm packages (npm ci --prefix internal/testutil/oidcprovider)")
		}
	case needAxe:
		if _, err := os.Stat(axePath()); err != nil {
			return errors.New("axe-core npm package (npm ci --prefix e2e)")
		}
	case needRedis:
		if _, err := exec.LookPath("redis-server"); err != nil {
			return errors.New("redis-server (apt-get install redis-server)")
		}
	case needNginx:
		if _, err := nginxPath(); err != nil {
			return err
		}
	}
	return nil
}

// chromiumPath finds Debian's chromium, or the browser named by
// GATEHOUSE_E2E_CHROMIUM.
func chromiumPath() (string, error) {
	if p := os.Getenv("GATEHOUSE_E2E_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("chromium (GATEHOUSE_E2E_CHROMIUM=%s: %v)", p, err)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	if fi, err := os.Stat("/usr/bin/chromium"); err == nil && !fi.IsDir() {
		return "/usr/bin/chromium", nil
	}
	return "", errors.New("chromium (apt-get install chromium)")
}

func nginxPath() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if fi, err := os.Stat("/usr/sbin/nginx"); err == nil && fi.Mode()&0o111 != 0 {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("nginx (apt-get install nginx)")
}

// axePath is the pinned axe-core the accessibility checks evaluate.
func axePath() string {
	return filepath.Join("node_modules", "axe-core", "axe.min.js")
}
