package devidp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
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
		"scopes_supported": supportedScopes,
		"claims_supported": []string{
			"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash",
			"email", "email_verified", "name", "preferred_username", "groups",
		},
	}
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

// authRequest is a validated authorization request.
type authRequest struct {
	redirectURI string
	state       string
	nonce       string
	challenge   string
	scopes      []string
	loginHint   string
	prompt      string
}

// authError is a failed authorization request. When redirect is true the
// error goes back to the client's redirect URI, otherwise it is shown.
type authError struct {
	redirect    bool
	redirectURI string
	state       string
	code        string
	description string
}

// authParams are the request parameters the login form carries back.
var authParams = []string{
	"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "login_hint", "prompt",
}

func (p *IdP) parseAuthRequest(q url.Values) (authRequest, *authError) {
	for _, k := range authParams {
		if len(q[k]) > 1 {
			return authRequest{}, &authError{code: "invalid_request", description: "parameter " + k + " given more than once"}
		}
	}
	if q.Get("client_id") != p.opts.ClientID {
		return authRequest{}, &authError{code: "invalid_client", description: "unknown client_id"}
	}
	ru := q.Get("redirect_uri")
	if !p.allowedRedirect(ru, p.opts.RedirectURIs) {
		return authRequest{}, &authError{code: "invalid_request", description: "redirect_uri is missing or not registered"}
	}
	req := authRequest{
		redirectURI: ru,
		state:       q.Get("state"),
		nonce:       q.Get("nonce"),
		challenge:   q.Get("code_challenge"),
		scopes:      strings.Fields(q.Get("scope")),
		loginHint:   q.Get("login_hint"),
		prompt:      q.Get("prompt"),
	}
	fail := func(code, desc string) (authRequest, *authError) {
		return authRequest{}, &authError{redirect: true, redirectURI: ru, state: req.state, code: code, description: desc}
	}
	if q.Get("response_type") != "code" {
		return fail("unsupported_response_type", "only response_type=code is supported")
	}
	if !slices.Contains(req.scopes, "openid") {
		return fail("invalid_scope", "scope must include openid")
	}
	if q.Get("code_challenge_method") != "S256" || !validChallenge(req.challenge) {
		return fail("invalid_request", "PKCE is required: code_challenge with code_challenge_method=S256")
	}
	return req, nil
}

// allowedRedirect reports whether u is in registered, or, when registered
// is empty, an http(s) URL on a loopback host.
func (p *IdP) allowedRedirect(u string, registered []string) bool {
	if u == "" {
		return false
	}
	if len(registered) > 0 {
		return slices.Contains(registered, u)
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Fragment != "" || pu.User != nil {
		return false
	}
	h := pu.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (p *IdP) handleAuthorizeGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.recordAuthorize(q)
	req, aerr := p.parseAuthRequest(q)
	if aerr != nil {
		p.authFailure(w, r, aerr)
		return
	}
	login := ""
	switch {
	case p.opts.AutoLogin == "*":
		login = req.loginHint
	case p.opts.AutoLogin != "":
		login = p.opts.AutoLogin
	}
	if login != "" {
		u, ok := p.user(login)
		if !ok {
			p.authFailure(w, r, &authError{redirect: true, redirectURI: req.redirectURI, state: req.state, code: "access_denied", description: "unknown user"})
			return
		}
		p.issueCode(w, r, req, u)
		return
	}
	if req.prompt == "none" {
		p.authFailure(w, r, &authError{redirect: true, redirectURI: req.redirectURI, state: req.state, code: "login_required", description: "no session at the IdP"})
		return
	}
	p.renderLogin(w, http.StatusOK, q, req.loginHint, "")
}

func (p *IdP) handleAuthorizePost(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.renderError(w, http.StatusBadRequest, "The login form could not be read.")
		return
	}
	q := url.Values{}
	for _, k := range authParams {
		if vs, ok := r.PostForm[k]; ok {
			q[k] = vs
		}
	}
	p.recordAuthorize(q)
	req, aerr := p.parseAuthRequest(q)
	if aerr != nil {
		p.authFailure(w, r, aerr)
		return
	}
	action := r.PostForm.Get("action")
	if action == "" && r.PostForm.Get("user") != "" {
		action = "login" // a fixed user's button carries no action
	}
	switch action {
	case "cancel":
		p.authFailure(w, r, &authError{redirect: true, redirectURI: req.redirectURI, state: req.state, code: "access_denied", description: "the user cancelled the login"})
		return
	case "login":
	default:
		p.renderLogin(w, http.StatusBadRequest, q, "", "Choose a user or cancel.")
		return
	}
	name := r.PostForm.Get("user") // a fixed user's button
	if name == "" {
		name = strings.TrimSpace(r.PostForm.Get("username"))
	}
	u, ok := p.user(name)
	if !ok {
		msg := "Unknown user. Pick one of the listed users."
		if p.opts.AnyUser {
			msg = "A username is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."
		}
		p.renderLogin(w, http.StatusBadRequest, q, name, msg)
		return
	}
	p.issueCode(w, r, req, u)
}

