// Package session holds the logged-in state of a browser: the Session value,
// its encrypted codec, and the stores that keep it (an encrypted cookie, or
// Redis behind a cookie ticket).
package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

// Session is one logged-in user agent.
type Session struct {
	// ID is a random identifier created at login. It never changes for the
	// life of the session and keys refresh coordination and server stores.
	ID string `json:"id"`
	// ProviderID is the Info().ID of the provider that authenticated the user.
	ProviderID string `json:"pid"`
	// Identity is the user as the provider described them.
	Identity providers.Identity `json:"idn"`
	// Tokens are the provider's tokens for this session.
	Tokens providers.Tokens `json:"tok"`
	// CreatedAt is the login time.
	CreatedAt time.Time `json:"cat"`
	// RefreshedAt is the last time the tokens were refreshed (CreatedAt if never).
	RefreshedAt time.Time `json:"rat"`
	// ValidatedAt is the last time a providers.Validator confirmed the tokens.
	ValidatedAt time.Time `json:"vat,omitzero"`
	// ExpiresAt ends the session whatever its tokens say (cookie-expire).
	ExpiresAt time.Time `json:"eat"`
}

// Grant returns the provider grant carried by the session.
func (s *Session) Grant() providers.Grant {
	return providers.Grant{Identity: s.Identity, Tokens: s.Tokens}
}

// Expired reports whether the session's lifetime is over at now.
func (s *Session) Expired(now time.Time) bool {
	return !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt)
}

// New returns a session for a fresh login through providerID.
func New(providerID string, g providers.Grant, now time.Time, lifetime time.Duration) *Session {
	return &Session{
		ID:          RandomString(24),
		ProviderID:  providerID,
		Identity:    g.Identity,
		Tokens:      g.Tokens,
		CreatedAt:   now,
		RefreshedAt: now,
		ExpiresAt:   now.Add(lifetime),
	}
}

// Store keeps sessions between requests.
//
// Load, Save and Clear take the request (and response writer) because every
// store keeps at least a cookie in the browser.
type Store interface {
	// Load returns the session carried by r. It returns ErrNotFound (wrapped)
	// when r carries no session, or one that is invalid, tampered, expired
	// or signed out: the caller treats all of those as "not logged in". It
	// returns ErrUnavailable (wrapped) when the backing service cannot be
	// reached: the caller answers 503 and must not clear anything.
	Load(ctx context.Context, r *http.Request) (*Session, error)
	// Save stores s and writes the cookies it needs to w.
	Save(ctx context.Context, w http.ResponseWriter, r *http.Request, s *Session) error
	// Clear deletes the session carried by r (if any) and expires its cookies.
	Clear(ctx context.Context, w http.ResponseWriter, r *http.Request) error
}

// Sentinel errors that callers branch on with errors.Is.
var (
	// ErrNotFound means there is no usable session.
	ErrNotFound = errors.New("session not found")
	// ErrUnavailable means the session backend cannot be reached right now.
	ErrUnavailable = errors.New("session store unavailable")
	// ErrTooLarge means a session does not fit the store (the cookie store's
	// MaxChunks cookies): a server-side store is needed for it.
	ErrTooLarge = errors.New("session too large for the store")
)

// RandomString returns n random bytes from crypto/rand, base64url encoded
// without padding.
func RandomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b)
}
