// Package redistest starts real Redis servers for tests: standalone,
// TLS, Sentinel and Cluster, on free loopback ports, stopped by PID when
// the test ends. It imports none of Gatehouse's packages, so any package's
// internal tests can use it.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/prereq"
)

// redisInstallHint tells a developer how to get the Redis binaries the tests need.
const redisInstallHint = "run ./scripts/test.sh (installs redis-server, redis-tools and redis-sentinel)"

// Timeouts of the helpers. They are generous because CI machines are slow;
// on a healthy machine everything is ready in well under a second.
const (
	redisReadyTimeout    = 15 * time.Second
	redisFailoverTimeout = 30 * time.Second
	redisStartAttempts   = 5
)

// redisLookBinary returns the path of a Redis binary, or ends the test
// (skip, or fail under GATEHOUSE_TEST_STRICT=1) saying how to install it.
func redisLookBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		prereq.Missing(t, name+" not found", redisInstallHint)
	}
	return p
}

// redisProcess is one redis-server (or Sentinel) child process bound to a fixed
// loopback port. It can be stopped and started again on the same port.
type redisProcess struct {
	t       testing.TB
	bin     string
	dir     string
	logPath string
	// args returns the command line for port; it may write files (a
	// Sentinel's config) into dir.
	args func(port int) ([]string, error)

	mu   sync.Mutex
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedisProcess starts a process on a free port, retrying on another port when
// the chosen one turns out to be taken. needBus also requires port+10000 to be
// free (the Redis Cluster bus).
func startRedisProcess(t testing.TB, bin string, needBus bool, args func(dir string, port int) []string) *redisProcess {
	t.Helper()
	dir := t.TempDir()
	p := &redisProcess{
		t:       t,
		bin:     bin,
		dir:     dir,
		logPath: filepath.Join(dir, "server.log"),
		args:    func(port int) ([]string, error) { return args(dir, port), nil },
	}
	return p.startFresh(needBus)
}

// startFresh starts p on a newly chosen port and registers its cleanup.
func (p *redisProcess) startFresh(needBus bool) *redisProcess {
	t := p.t
	t.Helper()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("log of %s on port %d:\n%s", filepath.Base(p.bin), p.port, p.logTail(40))
		}
	})
	var lastErr error
	for range redisStartAttempts {
		port, err := redisFreePort(needBus)
		if err != nil {
			lastErr = err
			continue
		}
		if lastErr = p.start(port); lastErr == nil {
			return p
		}
	}
	t.Fatalf("start %s: %v\n%s", filepath.Base(p.bin), lastErr, p.logTail(20))
	return nil
}

// start runs the process on port and waits until it answers PING.
func (p *redisProcess) start(port int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return errors.New("already running")
	}
	args, err := p.args(port)
	if err != nil {
		return err
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := exec.Command(p.bin, args...)
	cmd.Dir = p.dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	redisProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", p.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	addr := redisLoopbackAddr(port)
	deadline := time.Now().Add(redisReadyTimeout)
	for {
		if pingErr := redisPing(addr); pingErr == nil {
			break
		} else if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("%s not ready after %v: %w", addr, redisReadyTimeout, pingErr)
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited before it was ready (port %d taken?)", filepath.Base(p.bin), port)
		case <-time.After(10 * time.Millisecond):
		}
	}
	p.port, p.cmd, p.done = port, cmd, done
	return nil
}

// stop kills the process by PID and waits for it to exit. It does nothing
// when the process is not running.
func (p *redisProcess) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd, p.done = nil, nil
}

// restart starts the process again on the port it had.
func (p *redisProcess) restart() {
	p.t.Helper()
	p.mu.Lock()
	port := p.port
	p.mu.Unlock()
	var err error
	// The port was ours a moment ago; a short retry covers a slow kernel.
	for range redisStartAttempts {
		if err = p.start(port); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("restart %s on port %d: %v\n%s", filepath.Base(p.bin), port, err, p.logTail(20))
}

// addr returns 127.0.0.1:port.
func (p *redisProcess) addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return redisLoopbackAddr(p.port)
}

