package accesslog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	trusted := func(addr string) bool { return strings.HasPrefix(addr, "10.0.0.1:") }
	tests := []struct {
		name, peer, sent string
		keep             bool
	}{
		{"untrusted peer", "192.0.2.9:1234", "client-chosen", false},
		{"trusted peer", "10.0.0.1:1234", "req-42.a_b:c", true},
		{"trusted peer, header injection", "10.0.0.1:1234", "x\ninjected", false},
		{"trusted peer, too long", "10.0.0.1:1234", strings.Repeat("a", 129), false},
		{"trusted peer, none sent", "10.0.0.1:1234", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var seen string
			h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = FromContext(r.Context()).RequestID()
			}), Config{TrustRequestID: trusted})
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			if tt.sent != "" {
				r.Header[HeaderRequestID] = []string{tt.sent}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Header().Get(HeaderRequestID)
			if got != seen {
				t.Errorf("returned %q, handlers saw %q", got, seen)
			}
			if tt.keep && got != tt.sent || !tt.keep && (got == tt.sent || len(got) != 32) {
				t.Errorf("request id %q (sent %q, keep %v)", got, tt.sent, tt.keep)
			}
		})
	}
}

// TestAccessLine: one JSON line per request with the annotations of the
// handlers, the path without its query, and the status and size written.
func TestAccessLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var observed []Record
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := FromContext(r.Context())
		e.SetUser("alice", "corp")
		e.SetRoute("admin")
		e.SetAuthorization(Denied)
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("no"))
	}), Config{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Observe: func(r Record) { observed = append(observed, r) }})
	r := httptest.NewRequest(http.MethodPost, "http://app.example/admin/x?token=secret-value", nil)
	h.ServeHTTP(httptest.NewRecorder(), r)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	want := map[string]any{"msg": "request", "method": "POST", "host": "app.example", "path": "/admin/x", "status": 403.0,
		"bytes": 2.0, "user": "alice", "provider": "corp", "route": "admin", "class": ClassProxied}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
	if _, ok := line["duration_ms"]; !ok || line["request_id"] == "" {
		t.Errorf("line lacks duration_ms or request_id: %v", line)
	}
	if strings.Contains(buf.String(), "secret-value") {
		t.Error("the query reached the log")
	}
	if len(observed) != 1 || observed[0].Authorization != Denied || observed[0].Status != 403 {
		t.Errorf("observed %+v", observed)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]string{
		"/": ClassProxied, "/app/oauth2/start": ClassProxied, "/oauth2/auth": ClassAuthRequest, "/oauth2/auth/x": ClassAuthRequest,
		"/oauth2/start": ClassLogin, "/oauth2/sign_in": ClassLogin, "/oauth2/callback": ClassCallback,
		"/oauth2/sign_out": ClassStatic, "/ping": ClassStatic, "/ready": ClassStatic, "/.well-known/jwks.json": ClassStatic,
	} {
		if got := Classify(path); got != want {
			t.Errorf("Classify(%q) = %s, want %s", path, got, want)
		}
	}
}
