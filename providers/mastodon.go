package providers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-proxy/gatehouse/internal/lock"
)

// MastodonConfig configures the Mastodon provider.
type MastodonConfig struct {
	// Common: ID defaults to "mastodon", DisplayName to "Mastodon". Scopes
	// are registered and requested; by default "profile" when the
	// instance's metadata lists it (Mastodon 4.3+), else "read:accounts".
	// The client is registered on each instance, so ClientID and
	// ClientSecret are not used, nor are UserPrefix (users are
	// user@instance) and AllowUnverifiedEmail (Mastodon gives no email).
	Common
	// AllowedInstances decides which instances users may log in with: exact
	// host names ("mastodon.social"), "*.suffix" for any host under suffix
	// (not suffix itself), or "*" for every instance. Required.
	AllowedInstances []string
	// AppName is the client_name registered on each instance (shown to users
	// on the consent page); default "Gatehouse". AppWebsite is optional.
	AppName, AppWebsite string
	// Store keeps the per-instance app credentials; default in memory. A
	// store that implements CredentialLocker (Redis) serialises registration
	// across replicas.
	Store CredentialStore
	// ValidateEvery is how often a session re-checks its token with
	// verify_credentials, so a revoked token ends it; 0 disables.
	ValidateEvery time.Duration
	// InstanceURL maps a normalised instance host to its base URL; default
	// "https://" + host. Tests point it at local servers.
	InstanceURL func(host string) string
	// AllowPrivateAddresses lets Gatehouse connect to instances resolving to
	// loopback, private or link-local addresses. By default, when the
	// allow-list has a wildcard, such connections are refused so users
	// cannot make Gatehouse probe the internal network.
	AllowPrivateAddresses bool
}

// Mastodon logs users in with any allowed Mastodon-compatible instance,
// registering an app on each instance on first use. Identity: Subject is the
// account id (unique within Issuer, the instance host), User is
// "username@instance" (lower case), PreferredUsername "username@instance" as
// the instance spells it; Extra has "acct", "instance" and "url".
type Mastodon struct {
	c        MastodonConfig // with defaults filled in
	allowed  []string       // normalised AllowedInstances
	client   *http.Client   // c.HTTPClient, refusing redirects (and private addresses)
	locks    lock.Local
	mu       sync.Mutex
	meta     map[string]instanceMeta
	verified map[string]time.Time // client_id → last successful app check
	// registrations holds, per instance, when this process registered apps
	// there within registrationWindow.
	registrations map[string][]time.Time
}

var (
	_ Provider  = (*Mastodon)(nil)
	_ Validator = (*Mastodon)(nil)
)

const (
	metaTTL      = time.Hour
	appCheckTTL  = 10 * time.Minute
	maxCacheSize = 1000
	// At most maxRegistrations apps per instance per registrationWindow.
	maxRegistrations   = 5
	registrationWindow = 10 * time.Minute
)

// instanceMeta is what an instance's RFC 8414 metadata says, if it has any.
type instanceMeta struct {
	pkceS256     bool
	profileScope bool
	fetched      time.Time
}

