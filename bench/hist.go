package main

import (
	"math/bits"
	"time"
)

// histogram counts latencies in microseconds in log-linear buckets: exact
// below 64 µs, then 32 buckets per power of two (within about 3 %). Its
// size is fixed, whatever the number of samples.
type histogram struct {
	counts [64 + 40*32]uint64
	n      uint64
}

func bucketOf(us uint64) int {
	if us < 64 {
		return int(us)
	}
	e := bits.Len64(us) - 6 // ≥ 1
	i := 64 + (e-1)*32 + int(us>>e) - 32
	return min(i, len(histogram{}.counts)-1)
}

// lowerBound is the smallest latency (µs) bucket i holds.
func lowerBound(i int) uint64 {
	if i < 64 {
		return uint64(i)
	}
	e := (i-64)/32 + 1
	return uint64((i-64)%32+32) << e
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(uint64(d/time.Microsecond))]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the latency below which a fraction q of the samples lie.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	want := uint64(q*float64(h.n) + 0.5)
	want = max(want, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= want {
			return time.Duration(lowerBound(i)) * time.Microsecond
		}
	}
	return time.Duration(lowerBound(len(h.counts)-1)) * time.Microsecond
}
