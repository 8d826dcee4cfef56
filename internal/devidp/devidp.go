// Package devidp is a small but real OpenID Connect provider for development
// (`gatehouse dev`) and for tests: discovery, JWKS, an HTML login form, the
// authorization-code flow with mandatory PKCE S256, refresh tokens (rotating
// with RefreshTokenRotation), userinfo, RP-initiated logout, key rotation
// (RotateKey), a changing user directory (SetUser) and extra claims per
// user (User.Claims).
//
// The knobs tests use to break each step (an unavailable token endpoint,
// revoked tokens, tampered or foreign-key-signed ID tokens, request
// counters) and the browser driver Login live in package devidptest, so
// that the gatehouse binary carries none of them. Mount Handler on an
// httptest.Server and call SetIssuer with its URL.
//
// Subjects are Subject(username), deliberately not the username. It keeps
// everything in memory and is not meant to guard anything real.
package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// User is a user the IdP can log in.
type User struct {
	// Username is the login name and the preferred_username claim.
	Username string
	// Name is the display name (name claim).
	Name string
	// Email is the email claim; empty for none.
	Email string
	// EmailVerified is the email_verified claim.
	EmailVerified bool
	// Groups is the groups claim.
	Groups []string
	// Claims are extra claims (e.g. hd, tid, roles, realm_access) merged,
	// whatever the scopes, into the userinfo response and (unless
	// OmitUserinfoClaims) the ID token, after the standard ones: a key
	// here replaces an ID-token claim of the same name, protocol claims
	// such as iss included (a test hook; userinfo's sub stays).
	Claims map[string]any
}

// Options configure an IdP. The zero value is not usable: ClientID is
// required.
type Options struct {
	// Issuer is the issuer URL, e.g. "http://127.0.0.1:5556/dex". When
	// empty, Serve derives it from the listener; callers of Handler set it
	// with SetIssuer before the first request.
	Issuer string
	// ClientID is the one registered client.
	ClientID string
	// ClientSecret is the client's secret; empty makes it a public client
	// (token endpoint auth method "none", client_id in the body).
	ClientSecret string
	// RedirectURIs are the registered redirect URIs, matched exactly. Empty
	// accepts any http(s) redirect to a loopback host (127.0.0.1, ::1,
	// localhost).
	RedirectURIs []string
	// PostLogoutRedirectURIs are the registered post-logout redirect URIs,
	// matched exactly. Empty accepts any http(s) loopback URI.
	PostLogoutRedirectURIs []string
	// Users are the fixed users, shown on the login form.
	Users []User
	// AnyUser lets any well-formed username log in; users not in Users get
	// Name = username, Email = <username>@example.test (verified), no groups.
	AnyUser bool
	// AccessTokenTTL is the access-token lifetime; default 5m.
	AccessTokenTTL time.Duration
	// IDTokenTTL is the ID-token lifetime; default 5m.
	IDTokenTTL time.Duration
	// AutoLogin, when set, makes GET /authorize skip the form and log in
	// this user (headless tests). "*" logs in the user named by the
	// request's login_hint, and shows the form when there is none.
	AutoLogin string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OmitUserinfoClaims makes ID tokens carry only the protocol claims
	// (iss, sub, aud, exp, iat, nonce, at_hash), forcing clients to fetch
	// email, name and groups from the userinfo endpoint.
	OmitUserinfoClaims bool
	// RefreshTokenRotation issues a new refresh token on every refresh and
	// invalidates the old one; replaying a rotated token revokes the whole
	// token family. Without it the refresh response carries no
	// refresh_token and the original stays valid.
	RefreshTokenRotation bool
	// RefreshRequiresOfflineAccess issues a refresh token at login only
	// when the offline_access scope was requested, as Dex does.
	RefreshRequiresOfflineAccess bool
	// NoOfflineAccess leaves offline_access out of discovery's
	// scopes_supported.
	NoOfflineAccess bool
	// NoEndSession leaves end_session_endpoint out of discovery.
	NoEndSession bool
	// NoUserinfo leaves userinfo_endpoint out of discovery (the endpoint
	// still answers).
	NoUserinfo bool
	// BackchannelLogoutURI is the client's registered back-channel logout
	// URI (OpenID Connect Back-Channel Logout 1.0): LogoutUser posts
	// logout tokens to it. ID tokens always carry a sid per login.
	BackchannelLogoutURI string
}

