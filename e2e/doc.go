// Package e2e proves Gatehouse in a real browser: its tests build the
// gatehouse binary from this tree, run it from a YAML configuration in
// front of a small upstream, with panva/oidc-provider (a certified OpenID
// provider), redis-server and nginx on loopback ports, and drive headless
// Chromium through sign-in, refresh, restarts, sign-out and the pages'
// accessibility (axe-core) in light and dark schemes at phone and desktop
// widths.
//
// Run the suite alone with
//
//	go test ./e2e -v
//
// It needs chromium (Debian's package), node with the npm packages of
// e2e/ and internal/testutil/oidcprovider (npm ci), redis-server and
// nginx; ./scripts/test.sh installs them. A missing one skips the tests
// that need it with a message naming it, unless GATEHOUSE_TEST_STRICT=1
// (set by scripts/test.sh, so CI fails instead).
//
// Screenshots of every page checked go to GATEHOUSE_E2E_ARTIFACTS (a
// temporary folder, removed at the end, when unset); the run lists them.
// GATEHOUSE_E2E_UPDATE_DOCS=1 also rewrites docs/sign-in.png.
package e2e
