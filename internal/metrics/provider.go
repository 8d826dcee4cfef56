package metrics

import (
	"net/http"
	"strconv"
	"strings"
)

// ProviderClient returns a copy of c whose calls are counted as the
// provider id's, by endpoint and status. With a nil m it returns c.
func (m *Metrics) ProviderClient(id string, c *http.Client) *http.Client {
	if m == nil {
		return c
	}
	out := *c
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	out.Transport = providerTransport{m: m, id: id, next: next}
	return &out
}

type providerTransport struct {
	m    *Metrics
	id   string
	next http.RoundTripper
}

func (t providerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.m.providerRequests.WithLabelValues(t.id, Endpoint(r.URL.Path), code).Inc()
	return resp, err
}

// Endpoint names the kind of provider endpoint a URL path is, from a fixed
// set (a bounded label): discovery, jwks, token, userinfo,
// introspection, revocation, registration or api.
func Endpoint(path string) string {
	p := strings.ToLower(path)
	switch {
	case strings.Contains(p, "/.well-known/"):
		return "discovery"
	case strings.Contains(p, "jwks") || strings.HasSuffix(p, "/certs") || strings.HasSuffix(p, "/keys"):
		return "jwks"
	case strings.Contains(p, "introspect"):
		return "introspection"
	case strings.Contains(p, "revoke") || strings.Contains(p, "revocation"):
		return "revocation"
	case strings.HasSuffix(p, "/token") || strings.Contains(p, "/token/") || strings.HasSuffix(p, "access_token"):
		return "token"
	case strings.Contains(p, "userinfo") || strings.HasSuffix(p, "/user") || strings.HasSuffix(p, "/me") || strings.Contains(p, "verify_credentials"):
		return "userinfo"
	case strings.HasSuffix(p, "/apps") || strings.Contains(p, "register"):
		return "registration"
	}
	return "api"
}
