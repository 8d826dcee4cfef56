package fakes

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp/devidptest"
	"github.com/go-jose/go-jose/v4"
)

// oidcSpec says how one service's OpenID provider differs from the shape
// every OIDC fake shares (authorization code with PKCE S256, state and
// nonce; client_secret_basic or client_secret_post).
type oidcSpec struct {
	name string
	// issuerPath is the issuer's path on its server ("/realms/acme").
	issuerPath string
	// authParams are the optional authorize parameters the service
	// documents beyond client_id, redirect_uri, response_type, scope,
	// state, nonce and the PKCE pair (which a correct client always sends).
	authParams []string
	// checkAuth returns why an authorization request breaks the service's
	// rules ("" when it does not); may be nil.
	checkAuth func(q url.Values) string
	// scopeOK reports whether the service knows a scope; unknown scopes are
	// answered with error=invalid_scope at the redirect URI.
	scopeOK func(scope string) bool
	// sendIss: authorization responses carry iss (RFC 9207).
	sendIss bool
	// offline reports whether an authorization request earns a refresh
	// token; nil means always.
	offline func(q url.Values) bool
	// tokenParams are extra optional token-request parameters.
	tokenParams []string
	// rotate makes refresh tokens single-use; echoRefresh makes a refresh
	// response without a new refresh token repeat the presented one (the
	// old one staying valid).
	rotate, echoRefresh bool
	accessTTL           time.Duration
	// mutate edits every ID token's claims before signing; may be nil.
	mutate func(claims map[string]any)
	// tokenResponse edits a successful token response; may be nil.
	tokenResponse func(resp map[string]any, g *oidcGrant)
}

// oidcGrant is what the fake knows about an access token it issued.
type oidcGrant struct {
	user   string
	scopes []string
	expiry time.Time
}

// codeInfo is the authorization request a code was issued for.
type codeInfo struct {
	query url.Values
	user  string
}

// oidcFront is the OpenID-provider half of the Google, Entra, GitLab and
// Keycloak fakes: the service's strict authorize and token endpoints in
// front of a real devidp.IdP, which signs the ID tokens and keeps codes
// and refresh tokens.
type oidcFront struct {
	*Service
	Endpoints
	// IdP is the OpenID provider behind the fake (RotateKey,
	// SignWithUnknownKey, SetDown, RevokeAllRefreshTokens…). Its
	// MutateIDToken hook belongs to the fake: use SetMutateIDToken.
	IdP *devidptest.IdP
	// ClientID, ClientSecret and Callback are the registered client.
	ClientID, ClientSecret, Callback string
	// User is the username that signs in at the authorize endpoint.
	User atomic.Value

	spec oidcSpec
	idp  http.Handler

	fmu        sync.Mutex
	codes      map[string]codeInfo
	grants     map[string]*oidcGrant // access token → grant
	refreshers map[string]oidcGrant  // refresh token → who and what for
	mutate     func(map[string]any)
}

func newOIDCFront(t testing.TB, spec oidcSpec, clientID, secret, callback string, users []devidp.User) *oidcFront {
	t.Helper()
	f := &oidcFront{Service: newService(t, spec.name), ClientID: clientID, ClientSecret: secret, Callback: callback, spec: spec,
		codes: map[string]codeInfo{}, grants: map[string]*oidcGrant{}, refreshers: map[string]oidcGrant{}}
	f.User.Store(users[0].Username)
	idp, err := devidptest.New(devidp.Options{ClientID: clientID, ClientSecret: secret, RedirectURIs: []string{callback}, Users: users,
		AutoLogin: "*", RefreshTokenRotation: spec.rotate, AccessTokenTTL: spec.accessTTL, IDTokenTTL: time.Hour})
	if err != nil {
		t.Fatalf("%s fake: %v", spec.name, err)
	}
	idp.SetMutateIDToken(f.mutateIDToken)
	f.IdP, f.idp = idp, idp.Handler()
	return f
}

// SetMutateIDToken sets a hook that edits every ID token's claims just
// before signing, after the service's own claims (nil removes it).
func (f *oidcFront) SetMutateIDToken(fn func(claims map[string]any)) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	f.mutate = fn
}

func (f *oidcFront) mutateIDToken(claims map[string]any) {
	if f.spec.mutate != nil {
		f.spec.mutate(claims)
	}
	f.fmu.Lock()
	fn := f.mutate
	f.fmu.Unlock()
	if fn != nil {
		fn(claims)
	}
}