// NewMastodon validates c and returns the provider.
func NewMastodon(c MastodonConfig) (*Mastodon, error) {
	if len(c.AllowedInstances) == 0 {
		return nil, errors.New("mastodon: allowed_instances is required ('*' allows every instance)")
	}
	var allowed []string
	wildcard := false
	for _, a := range c.AllowedInstances {
		a = strings.ToLower(strings.TrimSpace(a))
		switch {
		case a == "*":
			wildcard = true
		case strings.HasPrefix(a, "*."):
			wildcard = true
			if _, err := NormalizeInstance("x." + a[2:]); err != nil {
				return nil, fmt.Errorf("mastodon: allowed_instances %q: %w", a, err)
			}
		default:
			h, err := NormalizeInstance(a)
			if err != nil {
				return nil, fmt.Errorf("mastodon: allowed_instances %q: %w", a, err)
			}
			a = h
		}
		allowed = append(allowed, a)
	}
	c.Common = c.withDefaults("mastodon", "Mastodon")
	c.AppName = cmp.Or(c.AppName, "Gatehouse")
	if c.Store == nil {
		c.Store = NewMemoryCredentialStore()
	}
	if c.InstanceURL == nil {
		c.InstanceURL = func(h string) string { return "https://" + h }
	}
	m := &Mastodon{
		c:        c,
		allowed:  allowed,
		meta:     map[string]instanceMeta{},
		verified: map[string]time.Time{},

		registrations: map[string][]time.Time{},
	}
	client := c.HTTPClient
	if wildcard && !c.AllowPrivateAddresses {
		client = publicOnlyClient(client)
	}
	// Mastodon's API answers where it is asked; a redirect would let an
	// instance point Gatehouse's requests (with the app secret or a user's
	// token) at another host. A 3xx is an unexpected answer.
	noRedirects := *client
	noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	m.client = &noRedirects
	return m, nil
}

// Info implements Provider.
func (m *Mastodon) Info() Info {
	return Info{ID: m.c.ID, Type: "mastodon", DisplayName: m.c.DisplayName, NeedsInstance: true}
}

// ValidateEvery implements Validator.
func (m *Mastodon) ValidateEvery() time.Duration { return m.c.ValidateEvery }

// NormalizeInstance turns what a user typed ("example.social",
// "https://example.social/about", "@alice@example.social") into a lower-case
// host name. It refuses URLs with credentials, ports, IP addresses,
// single-label names (localhost) and non-ASCII names (enter punycode).
func NormalizeInstance(input string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(input))
	if s == "" {
		return "", errors.New("empty instance")
	}
	if len(s) > 300 {
		return "", errors.New("instance name too long")
	}
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("invalid instance URL: %w", err)
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return "", fmt.Errorf("instance URL scheme %q: want https", u.Scheme)
		}
		if u.User != nil {
			return "", errors.New("instance URL must not contain credentials")
		}
		s = u.Host
	} else {
		if i := strings.IndexAny(s, "/?#"); i >= 0 {
			s = s[:i]
		}
		if strings.Contains(s, "@") {
			// @user@host or user@host: a handle.
			user, host, _ := strings.Cut(strings.TrimPrefix(s, "@"), "@")
			if user == "" || strings.Trim(user, "abcdefghijklmnopqrstuvwxyz0123456789_.-") != "" {
				return "", errors.New("invalid handle: want @user@instance")
			}
			s = host
		}
	}
	s = strings.TrimSuffix(s, ".")
	if strings.Contains(s, ":") {
		return "", errors.New("instance must not have a port or be an IPv6 address")
	}
	if len(s) > 253 {
		return "", errors.New("instance name too long")
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return "", errors.New("instance must be a full domain name like example.social")
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return "", fmt.Errorf("invalid instance name %q", s)
		}
	}
	// A numeric last label makes the name an IPv4 address to URL parsers
	// and some resolvers ("10.1", "1.2.3.0x4"): refuse them all.
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") && strings.Trim(last[2:], "0123456789abcdef") == "" {
		return "", errors.New("instance must be a domain name, not an IP address")
	}
	return s, nil
}

// allowedHost reports whether the normalised host matches the allow-list.
func (m *Mastodon) allowedHost(host string) bool {
	for _, a := range m.allowed {
		switch {
		case a == "*":
			return true
		case strings.HasPrefix(a, "*."):
			if strings.HasSuffix(host, a[1:]) {
				return true
			}
		case a == host:
			return true
		}
	}
	return false
}

// instance validates user input into an allowed host, before any request.
func (m *Mastodon) instance(input string) (string, error) {
	host, err := NormalizeInstance(input)
	if err != nil {
		return "", &Error{Code: CodeInvalidInstance, Message: "That is not a valid instance name. Enter it like example.social or @you@example.social.", Err: err}
	}
	if !m.allowedHost(host) {
		return "", &Error{Code: CodeInstanceNotAllowed, Message: "Logging in with " + host + " is not allowed here.", Err: fmt.Errorf("instance %s not in allowed_instances", host)}
	}
	return host, nil
}

