package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
)

// freeAddr returns a loopback host:port nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs 'gatehouse serve' with args until the test ends and
// waits until addr answers /ping; stderr collects its log.
func startServe(t *testing.T, addr string, args []string) *safeBuffer {
	t.Helper()
	t.Setenv("GATEHOUSE_CONFIG", "")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr safeBuffer
	done := make(chan int, 1)
	go func() { done <- runContext(ctx, append([]string{"serve"}, args...), &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("gatehouse exited with %d after shutdown", code)
			}
		case <-time.After(20 * time.Second):
			t.Error("gatehouse did not shut down")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/ping")
		if err == nil {
			resp.Body.Close()
			return &stderr
		}
		select {
		case code := <-done:
			t.Fatalf("gatehouse exited with %d:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse did not start: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scrape fetches and parses /metrics with the Prometheus text parser.
func scrape(t *testing.T, metricsAddr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: status %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value returns the value of the counter or gauge name with the labels
// (a subset), summed over the series that match; -1 when none does.
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
	sum, found := 0.0, false
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range labels {
			has := false
			for _, lp := range m.GetLabel() {
				has = has || (lp.GetName() == k && lp.GetValue() == v)
			}
			match = match && has
		}
		if !match {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	if !found {
		return -1
	}
	return sum
}

// waitForRefresh sends requests through g until the gateway has counted a
// successful refresh (the provider's tokens live 2 s), within 30 s.
func waitForRefresh(t *testing.T, g *testutil.Gateway, metricsAddr string) {
	t.Helper()
	success := map[string]string{"provider": "oidc", "result": "success"}
	deadline := time.Now().Add(30 * time.Second)
	for value(scrape(t, metricsAddr), "gatehouse_refreshes_total", success) <= 0 {
		if time.Now().After(deadline) {
			t.Fatal("no refresh counted within 30 s although the tokens live 2 s")
		}
		time.Sleep(200 * time.Millisecond)
		testutil.DecodeEcho(t, g.Get(t, "/later"))
	}
}

// TestOperateMetricsAndAccessLog runs the real command with a metrics
// listener, JSON logs and Redis: a login, refreshes, a denial and a Redis
// outage show in the scraped metrics; every request has a JSON access-log
// line; no token the provider issued appears in the log.
func TestOperateMetricsAndAccessLog(t *testing.T) {
	r := redistest.StartRedis(t)
	idp := testutil.StartIdP(t, devidp.Options{AccessTokenTTL: 2 * time.Second})
	app := httptest.NewServer(testutil.EchoUpstream())
	t.Cleanup(app.Close)
	addr, metricsAddr := freeAddr(t), freeAddr(t)
	log := startServe(t, addr, []string{
		"--http-address", addr, "--metrics-address", metricsAddr, "--log-format", "json", "--log-level", "debug",
		"--upstream", app.URL, "--oidc-issuer-url", idp.Issuer(), "--client-id", idp.ClientID,
		"--client-secret", idp.ClientSecret, "--cookie-secret", testutil.TestCookieSecret, "--cookie-secure=false",
		"--email-domain", "example.com", "--session-store", "redis", "--redis-url", r.URL(), "--redis-timeout", "500ms",
		// Tokens live 2 s: a request after their expiry refreshes.
		"--pass-access-token",
	})
	// The public listener never serves metrics.
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(resp.Header.Get("Content-Type"), "text/plain") {
			t.Error("/metrics answered on the public listener")
		}
	}
	g := &testutil.Gateway{IdP: idp, Server: &httptest.Server{URL: "http://" + addr}, Client: testutil.NewBrowser(t)}
	testutil.DecodeEcho(t, g.Login(t, "alice", "/"))
	testutil.DecodeEcho(t, g.Get(t, "/again?token=query-secret"))
	waitForRefresh(t, g, metricsAddr)

	denied := &testutil.Gateway{IdP: idp, Server: g.Server, Client: testutil.NewBrowser(t)}
	cb := denied.StartLogin(t, "/", "bob") // bob@other.org: not an allowed domain
	if resp := testutil.Do(t, denied.Client, cb); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("bob's callback: status %d, want 403", resp.StatusCode)
	}

	r.Stop()
	if resp := g.Get(t, "/", "Accept", "application/json"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("during the Redis outage: status %d, want 503", resp.StatusCode)
	}

	fams := scrape(t, metricsAddr)
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"gatehouse_login_starts_total", map[string]string{"provider": "oidc"}},
		{"gatehouse_logins_total", map[string]string{"provider": "oidc", "result": "success"}},
		{"gatehouse_logins_total", map[string]string{"provider": "oidc", "result": "denied"}},
		{"gatehouse_refreshes_total", map[string]string{"provider": "oidc", "result": "success"}},
		{"gatehouse_authz_decisions_total", map[string]string{"result": "denied"}},
		{"gatehouse_authz_decisions_total", map[string]string{"result": "allowed"}},
		{"gatehouse_session_store_errors_total", map[string]string{"store": "redis"}},
		{"gatehouse_requests_total", map[string]string{"class": "proxied", "code": "200"}},
		{"gatehouse_requests_total", map[string]string{"class": "callback", "code": "403"}},
		{"gatehouse_requests_total", map[string]string{"class": "proxied", "code": "503"}},
		{"gatehouse_request_duration_seconds", map[string]string{"class": "login"}},
		{"gatehouse_upstream_duration_seconds", nil},
		{"gatehouse_provider_requests_total", map[string]string{"provider": "oidc", "endpoint": "token", "code": "200"}},
		{"gatehouse_provider_requests_total", map[string]string{"provider": "oidc", "endpoint": "discovery", "code": "200"}},
		{"go_goroutines", nil},
	} {
		if v := value(fams, c.name, c.labels); v <= 0 {
			t.Errorf("%s%v = %v, want > 0", c.name, c.labels, v)
		}
	}

	lines := accessLines(t, log.String())
	var sawUser, sawUpstream bool
	for _, l := range lines {
		for _, k := range []string{"method", "host", "path", "status", "duration_ms", "user", "provider", "route", "request_id"} {
			if _, ok := l[k]; !ok {
				t.Errorf("access-log line lacks %q: %v", k, l)
			}
		}
		if p, _ := l["path"].(string); strings.Contains(p, "?") || strings.Contains(p, "query-secret") {
			t.Errorf("access log holds a query: %v", l)
		}
		sawUser = sawUser || l["user"] == devidp.Subject("alice")
		_, has := l["upstream_status"]
		sawUpstream = sawUpstream || has
	}
	if len(lines) < 6 || !sawUser || !sawUpstream {
		t.Errorf("%d access-log lines, user seen %v, upstream status seen %v", len(lines), sawUser, sawUpstream)
	}
	tokens := idp.IssuedTokens()
	if len(tokens) < 4 {
		t.Fatalf("the provider issued %d tokens; the login and refreshes should have issued more", len(tokens))
	}
	for _, tok := range append(tokens, "query-secret", idp.ClientSecret, testutil.TestCookieSecret) {
		if strings.Contains(log.String(), tok) {
			t.Errorf("the log contains a token or secret %.12s…", tok)
		}
	}
}

// accessLines returns the JSON access-log lines ("msg":"request") of log;
// every line of the log must be JSON.
func accessLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Errorf("log line is not JSON: %q", sc.Text())
			continue
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
	}
	return out
}
