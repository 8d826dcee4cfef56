package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/gateway"
)

// devUsers are the fixed users of the development provider.
var devUsers = []devidp.User{
	{Username: "alice", Name: "Alice Admin", Email: "alice@example.test", EmailVerified: true, Groups: []string{"admins", "engineering"}},
	{Username: "bob", Name: "Bob Builder", Email: "bob@example.test", EmailVerified: true, Groups: []string{"engineering"}},
	{Username: "carol", Name: "Carol Contractor", Email: "carol@contractor.test", EmailVerified: false},
}

// runDev starts, on loopback only, a built-in OpenID provider, a demo
// upstream that shows the headers it receives, and Gatehouse in front of it.
func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gatehouse dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("http-address", "127.0.0.1:4180", "loopback host:port for Gatehouse")
	idpAddr := fs.String("idp-address", "127.0.0.1:0", "loopback host:port for the development OpenID provider (0 = any free port)")
	appAddr := fs.String("upstream-address", "127.0.0.1:0", "loopback host:port for the demo upstream (0 = any free port)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "gatehouse dev: a self-contained demo on loopback (FOR DEVELOPMENT ONLY)\n\nUsage: gatehouse dev [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	for name, a := range map[string]string{"--http-address": *addr, "--idp-address": *idpAddr, "--upstream-address": *appAddr} {
		if err := requireLoopback(a); err != nil {
			fmt.Fprintf(stderr, "gatehouse dev: %s %q: %v\n", name, a, err)
			return 2
		}
	}
	log := newLogger(stderr, "info", "text")

	idpLn, err := net.Listen("tcp", *idpAddr)
	if err != nil {
		log.Error("dev provider listen", "address", *idpAddr, "err", err)
		return 1
	}
	clientSecret := randomSecret()
	idp, err := devidp.New(devidp.Options{
		ClientID:     "gatehouse-dev",
		ClientSecret: clientSecret,
		Users:        devUsers,
		AnyUser:      true,
		Issuer:       "http://" + idpLn.Addr().String(),
	})
	if err != nil {
		log.Error("dev provider", "err", err)
		return 1
	}
	appLn, err := net.Listen("tcp", *appAddr)
	if err != nil {
		log.Error("demo upstream listen", "address", *appAddr, "err", err)
		return 1
	}
	gwLn, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "address", *addr, "err", err)
		return 1
	}
	go func() { _ = idp.Serve(ctx, idpLn) }()
	go func() { _ = serve(ctx, appLn, demoUpstream(), log, time.Second) }()

	opts := devOptions(idp, clientSecret, "http://"+appLn.Addr().String(), gwLn.Addr().String())
	cfg, err := opts.Validate()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	gw, err := gateway.New(ctx, cfg, gateway.Deps{Logger: log})
	if err != nil {
		log.Error("start-up failed", "err", err)
		return 1
	}
	defer gw.Close()

	log.Warn("DEVELOPMENT MODE: built-in test identity provider, anyone can sign in; never expose this")
	printDevBanner(stdout, "http://"+gwLn.Addr().String()+"/", idp.Issuer(), "http://"+appLn.Addr().String())
	if err := serve(ctx, gwLn, gw, log, 5*time.Second); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	return 0
}

// printDevBanner tells the developer where everything runs.
func printDevBanner(w io.Writer, url, issuer, upstream string) {
	fmt.Fprintf(w, `
  ┌──────────────────────────────────────────────────────────────────┐
  │  GATEHOUSE DEVELOPMENT MODE — NOT FOR PRODUCTION                 │
  │  Built-in test identity provider, random secrets, plain HTTP,    │
  │  loopback only. Sessions end when this process stops.            │
  └──────────────────────────────────────────────────────────────────┘

  Open:      %s
  Users:     alice (admins, engineering), bob (engineering), or any name
  Provider:  %s
  Upstream:  %s (demo page showing the identity headers)

`, url, issuer, upstream)
}

// devOptions is the configuration of the development gateway.
func devOptions(idp *devidp.IdP, clientSecret, upstream, listen string) *config.Options {
	o := config.Defaults()
	o.HTTPAddress = listen
	o.Upstream = upstream
	o.Provider = "oidc"
	o.ProviderDisplayName = "Gatehouse dev provider"
	o.OIDCIssuerURL = idp.Issuer()
	o.ClientID = "gatehouse-dev"
	o.ClientSecret = clientSecret
	o.CookieSecret = randomSecret()
	o.CookieSecure = false
	o.EmailDomains = []string{"*"}
	o.PassAccessToken = false
	return o
}

// requireLoopback refuses any listen address that is not on loopback.
func requireLoopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return errors.New("development mode binds only to loopback (127.0.0.1 or ::1)")
	}
	return nil
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var demoPage = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Gatehouse demo upstream</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}code{word-break:break-all}</style></head>
<body><main>
<h1>Hello{{with .User}}, {{.}}{{end}}!</h1>
<p>This page is the demo upstream application. Gatehouse let you in and added these identity headers:</p>
<table><thead><tr><th scope="col">Header</th><th scope="col">Value</th></tr></thead><tbody>
{{range .Headers}}<tr><td><code>{{.Name}}</code></td><td><code>{{.Value}}</code></td></tr>
{{else}}<tr><td colspan="2">none</td></tr>{{end}}
</tbody></table>
<p><a href="/oauth2/userinfo">/oauth2/userinfo</a> · <a href="/oauth2/sign_out">Sign out</a></p>
</main></body></html>`))

// demoUpstream shows the identity headers it receives.
func demoUpstream() http.Handler {
	type header struct{ Name, Value string }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var hs []header
		for name, values := range r.Header {
			if strings.HasPrefix(name, "X-Forwarded-") || name == "Authorization" {
				hs = append(hs, header{name, strings.Join(values, ", ")})
			}
		}
		sort.Slice(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = demoPage.Execute(w, struct {
			User    string
			Headers []header
		}{r.Header.Get("X-Forwarded-Preferred-Username"), hs})
	})
}