// AuthCodeURL implements Provider. On first use of an instance it registers
// an app there.
func (m *Mastodon) AuthCodeURL(ctx context.Context, p AuthParams) (string, error) {
	host, err := m.instance(p.Instance)
	if err != nil {
		return "", err
	}
	if p.State == "" || p.RedirectURL == "" {
		return "", errors.New("mastodon: state and redirect URL are required")
	}
	meta, err := m.metadata(ctx, host)
	if err != nil {
		return "", err
	}
	scopes := m.scopeString(meta)
	creds, err := m.credentials(ctx, host, p.RedirectURL, scopes, "")
	if err != nil {
		return "", err
	}
	if bad, err := m.checkApp(ctx, host, creds); err != nil {
		return "", err
	} else if bad {
		if creds, err = m.credentials(ctx, host, p.RedirectURL, scopes, creds.ClientID); err != nil {
			return "", err
		}
	}
	cfg := oauth2.Config{ClientID: creds.ClientID, RedirectURL: p.RedirectURL, Endpoint: oauth2.Endpoint{AuthURL: m.c.InstanceURL(host) + "/oauth/authorize"}}
	opts := []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("scope", creds.Scopes)}
	if meta.pkceS256 {
		if !ValidCodeVerifier(p.CodeVerifier) {
			return "", errors.New("mastodon: PKCE needs a valid code verifier")
		}
		opts = append(opts, oauth2.S256ChallengeOption(p.CodeVerifier))
	}
	return cfg.AuthCodeURL(p.State, opts...), nil
}

// Redeem implements Provider.
func (m *Mastodon) Redeem(ctx context.Context, code string, p AuthParams) (Grant, error) {
	host, err := m.instance(p.Instance)
	if err != nil {
		return Grant{}, err
	}
	if code == "" {
		return Grant{}, &Error{Code: CodeInvalidGrant, Message: "The instance sent no authorization code. Please try again.", Err: ErrInvalidGrant}
	}
	meta, err := m.metadata(ctx, host)
	if err != nil {
		return Grant{}, err
	}
	creds, ok, err := m.c.Store.Get(ctx, host, p.RedirectURL)
	if err != nil {
		return Grant{}, unavailableStore(err)
	}
	if !ok {
		return Grant{}, &Error{Code: CodeInvalidClient, Message: "Gatehouse's registration with your instance changed during the login. Please sign in again.", Err: fmt.Errorf("no app credentials for %s at redeem", host)}
	}
	verifier := ""
	if meta.pkceS256 {
		verifier = p.CodeVerifier
	}
	tokens, err := m.tokenClient(host, creds).redeem(ctx, code, p.RedirectURL, verifier)
	if err != nil {
		if e, ok := errors.AsType[*Error](err); ok && e.Code == CodeInvalidClient {
			m.c.Logger.WarnContext(ctx, "mastodon app credentials rejected; registering again", "provider", m.c.ID, "instance", host)
			if _, rerr := m.credentials(ctx, host, p.RedirectURL, m.scopeString(meta), creds.ClientID); rerr != nil {
				return Grant{}, rerr
			}
			return Grant{}, &Error{Code: CodeInvalidClient, Message: "Gatehouse had to register again with your instance. Please sign in again.", Err: e.Err}
		}
		return Grant{}, err
	}
	id, err := m.account(ctx, host, tokens.AccessToken)
	if err != nil {
		return Grant{}, err
	}
	// Mastodon tokens do not expire; ignore any expiry a compatible server sends.
	tokens.RefreshToken, tokens.Expiry = "", time.Time{}
	return Grant{Identity: id, Tokens: tokens}, nil
}

