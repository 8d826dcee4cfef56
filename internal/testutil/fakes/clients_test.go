package fakes

// The fakes must accept what the standard clients Gatehouse builds on
// send: go-oidc (discovery, ID-token and at_hash verification, userinfo)
// with golang.org/x/oauth2 (code exchange with PKCE, refresh).

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func TestStandardOIDCClients(t *testing.T) {
	t.Parallel()
	const cb = "https://gate.example/oauth2/callback"
	google := NewGoogle(t, GoogleOptions{Callback: cb})
	entra := NewEntra(t, EntraOptions{Callback: cb})
	gitlab := NewGitLab(t, GitLabOptions{Callback: cb, PathPrefix: "/gitlab"})
	keycloak := NewKeycloak(t, KeycloakOptions{Callback: cb, PathPrefix: "/auth"})
	for _, c := range []struct {
		name   string
		f      *oidcFront
		issuer string
		scopes []string
		opts   []oauth2.AuthCodeOption
	}{
		{"google", google.oidcFront, google.Issuer, []string{"openid", "email", "profile"}, []oauth2.AuthCodeOption{oauth2.AccessTypeOffline}},
		{"entra", entra.oidcFront, entra.BaseURL + "/" + entra.TenantID + "/v2.0", []string{"openid", "profile", "email", "offline_access", "User.Read"}, nil},
		{"gitlab", gitlab.oidcFront, gitlab.BaseURL, []string{"openid", "profile", "email", "read_api"}, nil},
		{"keycloak", keycloak.oidcFront, keycloak.Issuer, []string{"openid", "profile", "email"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			p, err := oidc.NewProvider(ctx, c.issuer)
			if err != nil {
				t.Fatal(err)
			}
			cfg := oauth2.Config{ClientID: c.f.ClientID, ClientSecret: c.f.ClientSecret, Endpoint: p.Endpoint(), RedirectURL: cb, Scopes: c.scopes}
			verifier := oauth2.GenerateVerifier()
			opts := append([]oauth2.AuthCodeOption{oidc.Nonce("n-1"), oauth2.S256ChallengeOption(verifier)}, c.opts...)
			tok, err := cfg.Exchange(ctx, code(t, cfg.AuthCodeURL("state-1", opts...)), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := p.Verifier(&oidc.Config{ClientID: c.f.ClientID}).Verify(ctx, raw)
			if err != nil || idt.Nonce != "n-1" {
				t.Fatalf("ID token: %v (nonce %q)", err, idt.Nonce)
			}
			if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}
			info, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil || info.Subject != idt.Subject {
				t.Errorf("userinfo: %v, sub %q vs ID token's %q", err, info.Subject, idt.Subject)
			}
			tok.Expiry = time.Now().Add(-time.Hour)
			next, err := cfg.TokenSource(ctx, tok).Token()
			if err != nil || next.AccessToken == tok.AccessToken || c.f.Refreshes.Load() != 1 {
				t.Errorf("refresh: %v", err)
			}
		})
	}
}

func TestStandardOAuth2ClientOnGitHub(t *testing.T) {
	t.Parallel()
	for _, json := range []bool{false, true} {
		f := NewGitHub(t, GitHubOptions{Callback: "https://gate.example/cb", Enterprise: true})
		cfg := oauth2.Config{ClientID: f.ClientID, ClientSecret: f.ClientSecret, RedirectURL: f.Callback, Scopes: []string{"read:user", "user:email"},
			Endpoint: oauth2.Endpoint{AuthURL: f.BaseURL + "/login/oauth/authorize", TokenURL: f.BaseURL + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams}}
		ctx := t.Context()
		if json { // a client that asks for JSON, as GitHub's docs suggest
			ctx = context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: acceptJSON{}})
		}
		verifier := oauth2.GenerateVerifier()
		tok, err := cfg.Exchange(ctx, code(t, cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))), oauth2.VerifierOption(verifier))
		if err != nil || !strings.HasPrefix(tok.AccessToken, "gho_") || tok.Extra("scope") != "read:user,user:email" || !tok.Expiry.IsZero() {
			t.Fatalf("json=%v: exchange %v %+v", json, err, tok)
		}
		resp, body := apiCall(t, http.MethodGet, f.APIURL+"/user/emails", ghHeaders(tok.AccessToken))
		if resp.StatusCode != 200 || !strings.Contains(body, `"primary":true`) {
			t.Errorf("json=%v: emails %d %s", json, resp.StatusCode, body)
		}
	}
}

// acceptJSON adds Accept: application/json to every request.
type acceptJSON struct{}

