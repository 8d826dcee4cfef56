package proxy

import (
	"context"
	"net"
	"net/http"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/proxy/assertion"
	"github.com/gatehouse-proxy/gatehouse/proxy/backchannel"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// JWKSPath is where Gatehouse publishes the public keys of its assertions.
const JWKSPath = "/.well-known/jwks.json"

type assertionKey struct{}

// routeAssertions serves the JWKS when assertions are signed.
func (h *Handler) routeAssertions(mux *http.ServeMux) {
	if h.d.Assertions == nil {
		return
	}
	mux.HandleFunc("GET "+JWKSPath, h.d.Assertions.ServeJWKS)
	mux.HandleFunc(JWKSPath, h.methodNotAllowed("GET, HEAD"))
}

// signAssertion returns r carrying the assertion for s in its context,
// for the reverse proxy to send; without a signer r is returned as is. A
// failure to sign is answered 500 (nothing is forwarded unsigned) and ok
// is false.
func (h *Handler) signAssertion(w http.ResponseWriter, r *http.Request, s *session.Session) (_ *http.Request, ok bool) {
	if h.d.Assertions == nil {
		return r, true
	}
	token, err := h.d.Assertions.Sign(h.assertionClaims(r, s))
	if err != nil {
		h.log.ErrorContext(r.Context(), "signing the identity assertion", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal_error", "Something went wrong. Please try again.")
		return r, false
	}
	return r.WithContext(context.WithValue(r.Context(), assertionKey{}, token)), true
}

// assertionFrom returns the assertion signAssertion put in ctx, "" if none.
func assertionFrom(ctx context.Context) string {
	t, _ := ctx.Value(assertionKey{}).(string)
	return t
}

// assertionClaims are the claims asserting s for a request to r's host.
// The email is asserted only when the provider said it is verified.
func (h *Handler) assertionClaims(r *http.Request, s *session.Session) assertion.Claims {
	id := s.Identity
	c := assertion.Claims{
		Audience: audience(h.view(r).Host),
		Subject:  id.Subject,
		User:     cleanHeaderValue(id.User),
		Groups:   id.Groups,
		Name:     id.Name,
		Provider: s.ProviderID,
	}
	if c.User == "" {
		c.User = id.Subject
	}
	if id.EmailVerified {
		c.Email = id.Email
	}
	return c
}

// audience is the host name of hostport, without port, lower-case and
// without a trailing dot.
func audience(hostport string) string {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// routeBackchannel serves back-channel logout when a provider accepts it.
func (h *Handler) routeBackchannel(mux *http.ServeMux) {
	if h.d.BackchannelLogout == nil {
		return
	}
	mux.Handle("POST "+backchannel.Path, h.d.BackchannelLogout)
	mux.HandleFunc(backchannel.Path, h.methodNotAllowed("POST"))
}
