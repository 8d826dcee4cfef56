package devidp

import (
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

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
