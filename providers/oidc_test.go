package providers

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp/devidptest"
)

const (
	oidcClientID = "gatehouse-test"
	oidcSecret   = "test-secret"
	oidcRedirect = "http://127.0.0.1:4180/oauth2/callback"
)

var oidcAlice = devidp.User{Username: "alice", Name: "Alice Liddell", Email: "alice@example.test", EmailVerified: true, Groups: []string{"admins", "staff"}}

type oidcEnv struct {
	idp  *devidptest.IdP
	srv  *httptest.Server
	prov *OIDC
}

// newOIDCEnv starts a devidp (AutoLogin alice unless o says otherwise) and
// an OIDC provider discovering it; c's zero fields are filled in.
// newOIDCEnv starts a development IdP with o (mutate, when given, tampers
// every ID token it signs) and an OIDC provider for it configured by c.
func newOIDCEnv(t *testing.T, o devidp.Options, c OIDCConfig, mutate ...func(claims map[string]any)) *oidcEnv {
	t.Helper()
	if o.ClientID == "" {
		o.ClientID, o.ClientSecret = oidcClientID, oidcSecret
	}
	if o.Users == nil {
		o.Users = []devidp.User{oidcAlice}
	}
	if o.AutoLogin == "" {
		o.AutoLogin = "alice"
	}
	idp, err := devidptest.New(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range mutate {
		idp.SetMutateIDToken(f)
	}
	srv := httptest.NewServer(idp.Handler())
	t.Cleanup(srv.Close)
	idp.SetIssuer(srv.URL)
	if c.IssuerURL == "" {
		c.IssuerURL = srv.URL
	}
	c.ClientID, c.ClientSecret = o.ClientID, o.ClientSecret
	c.HTTPClient = srv.Client()
	c.Logger = slog.New(slog.DiscardHandler)
	prov, err := NewOIDC(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return &oidcEnv{idp: idp, srv: srv, prov: prov}
}

func newAuthParams() AuthParams {
	return AuthParams{
		State:        "state-" + NewCodeVerifier()[:12],
		Nonce:        "nonce-" + NewCodeVerifier()[:12],
		CodeVerifier: NewCodeVerifier(),
		RedirectURL:  oidcRedirect,
	}
}

// login runs the browser's part of the flow and returns the code.
func (e *oidcEnv) login(t *testing.T, p AuthParams) string {
	t.Helper()
	authURL, err := e.prov.AuthCodeURL(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := devidptest.Login(t.Context(), e.srv.Client(), authURL, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(loc.String(), oidcRedirect+"?") || loc.Query().Get("state") != p.State {
		t.Fatalf("redirected to %s", loc.Redacted())
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: error=%q", loc.Query().Get("error"))
	}
	return code
}

// redeem logs in and redeems.
func (e *oidcEnv) redeem(t *testing.T) (Grant, error) {
	t.Helper()
	p := newAuthParams()
	return e.prov.Redeem(t.Context(), e.login(t, p), p)
}

func wantCode(t *testing.T, err error, code string) *Error {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *providers.Error", err)
	}
	if pe.Code != code {
		t.Fatalf("error code %q (%v), want %q", pe.Code, err, code)
	}
	if pe.Message == "" || strings.Contains(pe.Message, "oidc") {
		t.Errorf("message %q is not user-safe", pe.Message)
	}
	return pe
}

func TestOIDCCodeFlow(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{Common: Common{ID: "corp", DisplayName: "Corp SSO"}})
	if got := e.prov.Info(); got != (Info{ID: "corp", Type: "oidc", DisplayName: "Corp SSO"}) {
		t.Errorf("Info = %+v", got)
	}
	p := newAuthParams()
	code := e.login(t, p)
	q := e.idp.LastAuthorizeQuery()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") != oauth2.S256ChallengeFromVerifier(p.CodeVerifier) ||
		q.Get("nonce") != p.Nonce || q.Get("redirect_uri") != oidcRedirect || q.Get("scope") != "openid email profile offline_access" { // devidp lists offline_access
		t.Errorf("authorization request = %v", q)
	}
	g, err := e.prov.Redeem(t.Context(), code, p)
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{
		Subject:           devidp.Subject("alice"),
		User:              devidp.Subject("alice"),
		Email:             "alice@example.test",
		EmailVerified:     true,
		Name:              "Alice Liddell",
		PreferredUsername: "alice",
		Groups:            []string{"admins", "staff"},
		Issuer:            e.srv.URL,
	}
	if !identityEqual(g.Identity, want) {
		t.Errorf("identity = %+v\nwant %+v", g.Identity, want)
	}
	if g.Tokens.AccessToken == "" || g.Tokens.RefreshToken == "" || g.Tokens.IDToken == "" || g.Tokens.TokenType != "Bearer" ||
		time.Until(g.Tokens.Expiry) < 4*time.Minute {
		t.Errorf("tokens = %+v", g.Tokens)
	}
	if n := e.idp.UserinfoCalls(); n != 0 {
		t.Errorf("userinfo called %d times although the ID token had everything", n)
	}
}

func identityEqual(a, b Identity) bool {
	return a.Subject == b.Subject && a.User == b.User && a.Email == b.Email && a.EmailVerified == b.EmailVerified &&
		a.Name == b.Name && a.PreferredUsername == b.PreferredUsername && slices.Equal(a.Groups, b.Groups) && a.Issuer == b.Issuer
}

func TestOIDCAuthCodeURLRequiresFlowSecrets(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{})
	for name, mutate := range map[string]func(*AuthParams){
		"no state":       func(p *AuthParams) { p.State = "" },
		"no nonce":       func(p *AuthParams) { p.Nonce = "" },
		"no verifier":    func(p *AuthParams) { p.CodeVerifier = "" },
		"short verifier": func(p *AuthParams) { p.CodeVerifier = "abc" },
		"relative cb":    func(p *AuthParams) { p.RedirectURL = "/oauth2/callback" },
	} {
		p := newAuthParams()
		mutate(&p)
		if u, err := e.prov.AuthCodeURL(t.Context(), p); err == nil {
			t.Errorf("%s: got URL %q, want error", name, u)
		}
		if _, err := e.prov.Redeem(t.Context(), "code", p); err == nil {
			t.Errorf("%s: Redeem succeeded", name)
		}
	}
}

func TestOIDCRejectsBadIDTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(map[string]any)
		cfg    OIDCConfig
		reason string // in the error's cause
	}{
		{"wrong audience", func(c map[string]any) { c["aud"] = "someone-else" }, OIDCConfig{}, "audience"},
		{"wrong audience with extras", func(c map[string]any) { c["aud"] = "someone-else" }, OIDCConfig{ExtraAudiences: []string{"other-app"}}, "audience"},
		{"foreign azp", func(c map[string]any) { c["aud"] = []string{oidcClientID, "x"}; c["azp"] = "x" }, OIDCConfig{}, "authorized party"},
		{"expired", func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, OIDCConfig{}, "expired"},
		{"wrong issuer", func(c map[string]any) { c["iss"] = "https://evil.example" }, OIDCConfig{}, "different provider"},
		{"nonce tampered", func(c map[string]any) { c["nonce"] = "attacker" }, OIDCConfig{}, "nonce"},
		{"nonce missing", func(c map[string]any) { delete(c, "nonce") }, OIDCConfig{}, "nonce"},
		{"no sub", func(c map[string]any) { delete(c, "sub") }, OIDCConfig{}, "no sub"},
		{"at_hash mismatch", func(c map[string]any) { c["at_hash"] = "AAAAAAAAAAAAAAAAAAAAAA" }, OIDCConfig{}, "at_hash"},
		{"control chars in sub", func(c map[string]any) { c["sub"] = "a\r\nX-Injected: 1" }, OIDCConfig{}, "control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newOIDCEnv(t, devidp.Options{}, tt.cfg, tt.mutate)
			g, err := e.redeem(t)
			if err == nil {
				t.Fatalf("Redeem accepted the token: %+v", g.Identity)
			}
			wantCode(t, err, CodeBadResponse)
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %v does not mention %q", err, tt.reason)
			}
		})
	}
}

