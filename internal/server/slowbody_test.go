package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/server"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// serveGateway serves a real gateway (options adjusted by opts) through
// this package's listener and server; it returns the address.
func serveGateway(t *testing.T, limits server.Limits, opts func(*config.Options)) string {
	t.Helper()
	addr, _ := serveGatewayWith(t, limits, testutil.GatewayConfig{Options: opts})
	return addr
}

// serveGatewayWith is serveGateway for a whole GatewayConfig; it also
// returns the gateway (whose own test server shares the handler).
func serveGatewayWith(t *testing.T, limits server.Limits, gc testutil.GatewayConfig) (string, *testutil.Gateway) {
	t.Helper()
	g := testutil.StartGateway(t, gc)
	ln, err := server.Listen("127.0.0.1:0", limits)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(ctx, server.New(g.Gateway, limits, slog.New(slog.DiscardHandler)), ln, slog.New(slog.DiscardHandler), time.Second)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().String(), g
}

// ping GETs /ping on a new connection within timeout.
func ping(addr string, timeout time.Duration) error {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + "/ping")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// waitClosed reads conn until the server closes it or until deadline,
// returning what the server sent.
func waitClosed(conn net.Conn, deadline time.Time) (string, error) {
	_ = conn.SetReadDeadline(deadline)
	var b strings.Builder
	_, err := io.Copy(&b, conn)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return b.String(), errors.New("still open at the deadline")
	}
	return b.String(), nil // EOF or reset: closed
}

