package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/oidcprovider"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
)

// The client the gateways are registered as at the certified provider.
const (
	e2eClientID     = "gatehouse-e2e"
	e2eClientSecret = "e2e-client-secret-0123456789abcdef"
	// ssoName is the provider's name on the sign-in button.
	ssoName = "Example SSO"
)

// accounts are the provider's users: the default ones (alice, in groups
// admins and engineering; bob and mallory, outside example.com) and two
// more example.com users so that tests running in parallel sign in as
// different people and can count each one's logins exactly.
func accounts() []oidcprovider.Account {
	return append(oidcprovider.DefaultAccounts(),
		oidcprovider.Account{Sub: "248289761004", Username: "carol", Password: "carol-password", Email: "carol@example.com", EmailVerified: true, Name: "Carol Cole", Groups: []string{"engineering"}},
		oidcprovider.Account{Sub: "248289761005", Username: "dave", Password: "dave-password", Email: "dave@example.com", EmailVerified: true, Name: "Dave Dale", Groups: []string{"support"}},
	)
}

// startProvider runs panva/oidc-provider with accounts() and one confidential client whose redirect URIs
// are the callbacks of the given gateway base URLs. accessTokenTTL 0 means
// an hour.
func startProvider(t testing.TB, accessTokenTTL time.Duration, gatewayURLs ...string) *oidcprovider.Provider {
	t.Helper()
	require(t, needNode)
	var redirects []string
	for _, u := range gatewayURLs {
		redirects = append(redirects, u+"/oauth2/callback")
	}
	return oidcprovider.StartWithOptions(t, oidcprovider.Options{
		ClientID:       e2eClientID,
		ClientSecret:   e2eClientSecret,
		RedirectURIs:   redirects,
		AccessTokenTTL: accessTokenTTL,
		Accounts:       accounts(),
	})
}

// stack is a gateway in front of an upstream, signing in at the certified
// provider, with its session store.
type stack struct {
	op    *oidcprovider.Provider
	app   *upstream
	gw    *gatehouse
	redis *redistest.Redis
}

// stackOptions adjusts startStack.
type stackOptions struct {
	// accessTokenTTL is the provider's access-token lifetime (0: an hour).
	accessTokenTTL time.Duration
	// redis selects the Redis session store, with a redis-server that
	// keeps its data across a restart (append-only file, fsync always).
	redis bool
	// config is merged over the base configuration.
	config gatehouseConfig
}

// startStack starts the provider, the upstream, Redis if asked and the
// gateway, configured as an operator would: YAML, secrets in files.
func startStack(t testing.TB, name string, o stackOptions) *stack {
	t.Helper()
	need := []prerequisite{needChromium, needNode, needAxe}
	if o.redis {
		need = append(need, needRedis)
	}
	require(t, need...)
	s := &stack{app: startUpstream(t)}
	port := freePort(t)
	gwURL := "http://127.0.0.1:" + strconv.Itoa(port)
	s.op = startProvider(t, o.accessTokenTTL, gwURL)
	cfg := baseConfig(t, s.op, s.app.URL(), gwURL)
	if o.redis {
		s.redis = redistest.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
		cfg["session_store"] = "redis"
		cfg["redis_url"] = s.redis.URL()
		cfg["redis_timeout"] = "500ms"
	}
	for k, v := range o.config {
		cfg[k] = v
	}
	s.gw = startGatehouse(t, name, port, cfg)
	return s
}

// baseConfig is the YAML configuration of a gateway at gwURL in front of
// upstreamURL, signing in at op; users need an example.com address.
func baseConfig(t testing.TB, op *oidcprovider.Provider, upstreamURL, gwURL string) gatehouseConfig {
	t.Helper()
	return gatehouseConfig{
		"upstream":              upstreamURL,
		"provider":              "oidc",
		"provider_display_name": ssoName,
		"oidc_issuer_url":       op.Issuer(),
		"client_id":             e2eClientID,
		"client_secret_file":    secretFile(t, e2eClientSecret),
		"redirect_url":          gwURL + "/oauth2/callback",
		"scope":                 "openid email profile groups",
		"cookie_secret_file":    secretFile(t, testCookieSecret),
		// Plain HTTP on loopback: a Secure cookie would not be sent back.
		"cookie_secure":     false,
		"email_domain":      []string{"example.com"},
		"provider_sign_out": false,
		"log_level":         "debug",
	}
}

// providerLogin plays the user at the provider in tab b: it waits for the
// provider's sign-in page, types username and its password, confirms the
// consent page when it comes, and returns once the browser has left the
// provider. It fails the test if the provider shows anything else.
func providerLogin(b *tab, op *oidcprovider.Provider, username string) {
	b.t.Helper()
	account := op.Account(b.t, username)
	atProvider := func(p pageState) bool { return strings.HasPrefix(p.URL, op.Issuer()+"/") }
	p := b.waitPage("the provider's sign-in page", func(p pageState) bool { return atProvider(p) && p.H1 == "Sign in" })
	b.typeInto(`input[name="login"]`, account.Username)
	b.typeInto(`input[name="password"]`, account.Password)
	b.click(`button[type="submit"]`)
	signIn := p.URL
	// "Submitting Callback" is the provider's self-submitting form that
	// ends another account's provider session before this one goes on
	// (signing in as someone else, "use another account"): the browser
	// moves past it by itself.
	p = b.waitPage("the provider's answer to the sign-in form", func(p pageState) bool {
		return !atProvider(p) || p.H1 == "Authorize" || (p.URL != signIn && p.Title != "Submitting Callback")
	})
	if atProvider(p) && p.H1 == "Authorize" {
		b.clickText("Continue")
		p = b.waitPage("the way back from the provider", func(p pageState) bool { return !atProvider(p) })
	}
	if atProvider(p) {
		b.t.Fatalf("%s: the provider did not let %s in: %s", b.name, username, p)
	}
}

// sessionCookies returns the gateway's session cookies in the browser
// (the cookie and its chunks, not the per-login flow cookies).
func sessionCookies(b *tab, gwURL string) []*network.Cookie {
	b.t.Helper()
	var out []*network.Cookie
	for _, c := range b.cookies(gwURL) {
		if sessionCookieName.MatchString(c.Name) {
			out = append(out, c)
		}
	}
	return out
}

var sessionCookieName = regexp.MustCompile(`^_gatehouse(_[0-9]+)?$`)