// forward runs a request through the devidp handler in process.
func (f *oidcFront) forward(ctx context.Context, method, target string, form url.Values, auth string) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequestWithContext(ctx, method, f.spec.issuerPath+target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	f.idp.ServeHTTP(rec, req)
	return rec
}

var oidcAuthRequired = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method"}

// authorize checks an authorization request strictly, then lets the
// IdP log in f.User and sends the browser back with its code.
func (f *oidcFront) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !f.checkParams(w, r, q, oidcAuthRequired, f.spec.authParams) {
		return
	}
	if q.Get("client_id") != f.ClientID || q.Get("redirect_uri") != f.Callback || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" {
		f.violation(w, r, "client_id %q redirect_uri %q response_type %q code_challenge_method %q", q.Get("client_id"), q.Get("redirect_uri"), q.Get("response_type"), q.Get("code_challenge_method"))
		return
	}
	scopes := strings.Fields(q.Get("scope"))
	if !slices.Contains(scopes, "openid") {
		f.violation(w, r, "scope %q without openid", q.Get("scope"))
		return
	}
	if f.spec.checkAuth != nil {
		if why := f.spec.checkAuth(q); why != "" {
			f.violation(w, r, "%s", why)
			return
		}
	}
	for _, s := range scopes {
		if !f.spec.scopeOK(s) {
			f.redirectError(w, r, q.Get("state"), "invalid_scope", "The requested scope is invalid, unknown, or malformed: "+s)
			return
		}
	}
	if f.Deny.Load() {
		f.redirectError(w, r, q.Get("state"), "access_denied", "The resource owner or authorization server denied the request.")
		return
	}
	fwd := url.Values{}
	for _, k := range oidcAuthRequired {
		fwd.Set(k, q.Get(k))
	}
	user := f.User.Load().(string)
	fwd.Set("login_hint", user)
	rec := f.forward(r.Context(), http.MethodGet, "/authorize?"+fwd.Encode(), nil, "")
	loc, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || err != nil {
		f.violation(w, r, "IdP answered %d: %s", rec.Code, rec.Body.String())
		return
	}
	lq := loc.Query()
	if c := lq.Get("code"); c != "" {
		f.fmu.Lock()
		f.codes[c] = codeInfo{query: q, user: user}
		f.fmu.Unlock()
		f.remember(c)
	}
	if !f.spec.sendIss {
		lq.Del("iss")
	}
	loc.RawQuery = lq.Encode()
	http.Redirect(w, r, loc.String(), http.StatusFound)
}

// redirectError sends the browser back to the callback with an error.
func (f *oidcFront) redirectError(w http.ResponseWriter, r *http.Request, state, code, desc string) {
	u, _ := url.Parse(f.Callback)
	q := u.Query()
	q.Set("error", code)
	q.Set("error_description", desc)
	q.Set("state", state)
	if f.spec.sendIss {
		q.Set("iss", f.IdP.Issuer())
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (f *oidcFront) remember(secrets ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issued = append(f.issued, secrets...)
}

// token checks a token request strictly (client_secret_basic or
// client_secret_post, never both), lets the IdP answer it and relays the
// answer as the service shapes it.
func (f *oidcFront) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		f.violation(w, r, "form: %v", err)
		return
	}
	var required, optional []string
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "authorization_code":
		required = []string{"grant_type", "code", "redirect_uri", "code_verifier"}
	case "refresh_token":
		required, optional = []string{"grant_type", "refresh_token"}, []string{"scope"}
	default:
		f.violation(w, r, "grant_type %q", gt)
		return
	}
	optional = append(optional, f.spec.tokenParams...)
	if _, _, basic := r.BasicAuth(); basic {
		optional = append(optional, "client_id")
	} else {
		required = append(required, "client_id", "client_secret")
	}
	form, ok := f.form(w, r, required, optional)
	if !ok {
		return
	}
	rec := f.forward(r.Context(), http.MethodPost, "/token", form, r.Header.Get("Authorization"))
	refresh := form.Get("grant_type") == "refresh_token"
	if rec.Code != http.StatusOK {
		if refresh {
			f.RefreshRejected.Add(1)
		}
		if v := rec.Header().Get("WWW-Authenticate"); v != "" {
			w.Header().Set("WWW-Authenticate", v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	var resp map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		f.violation(w, r, "IdP token response: %v", err)
		return
	}
	if refresh {
		f.Refreshes.Add(1)
	}
	g := f.record(resp, form)
	if f.spec.tokenResponse != nil {
		f.spec.tokenResponse(resp, g)
	}
	f.grantAccess(resp, g)
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, http.StatusOK, resp)
}

