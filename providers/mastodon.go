package providers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-proxy/gatehouse/internal/lock"
)

// MastodonConfig configures the Mastodon provider.
type MastodonConfig struct {
	// ID defaults to "mastodon"; DisplayName to "Mastodon".
	ID, DisplayName string
	// AllowedInstances decides which instances users may log in with: exact
	// host names ("mastodon.social"), "*.suffix" for any host under suffix
	// (not suffix itself), or "*" for every instance. Required.
	AllowedInstances []string
	// AppName is the client_name registered on each instance (shown to users
	// on the consent page); default "Gatehouse". AppWebsite is optional.
	AppName, AppWebsite string
	// Scopes registered and requested. Default: "profile" when the instance's
	// metadata lists it (Mastodon 4.3+), else "read:accounts".
	Scopes []string
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
	HTTPClient            *http.Client
	Logger                *slog.Logger
}

// Mastodon logs users in with any allowed Mastodon-compatible instance,
// registering an app on each instance on first use. Identity: Subject is the
// account id (unique within Issuer, the instance host), User is
// "username@instance" (lower case), PreferredUsername "username@instance" as
// the instance spells it; Extra has "acct", "instance" and "url".
type Mastodon struct {
	info     Info
	allowed  []string
	appName  string
	website  string
	scopes   []string
	store    CredentialStore
	every    time.Duration
	baseURL  func(string) string
	client   *http.Client
	log      *slog.Logger
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
	m := &Mastodon{
		info:     Info{ID: cmp.Or(c.ID, "mastodon"), Type: "mastodon", DisplayName: cmp.Or(c.DisplayName, "Mastodon"), NeedsInstance: true},
		allowed:  allowed,
		appName:  cmp.Or(c.AppName, "Gatehouse"),
		website:  c.AppWebsite,
		scopes:   c.Scopes,
		store:    c.Store,
		every:    c.ValidateEvery,
		baseURL:  c.InstanceURL,
		log:      cmp.Or(c.Logger, slog.Default()),
		meta:     map[string]instanceMeta{},
		verified: map[string]time.Time{},

		registrations: map[string][]time.Time{},
	}
	if m.store == nil {
		m.store = NewMemoryCredentialStore()
	}
	if m.baseURL == nil {
		m.baseURL = func(h string) string { return "https://" + h }
	}
	client := c.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: defaultHTTPTimeout}
	}
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

// publicOnlyClient returns a copy of c whose connections to non-public
// addresses fail. The check applies to the address actually connected to,
// so DNS answers that change between check and use (rebinding) and
// redirects cannot get around it. Connections through an HTTP proxy are
// checked at the proxy's address. Clients with a RoundTripper other than
// *http.Transport are used as given.
func publicOnlyClient(c *http.Client) *http.Client {
	var t *http.Transport
	switch rt := c.Transport.(type) {
	case nil:
		t = http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = nil // replaced by the checking dialer below
	case *http.Transport:
		t = rt.Clone()
	default:
		return c
	}
	if t.DialContext == nil {
		// Refuse before connecting: not even a SYN reaches the address.
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
			return checkPublicAddress(address)
		}}
		t.DialContext = d.DialContext
	} else {
		// The caller's dialer may not be a net.Dialer: check where it
		// connected before anything is sent.
		t.DialContext = checkedDial(t.DialContext)
	}
	if t.DialTLSContext != nil {
		t.DialTLSContext = checkedDial(t.DialTLSContext)
	}
	cc := *c
	cc.Transport = t
	return &cc
}

type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

func checkedDial(dial dialFunc) dialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if err := checkPublicAddress(conn.RemoteAddr().String()); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
}

// checkPublicAddress refuses an "ip:port" that is not a public unicast
// address.
func checkPublicAddress(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("refusing to connect to %q: %w", address, err)
	}
	if !publicAddr(ap.Addr()) {
		return fmt.Errorf("refusing to connect to non-public address %s", ap.Addr().Unmap())
	}
	return nil
}

// nonPublicPrefixes are special-purpose ranges (RFC 6890 and successors)
// that netip's predicates do not cover: shared (carrier-grade NAT) space,
// "this network", IETF protocol assignments, documentation, benchmarking,
// reserved, and IPv6 discard, Teredo, ORCHID and documentation prefixes.
var nonPublicPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2001:10::/28"),
	netip.MustParsePrefix("2001:20::/28"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// Prefixes whose addresses embed an IPv4 address: NAT64 (RFC 6052), whose
// embedded address is in the last 4 bytes, and 6to4 (RFC 3056), in bytes
// 2 to 5. The embedded address must be public too.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// publicAddr reports whether a is a public unicast address.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range nonPublicPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return publicAddr(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return publicAddr(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return true
}

