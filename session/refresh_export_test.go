package session

import (
	"testing"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

// Hooks for the external tests of refresh.go (refresh_replica_test.go),
// which need the real Redis store and so live in package session_test.

// TokenServerForTest is the OAuth2 token endpoint of refresh_test.go.
type TokenServerForTest = tokenServer

// NewTokenServerForTest starts a token endpoint accepting refreshToken.
func NewTokenServerForTest(t testing.TB, refreshToken string) *TokenServerForTest {
	t.Helper()
	ts := newTokenServer(t)
	ts.allow(refreshToken)
	return ts
}

// TokenCalls returns how many token requests ts has received.
func (ts *tokenServer) TokenCalls() int32 { return ts.tokenCalls.Load() }

// NewProviderForTest returns the oauth2-backed provider "test" using ts.
func NewProviderForTest(ts *TokenServerForTest) providers.Provider { return newTestProvider(ts) }
