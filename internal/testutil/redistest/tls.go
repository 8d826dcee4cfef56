package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// RedisTLS is a standalone redis-server that also accepts TLS connections,
// with a certificate for 127.0.0.1 signed by a CA made for the test.
type RedisTLS struct {
	*Redis
	tlsPort int
	caFile  string
}

// StartRedisTLS starts a redis-server like StartRedis that also listens with
// TLS on a second free port (clients need not present a certificate). The
// plain port stays open; use TLSURL and CAFile to test TLS clients.
func StartRedisTLS(t testing.TB, extraArgs ...string) *RedisTLS {
	t.Helper()
	bin := redisLookBinary(t, "redis-server")
	certDir := t.TempDir()
	caFile, certFile, keyFile := redisWriteTestPKI(t, certDir)
	r := &RedisTLS{caFile: caFile}
	fixed := false
	p := startRedisProcess(t, bin, false, func(dir string, port int) []string {
		if !fixed { // a new TLS port for every first-start attempt, the same one on Restart
			tlsPort, err := redisFreePort(false)
			if err != nil || tlsPort == port {
				tlsPort = port + 1
			}
			r.tlsPort = tlsPort
		}
		args := append([]string{
			"--tls-port", strconv.Itoa(r.tlsPort),
			"--tls-cert-file", certFile,
			"--tls-key-file", keyFile,
			"--tls-ca-cert-file", caFile,
			"--tls-auth-clients", "no",
		}, extraArgs...)
		return redisServerArgs(dir, port, args...)
	})
	fixed = true
	r.Redis = &Redis{p: p}
	return r
}

// TLSAddr returns the host:port of the TLS listener.
func (r *RedisTLS) TLSAddr() string { return redisLoopbackAddr(r.tlsPort) }

// TLSURL returns a rediss:// URL of the TLS listener's database 0.
func (r *RedisTLS) TLSURL() string { return "rediss://" + r.TLSAddr() + "/0" }

// CAFile returns the path of the PEM file of the CA that signed the
// server's certificate.
func (r *RedisTLS) CAFile() string { return r.caFile }

// redisWriteTestPKI writes a fresh CA and a server certificate for
// 127.0.0.1 and localhost into dir, as PEM files.
func redisWriteTestPKI(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatalf("CA key: %v", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatehouse test Redis CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(crand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatalf("CA certificate: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatalf("parse CA certificate: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatalf("server key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatalf("server certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("server key: %v", err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	certFile = filepath.Join(dir, "server.pem")
	keyFile = filepath.Join(dir, "server.key")
	for path, block := range map[string]*pem.Block{
		caFile:   {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: der},
		keyFile:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
	}
	return caFile, certFile, keyFile
}
