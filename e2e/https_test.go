package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// TestBrowserTrustsTestCA checks the HTTPS scenarios' footing: a server
// with a certificate from the run's test CA loads in the browser like any
// trusted site, and one from another CA does not.
func TestBrowserTrustsTestCA(t *testing.T) {
	t.Parallel()
	require(t, needChromium)
	pki, err := testPKI()
	if err != nil {
		t.Fatal(err)
	}
	ok := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`<!doctype html><title>TLS</title><h1>Trusted</h1>`))
	}))
	cert, err := tls.LoadX509KeyPair(pki.CertFile, pki.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ok.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ok.StartTLS()
	t.Cleanup(ok.Close)
	other := httptest.NewUnstartedServer(ok.Config.Handler)
	other.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
	other.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	other.StartTLS()
	t.Cleanup(other.Close)

	b := newWindow(t, "tls")
	if p := b.open(ok.URL); p.H1 != "Trusted" || !strings.HasPrefix(p.URL, "https://127.0.0.1:") {
		t.Fatalf("a server with the test CA's certificate shows %s, want its page", p)
	}
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	err = chromedp.Do(ctx, chromedp.Navigate(other.URL))
	shown, _ := b.state()
	if err == nil && shown.H1 == "Trusted" {
		t.Fatalf("a certificate from another CA was accepted: %s", shown)
	}
}

// selfSigned is a certificate for 127.0.0.1 that no one trusts.
func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "untrusted"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestBrowserHTTPS is the HTTPS part of scenario 2: over HTTPS the session
// cookie is Secure as well as HttpOnly and SameSite, and the upstream
// learns the scheme. It runs behind a TLS-terminating nginx now, and on
// Gatehouse's own TLS listener once the binary has one.
func TestBrowserHTTPS(t *testing.T) {
	t.Parallel()
	t.Run("BehindTLSProxy", func(t *testing.T) {
		t.Parallel()
		require(t, needChromium, needNode, needNginx)
		pki, err := testPKI()
		if err != nil {
			t.Fatal(err)
		}
		app := startUpstream(t)
		port := freePort(t)
		n := testutil.StartNginx(t, `
upstream gatehouse { server 127.0.0.1:`+strconv.Itoa(port)+`; }
server {
    listen 127.0.0.1:`+testutil.NginxPortPlaceholder+` ssl;
    ssl_certificate     `+pki.CertFile+`;
    ssl_certificate_key `+pki.KeyFile+`;
    location / {
        proxy_pass http://gatehouse;
        proxy_set_header Host              $http_host;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host  $http_host;
        proxy_set_header X-Forwarded-For   $proxy_add_x_forwarded_for;
    }
}
`)
		front := "https://" + n.Addr()
		s := &stack{app: app, op: startProvider(t, 0, front)}
		cfg := baseConfig(t, s.op, app.URL(), front)
		delete(cfg, "cookie_secure") // the default: Secure
		cfg["reverse_proxy"] = true
		startGatehouse(t, "gatehouse", port, cfg)
		s.gw = &gatehouse{publicURL: front}
		signInOverHTTPS(t, s)
	})

	t.Run("NativeTLSListener", func(t *testing.T) {
		t.Parallel()
		require(t, needChromium, needNode)
		if !hasOption(t, "--https-address") {
			t.Skip("needs the TLS listener of the TLS change (--https-address, --tls-cert-file, --tls-key-file); runs as soon as gatehouse --help lists --https-address")
		}
		pki, err := testPKI()
		if err != nil {
			t.Fatal(err)
		}
		app := startUpstream(t)
		port, tlsPort := freePort(t), freePort(t)
		front := "https://127.0.0.1:" + strconv.Itoa(tlsPort)
		s := &stack{app: app, op: startProvider(t, 0, front)}
		cfg := baseConfig(t, s.op, app.URL(), front)
		delete(cfg, "cookie_secure")
		cfg["https_address"] = "127.0.0.1:" + strconv.Itoa(tlsPort)
		cfg["tls_cert_file"] = pki.CertFile
		cfg["tls_key_file"] = pki.KeyFile
		s.gw = startGatehouse(t, "gatehouse", port, cfg)
		signInOverHTTPS(t, s)
	})
}

// signInOverHTTPS signs in at s over HTTPS and checks the cookie's
// attributes, the scheme the upstream saw, and that a reload needs no
// login.
func signInOverHTTPS(t *testing.T, s *stack) {
	t.Helper()
	b := newWindow(t, "alice over https")
	alice := s.op.Account(t, "alice")
	p := signIn(b, s, protectedPage, "alice", "")
	if !strings.HasPrefix(p.URL, "https://") {
		t.Fatalf("signed in at %s, want an https page", p.URL)
	}
	got := wantUpstreamPage(t, s, p, protectedPage, alice.Email)
	if proto := got.Header.Get("X-Forwarded-Proto"); proto != "https" {
		t.Errorf("upstream received X-Forwarded-Proto %q, want https", proto)
	}
	cookies := sessionCookies(b, s.gw.URL())
	if len(cookies) == 0 {
		t.Fatal("no session cookie over https")
	}
	for _, c := range cookies {
		if !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
			t.Errorf("session cookie %s over https: Secure=%v HttpOnly=%v SameSite=%q, want Secure, HttpOnly, Lax", c.Name, c.Secure, c.HTTPOnly, c.SameSite)
		}
	}
	logins := s.op.AccountStats(t, "alice").Logins
	wantUpstreamPage(t, s, b.open(s.gw.URL()+"/over/https?again=1"), "/over/https?again=1", alice.Email)
	if st := s.op.AccountStats(t, "alice"); st.Logins != logins {
		t.Errorf("over https the next page asked alice to sign in again")
	}
}