// Info implements Provider.
func (m *Mastodon) Info() Info { return m.info }

// ValidateEvery implements Validator.
func (m *Mastodon) ValidateEvery() time.Duration { return m.every }

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
	cfg := oauth2.Config{ClientID: creds.ClientID, RedirectURL: p.RedirectURL, Endpoint: oauth2.Endpoint{AuthURL: m.baseURL(host) + "/oauth/authorize"}}
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
	creds, ok, err := m.store.Get(ctx, host, p.RedirectURL)
	if err != nil {
		return Grant{}, unavailableStore(err)
	}
	if !ok {
		return Grant{}, &Error{Code: CodeInvalidClient, Message: "Gatehouse's registration with your instance changed during the login. Please sign in again.", Err: fmt.Errorf("no app credentials for %s at redeem", host)}
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {p.RedirectURL}}
	if meta.pkceS256 {
		form.Set("code_verifier", p.CodeVerifier)
	}
	tr, err := postToken(ctx, m.client, m.baseURL(host)+"/oauth/token", form, ClientAuthBody, creds.ClientID, creds.ClientSecret, nil)
	if err != nil {
		if e, ok := errors.AsType[*Error](err); ok && e.Code == CodeInvalidClient {
			m.log.WarnContext(ctx, "mastodon app credentials rejected; registering again", "provider", m.info.ID, "instance", host)
			if _, rerr := m.credentials(ctx, host, p.RedirectURL, m.scopeString(meta), creds.ClientID); rerr != nil {
				return Grant{}, rerr
			}
			return Grant{}, &Error{Code: CodeInvalidClient, Message: "Gatehouse had to register again with your instance. Please sign in again.", Err: e.Err}
		}
		return Grant{}, err
	}
	id, err := m.account(ctx, host, tr.Tokens.AccessToken)
	if err != nil {
		return Grant{}, err
	}
	// Mastodon tokens do not expire; ignore any expiry a compatible server sends.
	tokens := tr.Tokens
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
	doc, err := getJSON(ctx, m.client, m.baseURL(host)+"/api/v1/accounts/verify_credentials", token)
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
	case len(m.scopes) > 0:
		return strings.Join(m.scopes, " ")
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.baseURL(host)+"/.well-known/oauth-authorization-server", nil)
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

// credentials returns usable app credentials for host and the callback URL
// redirect, registering an app when there are none, when they were
// registered for other scopes, or when they are the ones with client id
// stale (rejected by the instance). Only one registration per instance
// happens at a time: in this process by a per-instance lock, across
// replicas by the store's lock.
func (m *Mastodon) credentials(ctx context.Context, host, redirect, scopes, stale string) (MastodonCredentials, error) {
	usable := func(c MastodonCredentials, ok bool) bool {
		return ok && c.ClientID != "" && c.ClientID != stale && c.RedirectURI == redirect && c.Scopes == scopes
	}
	c, ok, err := m.store.Get(ctx, host, redirect)
	if err != nil {
		return MastodonCredentials{}, unavailableStore(err)
	}
	if usable(c, ok) {
		return c, nil
	}
	unlock, err := m.locks.Lock(ctx, host)
	if err != nil {
		return MastodonCredentials{}, unavailable(err)
	}
	defer unlock()
	if l, ok := m.store.(CredentialLocker); ok {
		unlockShared, err := l.Lock(ctx, host)
		if err != nil {
			return MastodonCredentials{}, unavailableStore(err)
		}
		defer unlockShared()
	}
	// Someone may have registered while we waited.
	if c, ok, err = m.store.Get(ctx, host, redirect); err != nil {
		return MastodonCredentials{}, unavailableStore(err)
	}
	if usable(c, ok) {
		return c, nil
	}
	if !m.registrationAllowed(host) {
		return MastodonCredentials{}, &Error{Code: CodeProviderUnavailable,
			Message: "Gatehouse has registered with this instance too often in the last minutes. Please try again later.",
			Err:     fmt.Errorf("%s: more than %d app registrations in %v (is redirect_url set?)", host, maxRegistrations, registrationWindow)}
	}
	c, err = m.register(ctx, host, redirect, scopes)
	if err != nil {
		return MastodonCredentials{}, err
	}
	if err := m.store.Put(ctx, host, c); err != nil {
		return MastodonCredentials{}, unavailableStore(err)
	}
	m.mu.Lock()
	m.verified[c.ClientID] = time.Now()
	m.mu.Unlock()
	m.log.InfoContext(ctx, "registered mastodon app", "provider", m.info.ID, "instance", host, "redirect_uri", redirect)
	return c, nil
}