func TestOIDCNonceMismatch(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{})
	p := newAuthParams()
	code := e.login(t, p)
	other := p
	other.Nonce = "nonce-of-another-flow"
	_, err := e.prov.Redeem(t.Context(), code, other)
	wantCode(t, err, CodeBadResponse)
}

func TestOIDCSignature(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{})
	if _, err := e.redeem(t); err != nil {
		t.Fatal(err)
	}
	if err := e.idp.SignWithUnknownKey(true); err != nil {
		t.Fatal(err)
	}
	_, err := e.redeem(t)
	wantCode(t, err, CodeBadResponse)
	if !strings.Contains(err.Error(), "signature") {
		t.Errorf("error %v is not about the signature", err)
	}

	// A rotated, published key is picked up by refetching the JWKS.
	if err := e.idp.SignWithUnknownKey(false); err != nil {
		t.Fatal(err)
	}
	if err := e.idp.RotateKey(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.redeem(t); err != nil {
		t.Fatalf("after key rotation: %v", err)
	}
}

func TestOIDCClock(t *testing.T) {
	t.Parallel()
	// A token valid now is expired for a gateway whose clock runs an hour
	// ahead.
	e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{Common: Common{Now: func() time.Time { return time.Now().Add(time.Hour) }}})
	_, err := e.redeem(t)
	wantCode(t, err, CodeBadResponse)
	if !strings.Contains(err.Error(), "expired") {
		t.Errorf("error %v is not about expiry", err)
	}
}

