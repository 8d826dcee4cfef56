package devidptest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
)

// LogoutSignature says how ForgeLogoutToken signs a logout token.
type LogoutSignature int

// The ways ForgeLogoutToken signs.
const (
	// SignPublished signs with a key the IdP's JWKS publishes: a genuine
	// signature over whatever claims the test chose.
	SignPublished LogoutSignature = iota
	// SignUnknownKey signs with a key never published, under a kid the
	// JWKS lacks.
	SignUnknownKey
	// SignNone sends alg none and no signature.
	SignNone
	// SignHS256WithPublicKey signs HS256 keyed with the PEM of the
	// published public key (the algorithm-confusion attack).
	SignHS256WithPublicKey
)

// ForgeLogoutToken returns a logout token for the client naming sub and
// sid (each left out when empty), valid in every respect until mutate
// changes its header or claims (nil: unchanged), signed as sig says.
func (p *IdP) ForgeLogoutToken(sig LogoutSignature, sub, sid string, mutate func(header, claims map[string]any)) (string, error) {
	now := time.Now()
	claims := map[string]any{
		"iss":    p.Issuer(),
		"aud":    p.clientID,
		"iat":    now.Unix(),
		"exp":    now.Add(2 * time.Minute).Unix(),
		"jti":    fmt.Sprintf("forged-%d", p.forged.Add(1)),
		"events": map[string]any{devidp.BackchannelLogoutEvent: map[string]any{}},
	}
	if sub != "" {
		claims["sub"] = sub
	}
	if sid != "" {
		claims["sid"] = sid
	}
	header := map[string]any{"alg": "RS256", "typ": "logout+jwt", "kid": p.resignKID}
	switch sig {
	case SignNone:
		header = map[string]any{"alg": "none", "typ": "logout+jwt"}
	case SignHS256WithPublicKey:
		header = map[string]any{"alg": "HS256", "typ": "logout+jwt", "kid": p.resignKID}
	case SignUnknownKey:
		header["kid"] = "devidptest-unknown"
	}
	if mutate != nil {
		mutate(header, claims)
	}
	p.mu.Lock()
	p.published = true // the JWKS now carries the key SignPublished uses
	p.mu.Unlock()
	return p.signCompact(sig, header, claims)
}

// signCompact serialises header and claims and signs them as sig says.
func (p *IdP) signCompact(sig LogoutSignature, header, claims map[string]any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	input := b64(h) + "." + b64(c)
	switch sig {
	case SignNone:
		return input + ".", nil
	case SignHS256WithPublicKey:
		der, err := x509.MarshalPKIXPublicKey(&p.resign.PublicKey)
		if err != nil {
			return "", err
		}
		m := hmac.New(sha256.New, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		m.Write([]byte(input))
		return input + "." + b64(m.Sum(nil)), nil
	}
	key := p.resign
	if sig == SignUnknownKey {
		key = p.rogue
	}
	extra := map[jose.HeaderKey]any{}
	for k, v := range header {
		if k != "alg" && k != "kid" {
			extra[jose.HeaderKey(k)] = v
		}
	}
	kid, _ := header["kid"].(string)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		&jose.SignerOptions{ExtraHeaders: extra})
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(c)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
