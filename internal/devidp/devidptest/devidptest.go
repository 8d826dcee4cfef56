// Package devidptest wraps the development OpenID provider (devidp) with
// the knobs tests use to break each step of a login: an unavailable token
// endpoint, a failing userinfo endpoint, revoked tokens, tampered or
// foreign-key-signed ID tokens, request counters and the last
// authorization request. The knobs act on the provider's HTTP traffic, so
// the gatehouse binary, which runs devidp for `gatehouse dev`, carries
// none of them.
//
// Mount Handler (not the embedded IdP's) on an httptest.Server and call
// SetIssuer with its URL.
package devidptest

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
)

// IdP is a devidp.IdP with test knobs. It is safe for concurrent use.
type IdP struct {
	*devidp.IdP

	down         atomic.Bool
	stall        atomic.Int64 // refresh grants wait this long (ns) before being answered
	userinfoFail atomic.Int32
	tokenCalls   atomic.Int64
	refreshCalls atomic.Int64
	userinfoCall atomic.Int64
	endSessions  atomic.Int64
	forged       atomic.Int64 // logout tokens ForgeLogoutToken made
	clientID     string

	mu            sync.Mutex
	gate          chan struct{} // when set, refresh grants wait until it is closed
	lastAuthorize url.Values
	mutate        func(claims map[string]any)
	published     bool // resign's key is in the JWKS (once a mutate hook was set)
	unknownKey    bool
	issued        tokens // every token the IdP has handed out
	// issuedIDTokens are the ID tokens handed out (as issued, before any
	// re-signing knob).
	issuedIDTokens []string
	revoked        tokens // those RevokeAll* made invalid

	// resign signs the ID tokens that mutate changed; its public key is
	// added to the IdP's JWKS. rogue signs while unknownKey is on and is
	// never published.
	resign, rogue *rsa.PrivateKey
	resignKID     string
}

// tokens are sets of access and refresh tokens.
type tokens struct {
	access, refresh map[string]bool
}

func newTokens() tokens {
	return tokens{access: map[string]bool{}, refresh: map[string]bool{}}
}

// New returns an IdP built by devidp.New(o), with every knob off.
func New(o devidp.Options) (*IdP, error) {
	idp, err := devidp.New(o)
	if err != nil {
		return nil, err
	}
	resign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("devidptest: generate key: %w", err)
	}
	rogue, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("devidptest: generate key: %w", err)
	}
	kid := make([]byte, 6)
	_, _ = rand.Read(kid)
	return &IdP{
		IdP: idp, issued: newTokens(), revoked: newTokens(), clientID: o.ClientID,
		resign: resign, rogue: rogue, resignKID: fmt.Sprintf("devidptest-%x", kid),
	}, nil
}

// SetMutateIDToken makes the IdP call f with every ID token's claims just
// before it signs the token (tamper nonce, aud, exp, iss, groups...); the
// token stays validly signed. nil removes the hook.
func (p *IdP) SetMutateIDToken(f func(claims map[string]any)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mutate = f
	p.published = p.published || f != nil
}

// SignWithUnknownKey, while on, signs ID tokens with a key that is never
// published but claims the current key's kid: every such token must fail
// signature verification.
func (p *IdP) SignWithUnknownKey(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unknownKey = on
	return nil
}

// SetDown makes the token endpoint answer 503 temporarily_unavailable while
// down is true.
func (p *IdP) SetDown(down bool) { p.down.Store(down) }

// SetRefreshStall makes every refresh_token grant wait d before the IdP
// processes and answers it, as a stalled provider does: a client that gives
// up earlier does not stop it, so the refresh token is rotated all the same
// and the answer carrying its successor is lost. 0 restores prompt answers.
func (p *IdP) SetRefreshStall(d time.Duration) { p.stall.Store(int64(d)) }

// HoldRefresh makes refresh_token grants wait, before the IdP processes
// them, until release is called (like SetRefreshStall, but ended by the
// test); release is idempotent and is also called when the test ends.
func (p *IdP) HoldRefresh(t interface{ Cleanup(func()) }) (release func()) {
	gate := make(chan struct{})
	release = sync.OnceFunc(func() { close(gate) })
	p.mu.Lock()
	p.gate = gate
	p.mu.Unlock()
	t.Cleanup(release)
	return release
}

// SetUserinfoFailure makes the userinfo endpoint answer status (e.g. 401 or
// 503) to every request; 0 restores normal answers.
func (p *IdP) SetUserinfoFailure(status int) { p.userinfoFail.Store(int32(status)) }

// TokenCalls is how many requests reached the token endpoint.
func (p *IdP) TokenCalls() int { return int(p.tokenCalls.Load()) }

// RefreshCalls is how many refresh_token grant requests reached the token
// endpoint.
func (p *IdP) RefreshCalls() int { return int(p.refreshCalls.Load()) }

// UserinfoCalls is how many requests reached the userinfo endpoint.
func (p *IdP) UserinfoCalls() int { return int(p.userinfoCall.Load()) }

// EndSessionCalls is how many requests reached the end_session endpoint.
func (p *IdP) EndSessionCalls() int { return int(p.endSessions.Load()) }

// LastAuthorizeQuery returns a copy of the parameters of the most recent
// authorization request (GET or POST), or nil.
func (p *IdP) LastAuthorizeQuery() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.lastAuthorize == nil {
		return nil
	}
	return cloneValues(p.lastAuthorize)
}

// RevokeAllRefreshTokens invalidates every refresh token issued so far;
// refreshing with one then fails with invalid_grant.
func (p *IdP) RevokeAllRefreshTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t := range p.issued.refresh {
		p.revoked.refresh[t] = true
	}
}

// RevokeAllAccessTokens invalidates every access token issued so far; the
// userinfo endpoint then answers 401 for them.
func (p *IdP) RevokeAllAccessTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for t := range p.issued.access {
		p.revoked.access[t] = true
	}
}

// publicKey is the JWK of the key that signs mutated ID tokens.
func (p *IdP) publicKey() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &p.resign.PublicKey, KeyID: p.resignKID, Algorithm: string(jose.RS256), Use: "sig"}
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// IssuedTokens returns every access, refresh and ID token the IdP has
// handed out so far (tests check none of them leaks into logs).
func (p *IdP) IssuedTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := append([]string(nil), p.issuedIDTokens...)
	for t := range p.issued.access {
		out = append(out, t)
	}
	for t := range p.issued.refresh {
		out = append(out, t)
	}
	return out
}
