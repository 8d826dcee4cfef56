package config

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"os"
	"strings"
)

// operations checks the listeners, TLS, metrics and page options.
func (v *validator) operations(o *Options) Operations {
	ops := Operations{
		HTTPSAddress: o.HTTPSAddress, TLSCertFile: o.TLSCertFile, TLSKeyFile: o.TLSKeyFile,
		MetricsAddress: o.MetricsAddress, AccessLog: o.AccessLog,
		CustomTemplatesDir: o.CustomTemplatesDir, Banner: o.Banner, Footer: o.Footer, LogoURL: strings.TrimSpace(o.LogoURL),
	}
	switch strings.TrimSpace(o.TLSMinVersion) {
	case "1.2", "":
		ops.TLSMinVersion = tls.VersionTLS12
	case "1.3":
		ops.TLSMinVersion = tls.VersionTLS13
	default:
		v.add("tls-min-version", fmt.Sprintf("is %q; must be 1.2 or 1.3", o.TLSMinVersion), "use 1.2 (the default) or 1.3")
	}
	v.tlsListener(o)
	if o.MetricsAddress != "" {
		if p := checkHostPort(o.MetricsAddress, true); p != "" {
			v.add("metrics-address", p, "write host:port, e.g. 0.0.0.0:9090, or leave it empty for no metrics")
		} else if o.MetricsAddress == o.HTTPAddress || o.MetricsAddress == o.HTTPSAddress {
			v.add("metrics-address", "is the address of a public listener", "give /metrics a port of its own, e.g. :9090")
		}
	}
	if o.CustomTemplatesDir != "" {
		if fi, err := os.Stat(o.CustomTemplatesDir); err != nil || !fi.IsDir() {
			v.add("custom-templates-dir", fmt.Sprintf("%q is not a readable directory", o.CustomTemplatesDir), "give the directory holding your templates, or leave it empty")
		}
	}
	if ops.LogoURL != "" {
		if p := checkLogoURL(ops.LogoURL); p != "" {
			v.add("logo-url", p, "give an https:// URL, or a path on this site starting with '/'")
		}
	}
	return ops
}

// tlsListener checks the listen addresses and the certificate files.
func (v *validator) tlsListener(o *Options) {
	if o.HTTPAddress == "" && o.HTTPSAddress == "" {
		v.add("http-address", "is empty and so is --https-address, so Gatehouse would listen nowhere", "set --http-address, --https-address or both")
	}
	if o.HTTPSAddress == "" {
		if o.TLSCertFile != "" || o.TLSKeyFile != "" {
			v.add("https-address", "is empty, but --tls-cert-file or --tls-key-file is set", "set --https-address, e.g. :8443, or remove the TLS files")
		}
		return
	}
	if p := checkHostPort(o.HTTPSAddress, true); p != "" {
		v.add("https-address", p, "write host:port, e.g. :8443")
	}
	if o.HTTPSAddress == o.HTTPAddress {
		v.add("https-address", "is the same as --http-address", "give each listener its own port")
	}
	switch {
	case o.TLSCertFile == "":
		v.add("tls-cert-file", "is required with --https-address", "give the PEM certificate chain, e.g. tls.crt of a cert-manager Secret")
	case o.TLSKeyFile == "":
		v.add("tls-key-file", "is required with --https-address", "give the PEM private key, e.g. tls.key of a cert-manager Secret")
	default:
		if _, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile); err != nil {
			v.add("tls-cert-file", fmt.Sprintf("and --tls-key-file (%q, %q) do not load as a certificate and its key: %s", o.TLSCertFile, o.TLSKeyFile, fileErrText(err)),
				"give a PEM certificate chain and the PEM private key that belongs to it")
		}
	}
}

// checkLogoURL accepts an https:// URL or a same-site absolute path.
func checkLogoURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "is not a valid URL"
	case u.Scheme == "https" && u.Host != "" && u.User == nil:
		return ""
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") && !strings.Contains(raw, `\`):
		return ""
	}
	return "must be an https:// URL or a path starting with '/'"
}
