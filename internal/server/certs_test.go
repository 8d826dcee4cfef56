package server

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Gatehouse test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert, key, pool}
}

// issue writes a certificate for 127.0.0.1 with serial and its key to
// certFile and keyFile, each replaced by a rename as a Secret volume is.
func (ca *testCA) issue(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "gatehouse"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	replace := func(path string, block *pem.Block) {
		tmp := path + ".new"
		if err := os.WriteFile(tmp, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	replace(keyFile, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	replace(certFile, &pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestTLSListenerRotatesCertificate serves over TLS with a certificate
// from a test CA, rotates it on disk during the test, and checks that the
// open connection keeps working while new handshakes get the new
// certificate, and that HTTP/2 is offered.
func TestTLSListenerRotatesCertificate(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.issue(t, 100, certFile, keyFile)

	certs, err := NewCertReloader(certFile, keyFile, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := Listen("127.0.0.1:0", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Proto))
	}), Limits{}, slog.New(slog.DiscardHandler))
	go func() { _ = srv.Serve(TLSListener(ln, certs.TLSConfig(tls.VersionTLS12))) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	dial := func(protos ...string) *tls.Conn {
		t.Helper()
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool, NextProtos: protos})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	serial := func(c *tls.Conn) int64 { return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64() }
	get := func(c *tls.Conn) string {
		t.Helper()
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: gatehouse\r\n\r\n")); err != nil {
			t.Fatalf("request on an open connection: %v", err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("response on an open connection: %v", err)
		}
		defer resp.Body.Close()
		return resp.Status
	}

	old := dial("http/1.1")
	if s := serial(old); s != 100 {
		t.Fatalf("first certificate serial %d, want 100", s)
	}
	if st := get(old); st != "200 OK" {
		t.Fatalf("first request: %s", st)
	}
	if h2 := dial("h2", "http/1.1"); h2.ConnectionState().NegotiatedProtocol != "h2" {
		t.Errorf("ALPN chose %q, want h2", h2.ConnectionState().NegotiatedProtocol)
	}

	ca.issue(t, 200, certFile, keyFile)
	if s := serial(dial("http/1.1")); s != 200 {
		t.Errorf("after rotation a new handshake got serial %d, want 200", s)
	}
	if st := get(old); st != "200 OK" {
		t.Errorf("the connection opened before the rotation: %s", st)
	}

	// A broken pair on disk keeps the last good certificate.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if s := serial(dial("http/1.1")); s != 200 {
		t.Errorf("with a broken file a handshake got serial %d, want the last good 200", s)
	}
}

func TestCertReloaderRefusesBadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, files := range [][2]string{{bad, bad}, {filepath.Join(dir, "missing.crt"), bad}} {
		if _, err := NewCertReloader(files[0], files[1], 0, nil); err == nil {
			t.Errorf("NewCertReloader(%q, %q) accepted", files[0], files[1])
		}
	}
}
