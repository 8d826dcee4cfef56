// Package testutil starts the real servers tests run against (nginx,
// redis-server, ...) as child processes confined to the test's temporary
// directory and stopped when the test ends.
package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/prereq"
)

// NginxPortPlaceholder is replaced, everywhere in the configuration given to
// StartNginx, by the loopback port the helper chose for nginx to listen on.
const NginxPortPlaceholder = "{{NGINX_PORT}}"

// Nginx is a real nginx process started by StartNginx for one test. It runs
// in the foreground as a single process with every file it writes (pid,
// logs, temporary files) inside the test's temporary directory, and is
// stopped when the test ends.
type Nginx struct {
	port     int
	dir      string
	errorLog string
}

// URL returns the base URL nginx answers on, e.g. "http://127.0.0.1:41234".
func (n *Nginx) URL() string { return "http://" + n.Addr() }

// Addr returns nginx's host:port on the loopback interface.
func (n *Nginx) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port)) }

// Port returns the loopback port nginx listens on.
func (n *Nginx) Port() int { return n.port }

// Dir returns the nginx prefix directory holding nginx.conf and the logs.
func (n *Nginx) Dir() string { return n.dir }

// ErrorLog returns the content of nginx's error log so far, for test
// failure messages.
func (n *Nginx) ErrorLog() string {
	b, err := os.ReadFile(n.errorLog)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", n.errorLog, err)
	}
	return string(b)
}

// NginxBinary returns the path of the nginx executable, looked up in PATH
// and then at /usr/sbin/nginx, or ends the test (skip, or fail under
// GATEHOUSE_TEST_STRICT=1) saying how to install it.
func NginxBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	const fallback = "/usr/sbin/nginx"
	if fi, err := os.Stat(fallback); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return fallback
	}
	prereq.Missing(t, "nginx not found", "run ./scripts/test.sh (installs nginx)")
	return ""
}

// StartNginx starts nginx with httpConf placed inside its http { } block and
// returns once nginx accepts connections; it is stopped at t.Cleanup.
//
// httpConf is what would go in /etc/nginx/conf.d/*.conf: upstream and server
// blocks. Every occurrence of NginxPortPlaceholder is replaced by a free
// loopback port, so a server block should say
//
//	listen 127.0.0.1:{{NGINX_PORT}};
//
// The configuration is checked with "nginx -t" first; a bad configuration,
// a missing binary or nginx not answering within 10 seconds fails the test
// with nginx's own error output.
func StartNginx(t testing.TB, httpConf string) *Nginx {
	t.Helper()
	bin := NginxBinary(t)
	if !strings.Contains(httpConf, NginxPortPlaceholder) {
		t.Fatalf("StartNginx: configuration has no %s placeholder for the listen port", NginxPortPlaceholder)
	}
	// A port picked by binding :0 and closing may be taken again before
	// nginx binds it; try a few times when that race is lost.
	var lastErr error
	for range 3 {
		n, err := startNginx(t, bin, httpConf)
		if err == nil {
			return n
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	t.Fatalf("StartNginx: %v", lastErr)
	return nil
}

var errAddrInUse = errors.New("address already in use")

func startNginx(t testing.TB, bin, httpConf string) (*Nginx, error) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	n := &Nginx{port: port, dir: dir, errorLog: filepath.Join(dir, "error.log")}
	confPath := filepath.Join(dir, "nginx.conf")
	conf := nginxMainConf(dir, strings.ReplaceAll(httpConf, NginxPortPlaceholder, strconv.Itoa(port)))
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("writing nginx.conf: %w", err)
	}
	// -p and -e keep nginx away from /var/log/nginx and /etc/nginx even
	// before it has read the configuration.
	args := []string{"-p", dir + "/", "-c", confPath, "-e", n.errorLog}

	if out, err := exec.CommandContext(t.Context(), bin, append(args, "-t", "-q")...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nginx -t rejected the configuration: %v\n%s\n--- nginx.conf ---\n%s", err, out, numbered(conf))
	}

	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting nginx: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGQUIT) // graceful: finish open requests
		select {
		case <-exited:
			return
		case <-time.After(5 * time.Second):
		}
		_ = cmd.Process.Kill()
		<-exited
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", n.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case werr := <-exited:
			log := n.ErrorLog()
			if strings.Contains(log, "Address already in use") {
				return nil, fmt.Errorf("port %d: %w", port, errAddrInUse)
			}
			return nil, fmt.Errorf("nginx exited before answering (%v): %s\n%s", werr, out.String(), log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("nginx did not answer on %s within 10s:\n%s", n.Addr(), n.ErrorLog())
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("nginx error log:\n%s", n.ErrorLog())
		}
	})
	return n, nil
}

// nginxMainConf wraps httpConf in a main configuration that runs nginx in
// the foreground as one process of the current user (no master, so no
// switch to a "nobody" user that could not read the test's directory) and
// writes nothing outside dir.
//
// Each request proxied with auth_request holds up to three connections
// (client, auth subrequest, application), so a load test with a few hundred
// clients needs thousands: nginx's default of 512 (and the 256 this helper
// once set) made it drop connections under load.
func nginxMainConf(dir, httpConf string) string {
	p := func(name string) string { return filepath.Join(dir, name) }
	return fmt.Sprintf(`# generated by internal/testutil.StartNginx
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 16384;
pid %s;
error_log %s info;

events {
    worker_connections 8192;
}

http {
    default_type application/octet-stream;
    access_log %s;
    client_body_temp_path %s;
    proxy_temp_path %s;
    fastcgi_temp_path %s;
    uwsgi_temp_path %s;
    scgi_temp_path %s;

%s
}
`, p("nginx.pid"), p("error.log"), p("access.log"),
		p("client_body_temp"), p("proxy_temp"), p("fastcgi_temp"), p("uwsgi_temp"), p("scgi_temp"),
		httpConf)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("picking a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func numbered(s string) string {
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, line)
	}
	return b.String()
}
