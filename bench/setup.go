package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
)

// benchUser signs in for every configuration; the groups make a session of
// a realistic size (a cookie of about 2 KB with the tokens).
var benchUser = devidp.User{
	Username: "alice", Name: "Alice Admin", Email: "alice@example.test", EmailVerified: true,
	Groups: []string{"admins", "engineering", "platform", "on-call"},
}

// startIdP runs the in-repo development OpenID provider on loopback,
// logging benchUser in without a form. Its tokens outlive the run, so no
// refresh happens under load.
func startIdP(ctx context.Context) (issuer, clientSecret string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", err
	}
	clientSecret = randomSecret()
	idp, err := devidp.New(devidp.Options{
		ClientID:       "gatehouse-bench",
		ClientSecret:   clientSecret,
		Users:          []devidp.User{benchUser},
		Issuer:         "http://" + ln.Addr().String(),
		AutoLogin:      benchUser.Username,
		AccessTokenTTL: 2 * time.Hour,
		IDTokenTTL:     2 * time.Hour,
	})
	if err != nil {
		ln.Close()
		return "", "", err
	}
	go func() { _ = idp.Serve(ctx, ln) }()
	return idp.Issuer(), clientSecret, nil
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// gatewayFile writes a Gatehouse YAML configuration listening on addr in
// front of upstream, with the Redis store when redisAddr is set.
func gatewayFile(dir, name, addr, upstream, issuer, clientSecret, redisAddr string) (string, error) {
	c := map[string]any{
		"http_address":    addr,
		"upstream":        "http://" + upstream,
		"provider":        "oidc",
		"oidc_issuer_url": issuer,
		"client_id":       "gatehouse-bench",
		"client_secret":   clientSecret,
		"cookie_secret":   randomSecret(),
		"cookie_secure":   false,
		"email_domain":    []string{"*"},
		"log_level":       "warn",
	}
	if redisAddr != "" {
		c["session_store"] = "redis"
		c["redis_url"] = "redis://" + redisAddr + "/0"
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return "", err
	}
	file := filepath.Join(dir, name+".yaml")
	return file, os.WriteFile(file, b, 0o600)
}

// signIn logs benchUser in through the gateway at addr as a browser
// would (start → provider → callback → the page) and returns the Cookie
// header a signed-in browser sends.
func signIn(ctx context.Context, addr string) (string, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return "", err
	}
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	base := "http://" + addr
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/oauth2/start?rd=%2F", nil)
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("sign in at %s: %w", addr, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get(headerSeenUser) == "" {
		return "", fmt.Errorf("sign in at %s: ended with status %d at %s: %s", addr, resp.StatusCode, resp.Request.URL, body)
	}
	u, _ := url.Parse(base)
	var pairs []string
	for _, c := range jar.Cookies(u) {
		pairs = append(pairs, c.Name+"="+c.Value)
	}
	return strings.Join(pairs, "; "), nil
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
