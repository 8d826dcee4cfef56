package e2e

import (
	"html/template"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// upstream is the application behind the gateway: it shows the identity
// headers it received on an HTML page (so the browser sees them) and keeps
// a record of every request (so the test sees exactly what arrived).
type upstream struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []upstreamRequest
}

// upstreamRequest is one request the application received.
type upstreamRequest struct {
	Method string
	// URI is the request target as received: path and query.
	URI    string
	Header http.Header
}

// identityHeader reports whether the upstream page shows header name.
func identityHeader(name string) bool {
	for _, p := range []string{"X-Forwarded-", "X-Auth-Request-", "X-User", "X-Email", "X-Groups", "X-Preferred-Username"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

var upstreamPage = template.Must(template.New("app").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Upstream app</title></head>
<body><main>
<h1>Upstream app</h1>
<p>Request: <code id="uri">{{.Method}} {{.URI}}</code></p>
<table id="headers"><caption>Identity headers received</caption>
<thead><tr><th scope="col">Header</th><th scope="col">Value</th></tr></thead><tbody>
{{range .Headers}}<tr><td>{{index . 0}}</td><td>{{index . 1}}</td></tr>
{{end}}</tbody></table>
<p><a href="/oauth2/sign_out">Sign out</a></p>
</main></body></html>`))

// startUpstream starts the application on a loopback port until the test
// ends.
func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	req := upstreamRequest{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone()}
	u.mu.Lock()
	u.reqs = append(u.reqs, req)
	u.mu.Unlock()

	var headers [][2]string
	for name, values := range r.Header {
		if identityHeader(name) {
			v := strings.Join(values, ", ")
			if strings.HasSuffix(name, "-Access-Token") && v != "" {
				// Page text ends up in failure messages; tokens never do.
				v = "(a token, " + strconv.Itoa(len(v)) + " bytes)"
			}
			headers = append(headers, [2]string{name, v})
		}
	}
	slices.SortFunc(headers, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = upstreamPage.Execute(w, struct {
		Method, URI string
		Headers     [][2]string
	}{r.Method, r.RequestURI, headers})
}

// URL is the application's base URL.
func (u *upstream) URL() string { return u.srv.URL }

// Addr is the application's host:port.
func (u *upstream) Addr() string { return u.srv.Listener.Addr().String() }

// Requests returns the page requests received so far: every request but
// the browser's own /favicon.ico, which arrives whenever it likes.
func (u *upstream) Requests() []upstreamRequest {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []upstreamRequest
	for _, r := range u.reqs {
		if r.URI != "/favicon.ico" {
			out = append(out, r)
		}
	}
	return out
}

// Count returns how many page requests arrived.
func (u *upstream) Count() int { return len(u.Requests()) }

// Received returns the last request for uri (path and query), failing the
// test when none arrived.
func (u *upstream) Received(t testing.TB, uri string) upstreamRequest {
	t.Helper()
	reqs := u.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].URI == uri {
			return reqs[i]
		}
	}
	var got []string
	for _, r := range reqs {
		got = append(got, r.URI)
	}
	t.Fatalf("the upstream never received %s; it received %q", uri, got)
	return upstreamRequest{}
}

// CountPrefix returns how many requests for paths under prefix arrived.
func (u *upstream) CountPrefix(prefix string) int {
	n := 0
	for _, r := range u.Requests() {
		if strings.HasPrefix(r.URI, prefix) {
			n++
		}
	}
	return n
}

// CountOf returns how many requests for uri arrived.
func (u *upstream) CountOf(uri string) int {
	n := 0
	for _, r := range u.Requests() {
		if r.URI == uri {
			n++
		}
	}
	return n
}
