package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// target is one configuration under load: where to send which request and
// what a correct answer is.
type target struct {
	name   string
	addr   string // host:port
	path   string
	cookie string // Cookie header value; "" for none
	status int    // expected status
	user   string // expected X-Bench-Seen-User; "" when not checked
}

// request is the raw HTTP/1.1 request a worker sends again and again.
func (t target) request() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gatehouse-bench\r\nAccept: application/json\r\n", t.path, t.addr)
	if t.cookie != "" {
		fmt.Fprintf(&b, "Cookie: %s\r\n", t.cookie)
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// check reports whether resp is the answer t expects.
func (t target) check(resp *http.Response) error {
	if resp.StatusCode != t.status {
		return fmt.Errorf("%s: status %d, want %d", t.name, resp.StatusCode, t.status)
	}
	if t.user != "" && resp.Header.Get(headerSeenUser) != t.user {
		return fmt.Errorf("%s: upstream saw user %q, want %q", t.name, resp.Header.Get(headerSeenUser), t.user)
	}
	return nil
}

// loadResult is what one round of load measured from the client side.
type loadResult struct {
	requests uint64
	errors   uint64
	firstErr error
	elapsed  time.Duration
	hist     histogram
}

// drive runs a closed loop: conns workers, each on its own keep-alive
// connection, send t's request as soon as the previous answer arrived,
// until d has passed. Every answer is checked.
func drive(ctx context.Context, t target, conns int, d time.Duration) (*loadResult, error) {
	req := t.request()
	results := make([]loadResult, conns)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := range conns {
		c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, "tcp", t.addr)
		if err != nil {
			return nil, fmt.Errorf("%s: dial: %w", t.name, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			worker(c, t, req, deadline, &results[i])
		}()
	}
	wg.Wait()
	total := &loadResult{elapsed: time.Since(start)}
	for i := range results {
		r := &results[i]
		total.requests += r.requests
		total.errors += r.errors
		if total.firstErr == nil {
			total.firstErr = r.firstErr
		}
		total.hist.merge(&r.hist)
	}
	return total, nil
}

// worker sends req on c until deadline; a broken connection ends it.
func worker(c net.Conn, t target, req []byte, deadline time.Time, out *loadResult) {
	br := bufio.NewReaderSize(c, 16<<10)
	_ = c.SetDeadline(deadline.Add(10 * time.Second))
	for time.Now().Before(deadline) {
		began := time.Now()
		if _, err := c.Write(req); err != nil {
			out.fail(err)
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			out.fail(err)
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil {
			err = t.check(resp)
		}
		if err != nil {
			out.fail(err)
			if errors.Is(err, io.ErrUnexpectedEOF) || resp.Close {
				return
			}
			continue
		}
		out.hist.record(time.Since(began))
		out.requests++
	}
}

func (r *loadResult) fail(err error) {
	r.errors++
	if r.firstErr == nil {
		r.firstErr = err
	}
}
