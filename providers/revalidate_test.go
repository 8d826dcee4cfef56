package providers_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

// introspector is a strict RFC 7662 endpoint: client_secret_basic, the
// token and its type hint in a form body; it answers what active says for
// tokens it knows, active:false for others, or status when set.
type introspector struct {
	*httptest.Server
	clientID, secret string
	active           map[string]string // token → sub
	status           int
}

func newIntrospector(t *testing.T, clientID, secret string) *introspector {
	t.Helper()
	in := &introspector{clientID: clientID, secret: secret, active: map[string]string{}}
	in.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, pw, ok := r.BasicAuth()
		// RFC 6749 §2.3.1: both parts are form-urlencoded first.
		id, _ = url.QueryUnescape(id)
		pw, _ = url.QueryUnescape(pw)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("introspection: %s with %q", r.Method, r.Header.Get("Content-Type"))
		}
		if err := r.ParseForm(); err != nil || r.PostForm.Get("token_type_hint") != "access_token" {
			t.Errorf("introspection form: %v %v", r.PostForm, err)
		}
		if in.status != 0 {
			w.WriteHeader(in.status)
			return
		}
		if !ok || id != in.clientID || pw != in.secret {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client"})
			return
		}
		sub, active := in.active[r.PostForm.Get("token")]
		out := map[string]any{"active": active}
		if active {
			out["sub"] = sub
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(in.Close)
	return in
}

// TestOAuth2Validate: the userinfo check ends the session only when the
// provider refuses the token or names someone else.
func TestOAuth2Validate(t *testing.T) {
	t.Parallel()
	f := fakes.NewOAuth2(t, fakes.OAuth2Options{Callback: gateCallback, Scope: "read:user,user:email", AuthParams: map[string]string{"prompt": "consent"}})
	cfg := genericConfig(f, providers.ClientAuthBasic, "")
	cfg.Revalidate.Every = time.Minute
	p, err := providers.NewOAuth2(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.ValidateEvery() != time.Minute {
		t.Errorf("ValidateEvery = %v", p.ValidateEvery())
	}
	ap := providers.AuthParams{State: "st", CodeVerifier: providers.NewCodeVerifier(), RedirectURL: gateCallback}
	g, err := p.Redeem(t.Context(), browse(t, must(p.AuthCodeURL(t.Context(), ap))).Get("code"), ap)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(t.Context(), g); err != nil {
		t.Fatalf("valid token: %v", err)
	}
	f.Down.Store(true)
	if err := p.Validate(t.Context(), g); err == nil || errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("provider down: %v, want a transient error", err)
	}
	f.Down.Store(false)
	setProfileField(f, "id", 8)
	if err := p.Validate(t.Context(), g); !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("another subject: %v, want ErrInvalidGrant", err)
	}
	setProfileField(f, "id", 7)
	f.RevokeAccess("u")
	if err := p.Validate(t.Context(), g); !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("revoked token: %v, want ErrInvalidGrant", err)
	}

	off, _ := providers.NewOAuth2(genericConfig(f, providers.ClientAuthBasic, ""))
	if off.ValidateEvery() != 0 {
		t.Error("re-validation on without being asked for")
	}
}

func TestIntrospectionValidate(t *testing.T) {
	t.Parallel()
	f := fakes.NewOAuth2(t, fakes.OAuth2Options{Callback: gateCallback, Scope: "read:user,user:email", AuthParams: map[string]string{"prompt": "consent"}})
	in := newIntrospector(t, f.ClientID, f.ClientSecret)
	cfg := genericConfig(f, providers.ClientAuthBasic, "")
	cfg.Revalidate = providers.Revalidation{Every: time.Minute, IntrospectionURL: in.URL}
	p, err := providers.NewOAuth2(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := providers.Grant{Identity: providers.Identity{Subject: "7"}, Tokens: providers.Tokens{AccessToken: "at-1"}}
	in.active["at-1"] = "7"
	if err := p.Validate(t.Context(), g); err != nil {
		t.Fatalf("active token: %v", err)
	}
	in.active["at-1"] = "8"
	if err := p.Validate(t.Context(), g); !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("active for another subject: %v, want ErrInvalidGrant", err)
	}
	delete(in.active, "at-1")
	if err := p.Validate(t.Context(), g); !errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("inactive: %v, want ErrInvalidGrant", err)
	}
	for _, status := range []int{http.StatusInternalServerError, http.StatusUnauthorized, http.StatusForbidden} {
		in.status = status
		if err := p.Validate(t.Context(), g); err == nil || errors.Is(err, providers.ErrInvalidGrant) {
			t.Errorf("introspection answers %d: %v, want a transient error (the session is kept)", status, err)
		}
	}
	in.status = 0
	// Wrong client credentials are a configuration problem, not a revoked
	// session.
	cfg.ClientSecret = "wrong"
	bad, _ := providers.NewOAuth2(cfg)
	if err := bad.Validate(t.Context(), g); err == nil || errors.Is(err, providers.ErrInvalidGrant) {
		t.Errorf("refused client: %v, want a transient error", err)
	}
}