func TestOIDCExtraAudience(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{ExtraAudiences: []string{"other-app"}}, func(c map[string]any) {
		c["aud"] = []string{"other-app", "unrelated"}
		c["azp"] = "other-app"
	})
	g, err := e.redeem(t)
	if err != nil {
		t.Fatal(err)
	}
	if g.Identity.Subject != devidp.Subject("alice") {
		t.Errorf("subject %q", g.Identity.Subject)
	}
}

func TestOIDCCodeReplayAndPKCE(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{})

	p := newAuthParams()
	code := e.login(t, p)
	if _, err := e.prov.Redeem(t.Context(), code, p); err != nil {
		t.Fatal(err)
	}
	_, err := e.prov.Redeem(t.Context(), code, p)
	pe := wantCode(t, err, CodeInvalidGrant)
	if !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("replay error does not wrap ErrInvalidGrant: %v", err)
	}
	if pe.Message != "The login link expired or was already used. Please try again." {
		t.Errorf("message %q", pe.Message)
	}

	// The verifier of another flow does not redeem this flow's code.
	p = newAuthParams()
	code = e.login(t, p)
	wrong := p
	wrong.CodeVerifier = NewCodeVerifier()
	_, err = e.prov.Redeem(t.Context(), code, wrong)
	wantCode(t, err, CodeInvalidGrant)
}

func TestOIDCEmailVerification(t *testing.T) {
	t.Parallel()
	bob := devidp.User{Username: "bob", Name: "Bob", Email: "bob@example.test", EmailVerified: false}
	tests := []struct {
		name         string
		allow        bool
		mutate       func(map[string]any)
		wantEmail    string
		wantVerified bool
	}{
		{"unverified dropped", false, nil, "", false},
		{"unverified allowed", true, nil, "bob@example.test", false},
		{"string false dropped", false, func(c map[string]any) { c["email_verified"] = "false" }, "", false},
		{"string true kept", false, func(c map[string]any) { c["email_verified"] = "true" }, "bob@example.test", true},
		{"claim absent keeps email unverified", false, func(c map[string]any) { delete(c, "email_verified") }, "bob@example.test", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newOIDCEnv(t, devidp.Options{Users: []devidp.User{bob}, AutoLogin: "bob"}, OIDCConfig{Common: Common{AllowUnverifiedEmail: tt.allow}}, tt.mutate)
			g, err := e.redeem(t)
			if err != nil {
				t.Fatal(err)
			}
			if g.Identity.Email != tt.wantEmail || g.Identity.EmailVerified != tt.wantVerified {
				t.Errorf("email %q verified %v, want %q %v", g.Identity.Email, g.Identity.EmailVerified, tt.wantEmail, tt.wantVerified)
			}
			if g.Identity.Subject != devidp.Subject("bob") {
				t.Errorf("subject %q", g.Identity.Subject)
			}
		})
	}
}