func (p *IdP) recordAuthorize(q url.Values) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastAuthorize = cloneValues(q)
}

func (p *IdP) authFailure(w http.ResponseWriter, r *http.Request, e *authError) {
	if !e.redirect {
		p.renderError(w, http.StatusBadRequest, "Invalid authorization request: "+e.description+".")
		return
	}
	v := url.Values{"error": {e.code}, "error_description": {e.description}, "iss": {p.Issuer()}}
	if e.state != "" {
		v.Set("state", e.state)
	}
	redirectWith(w, r, e.redirectURI, v)
}

func (p *IdP) issueCode(w http.ResponseWriter, r *http.Request, req authRequest, u User) {
	now := p.opts.Now()
	code := randomString(32)
	p.mu.Lock()
	p.gcLocked(now)
	p.codes[code] = &authCode{
		grantInfo: grantInfo{
			user:     u,
			sub:      Subject(u.Username),
			clientID: p.opts.ClientID,
			scopes:   req.scopes,
			authTime: now,
			family:   randomString(16),
		},
		redirectURI: req.redirectURI,
		challenge:   req.challenge,
		nonce:       req.nonce,
		expiry:      now.Add(codeTTL),
	}
	p.mu.Unlock()
	v := url.Values{"code": {code}, "iss": {p.Issuer()}}
	if req.state != "" {
		v.Set("state", req.state)
	}
	redirectWith(w, r, req.redirectURI, v)
}

// gcLocked drops codes, access tokens and refresh-token families that can
// no longer be used. p.mu is held.
func (p *IdP) gcLocked(now time.Time) {
	for k, c := range p.codes {
		// Used codes are kept a while longer so that a replay is detected.
		if now.After(c.expiry.Add(10 * codeTTL)) {
			delete(p.codes, k)
		}
	}
	for k, t := range p.accessTokens {
		if now.After(t.expiry) {
			delete(p.accessTokens, k)
		}
	}
}

func redirectWith(w http.ResponseWriter, r *http.Request, target string, v url.Values) {
	u, err := url.Parse(target)
	if err != nil {
		http.Error(w, "bad redirect", http.StatusInternalServerError)
		return
	}
	q := u.Query()
	for k, vs := range v {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), status)
}

// tokenError is an RFC 6749 section 5.2 error response.
type tokenError struct {
	status      int
	code        string
	description string
}