// TestSlowBodiesCannotHoldConnections is defect 3's regression: many
// clients announcing a sign-out form and trickling it a byte at a time
// neither keep /ping from answering nor keep their sockets: each is
// closed within the body timeout (plus scheduling margin), without Gatehouse
// waiting for the rest of the body.
func TestSlowBodiesCannotHoldConnections(t *testing.T) {
	t.Parallel()
	const (
		clients     = 60
		bodyTimeout = time.Second
		margin      = 4 * time.Second
	)
	addr := serveGateway(t, server.Limits{MaxConnections: 256}, func(o *config.Options) {
		o.RequestBodyTimeout = bodyTimeout
	})
	conns := make([]net.Conn, 0, clients)
	for range clients {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			if _, err := io.WriteString(c, "POST /oauth2/sign_out HTTP/1.1\r\nHost: gate.test\r\n"+
				"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 8000\r\n\r\nrd="); err != nil {
				return
			}
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for range 100 { // bounded: 20 s at most
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := c.Write([]byte("x")); err != nil {
					return // closed by the server
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	for i := range 5 {
		if err := ping(addr, 5*time.Second); err != nil {
			t.Errorf("/ping %d while %d bodies trickle: %v", i, clients, err)
		}
	}
	bound := start.Add(bodyTimeout + margin)
	for i, c := range conns {
		got, err := waitClosed(c, bound)
		if err != nil {
			t.Fatalf("connection %d: %v after %v (body timeout %v)", i, err, time.Since(start), bodyTimeout)
		}
		if got != "" && !strings.Contains(got, "Connection: close") {
			t.Errorf("connection %d: answer without Connection: close:\n%s", i, got)
		}
	}
	t.Logf("%d trickling connections closed %v after they started", clients, time.Since(start).Round(time.Millisecond))
}

// TestUnreadBodyAnsweredAtOnce (issue 10's item 4): a denial of a request
// whose body is incomplete answers immediately, with Connection: close,
// and closes the socket instead of waiting for or draining the body.
func TestUnreadBodyAnsweredAtOnce(t *testing.T) {
	t.Parallel()
	// The default body timeout (10 s) is far beyond the bounds below: an
	// answer within them was not waiting for it.
	addr := serveGateway(t, server.Limits{}, nil)
	for _, req := range []string{"/app", "/oauth2/auth", "/oauth2/start", "/oauth2/userinfo", "/oauth2/nowhere",
		// An Upgrade header does not take a body out of the bounds.
		"/app HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket", "/oauth2/sign_out HTTP/1.1\r\nUpgrade: websocket"} {
		path, extra, _ := strings.Cut(req, " HTTP/1.1\r\n")
		if extra != "" {
			extra += "\r\n"
		}
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "POST "+path+" HTTP/1.1\r\n"+extra+"Host: gate.test\r\nAccept: application/json\r\nContent-Length: 10\r\n\r\nhello")
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("POST %s with 5 of 10 bytes: no answer: %v", path, err)
			continue
		}
		resp.Body.Close()
		// POST /oauth2/sign_out without a form signs out (200); the others
		// refuse. Either way the answer closes at once.
		if (resp.StatusCode < 400 && path != "/oauth2/sign_out") || !resp.Close {
			t.Errorf("POST %s: status %d, Connection: close %v; want a refusal that closes", path, resp.StatusCode, resp.Close)
		}
		if _, err := waitClosed(c, time.Now().Add(5*time.Second)); err != nil {
			t.Errorf("POST %s: socket %v", path, err)
		}
	}
}

// TestMaxConnections: with the limit reached, a new connection waits (it
// is not served); when one closes, the next is served.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	const limit = 4
	addr := serveGateway(t, server.Limits{MaxConnections: limit}, nil)
	var held []net.Conn
	for range limit {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// A served connection would answer this at once; a waiting one cannot.
	if err := ping(addr, 300*time.Millisecond); err == nil {
		t.Error("/ping served beyond --max-connections")
	}
	held[0].Close()
	if err := ping(addr, 10*time.Second); err != nil {
		t.Errorf("/ping after a connection closed: %v", err)
	}
	for _, c := range held[1:] {
		c.Close()
	}
}

func TestEffectiveMaxConnections(t *testing.T) {
	t.Parallel()
	if got := server.EffectiveMaxConnections(0); got < 1 || got > server.DefaultMaxConnections {
		t.Errorf("EffectiveMaxConnections(0) = %d", got)
	}
	if got := server.EffectiveMaxConnections(7); got != 7 {
		t.Errorf("EffectiveMaxConnections(7) = %d", got)
	}
}

// TestUpstreamBodyIdleDeadline: a proxied upload that keeps flowing works
// however long it takes in all; one that stalls longer than
// --upstream-body-idle-timeout is dropped and its connection closed.
func TestUpstreamBodyIdleDeadline(t *testing.T) {
	t.Parallel()
	const idle = time.Second
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "got %d", n)
	})
	addr, g := serveGatewayWith(t, server.Limits{}, testutil.GatewayConfig{Upstream: upstream, Options: func(o *config.Options) {
		o.UpstreamBodyIdleTimeout = idle
	}})
	g.Login(t, "alice", "/")
	var cookie []string
	for _, c := range g.Client.Jar.Cookies(mustParse(t, g.Server.URL)) {
		cookie = append(cookie, c.Name+"="+c.Value)
	}
	upload := func(chunks int, pause time.Duration, stallAfter int) (net.Conn, *http.Response, error) {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_, _ = fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: gate.test\r\nCookie: %s\r\nContent-Length: %d\r\n\r\n", strings.Join(cookie, "; "), chunks)
		for i := range chunks {
			if i == stallAfter {
				break
			}
			time.Sleep(pause)
			if _, err := c.Write([]byte("x")); err != nil {
				return c, nil, err
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		return c, resp, err
	}
	// 8 chunks 300 ms apart: 2.4 s in all, more than the idle timeout,
	// never idle that long.
	_, resp, err := upload(8, 300*time.Millisecond, -1)
	if err != nil {
		t.Fatalf("flowing upload: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "got 8" {
		t.Errorf("flowing upload: %d %q, want 200 \"got 8\"", resp.StatusCode, body)
	}
	// 2 of 8 bytes, then silence: dropped.
	c, resp, err := upload(8, 10*time.Millisecond, 2)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("stalled upload: status %d (%q), want a failure", resp.StatusCode, b)
		}
	}
	if _, err := waitClosed(c, time.Now().Add(idle+5*time.Second)); err != nil {
		t.Errorf("stalled upload: connection %v", err)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestManyIncompleteBodiesAnsweredAndClosed (issue 10's item 4, as
// measured): 200 sockets each sending an unauthenticated POST with
// Content-Length: 10 and 5 bytes are all answered with Connection: close
// and closed, well before the body timeout (they used to stay open 60 s).
func TestManyIncompleteBodiesAnsweredAndClosed(t *testing.T) {
	t.Parallel()
	const sockets = 200
	addr := serveGateway(t, server.Limits{MaxConnections: 256}, func(o *config.Options) {
		o.RequestBodyTimeout = time.Minute // an answer within the bound below did not wait for it
	})
	start := time.Now()
	bound := start.Add(20 * time.Second)
	errs := make([]error, sockets)
	var wg sync.WaitGroup
	for i := range sockets {
		wg.Go(func() {
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			_, _ = io.WriteString(c, "POST /app HTTP/1.1\r\nHost: gate.test\r\nAccept: application/json\r\nContent-Length: 10\r\n\r\nhello")
			got, err := waitClosed(c, bound)
			switch {
			case err != nil:
				errs[i] = err
			case !strings.Contains(got, "Connection: close") || !strings.HasPrefix(got, "HTTP/1.1 401"):
				errs[i] = fmt.Errorf("answer %q, want 401 with Connection: close", got)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
	}
	t.Logf("%d incomplete bodies answered and closed in %v", sockets, time.Since(start).Round(time.Millisecond))
}