func TestOIDCUserinfoFallback(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{OmitUserinfoClaims: true}, OIDCConfig{})
	g, err := e.redeem(t)
	if err != nil {
		t.Fatal(err)
	}
	if g.Identity.Email != "alice@example.test" || !g.Identity.EmailVerified || g.Identity.Name != "Alice Liddell" ||
		!slices.Equal(g.Identity.Groups, []string{"admins", "staff"}) || g.Identity.PreferredUsername != "alice" {
		t.Errorf("identity from userinfo = %+v", g.Identity)
	}
	if n := e.idp.UserinfoCalls(); n != 1 {
		t.Errorf("userinfo calls = %d, want 1", n)
	}

	// A userinfo answer about someone else is refused.
	e2 := newOIDCEnv(t, devidp.Options{OmitUserinfoClaims: true}, OIDCConfig{}, func(c map[string]any) { c["sub"] = "someone-else" })
	_, err = e2.redeem(t)
	wantCode(t, err, CodeBadResponse)
}

func TestOIDCUserinfoFailures(t *testing.T) {
	t.Parallel()
	// The userinfo endpoint refusing the token: the ID token's claims are
	// used alone (here: none but sub), which can only grant less.
	e := newOIDCEnv(t, devidp.Options{OmitUserinfoClaims: true}, OIDCConfig{})
	e.idp.SetUserinfoFailure(401)
	g, err := e.redeem(t)
	if err != nil {
		t.Fatal(err)
	}
	if g.Identity.Subject != devidp.Subject("alice") || g.Identity.Email != "" || len(g.Identity.Groups) != 0 {
		t.Errorf("identity %+v", g.Identity)
	}
	// A transient failure fails the login instead of dropping attributes.
	e.idp.SetUserinfoFailure(503)
	_, err = e.redeem(t)
	wantCode(t, err, CodeProviderUnavailable)
}

func TestOIDCRefreshKeepsProfileNotGroups(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{})
	g, err := e.redeem(t)
	if err != nil {
		t.Fatal(err)
	}
	// A minimal refreshed ID token and a userinfo endpoint that refuses.
	e.idp.SetMutateIDToken(func(c map[string]any) {
		for _, k := range []string{"email", "email_verified", "name", "preferred_username", "groups"} {
			delete(c, k)
		}
	})
	e.idp.SetUserinfoFailure(401)
	ng, err := e.prov.Refresh(t.Context(), g)
	if err != nil {
		t.Fatal(err)
	}
	id := ng.Identity
	if id.Email != g.Identity.Email || !id.EmailVerified || id.Name != g.Identity.Name || id.PreferredUsername != "alice" {
		t.Errorf("profile not kept: %+v", id)
	}
	if len(id.Groups) != 0 {
		t.Errorf("groups %q kept although the provider no longer reports them", id.Groups)
	}
}

func TestOIDCGroupsClaim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		claim  string
		mutate func(map[string]any)
		want   []string
	}{
		{"single string", "roles", func(c map[string]any) { c["roles"] = "Domain Admins" }, []string{"Domain Admins"}},
		{"numbers", "roles", func(c map[string]any) { c["roles"] = []any{12345678901234, "ops"} }, []string{"12345678901234", "ops"}},
		{"nested path", "realm_access.roles", func(c map[string]any) { c["realm_access"] = map[string]any{"roles": []string{"a", "b"}} }, []string{"a", "b"}},
		{"dotted top-level name", "https://example.com/groups", func(c map[string]any) { c["https://example.com/groups"] = []string{"x"} }, []string{"x"}},
		{"control chars dropped", "groups", func(c map[string]any) { c["groups"] = []string{"ok", "bad\nX: y"} }, []string{"ok"}},
		{"object of roles (ZITADEL)", "urn:zitadel:iam:org:project:roles", func(c map[string]any) {
			c["urn:zitadel:iam:org:project:roles"] = map[string]any{"viewer": map[string]any{"1": "acme.example"}, "admin": map[string]any{"1": "acme.example"}}
		}, []string{"admin", "viewer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{GroupsClaim: tt.claim}, tt.mutate)
			g, err := e.redeem(t)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(g.Identity.Groups, tt.want) {
				t.Errorf("groups = %q, want %q", g.Identity.Groups, tt.want)
			}
		})
	}
}

