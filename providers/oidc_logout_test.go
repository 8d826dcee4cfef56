package providers

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp/devidptest"
)

// TestOIDCSessionIDFromIDToken: the ID token's sid becomes the identity's
// SessionID, and a refresh keeps the login's.
func TestOIDCSessionIDFromIDToken(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{})
	g, err := e.redeem(t)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g.Identity.SessionID, "s-") {
		t.Fatalf("SessionID = %q, want the ID token's sid", g.Identity.SessionID)
	}
	r, err := e.prov.Refresh(t.Context(), g)
	if err != nil {
		t.Fatal(err)
	}
	if r.Identity.SessionID != g.Identity.SessionID {
		t.Errorf("after refresh SessionID = %q, want the login's %q", r.Identity.SessionID, g.Identity.SessionID)
	}
	supported, session := e.prov.BackchannelLogoutSupport()
	if supported == nil || !*supported || session == nil || !*session {
		t.Errorf("discovery support = %v, %v; devidp advertises both", supported, session)
	}
}

func TestOIDCVerifyLogoutToken(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{})
	sub := devidp.Subject("alice")

	// The IdP's own token, signed with its current key.
	raw, err := e.idp.LogoutToken(sub, "s-1")
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.prov.VerifyLogoutToken(t.Context(), raw)
	if err != nil {
		t.Fatalf("genuine logout token refused: %v", err)
	}
	if c.Subject != sub || c.SessionID != "s-1" || c.TokenID == "" || c.Issuer != e.srv.URL {
		t.Errorf("claims = %+v", c)
	}
	if until := c.ReplayUntil(); until.Before(time.Now().Add(time.Minute)) || until.After(c.IssuedAt.Add(LogoutTokenMaxAge+LogoutTokenSkew)) {
		t.Errorf("ReplayUntil = %v (iat %v, exp %v)", until, c.IssuedAt, c.Expiry)
	}
	if !e.prov.AcceptsLogoutToken(e.srv.URL, []string{"x", oidcClientID}) ||
		e.prov.AcceptsLogoutToken(e.srv.URL, []string{"x"}) || e.prov.AcceptsLogoutToken("https://other", []string{oidcClientID}) {
		t.Error("AcceptsLogoutToken does not match issuer and client")
	}
	for _, sid := range []struct{ sub, sid string }{{sub, ""}, {"", "s-2"}} {
		raw, _ := e.idp.ForgeLogoutToken(devidptest.SignPublished, sid.sub, sid.sid, nil)
		if _, err := e.prov.VerifyLogoutToken(t.Context(), raw); err != nil {
			t.Errorf("token with sub %q sid %q refused: %v", sid.sub, sid.sid, err)
		}
	}

	claims := func(f func(c map[string]any)) func(h, c map[string]any) {
		return func(_, c map[string]any) { f(c) }
	}
	now := time.Now()
	for _, tc := range []struct {
		name     string
		sig      devidptest.LogoutSignature
		sub, sid string
		mutate   func(h, c map[string]any)
	}{
		{"expired", devidptest.SignPublished, sub, "s", claims(func(c map[string]any) { c["exp"] = now.Add(-time.Second).Unix() })},
		{"issued too long ago", devidptest.SignPublished, sub, "s", claims(func(c map[string]any) { c["iat"] = now.Add(-7 * time.Minute).Unix() })},
		{"issued in the future", devidptest.SignPublished, sub, "s", claims(func(c map[string]any) { c["iat"] = now.Add(2 * time.Minute).Unix() })},
		{"no iat", devidptest.SignPublished, sub, "s", claims(func(c map[string]any) { delete(c, "iat") })},
		{"wrong audience", devidptest.SignPublished, sub, "s", claims(func(c map[string]any) { c["aud"] = "another-client" })},
		{"wrong issuer", devidptest.SignPublished, sub, "s", claims(func(c map[string]any) { c["iss"] = "https://evil.example" })},
		{"nonce", devidptest.SignPublished, sub, "s", claims(func(c map[string]any) { c["nonce"] = "n" })},
		{"no events", devidptest.SignPublished, sub, "s", claims(func(c map[string]any) { delete(c, "events") })},
		{"other event", devidptest.SignPublished, sub, "s", claims(func(c map[string]any) { c["events"] = map[string]any{"urn:other": map[string]any{}} })},
		{"event not an object", devidptest.SignPublished, sub, "s", claims(func(c map[string]any) {
			c["events"] = map[string]any{devidp.BackchannelLogoutEvent: "yes"}
		})},
		{"no jti", devidptest.SignPublished, sub, "s", claims(func(c map[string]any) { delete(c, "jti") })},
		{"no sid and no sub", devidptest.SignPublished, "", "", nil},
		{"sub with a newline", devidptest.SignPublished, "a\nb", "", nil},
		{"typ of an access token", devidptest.SignPublished, sub, "s", func(h, _ map[string]any) { h["typ"] = "at+jwt" }},
		{"unsigned (alg none)", devidptest.SignNone, sub, "s", nil},
		{"HS256 keyed with the public key", devidptest.SignHS256WithPublicKey, sub, "s", nil},
		{"unknown kid", devidptest.SignUnknownKey, sub, "s", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := e.idp.ForgeLogoutToken(tc.sig, tc.sub, tc.sid, tc.mutate)
			if err != nil {
				t.Fatal(err)
			}
			if c, err := e.prov.VerifyLogoutToken(t.Context(), raw); err == nil {
				t.Fatalf("accepted: %+v", c)
			}
		})
	}
	// An ID token is no logout token (nonce, no events).
	g, err := e.redeem(t)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.prov.VerifyLogoutToken(t.Context(), g.Tokens.IDToken); err == nil {
		t.Error("an ID token was accepted as a logout token")
	}
	for _, junk := range []string{"", "x", "a.b.c", strings.Repeat("a", 20000)} {
		if _, err := e.prov.VerifyLogoutToken(t.Context(), junk); err == nil {
			t.Errorf("junk %.20q accepted", junk)
		}
	}
}

// TestOIDCValidate: userinfo says whether the access token still works.
func TestOIDCValidate(t *testing.T) {
	t.Parallel()
	e := newOIDCEnv(t, devidp.Options{}, OIDCConfig{Common: Common{Revalidate: Revalidation{Every: time.Minute}}})
	g, err := e.redeem(t)
	if err != nil {
		t.Fatal(err)
	}
	if e.prov.ValidateEvery() != time.Minute {
		t.Errorf("ValidateEvery = %v", e.prov.ValidateEvery())
	}
	if err := e.prov.Validate(t.Context(), g); err != nil {
		t.Fatalf("valid: %v", err)
	}
	e.idp.SetUserinfoFailure(http.StatusServiceUnavailable)
	if err := e.prov.Validate(t.Context(), g); err == nil || errors.Is(err, ErrInvalidGrant) {
		t.Errorf("userinfo down: %v, want transient", err)
	}
	e.idp.SetUserinfoFailure(0)
	e.idp.RevokeAllAccessTokens()
	if err := e.prov.Validate(t.Context(), g); !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("revoked: %v, want ErrInvalidGrant", err)
	}
	// Nothing to ask: no re-validation.
	none := newOIDCEnv(t, devidp.Options{NoUserinfo: true}, OIDCConfig{Common: Common{Revalidate: Revalidation{Every: time.Minute}}})
	if none.prov.ValidateEvery() != 0 {
		t.Error("re-validation on without a userinfo or introspection endpoint")
	}
}
