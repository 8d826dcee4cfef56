package devidp

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Handler returns the IdP's HTTP handler. Its routes live under the path
// of the issuer URL (read on every request, so SetIssuer may be called
// after the handler was mounted):
//
//	GET  /.well-known/openid-configuration
//	GET  /jwks
//	GET  /authorize   (login form, or AutoLogin)
//	POST /authorize   (form submission)
//	POST /token       (authorization_code, refresh_token)
//	GET, POST /userinfo
//	GET, POST /end_session
func (p *IdP) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.handleDiscovery)
	mux.HandleFunc("GET /jwks", p.handleJWKS)
	mux.HandleFunc("GET /authorize", p.handleAuthorizeGet)
	mux.HandleFunc("POST /authorize", p.handleAuthorizePost)
	mux.HandleFunc("POST /token", p.handleToken)
	mux.HandleFunc("GET /userinfo", p.handleUserinfo)
	mux.HandleFunc("POST /userinfo", p.handleUserinfo)
	mux.HandleFunc("GET /end_session", p.handleEndSession)
	mux.HandleFunc("POST /end_session", p.handleEndSession)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		iss := p.Issuer()
		if iss == "" {
			http.Error(w, "devidp: issuer not set", http.StatusServiceUnavailable)
			return
		}
		u, err := url.Parse(iss)
		if err != nil {
			http.Error(w, "devidp: bad issuer", http.StatusInternalServerError)
			return
		}
		if prefix := strings.TrimSuffix(u.Path, "/"); prefix != "" {
			http.StripPrefix(prefix, mux).ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// Serve serves the IdP on ln until ctx is done, then shuts down gracefully
// and returns nil. When the issuer is not set it becomes http://<ln's
// address>; callers that read Issuer concurrently should set it (in
// Options or with SetIssuer) before calling Serve.
func (p *IdP) Serve(ctx context.Context, ln net.Listener) error {
	if p.Issuer() == "" {
		p.SetIssuer("http://" + ln.Addr().String())
	}
	srv := &http.Server{
		Handler:           p.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	defer stop()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

var supportedScopes = []string{"openid", "email", "profile", "groups", "offline_access"}

// scopesSupported is discovery's scopes_supported.
func (p *IdP) scopesSupported() []string {
	if p.opts.NoOfflineAccess {
		return slices.DeleteFunc(slices.Clone(supportedScopes), func(s string) bool { return s == "offline_access" })
	}
	return supportedScopes
}

func (p *IdP) handleDiscovery(w http.ResponseWriter, _ *http.Request) {
	iss := p.Issuer()
	authMethods := []string{"client_secret_basic", "client_secret_post"}
	if p.opts.ClientSecret == "" {
		authMethods = []string{"none"}
	}
	doc := map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"jwks_uri":                              iss + "/jwks",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": authMethods,
		// RFC 9207: every authorization response names its issuer.
		"authorization_response_iss_parameter_supported": true,
		"scopes_supported": p.scopesSupported(),
		"claims_supported": []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
			"email", "email_verified", "name", "preferred_username", "groups",
		},
	}
	// Back-channel logout: LogoutUser, and a sid in every ID token.
	doc["backchannel_logout_supported"], doc["backchannel_logout_session_supported"] = true, true
	if !p.opts.NoUserinfo {
		doc["userinfo_endpoint"] = iss + "/userinfo"
	}
	if !p.opts.NoEndSession {
		doc["end_session_endpoint"] = iss + "/end_session"
	}
	writeJSON(w, http.StatusOK, doc)
}

func (p *IdP) handleJWKS(w http.ResponseWriter, _ *http.Request) {
	p.mu.Lock()
	set := jose.JSONWebKeySet{}
	for _, k := range p.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.kid, Algorithm: string(jose.RS256), Use: "sig"})
	}
	p.mu.Unlock()
	writeJSON(w, http.StatusOK, set)
}

func (p *IdP) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="devidp"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "a Bearer access token is required"})
		return
	}
	now := p.opts.Now()
	p.mu.Lock()
	at, ok := p.accessTokens[tok]
	var u User
	if ok && !now.After(at.expiry) {
		u, ok = p.userLocked(at.user.Username)
	} else {
		ok = false
	}
	p.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="devidp", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "the access token is unknown, expired or revoked"})
		return
	}
	claims := withUserExtras(userClaims(u, at.scopes), u)
	claims["sub"] = at.sub
	writeJSON(w, http.StatusOK, claims)
}

func (p *IdP) handleEndSession(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.renderError(w, http.StatusBadRequest, "The logout request could not be read.")
		return
	}
	q := r.Form
	if id := q.Get("client_id"); id != "" && id != p.opts.ClientID {
		p.renderError(w, http.StatusBadRequest, "Unknown client_id.")
		return
	}
	if hint := q.Get("id_token_hint"); hint != "" && !p.validIDTokenHint(hint) {
		p.renderError(w, http.StatusBadRequest, "The id_token_hint was not issued by this provider.")
		return
	}
	if plr := q.Get("post_logout_redirect_uri"); plr != "" {
		if !p.allowedRedirect(plr, p.opts.PostLogoutRedirectURIs) {
			p.renderError(w, http.StatusBadRequest, "The post_logout_redirect_uri is not registered.")
			return
		}
		v := url.Values{}
		if s := q.Get("state"); s != "" {
			v.Set("state", s)
		}
		redirectWith(w, r, plr, v)
		return
	}
	p.renderSignedOut(w)
}

// validIDTokenHint reports whether hint is an ID token this IdP signed for
// its client. Expired tokens are fine as hints.
func (p *IdP) validIDTokenHint(hint string) bool {
	jws, err := jose.ParseSignedCompact(hint, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return false
	}
	p.mu.Lock()
	keys := slices.Clone(p.keys)
	iss := p.issuer
	p.mu.Unlock()
	for _, k := range keys {
		if jws.Signatures[0].Header.KeyID != k.kid {
			continue
		}
		payload, err := jws.Verify(&k.key.PublicKey)
		if err != nil {
			return false
		}
		var c struct {
			Iss string `json:"iss"`
			Aud any    `json:"aud"`
		}
		if json.Unmarshal(payload, &c) != nil || c.Iss != iss {
			return false
		}
		switch aud := c.Aud.(type) {
		case string:
			return aud == p.opts.ClientID
		case []any:
			return slices.Contains(aud, any(p.opts.ClientID))
		}
		return false
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