// registrationAllowed reports whether this process may register another
// app on host now, and counts the registration if so. Legitimate use
// registers once per instance and callback URL, and again only when an
// instance forgets the app; the bound stops requests with made-up Host
// headers (when no redirect_url is configured) from making Gatehouse flood
// an instance with registrations and get itself rate-limited there.
func (m *Mastodon) registrationAllowed(host string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	recent := slices.DeleteFunc(m.registrations[host], func(t time.Time) bool { return now.Sub(t) >= registrationWindow })
	if len(recent) >= maxRegistrations {
		m.registrations[host] = recent
		return false
	}
	if len(m.registrations) >= maxCacheSize {
		clear(m.registrations)
	}
	m.registrations[host] = append(recent, now)
	return true
}

func unavailableStore(err error) *Error {
	return &Error{Code: CodeProviderUnavailable, Message: "Gatehouse cannot reach its credential store right now. Please try again later.", Err: err}
}

// register creates an app with POST /api/v1/apps.
func (m *Mastodon) register(ctx context.Context, host, redirect, scopes string) (MastodonCredentials, error) {
	form := url.Values{"client_name": {m.appName}, "redirect_uris": {redirect}, "scopes": {scopes}}
	if m.website != "" {
		form.Set("website", m.website)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.baseURL(host)+"/api/v1/apps", strings.NewReader(form.Encode()))
	if err != nil {
		return MastodonCredentials{}, unavailable(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	status, _, body, err := do(m.client, req)
	if err != nil {
		return MastodonCredentials{}, err
	}
	doc, perr := decodeJSONObject(body)
	if status != http.StatusOK {
		if perr != nil {
			doc = nil
		}
		if status == http.StatusTooManyRequests {
			return MastodonCredentials{}, unavailable(fmt.Errorf("%s: registering app: HTTP 429", host))
		}
		e := errorFromStatus(status, doc, host+": registering app")
		e.Message = "Your instance refused to register Gatehouse as an app. Please try again later or use another instance."
		return MastodonCredentials{}, e
	}
	if perr != nil {
		return MastodonCredentials{}, badResponse(fmt.Errorf("%s: registering app: %w", host, perr))
	}
	id, _ := claimString(doc, "client_id")
	secret, _ := claimString(doc, "client_secret")
	if id == "" || secret == "" {
		return MastodonCredentials{}, badResponse(fmt.Errorf("%s: registering app: no client_id/client_secret", host))
	}
	return MastodonCredentials{ClientID: id, ClientSecret: secret, RedirectURI: redirect, Scopes: scopes, CreatedAt: time.Now().UTC()}, nil
}

// checkApp asks the instance, at most every appCheckTTL, whether the app's
// credentials still work, with a client-credentials token request. It
// reports bad only on a clear invalid_client; other answers (servers
// without that grant) are not held against the app.
func (m *Mastodon) checkApp(ctx context.Context, host string, c MastodonCredentials) (bad bool, err error) {
	m.mu.Lock()
	last, ok := m.verified[c.ClientID]
	m.mu.Unlock()
	if ok && time.Since(last) < appCheckTTL {
		return false, nil
	}
	_, err = postToken(ctx, m.client, m.baseURL(host)+"/oauth/token",
		url.Values{"grant_type": {"client_credentials"}, "scope": {c.Scopes}}, ClientAuthBody, c.ClientID, c.ClientSecret, nil)
	if e, ok := errors.AsType[*Error](err); ok {
		switch e.Code {
		case CodeInvalidClient:
			m.log.WarnContext(ctx, "mastodon app credentials rejected; registering again", "provider", m.info.ID, "instance", host)
			return true, nil
		case CodeProviderUnavailable:
			return false, err
		}
	}
	m.mu.Lock()
	if len(m.verified) >= maxCacheSize {
		clear(m.verified)
	}
	m.verified[c.ClientID] = time.Now()
	m.mu.Unlock()
	return false, nil
}
