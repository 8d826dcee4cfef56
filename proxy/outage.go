package proxy

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// outageSummaryEvery is how often an ongoing outage is summarised.
const outageSummaryEvery = 10 * time.Second

// outageLog reports an outage of something every request needs (the
// session store, the provider's token endpoint) without one line per
// request: the first failure at ERROR, then at most one summary per
// outageSummaryEvery while it lasts, and the recovery at INFO with how long
// it lasted and how many requests were answered 503. Each failed request
// is logged at DEBUG. It is safe for concurrent use.
type outageLog struct {
	log  *slog.Logger
	what string // e.g. "session store"
	now  func() time.Time

	down atomic.Bool // fast path for ok

	mu       sync.Mutex
	since    time.Time // first failure of the current outage
	reported time.Time // last ERROR or summary line
	failures int       // requests answered 503 in this outage
}

func newOutageLog(log *slog.Logger, what string, now func() time.Time) *outageLog {
	return &outageLog{log: log, what: what, now: now}
}

// failed records a request answered 503 because of err.
func (o *outageLog) failed(ctx context.Context, path string, err error) {
	o.log.DebugContext(ctx, o.what+" unavailable", "path", path, "err", err)
	now := o.now()
	o.mu.Lock()
	o.failures++
	first := !o.down.Load()
	summary := !first && now.Sub(o.reported) >= outageSummaryEvery
	if first {
		o.since, o.failures = now, 1
		o.down.Store(true)
	}
	if first || summary {
		o.reported = now
	}
	since, n := o.since, o.failures
	o.mu.Unlock()
	switch {
	case first:
		o.log.ErrorContext(ctx, o.what+" unavailable; answering 503 until it recovers (further failures are summarised)", "err", err)
	case summary:
		o.log.ErrorContext(ctx, o.what+" still unavailable", "for", now.Sub(since).Round(time.Second), "answered_503", n, "err", err)
	}
}

// ok records a request the dependency served: it ends an outage.
func (o *outageLog) ok(ctx context.Context) {
	if !o.down.Load() {
		return
	}
	now := o.now()
	o.mu.Lock()
	if !o.down.Load() {
		o.mu.Unlock()
		return
	}
	o.down.Store(false)
	since, n := o.since, o.failures
	o.failures = 0
	o.mu.Unlock()
	o.log.InfoContext(ctx, o.what+" available again", "unavailable_for", now.Sub(since).Round(time.Millisecond), "answered_503", n)
}