func TestOIDCRefresh(t *testing.T) {
	t.Parallel()
	t.Run("without rotation", func(t *testing.T) {
		t.Parallel()
		e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{})
		g, err := e.redeem(t)
		if err != nil {
			t.Fatal(err)
		}
		updated := oidcAlice
		updated.Groups = []string{"staff"}
		if err := e.idp.SetUser(updated); err != nil {
			t.Fatal(err)
		}
		ng, err := e.prov.Refresh(t.Context(), g)
		if err != nil {
			t.Fatal(err)
		}
		if ng.Tokens.AccessToken == g.Tokens.AccessToken || ng.Tokens.IDToken == g.Tokens.IDToken {
			t.Error("refresh did not renew tokens")
		}
		if ng.Tokens.RefreshToken != g.Tokens.RefreshToken {
			t.Error("old refresh token not kept when none was returned")
		}
		if !slices.Equal(ng.Identity.Groups, []string{"staff"}) || ng.Identity.Subject != g.Identity.Subject {
			t.Errorf("refreshed identity = %+v", ng.Identity)
		}

		e.idp.SetDown(true)
		_, err = e.prov.Refresh(t.Context(), ng)
		if err == nil || errors.Is(err, ErrInvalidGrant) {
			t.Errorf("refresh while IdP is down: %v, want a transient error", err)
		}
		e.idp.SetDown(false)

		e.idp.RevokeAllRefreshTokens()
		_, err = e.prov.Refresh(t.Context(), ng)
		if !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("refresh after revocation: %v, want ErrInvalidGrant", err)
		}
		if e.idp.RefreshCalls() != 3 {
			t.Errorf("refresh calls = %d", e.idp.RefreshCalls())
		}
	})
	t.Run("rotation", func(t *testing.T) {
		t.Parallel()
		e := newOIDCEnv(t, devidp.Options{RefreshTokenRotation: true}, OIDCConfig{})
		g, err := e.redeem(t)
		if err != nil {
			t.Fatal(err)
		}
		ng, err := e.prov.Refresh(t.Context(), g)
		if err != nil {
			t.Fatal(err)
		}
		if ng.Tokens.RefreshToken == "" || ng.Tokens.RefreshToken == g.Tokens.RefreshToken {
			t.Error("rotated refresh token not stored")
		}
		if _, err := e.prov.Refresh(t.Context(), ng); err != nil {
			t.Errorf("refresh with the rotated token: %v", err)
		}
	})
	t.Run("subject change", func(t *testing.T) {
		t.Parallel()
		e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{})
		g, err := e.redeem(t)
		if err != nil {
			t.Fatal(err)
		}
		e.idp.SetMutateIDToken(func(c map[string]any) { c["sub"] = "someone-else" })
		if _, err := e.prov.Refresh(t.Context(), g); !errors.Is(err, ErrInvalidGrant) {
			t.Errorf("refresh naming another subject: %v, want ErrInvalidGrant", err)
		}
		e.idp.SetMutateIDToken(func(c map[string]any) { c["aud"] = "someone-else" })
		if _, err := e.prov.Refresh(t.Context(), g); err == nil {
			t.Error("refresh accepted an ID token for another audience")
		}
	})
	t.Run("no refresh token", func(t *testing.T) {
		t.Parallel()
		e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{})
		if _, err := e.prov.Refresh(t.Context(), Grant{Identity: Identity{Subject: "x"}}); !errors.Is(err, ErrNoRefreshToken) {
			t.Errorf("got %v, want ErrNoRefreshToken", err)
		}
	})
}

func TestOIDCSignOutURL(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{})
	g, err := e.redeem(t)
	if err != nil {
		t.Fatal(err)
	}
	raw := e.prov.SignOutURL(g, "http://127.0.0.1:4180/")
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Path != "/end_session" || q.Get("id_token_hint") != g.Tokens.IDToken || q.Get("post_logout_redirect_uri") != "http://127.0.0.1:4180/" || q.Get("client_id") != oidcClientID {
		t.Errorf("sign-out URL %s", u.Redacted())
	}
	// The IdP accepts it and sends the browser back.
	loc, err := devidptest.Login(t.Context(), e.srv.Client(), raw, "")
	if err != nil || loc.String() != "http://127.0.0.1:4180/" {
		t.Errorf("end_session answered %v, %v", loc, err)
	}

	none := newOIDCEnv(t, devidp.Options{NoEndSession: true}, OIDCConfig{})
	if got := none.prov.SignOutURL(g, "http://127.0.0.1:4180/"); got != "" {
		t.Errorf("SignOutURL without end_session_endpoint = %q", got)
	}
}

