// Package jwks holds KeySet, the remote JSON Web Key Set every token
// check of Gatehouse's own (machine clients' bearer tokens, back-channel
// logout tokens) verifies signatures with: cached, and fetched again for an
// unknown key id at most once per interval, never once per token.
package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// DefaultMinRefresh is the window in which a KeySet fetches its JWKS at
// most Burst times.
const DefaultMinRefresh = 10 * time.Second

// Burst is how many fetches one window allows: the first use and one
// more, so that a key the issuer published just after the first fetch
// (a rotation) is found at once.
const Burst = 2

var errLimited = errors.New("jwks fetched too often")

// maxJWKSBytes bounds a JWKS response.
const maxJWKSBytes = 1 << 20

// KeySet is an oidc.KeySet over a remote JWKS that is fetched on first use
// and again for an unknown key id, but at most Burst times per MinRefresh
// (and once at a time): go-oidc's RemoteKeySet fetches again for every token
// with an unknown kid, so anyone could make Gatehouse hammer the issuer.
type KeySet struct {
	url        string
	client     *http.Client
	minRefresh time.Duration
	now        func() time.Time
	algs       []jose.SignatureAlgorithm

	group   singleflight.Group
	mu      sync.RWMutex
	keys    []jose.JSONWebKey
	fetches []time.Time // the last Burst fetch attempts, oldest first
}

// NewKeySet returns a KeySet fetching jwksURL with client (nil:
// http.DefaultClient), accepting signatures made with algs only.
func NewKeySet(jwksURL string, client *http.Client, algs []string, minRefresh time.Duration) *KeySet {
	if client == nil {
		client = http.DefaultClient
	}
	if minRefresh <= 0 {
		minRefresh = DefaultMinRefresh
	}
	ks := &KeySet{url: jwksURL, client: client, minRefresh: minRefresh, now: time.Now}
	for _, a := range algs {
		ks.algs = append(ks.algs, jose.SignatureAlgorithm(a))
	}
	return ks
}

// VerifySignature implements oidc.KeySet: it returns the payload of jwt
// when a key of the set with its kid verifies its signature.
func (ks *KeySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(jwt, ks.algs)
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("a jwt must have exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	for attempt := 0; attempt < 2; attempt++ {
		for _, k := range ks.candidates(kid) {
			if payload, err := jws.Verify(k); err == nil {
				return payload, nil
			}
		}
		if attempt == 0 && !ks.refresh(ctx) {
			break
		}
	}
	return nil, errors.New("no key of the issuer verifies the signature")
}

// candidates are the cached keys with kid (all keys when kid is empty).
func (ks *KeySet) candidates(kid string) []jose.JSONWebKey {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	var out []jose.JSONWebKey
	for _, k := range ks.keys {
		if kid == "" || k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

// limited reports whether Burst fetches were tried within minRefresh.
// ks.mu must be held.
func (ks *KeySet) limited() bool {
	return len(ks.fetches) >= Burst && ks.now().Sub(ks.fetches[0]) < ks.minRefresh
}

// refresh fetches the JWKS again unless the window's fetches are used up;
// it reports whether it fetched.
func (ks *KeySet) refresh(ctx context.Context) bool {
	ks.mu.RLock()
	limited := ks.limited()
	ks.mu.RUnlock()
	if limited {
		return false
	}
	_, err, _ := ks.group.Do("jwks", func() (any, error) {
		ks.mu.Lock()
		if ks.limited() {
			ks.mu.Unlock()
			return nil, errLimited
		}
		ks.fetches = append(ks.fetches, ks.now())
		if len(ks.fetches) > Burst {
			ks.fetches = ks.fetches[1:]
		}
		ks.mu.Unlock()
		// Not the caller's context: a client going away must not fail the
		// fetch every waiting request shares.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		keys, err := ks.fetch(fctx)
		if err != nil {
			return nil, err
		}
		ks.mu.Lock()
		ks.keys = keys
		ks.mu.Unlock()
		return nil, nil
	})
	return err == nil
}

func (ks *KeySet) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ks.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := ks.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching jwks: status %d", resp.StatusCode)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("decoding jwks: %w", err)
	}
	var out []jose.JSONWebKey
	for _, k := range set.Keys {
		// Public keys only: a symmetric key in a JWKS would let anyone
		// who can read the JWKS sign tokens.
		if k.Valid() && k.IsPublic() && (k.Use == "" || k.Use == "sig") {
			out = append(out, k)
		}
	}
	return out, nil
}
