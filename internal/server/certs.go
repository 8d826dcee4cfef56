package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"
)

// CertReloader serves a certificate and key kept in files, re-reading
// them when they change (cert-manager renews the Secret's files in place)
// so new handshakes get the new certificate while open connections keep
// theirs. A pair that fails to load is logged and the previous one kept.
type CertReloader struct {
	certFile, keyFile string
	checkEvery        time.Duration
	log               *slog.Logger

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string // the files' identity (size, mtime) when cert was read
	checkedAt time.Time
}

// DefaultCertCheck is how often CertReloader looks at the files, at most.
const DefaultCertCheck = 2 * time.Second

// NewCertReloader loads the pair now (an error names the files) and
// returns the reloader; checkEvery <= 0 looks at the files on every
// handshake.
func NewCertReloader(certFile, keyFile string, checkEvery time.Duration, log *slog.Logger) (*CertReloader, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &CertReloader{certFile: certFile, keyFile: keyFile, checkEvery: checkEvery, log: log}
	stamp, err := c.fileStamp()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %q and key %q: %w. Fix: give a PEM certificate chain and its PEM private key", certFile, keyFile, err)
	}
	c.cert, c.stamp, c.checkedAt = &cert, stamp, time.Now()
	return c, nil
}

// fileStamp identifies the current content of both files by size and
// modification time (a Kubernetes Secret volume swaps a symlink: Stat
// follows it).
func (c *CertReloader) fileStamp() (string, error) {
	var stamp string
	for _, f := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("TLS file: %w", err)
		}
		stamp += fmt.Sprintf("%d/%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return stamp, nil
}

// GetCertificate is tls.Config.GetCertificate: the current pair, re-read
// first when the files changed since the last look.
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.checkEvery > 0 && now.Sub(c.checkedAt) < c.checkEvery {
		return c.cert, nil
	}
	c.checkedAt = now
	stamp, err := c.fileStamp()
	if err != nil || stamp == c.stamp {
		if err != nil {
			c.log.Warn("cannot check the TLS certificate files; serving the loaded certificate", "err", err)
		}
		return c.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		// Often the two files are caught between their updates: retry
		// at the next look, keep serving the old pair.
		c.log.Warn("reloading the TLS certificate failed; serving the previous one", "cert_file", c.certFile, "err", err)
		return c.cert, nil
	}
	c.cert, c.stamp = &cert, stamp
	c.log.Info("TLS certificate reloaded", "cert_file", c.certFile)
	return c.cert, nil
}

// TLSConfig returns the listener configuration: certificates from
// GetCertificate, minVersion (tls.VersionTLS12 or 13), HTTP/2 and HTTP/1.1
// offered through ALPN.
func (c *CertReloader) TLSConfig(minVersion uint16) *tls.Config {
	return &tls.Config{
		MinVersion:     minVersion,
		GetCertificate: c.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// TLSListener wraps ln (from Listen) to speak TLS with cfg; an
// http.Server serving it speaks HTTP/2 to clients that offer it.
func TLSListener(ln net.Listener, cfg *tls.Config) net.Listener {
	return tls.NewListener(ln, cfg)
}
