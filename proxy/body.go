package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of the request-body bounds (Config.BodyTimeout,
// Config.UpstreamBodyIdleTimeout).
const (
	// DefaultBodyTimeout is how long a request body to one of Gatehouse's
	// own endpoints may take to arrive, whole.
	DefaultBodyTimeout = 10 * time.Second
	// DefaultUpstreamBodyIdleTimeout is how long a body on its way to the
	// upstream may stall between two reads.
	DefaultUpstreamBodyIdleTimeout = 60 * time.Second
	// maxOwnBody bounds a request body to one of Gatehouse's endpoints;
	// none of them needs more than a small form.
	maxOwnBody = 64 << 10
)

// guardBody bounds the body of r, served by next:
//
//   - to Gatehouse's own endpoints (own is true): read within
//     BodyTimeout from now, at most maxOwnBody bytes;
//   - on its way to the upstream: a read deadline that moves forward by
//     UpstreamBodyIdleTimeout whenever data arrives, so a long upload works
//     as long as it flows and a stalled one is dropped.
//
// Deadlines are cleared when the body ends, so a slow provider or upstream
// answer is not cut short by them; requests without a body (WebSocket
// upgrades included) are left alone. Any answer written before the body
// was read to its end says "Connection: close" and expires the read
// deadline at once: the connection is closed, never drained, so a client
// trickling a body it announced cannot hold it (net/http would otherwise
// read up to 256 KiB of leftovers before and after answering).
func (h *Handler) guardBody(w http.ResponseWriter, r *http.Request, own bool, next func(http.ResponseWriter, *http.Request)) {
	if r.Body == nil || r.Body == http.NoBody {
		next(w, r)
		return
	}
	g := &guardedBody{src: r.Body, rc: http.NewResponseController(w)}
	if own {
		g.setDeadline(time.Now().Add(h.bodyTimeout))
		r.Body = http.MaxBytesReader(w, g, maxOwnBody)
	} else {
		if r.Header.Get("Upgrade") == "" {
			// An upgrade (WebSocket) gets no deadline of ours; a refusal
			// still closes instead of draining.
			g.idle = h.upstreamBodyIdle
		}
		if g.idle > 0 {
			g.setDeadline(time.Now().Add(g.idle))
		}
		r.Body = g
	}
	defer g.finish()
	r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, g))
	next(&closingWriter{ResponseWriter: w, body: g}, r)
}

type bodyKey struct{}

// bodyStalled reports whether r's body was cut off by its read deadline
// (which also cancels r's context: the connection is going away).
func bodyStalled(r *http.Request) bool {
	g, ok := r.Context().Value(bodyKey{}).(*guardedBody)
	if !ok {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stalled
}

// guardedBody tracks whether the body was read to its end and moves or
// clears the connection's read deadline.
type guardedBody struct {
	src  io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration // > 0: move the deadline on each read

	mu      sync.Mutex
	stalled bool // the read deadline cut the body off
	ended   bool // EOF seen
	done    bool // the handler returned: no more deadline changes
}

func (g *guardedBody) Read(p []byte) (int, error) {
	n, err := g.src.Read(p)
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case err != nil:
		if errors.Is(err, io.EOF) {
			g.ended = true
			g.setDeadlineLocked(time.Time{})
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			g.stalled = true
		}
	case n > 0 && g.idle > 0:
		g.setDeadlineLocked(time.Now().Add(g.idle))
	}
	return n, err
}

func (g *guardedBody) Close() error { return g.src.Close() }

func (g *guardedBody) setDeadline(t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.setDeadlineLocked(t)
}

// setDeadlineLocked changes the read deadline while the handler runs
// (the transport may read the body from another goroutine after it
// returned, when the ResponseController is no longer usable).
func (g *guardedBody) setDeadlineLocked(t time.Time) {
	if !g.done {
		_ = g.rc.SetReadDeadline(t)
	}
}

// abandon makes the server close the connection instead of reading the
// rest of an unfinished body; it reports whether the body was unfinished.
func (g *guardedBody) abandon(h http.Header) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		return false
	}
	h.Set("Connection", "close")
	g.setDeadlineLocked(time.Now())
	return true
}

// release clears the read deadline and makes every later deadline change
// a no-op.
func (g *guardedBody) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.done {
		_ = g.rc.SetReadDeadline(time.Time{})
	}
	g.done, g.ended = true, true
}

// finish runs when the handler returns.
func (g *guardedBody) finish() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.ended && !g.done {
		// Never drain what is left: the connection closes.
		_ = g.rc.SetReadDeadline(time.Now())
	}
	g.done = true
}

// closingWriter abandons an unfinished body when the answer starts.
type closingWriter struct {
	http.ResponseWriter
	body    *guardedBody
	started bool
}

func (c *closingWriter) WriteHeader(status int) {
	if !c.started && status >= 200 {
		c.started = true
		c.body.abandon(c.Header())
	}
	c.ResponseWriter.WriteHeader(status)
}

func (c *closingWriter) Write(b []byte) (int, error) {
	if !c.started {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

// Hijack hands the connection over (the ReverseProxy does for a WebSocket
// upgrade) with the read deadline cleared, and stops every later deadline
// change: the connection is no longer the server's.
func (c *closingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c.body.release()
	return http.NewResponseController(c.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController (flushes, hijacking for WebSocket
// upgrades, deadlines) reach the server's writer.
func (c *closingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
