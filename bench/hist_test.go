package main

import (
	"net"
	"net/http"
	"testing"
	"time"
)

func serveForTest(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestHistogramQuantiles(t *testing.T) {
	tests := []struct {
		name    string
		samples []time.Duration
		q       float64
		lo, hi  time.Duration
	}{
		{"exact below 64µs", []time.Duration{10 * time.Microsecond}, 0.5, 10 * time.Microsecond, 10 * time.Microsecond},
		{"within 4% above", []time.Duration{1500 * time.Microsecond}, 0.99, 1440 * time.Microsecond, 1500 * time.Microsecond},
		{"p99 of 100", append(repeat(99, time.Millisecond), 50*time.Millisecond), 0.99, 960 * time.Microsecond, time.Millisecond},
		{"p99 sees the tail", append(repeat(98, time.Millisecond), 50*time.Millisecond, 50*time.Millisecond), 0.99, 48 * time.Millisecond, 50 * time.Millisecond},
		{"minutes clamp", []time.Duration{time.Hour}, 0.5, time.Minute, time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for _, s := range tc.samples {
				h.record(s)
			}
			if got := h.quantile(tc.q); got < tc.lo || got > tc.hi {
				t.Errorf("quantile(%v) = %v, want in [%v, %v]", tc.q, got, tc.lo, tc.hi)
			}
		})
	}
}

func TestBucketsAreMonotonic(t *testing.T) {
	prev := -1
	for us := uint64(0); us < 1<<26; us += 1 + us/97 {
		b := bucketOf(us)
		if b < prev {
			t.Fatalf("bucketOf(%d) = %d < %d", us, b, prev)
		}
		if lowerBound(b) > us {
			t.Fatalf("lowerBound(bucketOf(%d)) = %d > value", us, lowerBound(b))
		}
		prev = b
	}
}

func repeat(n int, d time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}
