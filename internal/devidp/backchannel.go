package devidp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// BackchannelLogoutEvent is the events member that makes a JWT an OpenID
// Connect back-channel logout token.
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// logoutTokenTTL is the lifetime of the logout tokens the IdP sends.
const logoutTokenTTL = 2 * time.Minute

// SessionID is the sid claim of the ID tokens of one login (token family):
// stable for the login, different for every login.
func sessionID(family string) string {
	sum := sha256.Sum256([]byte("devidp-sid:" + family))
	return "s-" + hex.EncodeToString(sum[:12])
}

// LogoutToken returns a back-channel logout token (OpenID Connect
// Back-Channel Logout 1.0 §2.4) for the client, naming the subject sub
// and/or the provider session sid, signed with the current key and typed
// logout+jwt.
func (p *IdP) LogoutToken(sub, sid string) (string, error) {
	if sub == "" && sid == "" {
		return "", errors.New("devidp: a logout token names a sub, a sid or both")
	}
	now := p.opts.Now()
	claims := map[string]any{
		"iss":    p.Issuer(),
		"aud":    p.opts.ClientID,
		"iat":    now.Unix(),
		"exp":    now.Add(logoutTokenTTL).Unix(),
		"jti":    randomString(16),
		"events": map[string]any{BackchannelLogoutEvent: map[string]any{}},
	}
	if sub != "" {
		claims["sub"] = sub
	}
	if sid != "" {
		claims["sid"] = sid
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	k := p.keys[0]
	p.mu.Unlock()
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.key, KeyID: k.kid, Algorithm: string(jose.RS256), Use: "sig"}},
		(&jose.SignerOptions{}).WithType("logout+jwt"),
	)
	if err != nil {
		return "", fmt.Errorf("devidp: signer: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("devidp: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// LogoutUser ends every login of username at the IdP (its access and
// refresh tokens stop working) and, when Options.BackchannelLogoutURI is
// set, POSTs one logout token per login (sub and sid) to it, as an
// administrator disabling the user would cause. client sends the tokens
// (nil: a client with a 10 s timeout). It returns how many tokens the
// relying party accepted, and an error naming the first refusal.
func (p *IdP) LogoutUser(ctx context.Context, client *http.Client, username string) (int, error) {
	sub := Subject(username)
	p.mu.Lock()
	var sids []string
	seen := map[string]bool{}
	for _, gi := range p.liveGrantsLocked() {
		if gi.user.Username == username && !seen[gi.family] {
			seen[gi.family] = true
			sids = append(sids, sessionID(gi.family))
			p.revokeFamilyLocked(gi.family)
		}
	}
	p.mu.Unlock()
	if p.opts.BackchannelLogoutURI == "" {
		return 0, nil
	}
	if len(sids) == 0 {
		sids = []string{""} // no live login: name the user only
	}
	sent := 0
	for _, sid := range sids {
		tok, err := p.LogoutToken(sub, sid)
		if err != nil {
			return sent, err
		}
		if err := p.SendLogoutToken(ctx, client, tok); err != nil {
			return sent, err
		}
		sent++
	}
	return sent, nil
}

// SessionIDs returns the sid of every login of username whose tokens
// still work, sorted.
func (p *IdP) SessionIDs(username string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, gi := range p.liveGrantsLocked() {
		if sid := sessionID(gi.family); gi.user.Username == username && !seen[sid] {
			seen[sid] = true
			out = append(out, sid)
		}
	}
	slices.Sort(out)
	return out
}

// liveGrantsLocked lists the grants of the access and refresh tokens that
// still work. p.mu is held.
func (p *IdP) liveGrantsLocked() []grantInfo {
	var out []grantInfo
	for _, t := range p.accessTokens {
		if !p.revokedFamily[t.family] {
			out = append(out, t.grantInfo)
		}
	}
	for _, t := range p.refreshTokens {
		if !p.revokedFamily[t.family] {
			out = append(out, t.grantInfo)
		}
	}
	return out
}

// SendLogoutToken POSTs token to Options.BackchannelLogoutURI as the form
// field logout_token and requires a 200 (or 204) answer.
func (p *IdP) SendLogoutToken(ctx context.Context, client *http.Client, token string) error {
	if p.opts.BackchannelLogoutURI == "" {
		return errors.New("devidp: no BackchannelLogoutURI is registered")
	}
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.opts.BackchannelLogoutURI,
		strings.NewReader(url.Values{"logout_token": {token}}.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("devidp: back-channel logout: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("devidp: back-channel logout: the relying party answered %d: %s", resp.StatusCode, body)
	}
	return nil
}
