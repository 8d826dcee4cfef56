package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// maxResponseBytes bounds every provider response body Gatehouse reads.
const maxResponseBytes = 1 << 20

// defaultHTTPTimeout bounds every provider request when no client is given.
const defaultHTTPTimeout = 30 * time.Second

// getJSON GETs a JSON object with a Bearer token.
func getJSON(ctx context.Context, client *http.Client, endpoint, accessToken string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, &Error{Code: CodeProviderError, Message: "The login could not be completed.", Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	status, _, body, err := do(client, req)
	if err != nil {
		return nil, err
	}
	doc, perr := decodeJSONObject(body)
	if status != http.StatusOK {
		if perr != nil {
			doc = nil
		}
		return nil, errorFromStatus(status, doc, "GET "+redactURL(endpoint))
	}
	if perr != nil {
		return nil, badResponse(fmt.Errorf("GET %s: %w", redactURL(endpoint), perr))
	}
	return doc, nil
}

// do performs req and reads a bounded body. Transport failures become
// provider_unavailable.
func do(client *http.Client, req *http.Request) (status int, ctype string, body []byte, err error) {
	status, header, body, err := send(client, req)
	return status, header.Get("Content-Type"), body, err
}

// send is do returning every response header (rate-limit and paging
// headers of REST APIs).
func send(client *http.Client, req *http.Request) (status int, header http.Header, body []byte, err error) {
	resp, err := client.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return 0, nil, nil, &Error{Code: CodeProviderUnavailable, Message: "The login took too long. Please try again.", Err: req.Context().Err()}
		}
		return 0, nil, nil, unavailable(fmt.Errorf("%s %s: %w", req.Method, redactURL(req.URL.String()), unwrapURLError(err)))
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return 0, nil, nil, unavailable(fmt.Errorf("%s %s: reading response: %w", req.Method, redactURL(req.URL.String()), err))
	}
	if len(body) > maxResponseBytes {
		return 0, nil, nil, badResponse(fmt.Errorf("%s %s: response larger than %d bytes", req.Method, redactURL(req.URL.String()), maxResponseBytes))
	}
	return resp.StatusCode, resp.Header, body, nil
}

// unwrapURLError drops *url.Error's copy of the URL (it may carry a query).
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		var ne net.Error
		if errors.As(ue.Err, &ne) && ne.Timeout() {
			return fmt.Errorf("timeout: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

// redactURL keeps scheme, host and path: never a query.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<invalid URL>"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// checkEndpoint requires an absolute http(s) URL without credentials or a
// fragment.
func checkEndpoint(raw string) error {
	if raw == "" {
		return errors.New("required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("invalid URL")
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", redactURL(raw))
	}
	if u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q must not contain credentials or a fragment", redactURL(raw))
	}
	return nil
}
