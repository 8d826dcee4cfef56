// Package redistest starts real Redis servers for tests: standalone,
// TLS, Sentinel and Cluster, on free loopback ports, stopped by PID when
// the test ends. It imports none of Gatehouse's packages, so any package's
// internal tests can use it.
package redistest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
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

// RedisTLS is a standalone redis-server that also accepts TLS connections,
// with a certificate for 127.0.0.1 signed by a CA made for the test.
type RedisTLS struct {
	*Redis
	tlsPort int
	caFile  string
}

// StartRedisTLS starts a redis-server like StartRedis that also listens with
// TLS on a second free port (clients need not present a certificate). The
// plain port stays open; use TLSURL and CAFile to test TLS clients.
func StartRedisTLS(t testing.TB, extraArgs ...string) *RedisTLS {
	t.Helper()
	bin := redisLookBinary(t, "redis-server")
	certDir := t.TempDir()
	caFile, certFile, keyFile := redisWriteTestPKI(t, certDir)
	r := &RedisTLS{caFile: caFile}
	fixed := false
	p := startRedisProcess(t, bin, false, func(dir string, port int) []string {
		if !fixed { // a new TLS port for every first-start attempt, the same one on Restart
			tlsPort, err := redisFreePort(false)
			if err != nil || tlsPort == port {
				tlsPort = port + 1
			}
			r.tlsPort = tlsPort
		}
		args := append([]string{
			"--tls-port", strconv.Itoa(r.tlsPort),
			"--tls-cert-file", certFile,
			"--tls-key-file", keyFile,
			"--tls-ca-cert-file", caFile,
			"--tls-auth-clients", "no",
		}, extraArgs...)
		return redisServerArgs(dir, port, args...)
	})
	fixed = true
	r.Redis = &Redis{p: p}
	return r
}

// TLSAddr returns the host:port of the TLS listener.
func (r *RedisTLS) TLSAddr() string { return redisLoopbackAddr(r.tlsPort) }

// TLSURL returns a rediss:// URL of the TLS listener's database 0.
func (r *RedisTLS) TLSURL() string { return "rediss://" + r.TLSAddr() + "/0" }

// CAFile returns the path of the PEM file of the CA that signed the
// server's certificate.
func (r *RedisTLS) CAFile() string { return r.caFile }