func TestOIDCDiscoveryErrors(t *testing.T) {
	t.Parallel()
	idp, err := devidptest.New(devidp.Options{ClientID: oidcClientID})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(idp.Handler())
	defer srv.Close()
	idp.SetIssuer(srv.URL)

	_, err = NewOIDC(t.Context(), OIDCConfig{Common: Common{ClientID: oidcClientID, HTTPClient: srv.Client()}, IssuerURL: srv.URL + "/"})
	var mismatch *oidc.IssuerMismatchError
	if !errors.As(err, &mismatch) {
		t.Errorf("issuer with trailing slash: %v, want IssuerMismatchError", err)
	}
	if _, err := NewOIDC(t.Context(), OIDCConfig{Common: Common{HTTPClient: srv.Client()}, IssuerURL: srv.URL}); err == nil {
		t.Error("missing client id accepted")
	}
	if _, err := NewOIDC(t.Context(), OIDCConfig{Common: Common{ClientID: "c"}, IssuerURL: "ftp://127.0.0.1/"}); err == nil {
		t.Error("ftp issuer accepted")
	}
	if _, err := NewOIDC(t.Context(), OIDCConfig{Common: Common{ClientID: "c"}, IssuerURL: srv.URL, SkipDiscovery: true, AuthURL: srv.URL + "/authorize"}); err == nil {
		t.Error("SkipDiscovery without token and JWKS URLs accepted")
	}
	closed := httptest.NewServer(nil)
	closed.Close()
	if _, err := NewOIDC(t.Context(), OIDCConfig{Common: Common{ClientID: "c"}, IssuerURL: closed.URL}); err == nil {
		t.Error("unreachable issuer accepted")
	}
}

