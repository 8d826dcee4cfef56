package devidptest

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// maxBody bounds the request bodies the knobs read (the IdP's own bound).
const maxBody = 64 << 10

// authParams are the authorization request parameters the login form
// carries back (devidp records the same ones for a POST).
var authParams = []string{
	"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "login_hint", "prompt",
}

// Handler returns the IdP's handler with the knobs applied around it.
func (p *IdP) Handler() http.Handler {
	inner := p.IdP.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
		switch route := p.route(r); {
		case route == "/token" && post:
			p.token(w, r, inner)
		case route == "/userinfo" && (get || post):
			p.userinfo(w, r, inner)
		case route == "/end_session" && (get || post):
			p.endSessions.Add(1)
			p.dropOwnHint(r)
			inner.ServeHTTP(w, r)
		case route == "/authorize" && (get || post):
			p.recordAuthorize(r)
			inner.ServeHTTP(w, r)
		case route == "/jwks" && get:
			p.jwks(w, r, inner)
		default:
			inner.ServeHTTP(w, r)
		}
	})
}

// route is r's path below the issuer's path, "" when it is not below it.
func (p *IdP) route(r *http.Request) string {
	u, err := url.Parse(p.Issuer())
	if err != nil {
		return ""
	}
	rest, ok := strings.CutPrefix(r.URL.Path, strings.TrimSuffix(u.Path, "/"))
	if !ok {
		return ""
	}
	return rest
}

// form reads r's urlencoded body without consuming it; ok is false when
// the IdP itself would refuse to read it.
func form(r *http.Request) (url.Values, bool) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return url.Values{}, true
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil || len(body) > maxBody {
		return nil, false
	}
	v, err := url.ParseQuery(string(body))
	return v, err == nil
}

// token counts the request, answers for a down IdP or a revoked refresh
// token, and otherwise lets the IdP answer, recording the tokens it issues
// and re-signing its ID token as the knobs say.
func (p *IdP) token(w http.ResponseWriter, r *http.Request, inner http.Handler) {
	p.tokenCalls.Add(1)
	f, ok := form(r)
	if !ok {
		inner.ServeHTTP(w, r)
		return
	}
	refresh := f.Get("grant_type") == "refresh_token"
	if refresh {
		p.refreshCalls.Add(1)
	}
	if refresh {
		p.stallRefresh()
	}
	if p.down.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable", "error_description": "the IdP is down"})
		return
	}
	p.mu.Lock()
	revoked := refresh && p.revoked.refresh[f.Get("refresh_token")]
	p.mu.Unlock()
	if revoked {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "unknown or revoked refresh token"})
		return
	}
	rec := httptest.NewRecorder()
	inner.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if rec.Code == http.StatusOK {
		body = p.issuedResponse(body)
	}
	maps.Copy(w.Header(), rec.Header())
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.Code)
	_, _ = w.Write(body)
}

// stallRefresh waits as SetRefreshStall and HoldRefresh say, deliberately
// not cut short by the client leaving: a stalled provider still processes
// the request (and rotates the refresh token) when it recovers.
func (p *IdP) stallRefresh() {
	if d := time.Duration(p.stall.Load()); d > 0 {
		time.Sleep(d)
	}
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	if gate != nil {
		<-gate
	}
}

// issuedResponse records the tokens of a successful token response and
// returns it with its ID token re-signed when a knob asks for it.
func (p *IdP) issuedResponse(body []byte) []byte {
	var resp map[string]any
	if json.Unmarshal(body, &resp) != nil {
		return body
	}
	p.mu.Lock()
	if at, _ := resp["access_token"].(string); at != "" {
		p.issued.access[at] = true
	}
	if rt, _ := resp["refresh_token"].(string); rt != "" {
		p.issued.refresh[rt] = true
	}
	if it, _ := resp["id_token"].(string); it != "" {
		p.issuedIDTokens = append(p.issuedIDTokens, it)
	}
	mutate, unknown := p.mutate, p.unknownKey
	p.mu.Unlock()
	raw, _ := resp["id_token"].(string)
	if raw == "" || (mutate == nil && !unknown) {
		return body
	}
	resigned, err := p.resignIDToken(raw, mutate, unknown)
	if err != nil {
		return body
	}
	resp["id_token"] = resigned
	out, err := json.Marshal(resp)
	if err != nil {
		return body
	}
	return append(out, '\n')
}

// resignIDToken applies mutate to the claims of raw and signs them again:
// with the published key of this package, or, with unknown, with a key
// never published that claims the token's kid.
func (p *IdP) resignIDToken(raw string, mutate func(map[string]any), unknown bool) (string, error) {
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return "", err
	}
	dec := json.NewDecoder(bytes.NewReader(jws.UnsafePayloadWithoutVerification()))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil {
		return "", err
	}
	kid, key := jws.Signatures[0].Header.KeyID, p.resign
	if mutate != nil {
		mutate(claims)
		kid = p.resignKID
	}
	if unknown {
		key = p.rogue
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return "", err
	}
	signed, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return signed.CompactSerialize()
}

// jwks adds the key that signs mutated ID tokens to the IdP's key set,
// once a mutate hook has been set.
func (p *IdP) jwks(w http.ResponseWriter, r *http.Request, inner http.Handler) {
	p.mu.Lock()
	published := p.published
	p.mu.Unlock()
	if !published {
		inner.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	inner.ServeHTTP(rec, r)
	var set jose.JSONWebKeySet
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &set) != nil {
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	set.Keys = append(set.Keys, p.publicKey())
	writeJSON(w, http.StatusOK, set)
}

// userinfo counts the request and answers for an injected failure or a
// revoked access token.
func (p *IdP) userinfo(w http.ResponseWriter, r *http.Request, inner http.Handler) {
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
	_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	p.mu.Lock()
	revoked := p.revoked.access[tok]
	p.mu.Unlock()
	if revoked {
		w.Header().Set("WWW-Authenticate", `Bearer realm="devidp", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "the access token is unknown, expired or revoked"})
		return
	}
	inner.ServeHTTP(w, r)
}

// dropOwnHint removes from a logout request's query an id_token_hint that
// this package re-signed (the IdP cannot verify it, but it is as genuine as
// the IdP's own), so that the IdP treats it as a valid hint.
func (p *IdP) dropOwnHint(r *http.Request) {
	q := r.URL.Query()
	hint := q.Get("id_token_hint")
	if hint == "" {
		return
	}
	jws, err := jose.ParseSignedCompact(hint, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 || jws.Signatures[0].Header.KeyID != p.resignKID {
		return
	}
	if _, err := jws.Verify(&p.resign.PublicKey); err != nil {
		return
	}
	q.Del("id_token_hint")
	r.URL.RawQuery = q.Encode()
}

// recordAuthorize keeps the parameters of an authorization request: the
// query of a GET, the login form's authorization parameters of a POST.
func (p *IdP) recordAuthorize(r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		f, ok := form(r)
		if !ok {
			return
		}
		q = url.Values{}
		for _, k := range authParams {
			if vs, ok := f[k]; ok {
				q[k] = vs
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lastAuthorize = cloneValues(q)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
