package devidp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// tokenError is an RFC 6749 section 5.2 error response.
type tokenError struct {
	status      int
	code        string
	description string
}

func (p *IdP) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeTokenError(w, tokenError{http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded"})
		return
	}
	form := r.PostForm
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
	withRefresh := !p.opts.RefreshRequiresOfflineAccess || slices.Contains(c.scopes, "offline_access")
	return p.issueTokensLocked(now, c.grantInfo, c.nonce, withRefresh)
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
		"sid":       sessionID(gi.family),
	}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if !p.opts.OmitUserinfoClaims {
		maps.Copy(claims, userClaims(gi.user, gi.scopes))
		withUserExtras(claims, gi.user)
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
	jws, err := p.keys[0].signer.Sign(payload)
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
