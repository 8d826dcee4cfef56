package proxy_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// TestAccessLogSwitch: --access-log (the default) writes one line per
// request, with the request id the client got back; --access-log=false
// writes none, and the request id is still returned.
func TestAccessLogSwitch(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		var log safeLog
		g := testutil.StartGateway(t, testutil.GatewayConfig{
			Deps:    gateway.Deps{Logger: slog.New(slog.NewTextHandler(&log, nil))},
			Options: func(o *config.Options) { o.AccessLog = on },
		})
		resp := g.Get(t, "/ping")
		id := resp.Header.Get("X-Request-Id")
		if resp.StatusCode != http.StatusOK || len(id) != 32 {
			t.Fatalf("access log %v: /ping %d, X-Request-Id %q", on, resp.StatusCode, id)
		}
		lines := strings.Count(log.String(), "msg=request ")
		if on && (lines != 1 || !strings.Contains(log.String(), "request_id="+id) || !strings.Contains(log.String(), "class=static")) {
			t.Errorf("access log on: %d lines:\n%s", lines, log.String())
		}
		if !on && lines != 0 {
			t.Errorf("--access-log=false: %d lines:\n%s", lines, log.String())
		}
	}
}
