package accesslog

import (
	"net/http"
	"time"
)

// Transport wraps the upstream transport rt so that each request's Entry
// records the upstream's status and how long its headers took (a failure
// as status 0 with UpstreamError).
func Transport(rt http.RoundTripper) http.RoundTripper {
	return transport{rt}
}

type transport struct{ next http.RoundTripper }

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	e := FromContext(r.Context())
	if err != nil {
		e.setUpstream(0, time.Since(start), true)
		return nil, err
	}
	e.setUpstream(resp.StatusCode, time.Since(start), false)
	return resp, nil
}