func TestOIDCSkipDiscoveryAndUnavailable(t *testing.T) {
	t.Parallel()
	idp, err := devidptest.New(devidp.Options{ClientID: oidcClientID, ClientSecret: oidcSecret, Users: []devidp.User{oidcAlice}, AutoLogin: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(idp.Handler())
	defer srv.Close()
	idp.SetIssuer(srv.URL)
	closed := httptest.NewServer(nil)
	closed.Close()

	cfg := OIDCConfig{
		Common:        Common{ClientID: oidcClientID, ClientSecret: oidcSecret, HTTPClient: srv.Client(), Logger: slog.New(slog.DiscardHandler)},
		IssuerURL:     srv.URL,
		SkipDiscovery: true,
		AuthURL:       srv.URL + "/authorize",
		TokenURL:      srv.URL + "/token",
		JWKSURL:       srv.URL + "/jwks",
	}
	prov, err := NewOIDC(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &oidcEnv{idp: idp, srv: srv, prov: prov}
	g, err := e.redeem(t)
	if err != nil {
		t.Fatal(err)
	}
	if g.Identity.Email != "alice@example.test" {
		t.Errorf("identity %+v", g.Identity)
	}
	if prov.SignOutURL(g, "") != "" {
		t.Error("SignOutURL without an end-session URL is not empty")
	}

	cfg.TokenURL = closed.URL + "/token"
	down, err := NewOIDC(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := newAuthParams()
	code := (&oidcEnv{idp: idp, srv: srv, prov: down}).login(t, p)
	_, err = down.Redeem(t.Context(), code, p)
	wantCode(t, err, CodeProviderUnavailable)
	if _, err := down.Refresh(t.Context(), g); err == nil || errors.Is(err, ErrInvalidGrant) {
		t.Errorf("refresh against a closed port: %v, want a transient error", err)
	}
}

func TestOIDCTokenResponseWithoutIDToken(t *testing.T) {
	t.Parallel()
	// An OAuth2-only token endpoint: a valid token response, no id_token.
	tokenSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.FormValue("grant_type") != "authorization_code" || r.FormValue("code_verifier") == "" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"access_token":"at","token_type":"Bearer","expires_in":60}`)
	}))
	defer tokenSrv.Close()
	prov, err := NewOIDC(t.Context(), OIDCConfig{
		Common:        Common{ClientID: "c", ClientSecret: "s", HTTPClient: tokenSrv.Client(), Logger: slog.New(slog.DiscardHandler)},
		IssuerURL:     tokenSrv.URL,
		SkipDiscovery: true,
		AuthURL:       tokenSrv.URL + "/authorize",
		TokenURL:      tokenSrv.URL + "/token",
		JWKSURL:       tokenSrv.URL + "/jwks",
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = prov.Redeem(t.Context(), "some-code", newAuthParams())
	pe := wantCode(t, err, CodeBadResponse)
	if !strings.Contains(pe.Err.Error(), "id_token") {
		t.Errorf("cause %v does not name the missing id_token", pe.Err)
	}
}

func TestOIDCPublicClientAndDownIdP(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{ClientID: "public-app"}, OIDCConfig{Common: Common{Scopes: []string{"email"}}})
	p := newAuthParams()
	code := e.login(t, p)
	if got := e.idp.LastAuthorizeQuery().Get("scope"); got != "openid email offline_access" {
		t.Errorf("scope = %q, want openid (and offline_access, which devidp lists) added", got)
	}
	g, err := e.prov.Redeem(t.Context(), code, p)
	if err != nil {
		t.Fatal(err)
	}
	// Without the profile scope the ID token has no name: userinfo was
	// asked and had none either.
	if g.Identity.Name != "" || g.Identity.Email != "alice@example.test" || e.idp.UserinfoCalls() != 1 {
		t.Errorf("identity %+v, userinfo calls %d", g.Identity, e.idp.UserinfoCalls())
	}

	e.idp.SetDown(true)
	_, err = e.redeem(t)
	wantCode(t, err, CodeProviderUnavailable)
}

func TestPKCEHelpers(t *testing.T) {
	t.Parallel()
	v := NewCodeVerifier()
	if !ValidCodeVerifier(v) || NewCodeVerifier() == v {
		t.Errorf("NewCodeVerifier gave %q", v)
	}
	// RFC 7636 appendix B.
	if got := oauth2.S256ChallengeFromVerifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"); got != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" {
		t.Errorf("S256 challenge = %q", got)
	}
	for _, bad := range []string{"", strings.Repeat("a", 42), strings.Repeat("a", 129), strings.Repeat("a", 42) + "+", strings.Repeat("é", 30)} {
		if ValidCodeVerifier(bad) {
			t.Errorf("ValidCodeVerifier(%q) = true", bad)
		}
	}
	if !ValidCodeVerifier(strings.Repeat("a-._~", 10)) {
		t.Error("unreserved characters refused")
	}
}

// TestOIDCResponseIssuer: RFC 9207. With discovery advertising
// authorization_response_iss_parameter_supported, iss must be present and
// exact; without discovery (no promise) only a present iss is checked.
func TestOIDCResponseIssuer(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{})
	iss := e.idp.Issuer()

	noPromise, err := NewOIDC(t.Context(), OIDCConfig{
		Common:        Common{ClientID: oidcClientID, ClientSecret: oidcSecret, HTTPClient: e.srv.Client(), Logger: slog.New(slog.DiscardHandler)},
		IssuerURL:     iss,
		SkipDiscovery: true,
		AuthURL:       iss + "/authorize",
		TokenURL:      iss + "/token",
		JWKSURL:       iss + "/jwks",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		prov    *OIDC
		iss     string
		present bool
		ok      bool
	}{
		{"exact", e.prov, iss, true, true},
		{"another issuer", e.prov, "https://evil.example", true, false},
		{"trailing slash is another string", e.prov, iss + "/", true, false},
		{"missing though advertised", e.prov, "", false, false},
		{"empty though advertised", e.prov, "", true, false},
		{"no promise, missing", noPromise, "", false, true},
		{"no promise, exact", noPromise, iss, true, true},
		{"no promise, another issuer", noPromise, "https://evil.example", true, false},
	} {
		err := tt.prov.CheckResponseIssuer(tt.iss, tt.present)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrIssuerMismatch)) {
			t.Errorf("%s: CheckResponseIssuer(%q, %v) = %v, want ok=%v", tt.name, tt.iss, tt.present, err, tt.ok)
		}
	}
}