// redisWriteTestPKI writes a fresh CA and a server certificate for
// 127.0.0.1 and localhost into dir, as PEM files.
func redisWriteTestPKI(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatalf("CA key: %v", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatehouse test Redis CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(crand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("CA certificate: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("parse CA certificate: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatalf("server key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("server certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("server key: %v", err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	certFile = filepath.Join(dir, "server.pem")
	keyFile = filepath.Join(dir, "server.key")
	for path, block := range map[string]*pem.Block{
		caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
	}
	return caFile, certFile, keyFile
}

// Sentinel is a Redis master, one replica and one redis-sentinel watching
// them, started for one test. One Sentinel with quorum 1 fails over on its
// own, and does not need the seconds that several Sentinels take to discover
// each other.
type Sentinel struct {
	// MasterName is the name the Sentinel monitors the master under.
	MasterName string

	o         SentinelOptions
	t         testing.TB
	mu        sync.Mutex
	nodes     map[string]*redisProcess // by address
	sentinels []*redisProcess
}

// Sentinel timings: short, so a failover takes a couple of seconds.
const (
	sentinelDownAfter       = 500 * time.Millisecond
	sentinelFailoverTimeout = 5 * time.Second
)

// SentinelOptions configure StartSentinelWith. The zero value asks for no
// passwords.
type SentinelOptions struct {
	// Password is required by the master and the replica (requirepass,
	// and masterauth so that they can replicate from each other).
	Password string
	// SentinelPassword is required by the Sentinel itself.
	SentinelPassword string
}

// StartSentinel starts a master, a replica of it and a Sentinel monitoring
// them, waits until the Sentinel knows the replica, and stops all of them
// when the test ends. The test fails if redis-server is not installed.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	return StartSentinelWith(t, SentinelOptions{})
}

// StartSentinelWith is StartSentinel with passwords.
func StartSentinelWith(t testing.TB, o SentinelOptions) *Sentinel {
	t.Helper()
	bin := redisLookBinary(t, "redis-server")
	sentinelBin, sentinelFlag := bin, []string{"--sentinel"}
	if p, err := exec.LookPath("redis-sentinel"); err == nil {
		sentinelBin, sentinelFlag = p, nil
	}
	s := &Sentinel{MasterName: "gatehouse-test", o: o, t: t, nodes: map[string]*redisProcess{}}
	var auth []string
	if o.Password != "" {
		auth = []string{"--requirepass", o.Password, "--masterauth", o.Password}
	}

	master := startRedisProcess(t, bin, false, func(dir string, port int) []string {
		return redisServerArgs(dir, port, auth...)
	})
	masterAddr := master.addr()
	replica := startRedisProcess(t, bin, false, func(dir string, port int) []string {
		return redisServerArgs(dir, port, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(master.port)}, auth...)...)
	})
	s.nodes[masterAddr] = master
	s.nodes[replica.addr()] = replica
	redisWaitFor(t, redisReadyTimeout, "replica to sync with master", func(ctx context.Context) (bool, error) {
		v, err := redisInfoField(ctx, replica.addr(), o.Password, "replication", "master_link_status")
		return v == "up", err
	})

	sp := &redisProcess{t: t, bin: sentinelBin, dir: t.TempDir()}
	sp.logPath = filepath.Join(sp.dir, "server.log")
	sp.args = func(port int) ([]string, error) {
		// Sentinel rewrites its config file, so it must be a file of its own.
		conf := filepath.Join(sp.dir, "sentinel.conf")
		name := s.MasterName
		text := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %s
logfile ""
daemonize no
sentinel monitor %s 127.0.0.1 %d 1
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s %d
sentinel parallel-syncs %s 1
`, port, sp.dir, name, master.port, name, sentinelDownAfter.Milliseconds(),
			name, sentinelFailoverTimeout.Milliseconds(), name)
		if o.Password != "" {
			text += fmt.Sprintf("sentinel auth-pass %s %s\n", name, o.Password)
		}
		if o.SentinelPassword != "" {
			text += fmt.Sprintf("requirepass %s\n", o.SentinelPassword)
		}
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			return nil, err
		}
		return append([]string{conf}, sentinelFlag...), nil
	}
	s.sentinels = append(s.sentinels, sp.startFresh(false))

	redisWaitFor(t, redisReadyTimeout, "sentinel to know the replica", func(ctx context.Context) (bool, error) {
		v, err := redisDoAuth(ctx, sp.addr(), o.SentinelPassword, "SENTINEL", "REPLICAS", s.MasterName)
		if err != nil {
			return false, err
		}
		return redisSentinelHasHealthyReplica(v), nil
	})
	return s
}

// redisSentinelHasHealthyReplica reports whether a SENTINEL REPLICAS reply (RESP2:
// a list of flat field/value lists) lists a replica whose link is ok.
func redisSentinelHasHealthyReplica(v any) bool {
	list, _ := v.([]any)
	for _, r := range list {
		fields, _ := r.([]any)
		m := map[string]string{}
		for i := 0; i+1 < len(fields); i += 2 {
			k, _ := fields[i].(string)
			val, _ := fields[i+1].(string)
			m[k] = val
		}
		if m["flags"] == "slave" && m["master-link-status"] == "ok" {
			return true
		}
	}
	return false
}

// SentinelAddrs returns the host:port of every Sentinel.
func (s *Sentinel) SentinelAddrs() []string {
	addrs := make([]string, 0, len(s.sentinels))
	for _, p := range s.sentinels {
		addrs = append(addrs, p.addr())
	}
	return addrs
}

// MasterAddr returns the host:port of the master as the Sentinel sees it.
func (s *Sentinel) MasterAddr() string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), redisReadyTimeout)
	defer cancel()
	addr, err := s.masterAddr(ctx)
	if err != nil {
		s.t.Fatalf("ask sentinel for master: %v", err)
	}
	return addr
}

func (s *Sentinel) masterAddr(ctx context.Context) (string, error) {
	v, err := redisDoAuth(ctx, s.sentinels[0].addr(), s.o.SentinelPassword, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName)
	if err != nil {
		return "", err
	}
	hp, _ := v.([]any)
	if len(hp) != 2 {
		return "", fmt.Errorf("unexpected SENTINEL GET-MASTER-ADDR-BY-NAME reply %v", v)
	}
	host, _ := hp[0].(string)
	port, _ := hp[1].(string)
	return net.JoinHostPort(host, port), nil
}

// StopMaster kills the current master (as a crash would) and waits until the
// Sentinel has promoted the replica. It fails the test if no failover happens
// within 30 s.
func (s *Sentinel) StopMaster() {
	s.t.Helper()
	old := s.MasterAddr()
	s.mu.Lock()
	p := s.nodes[old]
	s.mu.Unlock()
	if p == nil {
		s.t.Fatalf("sentinel reports master %s, which this helper did not start", old)
	}
	p.stop()
	redisWaitFor(s.t, redisFailoverTimeout, "sentinel to promote the replica", func(ctx context.Context) (bool, error) {
		addr, err := s.masterAddr(ctx)
		if err != nil || addr == old {
			return false, err
		}
		role, err := redisInfoField(ctx, addr, s.o.Password, "replication", "role")
		return role == "master", err
	})
}

// Cluster is a three-master Redis Cluster (no replicas) started for one test.
type Cluster struct {
	nodes []*redisProcess
}

// StartCluster starts three cluster-enabled redis-servers, joins them into a
// cluster with redis-cli --cluster create, waits for cluster_state:ok on
// every node, and stops them when the test ends. The test fails if
// redis-server or redis-cli is not installed.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin := redisLookBinary(t, "redis-server")
	cli := redisLookBinary(t, "redis-cli")
	c := &Cluster{}
	for range 3 {
		c.nodes = append(c.nodes, startRedisProcess(t, bin, true, func(dir string, port int) []string {
			return redisServerArgs(dir, port,
				"--cluster-enabled", "yes",
				"--cluster-config-file", filepath.Join(dir, "nodes.conf"),
				"--cluster-node-timeout", "2000",
			)
		}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*redisReadyTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range c.Addrs() {
		redisWaitFor(t, redisReadyTimeout, "cluster_state:ok on "+addr, func(ctx context.Context) (bool, error) {
			v, err := redisDo(ctx, addr, "CLUSTER", "INFO")
			s, _ := v.(string)
			return strings.Contains(s, "cluster_state:ok"), err
		})
	}
	return c
}

// Addrs returns the host:port of every node.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, 0, len(c.nodes))
	for _, p := range c.nodes {
		addrs = append(addrs, p.addr())
	}
	return addrs
}
