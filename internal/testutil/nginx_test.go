package testutil

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStartNginxProxiesToUpstream(t *testing.T) {
	t.Parallel()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "upstream saw %s %s X-Test=%s", r.Method, r.URL.Path, r.Header.Get("X-Test"))
	}))
	t.Cleanup(upstream.Close)

	n := StartNginx(t, `
server {
    listen 127.0.0.1:{{NGINX_PORT}};
    location = /static { return 200 "static on {{NGINX_PORT}}"; }
    location / {
        proxy_pass `+upstream.URL+`;
        proxy_set_header X-Test from-nginx;
    }
}`)

	tests := []struct {
		path string
		want string
	}{
		{"/static", fmt.Sprintf("static on %d", n.Port())},
		{"/app/x", "upstream saw GET /app/x X-Test=from-nginx"},
	}
	for _, tt := range tests {
		resp, err := http.Get(n.URL() + tt.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tt.path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != tt.want {
			t.Errorf("GET %s = %d %q, want 200 %q", tt.path, resp.StatusCode, body, tt.want)
		}
	}
	if !strings.HasPrefix(n.URL(), "http://127.0.0.1:") {
		t.Errorf("URL() = %q, want a loopback URL", n.URL())
	}
}

func TestStartNginxStopsAtCleanup(t *testing.T) {
	t.Parallel()
	var addr string
	t.Run("running", func(t *testing.T) {
		n := StartNginx(t, `server { listen 127.0.0.1:{{NGINX_PORT}}; return 204; }`)
		addr = n.Addr()
	})
	// The subtest's cleanup has run; nginx must no longer accept.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("nginx still accepting on %s after cleanup", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the calling goroutine, so a helper's failure path can be asserted.
type fatalRecorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *fatalRecorder) message() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msg
}

func TestStartNginxFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		conf string
		want string
	}{
		{"no placeholder", `server { listen 127.0.0.1:8080; }`, "placeholder"},
		{"invalid directive", `server { listen 127.0.0.1:{{NGINX_PORT}}; no_such_directive on; }`, "no_such_directive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &fatalRecorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				StartNginx(rec, tt.conf)
			}()
			<-done
			if msg := rec.message(); !strings.Contains(msg, tt.want) {
				t.Errorf("StartNginx failure = %q, want it to mention %q", msg, tt.want)
			}
		})
	}
}
