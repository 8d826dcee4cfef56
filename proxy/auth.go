package proxy

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/proxy/accesslog"
	"github.com/gatehouse-proxy/gatehouse/proxy/assertion"
	"github.com/gatehouse-proxy/gatehouse/proxy/policy"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
	"github.com/gatehouse-proxy/gatehouse/session"
)

const (
	// headerSignIn carries, on a 401 from /oauth2/auth, the URL that starts
	// a login and comes back to the page that was asked for.
	headerSignIn = "X-Auth-Request-Sign-In"
	// headerExtraCookie numbers the Set-Cookie lines of an /oauth2/auth
	// answer after the first (X-Gatehouse-Set-Cookie-1, -2, ...): nginx
	// 1.22's $upstream_http_set_cookie holds only the first, so a session
	// refreshed into several cookie chunks needs these to reach the browser.
	headerExtraCookie = "X-Gatehouse-Set-Cookie-"
)

// maxSignInLen bounds the sign-in URL of an /oauth2/auth answer (header or
// Location); a longer original URL is given up for "/". The answer's
// headers must fit the buffer nginx reads them into (proxy_buffer_size,
// 4 KiB by default), or nginx answers 500 instead of the 401.
const maxSignInLen = 2048

// auth answers nginx auth_request (and Traefik/Caddy/Envoy forward-auth)
// subrequests: 202 with X-Auth-Request-* identity headers for a valid,
// authorized session; 401 without one; 403 when the rules refuse it.
//
// Any method is accepted (Envoy's ext_authz forwards the original one), and
// so is /oauth2/auth/<original path> (Envoy's path_prefix appends it).
//
// Optional query parameters:
//   - allowed_groups=a,b (any of) and allowed_emails=x@y,z@w (any of)
//     narrow the rules for one location;
//   - redirect=true answers a browser navigation without a session with a
//     302 to the sign-in flow instead of 401, for forward-auth proxies that
//     return the auth answer to the client as is (Traefik, Caddy).
//     API clients still get 401; the original method (X-Forwarded-Method)
//     is only known with --reverse-proxy.
func (h *Handler) auth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	redirectMode, _ := strconv.ParseBool(r.URL.Query().Get("redirect"))
	rt, ok := h.authRoute(r)
	if !ok {
		h.log.InfoContext(r.Context(), "ambiguous original path refused")
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if rt != nil && rt.Public {
		h.log.DebugContext(r.Context(), "access granted", "route", rt.Name, "rule", "public")
		w.WriteHeader(http.StatusAccepted)
		return
	}
	a := h.authorize(w, r, rt)
	h.logDecision(r, rt, a)
	if a.status != 0 {
		h.authRefused(w, r, rt, a, redirectMode)
		return
	}
	s := a.s
	if d := locationRules(r.URL.Query(), s); !d.Admitted {
		accesslog.FromContext(r.Context()).SetAuthorization(accesslog.Denied)
		h.log.InfoContext(r.Context(), "access denied by auth_request rule", "user", s.Identity.User, "provider", s.ProviderID, "reason", d.Reason)
		if redirectMode {
			h.fail(w, r, http.StatusForbidden, "forbidden", denyMessage(http.StatusForbidden))
			return
		}
		w.WriteHeader(http.StatusForbidden)
		return
	}
	copies := h.answersProxyCheck(r)
	for _, kv := range identityValues(s, h.c.PassAccessToken && copies, authNames) {
		w.Header().Set(kv[0], cleanHeaderValue(kv[1]))
	}
	if copies {
		if h.c.SetAuthorizationHeader && s.Tokens.AccessToken != "" {
			w.Header().Set("Authorization", "Bearer "+s.Tokens.AccessToken)
		}
		numberExtraCookies(w.Header())
	}
	if h.d.Assertions != nil {
		token, err := h.d.Assertions.Sign(h.assertionClaims(r, s))
		if err != nil {
			h.log.ErrorContext(r.Context(), "signing the identity assertion", "err", err)
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.Header().Set(assertion.AuthHeader, token)
	}
	w.WriteHeader(http.StatusAccepted)
}

// authRefused answers an /oauth2/auth check that a refused: 401 (with
// the sign-in URL, or a redirect for forward-auth proxies in redirect
// mode), 403 or 503; bearer clients get JSON.
func (h *Handler) authRefused(w http.ResponseWriter, r *http.Request, rt *Route, a access, redirectMode bool) {
	status, code := a.status, a.code
	if a.bearer {
		h.refuse(w, r, rt, a)
		return
	}
	if status == http.StatusUnauthorized && h.bearerOn(rt) {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	rd := h.safeRedirect(r, h.view(r).Original())
	signIn := redirect.StartPage.With(rd)
	if len(signIn.String()) > maxSignInLen {
		signIn = redirect.StartPage.With(redirect.Target{})
	}
	switch {
	case status == http.StatusUnauthorized && redirectMode && h.navigation(r):
		http.Redirect(w, r, signIn.String(), http.StatusFound)
	case redirectMode:
		// The proxy shows this answer to the client: say why.
		h.fail(w, r, status, code, denyMessage(status), redirect.SignInPage.With(rd))
	default:
		if status == http.StatusUnauthorized {
			// For proxies that cannot encode the original URL
			// themselves (nginx: auth_request_set + return 302).
			w.Header().Set(headerSignIn, signIn.String())
		}
		w.WriteHeader(status)
	}
}

// answersProxyCheck reports whether r is a trusted proxy asking about
// another request, the only kind of /oauth2/auth answer that may carry
// copies of secrets a browser must never read: the access token
// (X-Auth-Request-Access-Token, Authorization) and the HttpOnly session
// cookies (X-Gatehouse-Set-Cookie-N). A browser that reaches /oauth2/auth
// itself, directly or through a proxy route that forwards it (a
// misconfigured "location /oauth2/"), gets the identity headers and
// Set-Cookie only: its peer is not trusted, or the original request the
// proxy describes is one of Gatehouse's own paths.
func (h *Handler) answersProxyCheck(r *http.Request) bool {
	v := h.view(r)
	if !v.Forwarded {
		return false
	}
	uri := v.URI
	if h.c.ForwardAuthPrefixRoute {
		if rest, ok := strings.CutPrefix(uri, "/oauth2/auth/"); ok {
			uri = "/" + rest // Envoy's path_prefix form names the original path
		}
	}
	return !redirect.IsOwnPath(uri)
}

// numberExtraCookies copies every Set-Cookie line after the first to
// X-Gatehouse-Set-Cookie-<n>, so nginx can pass them all on (see
// headerExtraCookie). Set-Cookie itself is left as it is.
func numberExtraCookies(h http.Header) {
	lines := h.Values("Set-Cookie")
	for i := 1; i < len(lines); i++ {
		h.Set(headerExtraCookie+strconv.Itoa(i), lines[i])
	}
}

// navigation reports whether the request a forward-auth proxy asks about
// is a browser navigation (see wantsRedirect). Its method is the
// subrequest's own, or X-Forwarded-Method from a trusted proxy (Traefik
// and Caddy always ask with GET).
func (h *Handler) navigation(r *http.Request) bool {
	if m := h.view(r).Method; m != r.Method {
		orig := r.WithContext(r.Context())
		orig.Method = m
		return wantsRedirect(orig)
	}
	return wantsRedirect(r)
}

// returnTo is the validated place a browser goes back to after signing
// in from Gatehouse's own pages (/oauth2/sign_in, /oauth2/start): ?rd= when
// given, otherwise what redirect.Implied finds.
func (h *Handler) returnTo(r *http.Request) redirect.Target {
	return h.safeRedirect(r, redirect.Wanted(r, h.view(r)))
}

// locationRules applies /oauth2/auth's per-location rules: allowed_groups
// (any of, exact) and allowed_emails (any of, the local part exact and the
// domain in any case); both must admit when both are given.
func locationRules(q url.Values, s *session.Session) policy.Decision {
	return policy.All(policy.NewIdentity(s.ProviderID, s.Identity),
		policy.Rule{Name: "allowed_groups", Groups: policy.SplitList(q.Get("allowed_groups"))},
		policy.Rule{Name: "allowed_emails", Emails: policy.SplitList(q.Get("allowed_emails"))},
	)
}

// userinfoResponse is the JSON of GET /oauth2/userinfo.
type userinfoResponse struct {
	User              string            `json:"user"`
	Email             string            `json:"email,omitempty"`
	EmailVerified     bool              `json:"email_verified,omitempty"`
	Name              string            `json:"name,omitempty"`
	PreferredUsername string            `json:"preferred_username,omitempty"`
	Groups            []string          `json:"groups,omitempty"`
	Picture           string            `json:"picture,omitempty"`
	Subject           string            `json:"sub"`
	Provider          string            `json:"provider"`
	Extra             map[string]string `json:"extra,omitempty"`
	ExpiresAt         string            `json:"session_expires_at"`
}

// userinfo returns the session's identity as JSON; never tokens.
func (h *Handler) userinfo(w http.ResponseWriter, r *http.Request) {
	s, status, code := h.authenticated(w, r)
	if s == nil {
		writeJSONError(w, status, code, statusMessage(status))
		return
	}
	id := s.Identity
	checked := policy.NewIdentity(s.ProviderID, id)
	email := checked.Email.String()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(userinfoResponse{
		User: checked.User, Email: email, EmailVerified: email != "" && id.EmailVerified, Name: id.Name,
		PreferredUsername: id.PreferredUsername, Groups: checked.Groups, Picture: id.Picture,
		Subject: id.Subject, Provider: s.ProviderID, Extra: id.Extra,
		ExpiresAt: s.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"),
	})
}
