package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// BenchmarkAssertionCost measures one authenticated GET through the
// gateway's handler (cookie store, loopback upstream) without an
// assertion — the baseline — and with one signed per request by an EC
// P-256 key (ES256) and by an RSA 2048 key (RS256). Run the sub-benchmarks
// together so that they see the same machine load, and compare ns/op as
// ratios to "unsigned":
//
//	go test -run '^$' -bench AssertionCost -benchmem -count 5 ./proxy
func BenchmarkAssertionCost(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	gateway := func(key string) (http.Handler, func() *http.Request) {
		g := testutil.StartGateway(b, testutil.GatewayConfig{Upstream: ok, Options: func(o *config.Options) {
			if key != "" {
				o.SigningKeyFiles, o.AssertionIssuer = []string{key}, assertionIssuer
			}
		}})
		return g.Gateway, authedRequest(b, g)
	}
	cases := []struct {
		name string
		key  string
	}{
		{"unsigned", ""},
		{"ES256", writeSigningKey(b, true)},
		{"RS256", writeSigningKey(b, false)},
	}
	for _, c := range cases {
		h, newReq := gateway(c.key)
		b.Run(c.name, func(b *testing.B) {
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
		})
	}
}
