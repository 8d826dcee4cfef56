package accesslog

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// HeaderRequestID carries the request id: from a trusted proxy, upstream
// and back to the client.
const HeaderRequestID = "X-Request-Id"

// Route classes: bounded label values of the request metrics.
const (
	ClassProxied     = "proxied"
	ClassAuthRequest = "auth_request"
	ClassLogin       = "login"
	ClassCallback    = "callback"
	ClassStatic      = "static"
)

// Classify returns the route class of a request path.
func Classify(path string) string {
	switch {
	case path == "/oauth2/auth" || strings.HasPrefix(path, "/oauth2/auth/"):
		return ClassAuthRequest
	case path == "/oauth2/start" || path == "/oauth2/sign_in":
		return ClassLogin
	case path == "/oauth2/callback":
		return ClassCallback
	case strings.HasPrefix(path, "/oauth2/") || path == "/ping" || path == "/ready" || strings.HasPrefix(path, "/.well-known/"):
		return ClassStatic
	}
	return ClassProxied
}

// Config is how Middleware behaves.
type Config struct {
	// Logger receives one line per request at INFO; nil writes none.
	Logger *slog.Logger
	// TrustRequestID reports whether the peer (r.RemoteAddr) is a trusted
	// proxy whose X-Request-Id is kept; nil trusts nobody.
	TrustRequestID func(remoteAddr string) bool
	// Observe receives every finished request (metrics); nil for none.
	Observe func(Record)
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
}

// Middleware gives each request an Entry and a request id (a trusted
// proxy's X-Request-Id when valid, otherwise 16 random bytes in hex),
// returns the id in the response's X-Request-Id, and when the request is
// done writes its line and calls Observe.
func Middleware(next http.Handler, c Config) http.Handler {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := now()
		id := r.Header.Get(HeaderRequestID)
		if !validRequestID(id) || c.TrustRequestID == nil || !c.TrustRequestID(r.RemoteAddr) {
			id = newRequestID()
		}
		e := &Entry{requestID: id}
		w.Header().Set(HeaderRequestID, id)
		rw := &responseWriter{ResponseWriter: w}
		next.ServeHTTP(rw, r.WithContext(NewContext(r.Context(), e)))

		rec := Record{Class: Classify(r.URL.Path), Method: r.Method, Host: r.Host, Path: r.URL.Path,
			Status: rw.statusCode(), Bytes: rw.bytes, Duration: now().Sub(start)}
		e.snapshot(&rec)
		if c.Observe != nil {
			c.Observe(rec)
		}
		if c.Logger != nil {
			logRecord(r.Context(), c.Logger, rec)
		}
	})
}

// logRecord writes rec's line.
func logRecord(ctx context.Context, log *slog.Logger, rec Record) {
	attrs := []slog.Attr{
		slog.String("method", rec.Method), slog.String("host", rec.Host), slog.String("path", rec.Path),
		slog.Int("status", rec.Status), slog.Int64("bytes", rec.Bytes),
		slog.Float64("duration_ms", float64(rec.Duration.Microseconds())/1000),
		slog.String("user", rec.User), slog.String("provider", rec.Provider), slog.String("route", rec.Route),
		slog.String("class", rec.Class), slog.String("request_id", rec.RequestID),
	}
	if rec.upstreamCalled {
		attrs = append(attrs, slog.Int("upstream_status", rec.UpstreamStatus),
			slog.Float64("upstream_duration_ms", float64(rec.UpstreamDuration.Microseconds())/1000))
	}
	log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
}

// validRequestID accepts ids of 1 to 128 characters of [A-Za-z0-9._:-],
// so that a trusted proxy's id cannot inject anything into logs or
// headers.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// responseWriter records the status and the body bytes written. It keeps
// the underlying writer reachable (Unwrap, Flush, Hijack) so streaming and
// WebSockets through the proxy work.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 || code == http.StatusSwitchingProtocols {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush sends buffered data (streaming responses).
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over (WebSockets); the status is 101.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *responseWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
