// Package backchannel receives OpenID Connect Back-Channel Logout 1.0
// requests: a provider POSTs a signed logout token naming a user or one of
// their provider sessions, and every Gatehouse session it names ends, on
// every replica sharing the session store.
package backchannel

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// Path is where providers send logout tokens; register
// https://<gatehouse host>/oauth2/backchannel_logout as the client's
// backchannel_logout_uri.
const Path = "/oauth2/backchannel_logout"

// maxBody bounds the form a provider posts (one token).
const maxBody = 64 << 10

// ReplayCache remembers the logout tokens already used, across replicas.
type ReplayCache interface {
	// FirstUse records id until until and reports whether it was not
	// recorded yet.
	FirstUse(ctx context.Context, id string, until time.Time) (bool, error)
	// Forget removes id, so that a provider may retry a logout that could
	// not be carried out.
	Forget(ctx context.Context, id string) error
}

// Revoker ends stored sessions (session.RedisStore).
type Revoker interface {
	Revoke(ctx context.Context, sel session.Selector) ([]session.Info, error)
}

// Deps are what a Handler works with; all are required.
type Deps struct {
	// Providers are the providers whose logout tokens are accepted.
	Providers []providers.LogoutTokenVerifier
	// Replay remembers used tokens.
	Replay ReplayCache
	// Sessions ends the sessions a token names.
	Sessions Revoker
	// Logger receives one line per logout; nil discards.
	Logger *slog.Logger
}

// Handler serves POST Path.
type Handler struct {
	d Deps
}

// New checks d and returns the handler.
func New(d Deps) (*Handler, error) {
	if len(d.Providers) == 0 || d.Replay == nil || d.Sessions == nil {
		return nil, errors.New("backchannel: Providers, Replay and Sessions are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{d: d}, nil
}

// ServeHTTP answers a logout request (§2.5, §2.8): 200 with an empty body
// when the token was valid and its sessions ended, 400 with
// {"error":"invalid_request"} for a missing, invalid or replayed token,
// 503 when the session store cannot be reached (the token is forgotten,
// so the provider may retry). Nothing is cacheable.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	ctx := r.Context()
	raw, err := logoutToken(w, r)
	if err != nil {
		h.refuse(w, r, "the request carries no logout_token", err)
		return
	}
	p, claims, err := h.verify(ctx, raw)
	if err != nil {
		h.refuse(w, r, "the logout token is not valid", err)
		return
	}
	id := p.Info().ID
	replayID := claims.Issuer + "\x00" + claims.TokenID
	first, err := h.d.Replay.FirstUse(ctx, replayID, claims.ReplayUntil())
	switch {
	case err != nil:
		h.unavailable(w, r, id, err)
		return
	case !first:
		h.refuse(w, r, "the logout token was already used", fmt.Errorf("provider %q: jti replayed", id))
		return
	}
	ended, err := h.end(ctx, id, claims)
	if err != nil {
		if ferr := h.d.Replay.Forget(context.WithoutCancel(ctx), replayID); ferr != nil {
			err = errors.Join(err, ferr)
		}
		h.unavailable(w, r, id, err)
		return
	}
	h.d.Logger.InfoContext(ctx, "back-channel logout", "provider", id, "sub", claims.Subject,
		"by_sid", claims.SessionID != "", "sessions_ended", ended)
	w.WriteHeader(http.StatusOK)
}

// logoutToken reads the one logout_token of a urlencoded POST body; the
// query is never looked at.
func logoutToken(w http.ResponseWriter, r *http.Request) (string, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return "", fmt.Errorf("content type %q", truncate(mt))
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return "", err
	}
	vals := r.PostForm["logout_token"]
	if len(vals) != 1 || vals[0] == "" {
		return "", fmt.Errorf("%d logout_token values", len(vals))
	}
	return vals[0], nil
}

// verify finds the provider the token claims to come from and verifies it
// with that provider.
func (h *Handler) verify(ctx context.Context, raw string) (providers.LogoutTokenVerifier, providers.LogoutClaims, error) {
	iss, aud, err := peek(raw)
	if err != nil {
		return nil, providers.LogoutClaims{}, err
	}
	var errs []error
	for _, p := range h.d.Providers {
		if !p.AcceptsLogoutToken(iss, aud) {
			continue
		}
		c, err := p.VerifyLogoutToken(ctx, raw)
		if err == nil {
			return p, c, nil
		}
		errs = append(errs, fmt.Errorf("provider %q: %w", p.Info().ID, err))
	}
	if len(errs) == 0 {
		return nil, providers.LogoutClaims{}, fmt.Errorf("no provider with back-channel logout has issuer %q and client %q", truncate(iss), truncate(strings.Join(aud, " ")))
	}
	return nil, providers.LogoutClaims{}, errors.Join(errs...)
}

// peek reads iss and aud from a JWT without verifying it, only to choose
// the provider that verifies it.
func peek(raw string) (iss string, aud []string, err error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", nil, errors.New("not a compact JWS")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", nil, errors.New("payload is not base64url")
	}
	var c struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", nil, errors.New("payload is not a JSON object")
	}
	var one string
	if json.Unmarshal(c.Aud, &one) == nil {
		return c.Iss, []string{one}, nil
	}
	if err := json.Unmarshal(c.Aud, &aud); err != nil {
		return "", nil, errors.New("aud is neither a string nor a list of strings")
	}
	return c.Iss, aud, nil
}

// end ends the sessions the token names at provider id: those of its sid
// (belonging to its sub, when it names one too); when it names a sid no
// session recorded, those of its sub that recorded no sid (the provider
// put none in their ID tokens); with only a sub, all of the sub's.
func (h *Handler) end(ctx context.Context, id string, c providers.LogoutClaims) (int, error) {
	if c.SessionID == "" {
		ended, err := h.d.Sessions.Revoke(ctx, session.Selector{Provider: id, Subject: c.Subject})
		return len(ended), err
	}
	ended, err := h.d.Sessions.Revoke(ctx, session.Selector{Provider: id, SID: c.SessionID, Subject: c.Subject})
	if err != nil || len(ended) > 0 || c.Subject == "" {
		return len(ended), err
	}
	ended, err = h.d.Sessions.Revoke(ctx, session.Selector{Provider: id, Subject: c.Subject, WithoutSID: true})
	return len(ended), err
}

// refuse answers 400 invalid_request with a description that names no
// internals; the cause is logged.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, description string, cause error) {
	h.d.Logger.WarnContext(r.Context(), "back-channel logout refused", "reason", description, "err", cause)
	writeError(w, http.StatusBadRequest, "invalid_request", description)
}

func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, provider string, cause error) {
	h.d.Logger.ErrorContext(r.Context(), "back-channel logout failed: session store unavailable", "provider", provider, "err", cause)
	w.Header().Set("Retry-After", "5")
	writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the sessions could not be ended now; retry later")
}

func writeError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": description})
}

// truncate bounds a value from the request before it is logged.
func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}
