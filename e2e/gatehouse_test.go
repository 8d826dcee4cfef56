package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// testCookieSecret is the cookie secret of every gateway the tests start
// (32 bytes, base64).
const testCookieSecret = "Lk4Qh2Zp9WcR7xVt1NbM3yFs8GdJ6uAe0oIw5TqYrEg="

// gatehouse is one gatehouse process run from a YAML configuration, as an
// operator would run it. It is stopped when the test ends; its log is
// shown when the test failed.
type gatehouse struct {
	t      testing.TB
	name   string
	port   int
	config string
	// publicURL is where browsers reach it when that is not its plain
	// HTTP address: its own TLS listener, or a proxy in front.
	publicURL string
	// caPool trusts the certificate of publicURL, when it is https.
	caPool *x509.CertPool

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *lockedBuffer
}

// gatehouseConfig is a YAML configuration: keys as in docs/configuration.md.
type gatehouseConfig map[string]any

// startGatehouse writes cfg (plus http_address on port) to a file and runs
// `gatehouse --config FILE` until /ready answers 200.
func startGatehouse(t testing.TB, name string, port int, cfg gatehouseConfig) *gatehouse {
	t.Helper()
	bin := gatehouseBinary(t)
	g := &gatehouse{t: t, name: name, port: port, log: &lockedBuffer{}}
	cfg["http_address"] = g.Addr()
	if a, ok := cfg["https_address"].(string); ok {
		// Its own TLS listener (with the test CA's certificate): browsers
		// and the readiness check go there.
		pki, err := testPKI()
		if err != nil {
			t.Fatal(err)
		}
		g.publicURL, g.caPool = "https://"+a, pki.Pool
	}
	b, err := yaml.Marshal(map[string]any(cfg))
	if err != nil {
		t.Fatal(err)
	}
	g.config = filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(g.config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Stop()
		log := g.log.String()
		if strings.Contains(log, "WARNING: DATA RACE") {
			t.Errorf("%s: the race detector reported a data race in gatehouse:\n%s", name, tail(log, 200))
		} else if t.Failed() {
			t.Logf("%s log (config %s):\n%s\n%s", name, g.config, b, tail(log, 120))
		}
	})
	g.start(bin)
	return g
}

// Addr is the host:port gatehouse listens on.
func (g *gatehouse) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(g.port)) }

// URL is gatehouse's base URL as browsers use it.
func (g *gatehouse) URL() string {
	if g.publicURL != "" {
		return g.publicURL
	}
	return "http://" + g.Addr()
}

// Log returns what gatehouse wrote to stderr so far.
func (g *gatehouse) Log() string { return g.log.String() }

func (g *gatehouse) start(bin string) {
	g.t.Helper()
	g.mu.Lock()
	cmd := exec.Command(bin, "--config", g.config)
	cmd.Stdout, cmd.Stderr = g.log, g.log
	cmd.Env = gatehouseEnv()
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		g.mu.Unlock()
		g.t.Fatalf("%s: starting %s: %v", g.name, bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	g.cmd, g.exited = cmd, exited
	g.mu.Unlock()
	g.waitReady(exited)
}

// gatehouseEnv is the environment of a gatehouse process: the test's,
// without GATEHOUSE_* variables (they would override the YAML file).
func gatehouseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEHOUSE_") {
			env = append(env, kv)
		}
	}
	return env
}

// waitReady polls /ready until it answers 200, for at most 30 seconds.
func (g *gatehouse) waitReady(exited <-chan struct{}) {
	g.t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	if g.caPool != nil {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: g.caPool}}
	}
	url := g.URL() + "/ready"
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			g.t.Fatalf("%s exited before it was ready:\n%s", g.name, tail(g.log.String(), 60))
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	g.t.Fatalf("%s: %s not ready after 30s (last: %s)", g.name, url, last)
}

// Stop ends gatehouse with SIGTERM (a graceful shutdown), killing it if it
// has not exited within 15 seconds. Stopping a stopped gateway does nothing.
func (g *gatehouse) Stop() {
	g.mu.Lock()
	cmd, exited := g.cmd, g.exited
	g.cmd = nil
	g.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		g.t.Errorf("%s did not stop within 15s of SIGTERM", g.name)
	}
}

// Restart stops gatehouse and starts it again with the same configuration
// on the same port.
func (g *gatehouse) Restart() {
	g.t.Helper()
	g.Stop()
	g.start(gatehouseBinary(g.t))
}

// gatehouseHelp returns `gatehouse --help`, to find out which options the
// binary under test has.
func gatehouseHelp(t testing.TB) string {
	t.Helper()
	helpMu.Lock()
	defer helpMu.Unlock()
	if helpText == "" {
		out, err := exec.Command(gatehouseBinary(t), "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("gatehouse --help: %v\n%s", err, out)
		}
		helpText = string(out)
	}
	return helpText
}

var (
	helpMu   sync.Mutex
	helpText string
)

// hasOption reports whether the binary under test knows the flag, from
// its --help.
func hasOption(t testing.TB, flag string) bool {
	t.Helper()
	help := gatehouseHelp(t)
	for _, after := range []string{" ", "\n", "="} {
		if strings.Contains(help, flag+after) {
			return true
		}
	}
	return false
}

// freePort returns a loopback port nothing listens on, above the kernel's
// usual ephemeral range (32768-60999) so that no outgoing connection takes
// it between now and the moment a server binds it, and away from the
// ranges the Redis helpers pick from.
func freePort(t testing.TB) int {
	t.Helper()
	for range 200 {
		port := 61000 + rand.IntN(4000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return port
	}
	t.Fatal("no free loopback port in 61000-64999")
	return 0
}

// lockedBuffer collects a child process's output while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// secretFile writes value to a file readable only by the owner and
// returns its path.
func secretFile(t testing.TB, value string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "secret-")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(value + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