func (p *IdP) handleToken(w http.ResponseWriter, r *http.Request) {
	p.tokenCalls.Add(1)
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeTokenError(w, tokenError{http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded"})
		return
	}
	form := r.PostForm
	if form.Get("grant_type") == "refresh_token" {
		p.refreshCalls.Add(1)
	}
	if p.down.Load() {
		writeTokenError(w, tokenError{http.StatusServiceUnavailable, "temporarily_unavailable", "the IdP is down"})
		return
	}
	for k, vs := range form {
		if len(vs) > 1 {
			writeTokenError(w, tokenError{http.StatusBadRequest, "invalid_request", "parameter " + k + " given more than once"})
			return
		}
	}
	if terr := p.authenticateClient(w, r); terr != nil {
		writeTokenError(w, *terr)
		return
	}
	var (
		resp map[string]any
		terr *tokenError
	)
	switch form.Get("grant_type") {
	case "authorization_code":
		resp, terr = p.codeGrant(form)
	case "refresh_token":
		resp, terr = p.refreshGrant(form)
	case "":
		terr = &tokenError{http.StatusBadRequest, "invalid_request", "grant_type is required"}
	default:
		terr = &tokenError{http.StatusBadRequest, "unsupported_grant_type", "only authorization_code and refresh_token are supported"}
	}
	if terr != nil {
		writeTokenError(w, *terr)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// authenticateClient checks client_secret_basic or client_secret_post (or,
// for a public client, a bare client_id), never both at once.
func (p *IdP) authenticateClient(w http.ResponseWriter, r *http.Request) *tokenError {
	form := r.PostForm
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 section 2.3.1: both are form-urlencoded before Basic encoding.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return &tokenError{http.StatusBadRequest, "invalid_request", "malformed Basic credentials"}
		}
		if form.Has("client_secret") {
			return &tokenError{http.StatusBadRequest, "invalid_request", "use one client authentication method"}
		}
		if b := form.Get("client_id"); b != "" && b != id {
			return &tokenError{http.StatusBadRequest, "invalid_request", "client_id differs from the authenticated client"}
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	ok := id == p.opts.ClientID
	if p.opts.ClientSecret == "" {
		ok = ok && secret == ""
	} else {
		a, b := sha256.Sum256([]byte(secret)), sha256.Sum256([]byte(p.opts.ClientSecret))
		ok = ok && subtle.ConstantTimeCompare(a[:], b[:]) == 1
	}
	if !ok {
		if basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="devidp"`)
		}
		return &tokenError{http.StatusUnauthorized, "invalid_client", "client authentication failed"}
	}
	return nil
}

func (p *IdP) codeGrant(form url.Values) (map[string]any, *tokenError) {
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.codes[form.Get("code")]
	if !ok {
		return nil, &tokenError{http.StatusBadRequest, "invalid_grant", "unknown authorization code"}
	}
	if c.used {
		// RFC 6749 section 4.1.2: revoke what the code already gave out.
		p.revokeFamilyLocked(c.family)
		return nil, &tokenError{http.StatusBadRequest, "invalid_grant", "authorization code already used"}
	}
	c.used = true
	switch {
	case now.After(c.expiry):
		return nil, &tokenError{http.StatusBadRequest, "invalid_grant", "authorization code expired"}
	case c.clientID != p.opts.ClientID:
		return nil, &tokenError{http.StatusBadRequest, "invalid_grant", "code was issued to another client"}
	case form.Get("redirect_uri") != c.redirectURI:
		return nil, &tokenError{http.StatusBadRequest, "invalid_grant", "redirect_uri does not match the authorization request"}
	}
	v := form.Get("code_verifier")
	if !validVerifier(v) {
		return nil, &tokenError{http.StatusBadRequest, "invalid_grant", "code_verifier is missing or malformed"}
	}
	sum := sha256.Sum256([]byte(v))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(c.challenge)) != 1 {
		return nil, &tokenError{http.StatusBadRequest, "invalid_grant", "code_verifier does not match code_challenge"}
	}
	return p.issueTokensLocked(now, c.grantInfo, c.nonce, true)
}

func (p *IdP) refreshGrant(form url.Values) (map[string]any, *tokenError) {
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	rt := form.Get("refresh_token")
	t, ok := p.refreshTokens[rt]
	if !ok || p.revokedFamily[t.family] {
		return nil, &tokenError{http.StatusBadRequest, "invalid_grant", "unknown or revoked refresh token"}
	}
	if t.rotated {
		p.revokeFamilyLocked(t.family)
		return nil, &tokenError{http.StatusBadRequest, "invalid_grant", "refresh token was already rotated; token family revoked"}
	}
	if t.clientID != p.opts.ClientID {
		return nil, &tokenError{http.StatusBadRequest, "invalid_grant", "refresh token was issued to another client"}
	}
	u, ok := p.userLocked(t.user.Username)
	if !ok {
		return nil, &tokenError{http.StatusBadRequest, "invalid_grant", "user no longer exists"}
	}
	gi := t.grantInfo
	gi.user = u
	rotate := p.opts.RefreshTokenRotation
	if rotate {
		t.rotated = true
	}
	return p.issueTokensLocked(now, gi, "", rotate)
}

func (p *IdP) revokeFamilyLocked(family string) {
	p.revokedFamily[family] = true
	for k, t := range p.accessTokens {
		if t.family == family {
			delete(p.accessTokens, k)
		}
	}
	for k, t := range p.refreshTokens {
		if t.family == family {
			delete(p.refreshTokens, k)
		}
	}
}

// issueTokensLocked mints an access token, an ID token and, when
// withRefresh, a refresh token for gi. p.mu is held.
func (p *IdP) issueTokensLocked(now time.Time, gi grantInfo, nonce string, withRefresh bool) (map[string]any, *tokenError) {
	p.gcLocked(now)
	at := randomString(32)
	p.accessTokens[at] = &accessToken{grantInfo: gi, expiry: now.Add(p.opts.AccessTokenTTL)}

	claims := map[string]any{
		"iss":       p.issuer,
		"sub":       gi.sub,
		"aud":       gi.clientID,
		"exp":       now.Add(p.opts.IDTokenTTL).Unix(),
		"iat":       now.Unix(),
		"auth_time": gi.authTime.Unix(),
		"at_hash":   atHash(at),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if !p.opts.OmitUserinfoClaims {
		maps.Copy(claims, userClaims(gi.user, gi.scopes))
		withUserExtras(claims, gi.user)
	}
	if p.mutate != nil {
		p.mutate(claims)
	}
	idToken, err := p.signLocked(claims)
	if err != nil {
		return nil, &tokenError{http.StatusInternalServerError, "server_error", "could not sign the ID token"}
	}
	resp := map[string]any{
		"access_token": at,
		"token_type":   "Bearer",
		"expires_in":   int(p.opts.AccessTokenTTL / time.Second),
		"id_token":     idToken,
		"scope":        strings.Join(gi.scopes, " "),
	}
	if withRefresh {
		rt := randomString(32)
		p.refreshTokens[rt] = &refreshToken{grantInfo: gi}
		resp["refresh_token"] = rt
	}
	return resp, nil
}

func (p *IdP) signLocked(claims map[string]any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	k := p.keys[0]
	if p.rogue != nil {
		k = *p.rogue
	}
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// userClaims are the claims about u that scopes allow; groups are always
// included when the user has any.
func userClaims(u User, scopes []string) map[string]any {
	c := map[string]any{}
	if slices.Contains(scopes, "email") && u.Email != "" {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
	}
	if slices.Contains(scopes, "profile") {
		c["preferred_username"] = u.Username
		if u.Name != "" {
			c["name"] = u.Name
		}
	}
	if len(u.Groups) > 0 {
		c["groups"] = slices.Clone(u.Groups)
	}
	return c
}

// withUserExtras merges u.Claims into claims, last.
func withUserExtras(claims map[string]any, u User) map[string]any {
	maps.Copy(claims, u.Claims)
	return claims
}

func atHash(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

func (p *IdP) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	p.userinfoCall.Add(1)
	if st := int(p.userinfoFail.Load()); st != 0 {
		code := "server_error"
		if st == http.StatusUnauthorized {
			code = "invalid_token"
			w.Header().Set("WWW-Authenticate", `Bearer realm="devidp", error="invalid_token"`)
		}
		writeJSON(w, st, map[string]string{"error": code, "error_description": "failure injected by the test"})
		return
	}
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
	p.endSessions.Add(1)
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

func writeTokenError(w http.ResponseWriter, e tokenError) {
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.description})
}

// validVerifier checks RFC 7636 section 4.1: 43-128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for _, c := range []byte(v) {
		if !unreserved(c) {
			return false
		}
	}
	return true
}

// validChallenge checks an S256 challenge: 43 base64url characters.
func validChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil
}

func unreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