// Refresh implements Provider: Mastodon has no refresh tokens.
func (m *Mastodon) Refresh(context.Context, Grant) (Grant, error) {
	return Grant{}, ErrNoRefreshToken
}

// Validate implements Validator: the token is checked with
// verify_credentials; a 401/403 or an instance no longer allowed ends the
// session.
func (m *Mastodon) Validate(ctx context.Context, g Grant) error {
	host, err := m.instance(g.Identity.Issuer)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidGrant, err)
	}
	id, err := m.account(ctx, host, g.Tokens.AccessToken)
	if err != nil {
		return err
	}
	if id.Subject != g.Identity.Subject {
		return fmt.Errorf("mastodon: token now belongs to another account: %w", ErrInvalidGrant)
	}
	return nil
}

// account reads the identity from verify_credentials.
func (m *Mastodon) account(ctx context.Context, host, token string) (Identity, error) {
	doc, err := getJSON(ctx, m.client, m.c.InstanceURL(host)+"/api/v1/accounts/verify_credentials", token)
	if err != nil {
		return Identity{}, err
	}
	accountID, _ := claimString(doc, "id")
	username, _ := claimString(doc, "username")
	if accountID == "" || checkPrintable(accountID) != nil {
		return Identity{}, badResponse(errors.New("verify_credentials: no account id"))
	}
	if username == "" || strings.Trim(strings.ToLower(username), "abcdefghijklmnopqrstuvwxyz0123456789_.-") != "" {
		return Identity{}, badResponse(errors.New("verify_credentials: invalid username"))
	}
	id := Identity{
		Subject:           accountID,
		User:              strings.ToLower(username) + "@" + host,
		PreferredUsername: username + "@" + host,
		Issuer:            host,
		Extra:             map[string]string{"acct": strings.ToLower(username) + "@" + host, "instance": host},
	}
	if s, _ := claimString(doc, "display_name"); checkPrintable(s) == nil {
		id.Name = s
	}
	if s, _ := claimString(doc, "avatar"); checkPrintable(s) == nil {
		id.Picture = s
	}
	if s, _ := claimString(doc, "url"); s != "" && checkPrintable(s) == nil {
		id.Extra["url"] = s
	}
	return id, nil
}

func (m *Mastodon) scopeString(meta instanceMeta) string {
	switch {
	case len(m.c.Scopes) > 0:
		return strings.Join(m.c.Scopes, " ")
	case meta.profileScope:
		return "profile"
	default:
		return "read:accounts"
	}
}

// metadata returns the instance's cached OAuth metadata, fetching it when
// stale. A 404 (servers before 4.3) or unusable document means no PKCE and
// no "profile" scope; a transport error or 5xx means the instance is down.
func (m *Mastodon) metadata(ctx context.Context, host string) (instanceMeta, error) {
	m.mu.Lock()
	meta, ok := m.meta[host]
	m.mu.Unlock()
	if ok && time.Since(meta.fetched) < metaTTL {
		return meta, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.c.InstanceURL(host)+"/.well-known/oauth-authorization-server", nil)
	if err != nil {
		return instanceMeta{}, unavailable(err)
	}
	req.Header.Set("Accept", "application/json")
	status, _, body, err := do(m.client, req)
	if err != nil {
		return instanceMeta{}, err
	}
	if status >= 500 {
		return instanceMeta{}, unavailable(fmt.Errorf("%s metadata: HTTP %d", host, status))
	}
	meta = instanceMeta{fetched: time.Now()}
	if status == http.StatusOK {
		if doc, err := decodeJSONObject(body); err == nil {
			meta.pkceS256 = slices.Contains(claimStrings(doc, "code_challenge_methods_supported"), "S256")
			meta.profileScope = slices.Contains(claimStrings(doc, "scopes_supported"), "profile")
		}
	}
	m.mu.Lock()
	if len(m.meta) >= maxCacheSize {
		clear(m.meta)
	}
	m.meta[host] = meta
	m.mu.Unlock()
	return meta, nil
}
