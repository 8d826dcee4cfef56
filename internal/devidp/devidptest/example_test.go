package devidptest_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"golang.org/x/oauth2"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp/devidptest"
)

// A test mounts the IdP on an httptest server, points its issuer there and
// drives a login headlessly with AutoLogin and Login.
func Example() {
	idp, err := devidptest.New(devidp.Options{
		ClientID:     "app",
		ClientSecret: "secret",
		Users:        []devidp.User{{Username: "alice", Email: "alice@example.test", EmailVerified: true, Groups: []string{"admins"}}},
		AutoLogin:    "alice",
	})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(idp.Handler())
	defer srv.Close()
	idp.SetIssuer(srv.URL)

	verifier := oauth2.GenerateVerifier()
	cfg := oauth2.Config{
		ClientID: "app", ClientSecret: "secret",
		Endpoint:    oauth2.Endpoint{AuthURL: idp.Issuer() + "/authorize", TokenURL: idp.Issuer() + "/token"},
		RedirectURL: "http://127.0.0.1:4180/oauth2/callback",
		Scopes:      []string{"openid", "email"},
	}
	authURL := cfg.AuthCodeURL("some-state", oauth2.S256ChallengeOption(verifier))
	loc, err := devidptest.Login(context.Background(), srv.Client(), authURL, "")
	if err != nil {
		panic(err)
	}
	tok, err := cfg.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", loc.Query().Get("state"))
	fmt.Println("id_token:", tok.Extra("id_token") != nil)
	fmt.Println("token calls:", idp.TokenCalls())
	// Output:
	// state: some-state
	// id_token: true
	// token calls: 1
}