// logTail returns the last n lines of the process log.
func (p *redisProcess) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func redisLoopbackAddr(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// redisFreePort returns a loopback port that was free a moment ago. With needBus,
// port+10000 was free too; such ports are chosen below the kernel's
// ephemeral range so that outgoing connections rarely take them.
func redisFreePort(needBus bool) (int, error) {
	if !needBus {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	for range 100 {
		port := 15000 + rand.IntN(7000) // bus port in [25000, 32000)
		if redisPortBindable(port) && redisPortBindable(port+10000) {
			return port, nil
		}
	}
	return 0, errors.New("no free port pair for a cluster node")
}

func redisPortBindable(port int) bool {
	l, err := net.Listen("tcp", redisLoopbackAddr(port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// redisPing sends an inline PING and accepts +PONG, or -NOAUTH from a server that
// requires a password (it is up, it just wants AUTH first).
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return err
	}
	if bytes.HasPrefix(line, []byte("+PONG")) || bytes.HasPrefix(line, []byte("-NOAUTH")) {
		return nil
	}
	return fmt.Errorf("PING answered %q", bytes.TrimSpace(line))
}

// redisServerArgs is the command line every redis-server the helpers start gets:
// loopback only, no persistence, a private working directory.
func redisServerArgs(dir string, port int, extra ...string) []string {
	args := []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		"--logfile", "",
		// Replicas sync at once instead of waiting 5 s for more replicas.
		"--repl-diskless-sync-delay", "0",
	}
	return append(args, extra...)
}

// redisDo runs one command against addr with a short-lived client.
func redisDo(ctx context.Context, addr string, args ...any) (any, error) {
	return redisDoAuth(ctx, addr, "", args...)
}

// redisDoAuth is redisDo for a server that wants password ("" for none).
func redisDoAuth(ctx context.Context, addr, password string, args ...any) (any, error) {
	c := redis.NewClient(&redis.Options{
		Addr:            addr,
		Password:        password,
		Protocol:        2,
		DisableIdentity: true,
		MaxRetries:      -1,
		DialTimeout:     time.Second,
		ReadTimeout:     2 * time.Second,
		PoolSize:        1,
	})
	defer c.Close()
	return c.Do(ctx, args...).Result()
}

// redisInfoField returns field from the INFO section of the server at addr,
// which wants password ("" for none).
func redisInfoField(ctx context.Context, addr, password, section, field string) (string, error) {
	v, err := redisDoAuth(ctx, addr, password, "INFO", section)
	if err != nil {
		return "", err
	}
	s, _ := v.(string)
	for line := range strings.Lines(s) {
		if k, val, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && k == field {
			return val, nil
		}
	}
	return "", fmt.Errorf("INFO %s has no %s", section, field)
}

// redisWaitFor polls cond every 20 ms until it returns true or timeout passes,
// then fails the test with what.
func redisWaitFor(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var lastErr error
	for {
		ok, err := cond(ctx)
		if ok {
			return
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s (last error: %v)", timeout, what, lastErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Redis is a standalone redis-server started for one test.
type Redis struct {
	p *redisProcess
}

// StartRedis starts a redis-server on a free loopback port, with no
// persistence and a private directory, and stops it when the test ends.
// extraArgs are appended to its command line (for example "--requirepass",
// "secret"). The test fails if redis-server is not installed.
func StartRedis(t testing.TB, extraArgs ...string) *Redis {
	t.Helper()
	bin := redisLookBinary(t, "redis-server")
	p := startRedisProcess(t, bin, false, func(dir string, port int) []string {
		return redisServerArgs(dir, port, extraArgs...)
	})
	return &Redis{p: p}
}

// Addr returns the server's host:port.
func (r *Redis) Addr() string { return r.p.addr() }

// URL returns a redis:// URL of the server's database 0.
func (r *Redis) URL() string { return "redis://" + r.Addr() + "/0" }

// Stop kills the server (as a crash would: no shutdown, data lost). It is a
// no-op if the server is already stopped.
func (r *Redis) Stop() { r.p.stop() }

// Restart starts the server again on the same port, empty. It fails the test
// if the server cannot come back.
func (r *Redis) Restart() {
	r.p.t.Helper()
	r.p.stop()
	r.p.restart()
}

// Pause freezes the server (SIGSTOP) without closing its sockets: clients
// connect and send, and no answer comes, as with a hung or overloaded
// Redis. Resume undoes it; the test's cleanup kills a paused server too.
func (r *Redis) Pause() {
	r.p.t.Helper()
	if err := r.p.signal(redisSignalPause); err != nil {
		r.p.t.Fatalf("pause redis-server: %v", err)
	}
}

// Resume lets a paused server run again.
func (r *Redis) Resume() {
	r.p.t.Helper()
	if err := r.p.signal(redisSignalResume); err != nil {
		r.p.t.Fatalf("resume redis-server: %v", err)
	}
}

// signal sends one of the redisSignal* actions to the running process.
func (p *redisProcess) signal(action int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return errors.New("not running")
	}
	return redisSignal(p.cmd.Process, action)
}
