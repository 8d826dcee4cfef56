package proxy

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/proxy/accesslog"
	"github.com/gatehouse-proxy/gatehouse/proxy/bearer"
	"github.com/gatehouse-proxy/gatehouse/proxy/policy"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// BearerVerifier verifies the JWTs machine clients present as
// "Authorization: Bearer" (bearer.Verifier).
type BearerVerifier interface {
	Verify(ctx context.Context, raw string) (bearer.Principal, error)
}

// access is the outcome of authenticating and authorizing one request for
// its route: who (s, id) and, when refused, why (status, code, reason).
type access struct {
	// s is the session, or for a bearer token a session made for this
	// request only (never stored).
	s      *session.Session
	bearer bool
	id     policy.Identity
	// status is 0 when admitted, else 401, 403 or 503, with code the
	// error code and reason the rule's explanation for logs.
	status int
	code   string
	reason string
}

type bearerKey struct{}

// isBearer reports whether the request was authenticated by a bearer
// token.
func isBearer(ctx context.Context) bool {
	b, _ := ctx.Value(bearerKey{}).(bool)
	return b
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// authorize authenticates r (a bearer token where rt accepts one, else
// the session) and applies the global rules, then rt's allow rule.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, rt *Route) access {
	if h.bearerOn(rt) {
		if tok, ok := bearerToken(r); ok {
			return h.authorizeBearer(r, rt, tok)
		}
	}
	s, status, code := h.loadSession(w, r)
	if s == nil {
		return access{status: status, code: code, reason: "no usable session"}
	}
	a := access{s: s, id: policy.NewIdentity(s.ProviderID, s.Identity)}
	if err := h.d.Authorizer.Allow(s); err != nil {
		a.status, a.code, a.reason = http.StatusForbidden, "forbidden", err.Error()
		return a
	}
	return h.routeRule(rt, a)
}

// authorizeBearer verifies tok and applies the rules to its identity.
func (h *Handler) authorizeBearer(r *http.Request, rt *Route, tok string) access {
	p, err := h.d.Bearer.Verify(r.Context(), tok)
	if err != nil {
		// err describes the token's fault, never the token.
		return access{bearer: true, status: http.StatusUnauthorized, code: "invalid_token", reason: err.Error()}
	}
	s := &session.Session{ProviderID: bearer.ProviderID, Identity: p.Identity}
	a := access{s: s, bearer: true, id: policy.NewIdentity(bearer.ProviderID, p.Identity)}
	a.id.Claims, a.id.ListClaims = p.Claims, p.Lists
	if err := h.d.Authorizer.Allow(s); err != nil {
		a.status, a.code, a.reason = http.StatusForbidden, "forbidden", err.Error()
		return a
	}
	return h.routeRule(rt, a)
}

// routeRule applies rt's allow rule to an identity the global rules
// admitted.
func (h *Handler) routeRule(rt *Route, a access) access {
	if rt == nil {
		a.reason = "no route: the global rules admit"
		return a
	}
	d := rt.Allow.Admit(a.id)
	a.reason = d.Reason
	if !d.Admitted {
		a.status, a.code = http.StatusForbidden, "forbidden"
		a.reason = d.Reason + " (default deny)"
	}
	return a
}

// logDecision logs the decision about r once: at debug when admitted, at
// info when refused. Never a token.
func (h *Handler) logDecision(r *http.Request, rt *Route, a access) {
	attrs := []any{"route", routeName(rt), "path", r.URL.Path, "rule", a.reason, "bearer", a.bearer}
	entry := accesslog.FromContext(r.Context())
	if a.s != nil {
		attrs = append(attrs, "user", a.s.Identity.User, "provider", a.s.ProviderID)
		entry.SetUser(a.s.Identity.User, a.s.ProviderID)
	}
	switch a.status {
	case 0:
		entry.SetAuthorization(accesslog.Allowed)
	case http.StatusForbidden:
		entry.SetAuthorization(accesslog.Denied)
	}
	if a.status == 0 {
		h.log.DebugContext(r.Context(), "access granted", attrs...)
		return
	}
	h.log.InfoContext(r.Context(), "access denied", append(attrs, "status", a.status, "code", a.code)...)
}

// refuse answers a request a refused: API routes and bearer clients get
// JSON (with WWW-Authenticate where bearer tokens are accepted), browsers
// the forbidden page that names the account, everyone else what deny
// answers.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, rt *Route, a access) {
	if a.status == http.StatusUnauthorized && h.bearerOn(rt) {
		if a.code == "invalid_token" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		} else {
			w.Header().Set("WWW-Authenticate", "Bearer")
		}
	}
	api := (rt != nil && rt.API) || a.bearer
	switch {
	case a.status == http.StatusForbidden && (api || !wantsRedirect(r)):
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden", "route": routeName(rt)})
	case a.status == http.StatusForbidden && a.s != nil:
		h.forbidden(w, r, rt, a.s, h.safeRedirect(r, h.view(r).URI), true)
	case api && (a.status == http.StatusUnauthorized):
		writeJSON(w, a.status, map[string]string{"error": a.code})
	case api:
		writeJSONError(w, a.status, a.code, denyMessage(a.status))
	default:
		h.deny(w, r, a.status, a.code, h.view(r).URI)
	}
}

// writeJSON writes v as the JSON answer with status.
func writeJSON(w http.ResponseWriter, status int, v map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if v["route"] == "" {
		delete(v, "route")
	}
	_ = json.NewEncoder(w).Encode(v)
}