// record works out who a successful token response is for and shapes its
// refresh token as the service does.
func (f *oidcFront) record(resp map[string]any, form url.Values) *oidcGrant {
	rt, _ := resp["refresh_token"].(string)
	ttl, _ := resp["expires_in"].(float64)
	scope, _ := resp["scope"].(string)
	g := &oidcGrant{scopes: strings.Fields(scope), expiry: time.Now().Add(time.Duration(ttl) * time.Second)}
	f.fmu.Lock()
	defer f.fmu.Unlock()
	if form.Get("grant_type") == "authorization_code" {
		ci := f.codes[form.Get("code")]
		delete(f.codes, form.Get("code"))
		g.user = ci.user
		if f.spec.offline != nil && !f.spec.offline(ci.query) {
			delete(resp, "refresh_token")
			rt = ""
		}
	} else {
		g.user = f.refreshers[form.Get("refresh_token")].user
		if rt == "" && f.spec.echoRefresh {
			resp["refresh_token"] = form.Get("refresh_token")
		}
	}
	if rt != "" {
		f.refreshers[rt] = *g
	}
	return g
}

// grantAccess remembers the (possibly replaced) access token of resp.
func (f *oidcFront) grantAccess(resp map[string]any, g *oidcGrant) {
	at, _ := resp["access_token"].(string)
	f.fmu.Lock()
	f.grants[at] = g
	f.fmu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.access[at] = g.user
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if v, ok := resp[k].(string); ok {
			f.issued = append(f.issued, v)
		}
	}
}

// bearer returns the live grant of the request's Bearer access token.
func (f *oidcFront) bearerGrant(r *http.Request) (*oidcGrant, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !f.AccessTokenValid(tok) {
		return nil, false
	}
	f.fmu.Lock()
	defer f.fmu.Unlock()
	g, ok := f.grants[tok]
	if !ok || time.Now().After(g.expiry) {
		return nil, false
	}
	return g, true
}

// jwks relays the IdP's keys, plus extra ones.
func (f *oidcFront) jwks(w http.ResponseWriter, r *http.Request, extra ...jose.JSONWebKey) {
	rec := f.forward(r.Context(), http.MethodGet, "/jwks", nil, "")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		f.violation(w, r, "IdP keys: %v", err)
		return
	}
	set.Keys = append(set.Keys, extra...)
	WriteJSON(w, http.StatusOK, set)
}

// userinfoWith answers a userinfo request with doc(grant), or 401.
func (f *oidcFront) userinfoWith(w http.ResponseWriter, r *http.Request, doc func(g *oidcGrant) map[string]any) {
	g, ok := f.bearerGrant(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="The access token is invalid"`)
		OAuthError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid")
		return
	}
	WriteJSON(w, http.StatusOK, doc(g))
}

// hasScope reports whether any of want is among g's scopes.
func (g *oidcGrant) hasScope(want ...string) bool {
	return slices.ContainsFunc(want, func(s string) bool { return slices.Contains(g.scopes, s) })
}

// requestGrant is who a token request is for, with which scopes, before
// the IdP answers it.
func (f *oidcFront) requestGrant(form url.Values) (oidcGrant, bool) {
	f.fmu.Lock()
	defer f.fmu.Unlock()
	if form.Get("grant_type") == "authorization_code" {
		ci, ok := f.codes[form.Get("code")]
		return oidcGrant{user: ci.user, scopes: strings.Fields(ci.query.Get("scope"))}, ok
	}
	g, ok := f.refreshers[form.Get("refresh_token")]
	return g, ok
}

// endSession is RP-initiated logout, checked by the IdP: an
// id_token_hint it signed, a loopback post_logout_redirect_uri.
func (f *oidcFront) endSession(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !f.checkParams(w, r, q, nil, []string{"id_token_hint", "post_logout_redirect_uri", "state", "client_id", "logout_hint", "ui_locales"}) {
		return
	}
	rec := f.forward(r.Context(), http.MethodGet, "/end_session?"+q.Encode(), nil, "")
	if loc := rec.Header().Get("Location"); loc != "" {
		http.Redirect(w, r, loc, http.StatusFound)
		return
	}
	w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}
