package metrics

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-proxy/gatehouse/session"
)

// Store wraps s, a session store named name ("cookie", "redis"), counting
// its operations, errors and latency. With a nil m it returns s.
func (m *Metrics) Store(name string, s session.Store) session.Store {
	if m == nil {
		return s
	}
	return &store{m: m, name: name, next: s}
}

type store struct {
	m    *Metrics
	name string
	next session.Store
}

func (s *store) Load(ctx context.Context, r *http.Request) (*session.Session, error) {
	start := time.Now()
	out, err := s.next.Load(ctx, r)
	s.observe("load", start, err)
	return out, err
}

func (s *store) Save(ctx context.Context, w http.ResponseWriter, r *http.Request, sess *session.Session) error {
	start := time.Now()
	err := s.next.Save(ctx, w, r, sess)
	s.observe("save", start, err)
	return err
}

func (s *store) Clear(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	err := s.next.Clear(ctx, w, r)
	s.observe("clear", start, err)
	return err
}

// observe counts one operation; a missing session is not an error.
func (s *store) observe(op string, start time.Time, err error) {
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, session.ErrNotFound):
		result = "not_found"
	default:
		result = "error"
		s.m.storeErrors.WithLabelValues(s.name).Inc()
	}
	s.m.storeOps.WithLabelValues(s.name, op, result).Inc()
	s.m.storeDuration.WithLabelValues(s.name, op).Observe(time.Since(start).Seconds())
}
