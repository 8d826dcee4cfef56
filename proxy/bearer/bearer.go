// Package bearer verifies the JWTs machine clients present as
// "Authorization: Bearer" on routes that accept them: with go-oidc,
// against the configured issuers (discovered, retried in the background
// until they answer), their JWKS cached and fetched again for an unknown
// key at most every few seconds, and maps a verified token's claims to an
// identity the authorization rules understand.
package bearer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-proxy/gatehouse/internal/jwks"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

// ErrInvalidToken is returned (wrapped) for any token that does not
// verify; the request is answered 401 invalid_token.
var ErrInvalidToken = errors.New("invalid bearer token")

// ProviderID is the provider id of identities from bearer tokens, as
// allow rules' providers and X-Forwarded-Provider name it.
const ProviderID = "jwt_bearer"

// IssuerConfig is one issuer whose tokens are accepted.
type IssuerConfig struct {
	// IssuerURL is discovered and must be the tokens' iss.
	IssuerURL string
	// Audiences: a token's aud must hold one of them.
	Audiences []string
	// UserClaim becomes the identity's User (default sub).
	UserClaim string
	// GroupsClaim holds the groups (default groups).
	GroupsClaim string
	// MinRefresh is how often, at most, the JWKS is fetched again for an
	// unknown key id (default jwks.DefaultMinRefresh).
	MinRefresh time.Duration
}

// Principal is a verified token's identity.
type Principal struct {
	// Issuer is the token's iss.
	Issuer string
	// Identity is the token's sub, user claim, email (only when
	// email_verified is not false) and groups.
	Identity providers.Identity
	// Claims are the token's string claims; Lists its lists of strings.
	Claims map[string]string
	Lists  map[string][]string
}

// Verifier checks bearer tokens against the configured issuers.
type Verifier struct {
	issuers []*issuer
	log     *slog.Logger
}

type issuer struct {
	cfg    IssuerConfig
	client *http.Client
	mu     sync.RWMutex
	v      *oidc.IDTokenVerifier // nil until discovery answered
	err    error                 // the last discovery error
}

// New returns a Verifier for cfgs and starts discovering each issuer in
// the background, retrying with a backoff capped at a minute until it
// answers or ctx ends. Tokens of an issuer not yet discovered are refused;
// Ready says which issuer is missing.
func New(ctx context.Context, cfgs []IssuerConfig, client *http.Client, log *slog.Logger) *Verifier {
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &Verifier{log: log}
	for _, c := range cfgs {
		is := &issuer{cfg: c, client: client, err: errors.New("not discovered yet")}
		v.issuers = append(v.issuers, is)
		go is.discoverLoop(ctx, log)
	}
	return v
}

// Ready returns an error naming the first issuer not discovered yet.
func (v *Verifier) Ready(context.Context) error {
	for _, is := range v.issuers {
		is.mu.RLock()
		ok, err := is.v != nil, is.err
		is.mu.RUnlock()
		if !ok {
			return fmt.Errorf("jwt_bearer issuer %s unreachable: %w", is.cfg.IssuerURL, err)
		}
	}
	return nil
}

func (is *issuer) discoverLoop(ctx context.Context, log *slog.Logger) {
	delay := time.Second
	for {
		err := is.discover(ctx)
		if err == nil {
			return
		}
		is.mu.Lock()
		is.err = err
		is.mu.Unlock()
		log.WarnContext(ctx, "jwt_bearer issuer unreachable; retrying", "issuer", is.cfg.IssuerURL, "in", delay, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Minute)
	}
}

// discover fetches the issuer's metadata and builds its verifier, with
// the signing algorithms it advertises (never none or HMAC).
func (is *issuer) discover(ctx context.Context) error {
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, is.client), 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, is.cfg.IssuerURL)
	if err != nil {
		return err
	}
	var meta struct {
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&meta); err != nil {
		return err
	}
	algs := slices.DeleteFunc(slices.Clone(meta.Algs), func(a string) bool {
		return a == "none" || strings.HasPrefix(strings.ToUpper(a), "HS")
	})
	if len(algs) == 0 {
		algs = []string{oidc.RS256}
	}
	ks := jwks.NewKeySet(meta.JWKSURI, is.client, algs, is.cfg.MinRefresh)
	v := oidc.NewVerifier(is.cfg.IssuerURL, ks, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: algs})
	is.mu.Lock()
	is.v, is.err = v, nil
	is.mu.Unlock()
	return nil
}

// Verify checks raw (the token after "Bearer ") and returns its identity.
// Every failure wraps ErrInvalidToken.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	iss, err := unverifiedIssuer(raw)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	i := slices.IndexFunc(v.issuers, func(is *issuer) bool { return is.cfg.IssuerURL == iss })
	if i < 0 {
		return Principal{}, fmt.Errorf("%w: issuer not accepted", ErrInvalidToken)
	}
	is := v.issuers[i]
	is.mu.RLock()
	verifier := is.v
	is.mu.RUnlock()
	if verifier == nil {
		return Principal{}, fmt.Errorf("%w: issuer %s not discovered yet", ErrInvalidToken, iss)
	}
	tok, err := verifier.Verify(oidc.ClientContext(ctx, is.client), raw)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if !slices.ContainsFunc(tok.Audience, func(a string) bool { return slices.Contains(is.cfg.Audiences, a) }) {
		return Principal{}, fmt.Errorf("%w: audience not accepted", ErrInvalidToken)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return is.principal(tok.Subject, claims), nil
}

// principal maps verified claims to an identity.
func (is *issuer) principal(sub string, claims map[string]any) Principal {
	p := Principal{Issuer: is.cfg.IssuerURL, Claims: map[string]string{}, Lists: map[string][]string{}}
	for k, val := range claims {
		switch x := val.(type) {
		case string:
			p.Claims[k] = x
		case []any:
			for _, item := range x {
				if s, ok := item.(string); ok {
					p.Lists[k] = append(p.Lists[k], s)
				}
			}
		}
	}
	id := providers.Identity{Subject: sub, User: sub}
	if c := is.cfg.UserClaim; c != "" && c != "sub" {
		id.User = p.Claims[c]
	}
	if verified, ok := claims["email_verified"].(bool); !ok || verified {
		id.Email = p.Claims["email"]
		id.EmailVerified = ok && verified
	}
	groups := is.cfg.GroupsClaim
	if groups == "" {
		groups = "groups"
	}
	id.Groups = p.Lists[groups]
	p.Identity = id
	return p
}

// unverifiedIssuer reads iss from a JWT's payload without verifying it,
// only to pick the issuer that will verify it.
func unverifiedIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", errors.New("not a signed JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("payload is not base64url")
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", errors.New("payload is not JSON")
	}
	return c.Issuer, nil
}
