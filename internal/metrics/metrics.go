// Package metrics is Gatehouse's Prometheus instrumentation: one registry
// per gateway (no global state) holding the request, login, refresh,
// authorization, session-store, provider and upstream metrics plus the Go
// runtime and process collectors, served by Handler on a listener of its
// own. Every label value is bounded: route classes, status codes,
// configured provider ids and store names, never users, paths or hosts.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-proxy/gatehouse/proxy/accesslog"
)

// Metrics are one gateway's metrics. A nil *Metrics records nothing.
type Metrics struct {
	reg *prometheus.Registry

	requests         *prometheus.CounterVec
	requestDuration  *prometheus.HistogramVec
	upstreamDuration prometheus.Histogram
	upstreamErrors   prometheus.Counter
	logins           *prometheus.CounterVec
	loginStarts      *prometheus.CounterVec
	refreshes        *prometheus.CounterVec
	authz            *prometheus.CounterVec
	storeOps         *prometheus.CounterVec
	storeErrors      *prometheus.CounterVec
	storeDuration    *prometheus.HistogramVec
	providerRequests *prometheus.CounterVec
	providerReady    *prometheus.GaugeVec
	buildInfo        *prometheus.GaugeVec
}

// New returns Metrics registered on a new registry of their own, with the
// Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_requests_total",
		Help: "HTTP requests answered, by route class (proxied, auth_request, login, callback, static) and status code."}, []string{"class", "code"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gatehouse_request_duration_seconds",
		Help: "Time from a request's arrival to the end of its answer, by route class.", Buckets: prometheus.DefBuckets}, []string{"class"})
	m.upstreamDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "gatehouse_upstream_duration_seconds",
		Help: "Time the upstream took to send its response headers.", Buckets: prometheus.DefBuckets})
	m.upstreamErrors = prometheus.NewCounter(prometheus.CounterOpts{Name: "gatehouse_upstream_errors_total",
		Help: "Requests the upstream could not answer (unreachable, timed out)."})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_logins_total",
		Help: "Login callbacks by provider and result (success, denied, error)."}, []string{"provider", "result"})
	m.loginStarts = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_login_starts_total",
		Help: "Logins started (browsers sent to a provider) by provider."}, []string{"provider"})
	m.refreshes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_refreshes_total",
		Help: "Token refreshes and re-validations by provider and result (success, failed, ended, waited: used another request's or replica's refresh)."}, []string{"provider", "result"})
	m.authz = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_authz_decisions_total",
		Help: "Authorization decisions by result (allowed, denied)."}, []string{"result"})
	m.storeOps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_session_store_operations_total",
		Help: "Session store operations by store (cookie, redis), operation (load, save, clear) and result (ok, not_found, error)."}, []string{"store", "op", "result"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_session_store_errors_total",
		Help: "Session store operations that failed for another reason than a missing session, by store."}, []string{"store"})
	m.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gatehouse_session_store_duration_seconds",
		Help: "Latency of session store operations by store and operation.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"store", "op"})
	m.providerRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_provider_requests_total",
		Help: "HTTP calls to identity providers by provider id, endpoint (discovery, jwks, token, userinfo, introspection, api) and status code (error when no answer came)."}, []string{"provider", "endpoint", "code"})
	m.providerReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gatehouse_provider_ready",
		Help: "1 when the provider has been discovered and can take logins, 0 while discovery is retried."}, []string{"provider"})
	m.buildInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "gatehouse_build_info",
		Help: "Always 1; the labels say which build runs."}, []string{"version", "commit", "goversion"})
	for _, c := range []prometheus.Collector{m.requests, m.requestDuration, m.upstreamDuration, m.upstreamErrors, m.logins, m.loginStarts,
		m.refreshes, m.authz, m.storeOps, m.storeErrors, m.storeDuration, m.providerRequests, m.providerReady, m.buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// Handler serves the metrics in the Prometheus text (or OpenMetrics)
// format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// SetBuildInfo records the running build.
func (m *Metrics) SetBuildInfo(version, commit, goVersion string) {
	if m == nil {
		return
	}
	m.buildInfo.WithLabelValues(version, commit, goVersion).Set(1)
}

// ObserveRequest counts a finished request (accesslog.Config.Observe).
func (m *Metrics) ObserveRequest(r accesslog.Record) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(r.Class, strconv.Itoa(r.Status)).Inc()
	m.requestDuration.WithLabelValues(r.Class).Observe(r.Duration.Seconds())
	if r.UpstreamCalled() {
		m.upstreamDuration.Observe(r.UpstreamDuration.Seconds())
		if r.UpstreamError {
			m.upstreamErrors.Inc()
		}
	}
	if r.Authorization != "" {
		m.authz.WithLabelValues(r.Authorization).Inc()
	}
	if r.Class == accesslog.ClassLogin && r.Path == "/oauth2/start" && r.Status == http.StatusFound && r.Provider != "" {
		m.loginStarts.WithLabelValues(r.Provider).Inc()
	}
	if r.Class == accesslog.ClassCallback {
		m.logins.WithLabelValues(providerLabel(r.Provider), loginResult(r)).Inc()
	}
}

// loginResult classifies a callback's answer.
func loginResult(r accesslog.Record) string {
	switch {
	case r.Status >= 300 && r.Status < 400:
		return "success"
	case r.Authorization == accesslog.Denied || r.Status == http.StatusForbidden:
		return "denied"
	}
	return "error"
}

// providerLabel is "unknown" for a callback whose flow named no provider.
func providerLabel(id string) string {
	if id == "" {
		return "unknown"
	}
	return id
}

// Refresh counts one refresh outcome of a provider's session
// (session.RefreshDeps.Observe).
func (m *Metrics) Refresh(provider, result string) {
	if m == nil {
		return
	}
	m.refreshes.WithLabelValues(provider, result).Inc()
}

// ProviderReady records whether a provider can take logins.
func (m *Metrics) ProviderReady(provider string, ready bool) {
	if m == nil {
		return
	}
	v := 0.0
	if ready {
		v = 1
	}
	m.providerReady.WithLabelValues(provider).Set(v)
}
