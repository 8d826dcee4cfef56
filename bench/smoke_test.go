package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/prereq"
)

// TestMain lets the test binary play the upstream and the bare proxy, as
// the harness re-executes itself for them.
func TestMain(m *testing.M) {
	if ran, err := runRole(); ran {
		if err != nil {
			os.Stderr.WriteString("bench: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestSmoke runs the harness's smoke mode: every configuration (upstream,
// bare proxy, gatehouse with each store, /oauth2/auth) must answer every
// request correctly — 200 with the signed-in user's identity reaching the
// upstream, 202 for /oauth2/auth. No timing is asserted.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gatehouse binary and starts redis-server")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		prereq.Missing(t, "redis-server", "apt-get install redis-server")
	}
	var out, log bytes.Buffer
	if code := run([]string{"--smoke"}, &out, &log); code != 0 {
		t.Fatalf("bench --smoke: exit %d\n%s", code, log.String())
	}
	for _, name := range []string{nameUpstream, nameBare, nameBarePool, nameCookie, nameRedis, nameAuth} {
		if !strings.Contains(out.String(), name) {
			t.Errorf("table lacks %q:\n%s", name, out.String())
		}
	}
}

// TestSmokeCatchesWrongAnswers: a target whose answers are not what it
// expects fails the run instead of being measured.
func TestSmokeCatchesWrongAnswers(t *testing.T) {
	srv := serveForTest(t, upstreamHandler())
	res, err := drive(t.Context(), target{name: "t", addr: srv, path: "/", status: 200, user: "someone"}, 2, 50_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if res.errors == 0 || res.firstErr == nil || !strings.Contains(res.firstErr.Error(), "upstream saw user") {
		t.Fatalf("errors=%d first=%v, want the missing identity reported", res.errors, res.firstErr)
	}
}
