package server

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeCutsRequestsOutlastingGrace: requests still running when the
// shutdown timeout passes are cut, counted in the log, and Serve returns
// nil (exit status 0), where it used to return an error (exit 1).
func TestServeCutsRequestsOutlastingGrace(t *testing.T) {
	t.Parallel()
	entered := make(chan struct{}, 2)
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-stuck // outlasts the grace; does not even watch r.Context()
	})
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, New(h, Limits{}, log), ln, log, 100*time.Millisecond) }()

	replies := make(chan error, 2)
	for range 2 {
		go func() {
			resp, err := http.Get("http://" + ln.Addr().String() + "/")
			if err == nil {
				resp.Body.Close()
			}
			replies <- err
		}()
	}
	<-entered
	<-entered
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cutting requests = %v, want nil (exit status 0)", err)
	}
	for range 2 {
		if err := <-replies; err == nil {
			t.Error("a cut request got a reply")
		}
	}
	if !strings.Contains(logs.String(), "in-flight requests cut") || !strings.Contains(logs.String(), "cut=2") {
		t.Errorf("log does not count the 2 cut requests:\n%s", logs.String())
	}
}
