// Package prereq decides what a test does when a program it runs against
// is missing (redis-server, nginx, node and the oidc-provider packages):
// skip, saying how to get it, so that a plain 'go test ./...' on a fresh
// checkout passes; or, with GATEHOUSE_TEST_STRICT=1 (./scripts/test.sh and
// CI set it), fail, so that the suite never skips silently where it must run.
package prereq

import (
	"fmt"
	"os"
	"testing"
)

// StrictEnv names the environment variable that turns a missing
// prerequisite from a skip into a failure when it is "1".
const StrictEnv = "GATEHOUSE_TEST_STRICT"

// Strict reports whether missing prerequisites fail tests: with
// GATEHOUSE_TEST_STRICT=1, or in CI (CI=true), as deploy's helm test and
// the e2e suite do too.
func Strict() bool { return os.Getenv(StrictEnv) == "1" || os.Getenv("CI") == "true" }

// Missing ends the test because a prerequisite is missing: what says what
// and why ("redis-server not found"), fix how to get it ("run
// ./scripts/test.sh (installs node packages)").
func Missing(t testing.TB, what, fix string) {
	t.Helper()
	msg := fmt.Sprintf("%s: %s", what, fix)
	if Strict() {
		t.Fatalf("%s (%s=1: every prerequisite must be present)", msg, StrictEnv)
	}
	t.Skipf("skipped: %s", msg)
}