const (
	codeTTL        = time.Minute
	defaultTTL     = 5 * time.Minute
	maxUsernameLen = 64
)

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// IdP is an in-memory OpenID provider. It is safe for concurrent use.
type IdP struct {
	opts Options // read-only after New

	mu            sync.Mutex
	issuer        string
	keys          []signingKey // keys[0] signs; all are published
	users         map[string]User
	codes         map[string]*authCode
	accessTokens  map[string]*accessToken
	refreshTokens map[string]*refreshToken
	revokedFamily map[string]bool
}

type signingKey struct {
	kid    string
	key    *rsa.PrivateKey
	signer jose.Signer
}

// grantInfo is what every token issued for one login shares.
type grantInfo struct {
	user     User
	sub      string
	clientID string
	scopes   []string
	authTime time.Time
	family   string // ties the code, access and refresh tokens of one login
}

type authCode struct {
	grantInfo
	redirectURI string
	challenge   string
	nonce       string
	expiry      time.Time
	used        bool
}

type accessToken struct {
	grantInfo
	expiry time.Time
}

type refreshToken struct {
	grantInfo
	rotated bool // replaced by a newer token (rotation)
}

// New returns an IdP with a fresh RSA-2048 signing key.
func New(o Options) (*IdP, error) {
	if o.ClientID == "" {
		return nil, errors.New("devidp: ClientID is required")
	}
	if o.AccessTokenTTL <= 0 {
		o.AccessTokenTTL = defaultTTL
	}
	if o.IDTokenTTL <= 0 {
		o.IDTokenTTL = defaultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	users := make(map[string]User, len(o.Users))
	for _, u := range o.Users {
		if !validUsername(u.Username) {
			return nil, fmt.Errorf("devidp: invalid username %q", u.Username)
		}
		users[u.Username] = u
	}
	k, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	p := &IdP{
		opts:          o,
		issuer:        strings.TrimSuffix(o.Issuer, "/"),
		keys:          []signingKey{k},
		users:         users,
		codes:         map[string]*authCode{},
		accessTokens:  map[string]*accessToken{},
		refreshTokens: map[string]*refreshToken{},
		revokedFamily: map[string]bool{},
	}
	return p, nil
}

func newSigningKey() (signingKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return signingKey{}, fmt.Errorf("devidp: generate key: %w", err)
	}
	kid := randomString(8)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return signingKey{}, fmt.Errorf("devidp: signer: %w", err)
	}
	return signingKey{kid: kid, key: key, signer: signer}, nil
}

// Issuer returns the issuer URL (without a trailing slash).
func (p *IdP) Issuer() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.issuer
}

// SetIssuer sets the issuer URL, typically to an httptest.Server's URL
// (plus an optional path) right after starting it.
func (p *IdP) SetIssuer(issuer string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.issuer = strings.TrimSuffix(issuer, "/")
}

// SetUser adds u or replaces the user with the same Username; the next
// token or userinfo response reflects the change (e.g. new groups on
// refresh).
func (p *IdP) SetUser(u User) error {
	if !validUsername(u.Username) {
		return fmt.Errorf("devidp: invalid username %q", u.Username)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users[u.Username] = u
	return nil
}

// RotateKey makes a new signing key current. The old keys stay published
// in the JWKS, so tokens they signed still verify; clients that cached the
// JWKS must refetch it to verify new tokens.
func (p *IdP) RotateKey() error {
	k, err := newSigningKey()
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append([]signingKey{k}, p.keys...)
	return nil
}

// Subject returns the stable sub claim the IdP uses for username. It is
// deliberately different from the username.
func Subject(username string) string {
	sum := sha256.Sum256([]byte("devidp-sub:" + username))
	return "u-" + hex.EncodeToString(sum[:10])
}

// userLocked returns the user that may log in as username. p.mu is held.
func (p *IdP) userLocked(username string) (User, bool) {
	if !validUsername(username) {
		return User{}, false
	}
	if u, ok := p.users[username]; ok {
		return u, true
	}
	if p.opts.AnyUser {
		return User{Username: username, Name: username, Email: username + "@example.test", EmailVerified: true}, true
	}
	return User{}, false
}

func (p *IdP) user(username string) (User, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.userLocked(username)
}

// fixedUsers returns the configured users sorted by username.
func (p *IdP) fixedUsers() []User {
	p.mu.Lock()
	defer p.mu.Unlock()
	us := make([]User, 0, len(p.users))
	for _, u := range p.users {
		us = append(us, u)
	}
	slices.SortFunc(us, func(a, b User) int { return strings.Compare(a.Username, b.Username) })
	return us
}

func validUsername(u string) bool {
	return len(u) > 0 && len(u) <= maxUsernameLen && usernameRE.MatchString(u)
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