func (acceptJSON) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept", "application/json")
	return http.DefaultTransport.RoundTrip(r)
}

func TestDenyAndIssued(t *testing.T) {
	t.Parallel()
	const cb = "https://gate.example/oauth2/callback"
	google := NewGoogle(t, GoogleOptions{Callback: cb})
	entra := NewEntra(t, EntraOptions{Callback: cb})
	gitlab := NewGitLab(t, GitLabOptions{Callback: cb})
	keycloak := NewKeycloak(t, KeycloakOptions{Callback: cb})
	for _, c := range []struct {
		f              *oidcFront
		authorize, iss string
		token          string
	}{
		{google.oidcFront, google.Issuer + "/o/oauth2/v2/auth", google.Issuer, google.APIs.URL + "/token"},
		{entra.oidcFront, entra.BaseURL + "/common/oauth2/v2.0/authorize", "", entra.BaseURL + "/common/oauth2/v2.0/token"},
		{gitlab.oidcFront, gitlab.BaseURL + "/oauth/authorize", "", gitlab.BaseURL + "/oauth/token"},
		{keycloak.oidcFront, keycloak.Issuer + "/protocol/openid-connect/auth", keycloak.Issuer, keycloak.Issuer + "/protocol/openid-connect/token"},
	} {
		var authz string
		switch c.f {
		case google.oidcFront:
			authz = oidcAuthURL(c.authorize, c.f.ClientID, cb, "openid", "access_type", "offline")
		case gitlab.oidcFront:
			authz = oidcAuthURL(c.authorize, c.f.ClientID, cb, "openid")
		default:
			authz = oidcAuthURL(c.authorize, c.f.ClientID, cb, "openid offline_access")
		}
		tok := oidcLogin(t, c.f, authz, c.token)
		issued := strings.Join(c.f.Issued(), " ")
		for _, k := range []string{"access_token", "refresh_token", "id_token"} {
			if s, _ := tok[k].(string); s == "" || !strings.Contains(issued, s) {
				t.Errorf("%s: %s %q not among the issued secrets", c.f.name, k, s)
			}
		}
		c.f.Deny.Store(true)
		_, loc := call(t, http.MethodGet, authz, nil, nil)
		u, _ := url.Parse(loc)
		if q := u.Query(); q.Get("error") != "access_denied" || q.Get("state") != "st" || q.Get("iss") != c.iss || q.Has("code") {
			t.Errorf("%s: denied consent: %s", c.f.name, loc)
		}
	}
	gh := NewGitHub(t, GitHubOptions{Callback: cb})
	gh.Deny.Store(true)
	if _, loc := call(t, http.MethodGet, gh.BaseURL+"/login/oauth/authorize?"+url.Values{"client_id": {gh.ClientID}, "redirect_uri": {cb}, "state": {"s"}}.Encode(), nil, nil); !strings.Contains(loc, "error=access_denied") || !strings.Contains(loc, "state=s") {
		t.Errorf("github: denied consent: %s", loc)
	}
}

func TestEndSession(t *testing.T) {
	t.Parallel()
	const cb = "http://127.0.0.1:4180/oauth2/callback"
	rec := &recorder{TB: t}
	keycloak := NewKeycloak(rec, KeycloakOptions{Callback: cb})
	entra := NewEntra(rec, EntraOptions{Callback: cb})
	for _, c := range []struct {
		f      *oidcFront
		issuer string
	}{{keycloak.oidcFront, keycloak.Issuer}, {entra.oidcFront, entra.BaseURL + "/" + entra.TenantID + "/v2.0"}} {
		_, doc := getJSON(t, c.issuer+"/.well-known/openid-configuration", nil)
		end, _ := doc["end_session_endpoint"].(string)
		tok := oidcLogin(t, c.f, oidcAuthURL(doc["authorization_endpoint"].(string), c.f.ClientID, cb, "openid"), doc["token_endpoint"].(string))
		hint := tok["id_token"].(string)
		for _, r := range []rejection{
			{name: "logout with an unknown parameter", url: end + "?foo=bar", status: 400, violation: true},
			{name: "logout, forged hint", url: end + "?id_token_hint=" + hint[:len(hint)-4] + "AAAA", status: 400},
			{name: "logout, foreign redirect", url: end + "?post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F", status: 400},
			{name: "control: logout", url: end + "?" + url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"http://127.0.0.1:4180/bye"}, "state": {"s"}}.Encode(), status: 302},
		} {
			r.name = c.f.name + ": " + r.name
			r.check(t, rec)
		}
	}
}
