package proxy

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// headerSignIn carries, on a 401 from /oauth2/auth, the URL that starts a
// login and comes back to the page that was asked for.
const headerSignIn = "X-Auth-Request-Sign-In"

// auth answers nginx auth_request (and Traefik/Caddy/Envoy forward-auth)
// subrequests: 202 with X-Auth-Request-* identity headers for a valid,
// authorized session; 401 without one; 403 when the rules refuse it.
//
// Any method is accepted (Envoy's ext_authz forwards the original one), and
// so is /oauth2/auth/<anything> (older Envoy appends the original path).
//
// Optional query parameters narrow the rules for one location:
// allowed_groups=a,b (any of), allowed_emails=x@y,z@w (any of).
func (h *Handler) auth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s, status, _ := h.authenticated(w, r)
	if s == nil {
		if status == http.StatusUnauthorized {
			// The sign-in URL with the original URL properly encoded, for
			// proxies that cannot encode it themselves (nginx:
			// auth_request_set + return 302 in the error_page location).
			original := h.requestScheme(r) + "://" + h.requestHost(r) + h.originalURI(r)
			w.Header().Set(headerSignIn, "/oauth2/start?rd="+url.QueryEscape(h.safeRedirect(r, original)))
		}
		w.WriteHeader(status)
		return
	}
	q := r.URL.Query()
	if !anyOf(q.Get("allowed_groups"), s.Identity.Groups) ||
		!anyOf(q.Get("allowed_emails"), []string{s.Identity.Email}) {
		h.log.InfoContext(r.Context(), "access denied by auth_request rule", "user", s.Identity.User, "provider", s.ProviderID)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	for _, kv := range identityValues(s, h.d.PassAccessToken) {
		w.Header().Set(authHeaderPrefix+kv[0], cleanHeaderValue(kv[1]))
	}
	if h.d.SetAuthorizationHeader && s.Tokens.AccessToken != "" {
		w.Header().Set("Authorization", "Bearer "+s.Tokens.AccessToken)
	}
	w.WriteHeader(http.StatusAccepted)
}

// anyOf reports whether list (comma-separated, "" = no restriction) shares
// an element with have.
func anyOf(list string, have []string) bool {
	if strings.TrimSpace(list) == "" {
		return true
	}
	for _, want := range strings.Split(list, ",") {
		want = strings.TrimSpace(want)
		for _, h := range have {
			if want != "" && strings.EqualFold(want, h) {
				return true
			}
		}
	}
	return false
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
	user := id.User
	if user == "" {
		user = id.Subject
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(userinfoResponse{
		User: user, Email: id.Email, EmailVerified: id.EmailVerified, Name: id.Name,
		PreferredUsername: id.PreferredUsername, Groups: id.Groups, Picture: id.Picture,
		Subject: id.Subject, Provider: s.ProviderID, Extra: id.Extra,
		ExpiresAt: s.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"),
	})
}
