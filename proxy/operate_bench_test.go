package proxy_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/metrics"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// BenchmarkObservedRequest measures what the access log (a JSON line to
// io.Discard) and the metrics cost on an authenticated request with the
// cookie store: "plain" has both off, the baseline of the ratio.
//
//	go test -run '^$' -bench ObservedRequest -benchmem -count 5 ./proxy
func BenchmarkObservedRequest(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	plain := testutil.StartGateway(b, testutil.GatewayConfig{Upstream: ok, Options: func(o *config.Options) { o.AccessLog = false }})
	observed := testutil.StartGateway(b, testutil.GatewayConfig{Upstream: ok, IdPServer: plain.IdP, Deps: gateway.Deps{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Metrics: metrics.New(),
	}})
	plainReq, observedReq := authedRequest(b, plain), authedRequest(b, observed)
	run := func(b *testing.B, h http.Handler, newReq func() *http.Request) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, newReq())
				if rec.Code != http.StatusOK {
					b.Errorf("status %d", rec.Code)
					return
				}
			}
		})
	}
	b.Run("plain", func(b *testing.B) { run(b, plain.Gateway, plainReq) })
	b.Run("log+metrics", func(b *testing.B) { run(b, observed.Gateway, observedReq) })
}
