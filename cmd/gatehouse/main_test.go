package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRunExitCodes(t *testing.T) {
	t.Setenv("GATEHOUSE_CONFIG", "")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{"help", []string{"--help"}, 0, "--cookie-secret", ""},
		{"help lists defaults", []string{"--help"}, 0, "127.0.0.1:4180", ""},
		{"version", []string{"--version"}, 0, "gatehouse", ""},
		{"unknown flag", []string{"--no-such-flag"}, 2, "", "no-such-flag"},
		{"missing client id", []string{"--oidc-issuer-url", "https://sso.example.com", "--client-secret", "x", "--cookie-secret", "Lk4Qh2Zp9WcR7xVt1NbM3yFs8GdJ6uAe0oIw5TqYrEg=", "--email-domain", "*"}, 2, "", "client-id"},
		{"short cookie secret", []string{"--oidc-issuer-url", "https://sso.example.com", "--client-id", "id", "--client-secret", "x", "--cookie-secret", "tooshort", "--email-domain", "*"}, 2, "", "cookie-secret"},
		{"upstream without scheme", []string{"--upstream", "app.internal:8080", "--oidc-issuer-url", "https://sso.example.com", "--client-id", "id", "--client-secret", "x", "--cookie-secret", "Lk4Qh2Zp9WcR7xVt1NbM3yFs8GdJ6uAe0oIw5TqYrEg=", "--email-domain", "*"}, 2, "", "upstream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.wantStdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr.String())
			}
			if strings.Contains(stderr.String(), "tooshort") {
				t.Errorf("error message echoes the secret: %s", stderr.String())
			}
		})
	}
}

func TestDevRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:4180", ":4180", "192.0.2.1:4180", "[::]:4180", "example.com:80"} {
		var stdout, stderr bytes.Buffer
		if code := runDev(t.Context(), []string{"--http-address", addr}, &stdout, &stderr); code != 2 {
			t.Errorf("dev --http-address %s: exit %d, want 2", addr, code)
		}
		if !strings.Contains(stderr.String(), "loopback") {
			t.Errorf("dev --http-address %s: stderr %q should say loopback only", addr, stderr.String())
		}
	}
}

// TestDevModeServes starts `gatehouse dev` on a free loopback port and checks
// that it answers and sends a browser to sign in.
func TestDevModeServes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr safeBuffer
	done := make(chan int, 1)
	go func() { done <- runDev(ctx, []string{"--http-address", addr}, &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("dev mode did not shut down")
		}
	})

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	deadline := time.Now().Add(15 * time.Second)
	var resp *http.Response
	for {
		resp, err = client.Get("http://" + addr + "/")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev mode did not start: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/oauth2/sign_in") {
		t.Errorf("GET / = %d %s, want 302 to /oauth2/sign_in", resp.StatusCode, resp.Header.Get("Location"))
	}
	if out := stdout.String(); !strings.Contains(out, "http://"+addr+"/") || !strings.Contains(out, "DEVELOPMENT") {
		t.Errorf("dev mode banner lacks the URL or the warning:\n%s", out)
	}
	resp, err = client.Get("http://" + addr + "/oauth2/start")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("/oauth2/start = %d", resp.StatusCode)
	}
	resp, err = client.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "alice") {
		t.Errorf("dev provider login form: %d, lacks the fixed users", resp.StatusCode)
	}
}

// safeBuffer is a bytes.Buffer safe for concurrent use.
type safeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
