#!/usr/bin/env bash
# Runs Gatehouse's whole test suite: installs the real servers and tools
# the tests start (redis-server, redis-sentinel, redis-cli, nginx, chromium
# and the pinned npm packages) when they are missing, then go vet and
# go test -race over every package, the end-to-end browser suite (e2e/)
# included. A prerequisite still missing then fails the tests that need it
# (GATEHOUSE_TEST_STRICT=1) instead of skipping them.
set -euo pipefail
cd "$(dirname "$0")/.."
export GATEHOUSE_TEST_STRICT=1

need=()
command -v redis-server   >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli      >/dev/null 2>&1 || need+=(redis-tools)
command -v redis-sentinel >/dev/null 2>&1 || need+=(redis-sentinel)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx)
# Debian's Chromium for the end-to-end suite (never a browser download).
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # The packages may start system services on the standard ports; the tests
  # start their own on free loopback ports and do not need them.
  $SUDO service nginx stop >/dev/null 2>&1 || true
fi

# ---- node: the certified OpenID provider the interop tests run ----
# proxy/interop_test.go starts panva/oidc-provider from
# internal/testutil/oidcprovider; install its pinned packages once.
if [ ! -d internal/testutil/oidcprovider/node_modules ]; then
  echo "installing: internal/testutil/oidcprovider node_modules (npm ci)"
  npm ci --prefix internal/testutil/oidcprovider --no-audit --no-fund
fi
# e2e/ evaluates its pinned axe-core in the browser.
if [ ! -f e2e/node_modules/axe-core/axe.min.js ]; then
  echo "installing: e2e node_modules (npm ci)"
  npm ci --prefix e2e --no-audit --no-fund
fi
# ---- end node ----

# ---- helm: deploy/helm_test.go renders deploy/helm/gatehouse with it ----
# Built once from source at a pinned version (a few minutes) into
# $(go env GOPATH)/bin, where the test looks besides PATH.
HELM_VERSION=v3.22.0
if ! command -v helm >/dev/null 2>&1 && [ ! -x "$(go env GOPATH | cut -d: -f1)/bin/helm" ]; then
  echo "installing: helm $HELM_VERSION (go install helm.sh/helm/v3/cmd/helm)"
  go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi
# ---- end helm ----

echo "== go vet"
go vet ./...
echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go test -race"
# The e2e suite's screenshots (every page, light and dark, 390 and 1280 px).
export GATEHOUSE_E2E_ARTIFACTS="${GATEHOUSE_E2E_ARTIFACTS:-$PWD/.cache/e2e-screenshots}"
rm -rf "$GATEHOUSE_E2E_ARTIFACTS"
status=0
go test -race -count=1 -timeout 12m "$@" ./... || status=$?
echo "== fuzz (brief): path normalisation and route matching"
# A fixed number of executions rather than a duration: bounded on a busy
# machine too. The seeds (the path-confusion payloads) also run as unit
# tests above.
for target in FuzzNormalizePath FuzzMatch; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime 20000x -parallel 2 ./proxy/route || status=$?
done
if [ -d "$GATEHOUSE_E2E_ARTIFACTS" ] && [ -n "$(ls -A "$GATEHOUSE_E2E_ARTIFACTS")" ]; then
  echo "== e2e screenshots in $GATEHOUSE_E2E_ARTIFACTS:"
  ls "$GATEHOUSE_E2E_ARTIFACTS" | sed 's/^/  /'
fi
exit "$status"
