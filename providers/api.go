package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxAPIPages bounds how many pages of one list a preset reads (GitHub's
// organisations, Graph's groups, the Directory's groups): 50 pages of 100
// to 999 entries each is more than any real membership.
const maxAPIPages = 50

// apiClient makes the REST API calls of the presets that ask a service
// more than userinfo says (GitHub's organisations, GitLab's projects,
// Microsoft Graph's groups, Google's Directory): GETs with a Bearer token,
// bounded responses, rate limits recognised, and only URLs on the API's
// own origin requested, so a paging link can never carry a token to
// another host.
type apiClient struct {
	// service names the service in user-facing messages ("GitHub").
	service string
	// base is the API root; every request must stay on its origin.
	base *url.URL
	http *http.Client
	// header is sent with every request (Accept, User-Agent, version).
	header http.Header
	now    func() time.Time
}

// newAPIClient checks base and returns a client for it.
func newAPIClient(service, base string, client *http.Client, now func() time.Time, header http.Header) (apiClient, error) {
	if err := checkEndpoint(base); err != nil {
		return apiClient{}, fmt.Errorf("%s API URL: %w", service, err)
	}
	u, _ := url.Parse(strings.TrimRight(base, "/"))
	return apiClient{service: service, base: u, http: client, header: header, now: now}, nil
}

// url is the API root joined with path (which starts with "/").
func (c apiClient) url(path string) string { return c.base.String() + path }

// apiResponse is an API answer the caller interprets.
type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// get GETs target (absolute, on the API's origin) with token as a Bearer
// token. A transport failure, a 5xx answer and a rate-limit answer become
// *Error values (none wraps ErrInvalidGrant: they are transient); every
// other answer is returned for the caller to read.
func (c apiClient) get(ctx context.Context, target, token string) (apiResponse, error) {
	what := "GET " + redactURL(target)
	if err := c.onOrigin(target); err != nil {
		return apiResponse{}, badResponse(fmt.Errorf("%s: %w", what, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return apiResponse{}, badResponse(fmt.Errorf("%s: %w", what, err))
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+token)
	status, header, body, err := send(c.http, req)
	if err != nil {
		return apiResponse{}, err
	}
	r := apiResponse{status: status, header: header, body: body}
	switch {
	case status >= 500:
		return r, unavailable(fmt.Errorf("%s: HTTP %d", what, status))
	case r.rateLimited():
		return r, rateLimited(c.service, r.retryAfter(c.now()), fmt.Errorf("%s: HTTP %d", what, status))
	}
	return r, nil
}

// onOrigin refuses a URL outside the API's scheme and host.
func (c apiClient) onOrigin(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return errors.New("invalid URL")
	}
	if !strings.EqualFold(u.Scheme, c.base.Scheme) || !strings.EqualFold(u.Host, c.base.Host) || u.User != nil {
		return fmt.Errorf("URL %s is not on the %s API's origin %s://%s", redactURL(target), c.service, c.base.Scheme, c.base.Host)
	}
	return nil
}

// rateLimited reports whether r is a rate-limit answer: 429, or a 403
// with Retry-After or an exhausted quota (GitHub answers its primary limit
// with 403 and x-ratelimit-remaining: 0).
func (r apiResponse) rateLimited() bool {
	return r.status == http.StatusTooManyRequests ||
		(r.status == http.StatusForbidden && (r.header.Get("Retry-After") != "" || r.header.Get("X-RateLimit-Remaining") == "0"))
}

// retryAfter is how long the service asked to wait: Retry-After (seconds
// or an HTTP date), else the quota's reset time (x-ratelimit-reset, Unix
// seconds); 0 when neither says.
func (r apiResponse) retryAfter(now time.Time) time.Duration {
	if v := strings.TrimSpace(r.header.Get("Retry-After")); v != "" {
		if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
			return time.Duration(secs) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil && t.After(now) {
			return t.Sub(now)
		}
	}
	if v := r.header.Get("X-RateLimit-Reset"); v != "" {
		if epoch, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && time.Unix(epoch, 0).After(now) {
			return time.Unix(epoch, 0).Sub(now)
		}
	}
	return 0
}

// decode reads r's body as JSON into v.
func (r apiResponse) decode(v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("decoding JSON: %w", err)
	}
	return nil
}

// unexpected is the error for an answer the caller has no use for.
func (c apiClient) unexpected(what string, r apiResponse) *Error {
	var doc map[string]any
	if json.Unmarshal(r.body, &doc) != nil {
		doc = nil
	}
	return &Error{Code: CodeProviderError,
		Message: fmt.Sprintf("%s refused a request Gatehouse needs to check your account. Please try again, or tell the administrator.", c.service),
		Err:     fmt.Errorf("%s: HTTP %d%s", what, r.status, describeError(doc))}
}

// nextLink returns the rel="next" target of an RFC 8288 Link header, ""
// when there is none.
func nextLink(header http.Header) string {
	for _, v := range header.Values("Link") {
		for part := range strings.SplitSeq(v, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for p := range strings.SplitSeq(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && slices.ContainsFunc(strings.Fields(strings.Trim(val, `"`)), isNext) {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

func isNext(rel string) bool { return strings.EqualFold(rel, "next") }
