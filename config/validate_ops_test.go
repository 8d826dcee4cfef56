package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOperationsOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name      string
		set       func(o *Options)
		key, want string
	}{
		{"no listener", func(o *Options) { o.HTTPAddress = "" }, "http-address", "listen nowhere"},
		{"tls version", func(o *Options) { o.TLSMinVersion = "1.1" }, "tls-min-version", "must be 1.2 or 1.3"},
		{"https without cert", func(o *Options) { o.HTTPSAddress = ":8443" }, "tls-cert-file", "is required with --https-address"},
		{"https with junk cert", func(o *Options) { o.HTTPSAddress, o.TLSCertFile, o.TLSKeyFile = ":8443", junk, junk }, "tls-cert-file", "do not load"},
		{"cert without https", func(o *Options) { o.TLSCertFile = junk }, "https-address", "is empty"},
		{"metrics on the public port", func(o *Options) { o.MetricsAddress = o.HTTPAddress }, "metrics-address", "public listener"},
		{"metrics address", func(o *Options) { o.MetricsAddress = "9090" }, "metrics-address", "not host:port"},
		{"templates dir", func(o *Options) { o.CustomTemplatesDir = filepath.Join(dir, "missing") }, "custom-templates-dir", "not a readable directory"},
		{"logo http", func(o *Options) { o.LogoURL = "http://cdn.example/logo.png" }, "logo-url", "https://"},
		{"logo javascript", func(o *Options) { o.LogoURL = "javascript:alert(1)" }, "logo-url", "https://"},
		{"logo protocol-relative", func(o *Options) { o.LogoURL = "//evil.example/x.png" }, "logo-url", "https://"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := validOptions()
			tt.set(o)
			_, err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), "--"+tt.key) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v; want it about --%s saying %q", err, tt.key, tt.want)
			}
		})
	}
	o := validOptions()
	o.HTTPAddress, o.MetricsAddress, o.TLSMinVersion, o.LogoURL = "", "127.0.0.1:9090", "1.3", "/static/logo.svg"
	o.HTTPSAddress = "127.0.0.1:8443"
	o.TLSCertFile, o.TLSKeyFile = writeTestPair(t, dir)
	cfg, err := o.Validate()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLSMinVersion != tls.VersionTLS13 || cfg.HTTPSAddress != "127.0.0.1:8443" || cfg.MetricsAddress != "127.0.0.1:9090" || !cfg.AccessLog {
		t.Errorf("operations = %+v", cfg.Operations)
	}
}

// writeTestPair writes a self-signed certificate and its key.
func writeTestPair(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
