package proxy

import (
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"
)

// DefaultUpstreamIdlePerHost is how many idle keep-alive connections an
// upstream transport keeps per host when UpstreamTransportConfig says 0.
// Go's default (http.DefaultMaxIdleConnsPerHost, 2) makes a proxy under
// more than two concurrent requests close and redial upstream
// connections, which costs it about a third of its throughput.
const DefaultUpstreamIdlePerHost = 512

// DefaultUpstreamTimeout bounds the wait for an upstream's response headers
// when UpstreamTransportConfig says 0.
const DefaultUpstreamTimeout = 30 * time.Second

// UpstreamTransportConfig tunes NewUpstreamTransport; the zero value is
// sized for a busy gateway.
type UpstreamTransportConfig struct {
	// ResponseHeaderTimeout bounds the wait for the response headers;
	// 0 means DefaultUpstreamTimeout.
	ResponseHeaderTimeout time.Duration
	// MaxIdlePerHost is the idle keep-alive pool per upstream host; it
	// should be at least the concurrent requests expected. 0 means
	// DefaultUpstreamIdlePerHost.
	MaxIdlePerHost int
}

// NewUpstreamTransport returns the transport Gatehouse reaches an upstream
// with: no environment proxy, keep-alive pool sized to load, bounded dial,
// TLS handshake and response-header waits. Every upstream (and the bare
// proxy of the bench/ harness) uses it, so they are tuned in one place.
func NewUpstreamTransport(c UpstreamTransportConfig) *http.Transport {
	if c.ResponseHeaderTimeout <= 0 {
		c.ResponseHeaderTimeout = DefaultUpstreamTimeout
	}
	if c.MaxIdlePerHost <= 0 {
		c.MaxIdlePerHost = DefaultUpstreamIdlePerHost
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * c.MaxIdlePerHost,
		MaxIdleConnsPerHost:   c.MaxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: c.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
}

// copyBufferSize is the size of the buffers NewBufferPool hands out: what
// httputil.ReverseProxy allocates for each response without a pool.
const copyBufferSize = 32 << 10

// NewBufferPool returns an httputil.BufferPool that reuses response copy
// buffers. Without one, httputil.ReverseProxy allocates 32 KiB for every
// response it forwards, more than every other allocation of a proxied
// request together.
func NewBufferPool() httputil.BufferPool { return &bufferPool{} }

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, copyBufferSize)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) < copyBufferSize {
		return
	}
	buf = buf[:copyBufferSize]
	b.p.Put(&buf)
}
