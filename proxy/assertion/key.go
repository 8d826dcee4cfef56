// Package assertion signs the identity Gatehouse forwards upstream as a
// short-lived JWT (the X-Gatehouse-Assertion header), so that an upstream
// can verify who the user is even when something other than Gatehouse can
// reach it, and publishes the public keys as a JWKS document.
package assertion

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/go-jose/go-jose/v4"
)

// MinRSABits is the smallest RSA modulus accepted for signing.
const MinRSABits = 2048

// Key is a private signing key loaded from a PEM file and checked: an EC
// P-256 key (signing ES256) or an RSA key of at least MinRSABits bits
// (signing RS256).
type Key struct {
	file     string
	private  crypto.Signer
	alg      jose.SignatureAlgorithm
	kid      string
	readable bool // the file's mode lets its group or others read it
}

// LoadKeyFile reads and checks the PEM private key in path: EC P-256 (SEC 1
// "EC PRIVATE KEY" or PKCS #8 "PRIVATE KEY") or RSA of at least 2048 bits
// (PKCS #1 "RSA PRIVATE KEY" or PKCS #8). Every error names the file and
// never includes key material.
func LoadKeyFile(path string) (*Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key %q: %w", path, unwrapPathError(err))
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signing key %q: %w", path, unwrapPathError(err))
	}
	k, err := ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("signing key %q: %w", path, err)
	}
	k.file = path
	k.readable = info.Mode().Perm()&0o044 != 0
	return k, nil
}

// ParseKey parses and checks a PEM private key as LoadKeyFile does.
func ParseKey(data []byte) (*Key, error) {
	var found *pem.Block
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "EC PARAMETERS": // openssl ecparam -genkey writes it before the key
			continue
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("is encrypted; Gatehouse needs the key unencrypted (openssl pkey -in KEY -out PLAIN), kept readable only by its user")
		case "EC PRIVATE KEY", "RSA PRIVATE KEY", "PRIVATE KEY":
			if found != nil {
				return nil, errors.New("holds more than one private key; give each key its own file")
			}
			if _, encrypted := b.Headers["Proc-Type"]; encrypted {
				return nil, errors.New("is encrypted; Gatehouse needs the key unencrypted, kept readable only by its user")
			}
			found = b
		case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
			continue
		default:
			return nil, fmt.Errorf("holds a PEM block of type %q, not a private key", b.Type)
		}
	}
	if found == nil {
		return nil, errors.New("holds no PEM private key; generate one with 'openssl ecparam -name prime256v1 -genkey -noout -out KEY'")
	}
	priv, err := parsePrivate(found)
	if err != nil {
		return nil, err
	}
	return newKey(priv)
}

// parsePrivate decodes one private key block.
func parsePrivate(b *pem.Block) (any, error) {
	var (
		key any
		err error
	)
	switch b.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	}
	if err != nil {
		// x509's messages describe the structure, never the key.
		return nil, fmt.Errorf("is not a valid %s: %w", b.Type, err)
	}
	return key, nil
}

// newKey checks priv's type and strength and derives its kid.
func newKey(priv any) (*Key, error) {
	k := &Key{}
	switch p := priv.(type) {
	case *ecdsa.PrivateKey:
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("is an EC key on %s; only P-256 (ES256) is accepted", p.Curve.Params().Name)
		}
		k.private, k.alg = p, jose.ES256
	case *rsa.PrivateKey:
		if bits := p.N.BitLen(); bits < MinRSABits {
			return nil, fmt.Errorf("is a %d-bit RSA key; at least %d bits are required", bits, MinRSABits)
		}
		k.private, k.alg = p, jose.RS256
	default:
		return nil, fmt.Errorf("is a %T key; only EC P-256 and RSA (at least %d bits) are accepted", priv, MinRSABits)
	}
	thumb, err := (&jose.JSONWebKey{Key: k.private.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("computing the key id: %w", err)
	}
	k.kid = base64.RawURLEncoding.EncodeToString(thumb)
	return k, nil
}

// File is the path the key was loaded from ("" for ParseKey).
func (k *Key) File() string { return k.file }

// KeyID is the key's kid: its RFC 7638 JWK thumbprint (SHA-256,
// base64url), the same on every replica and across restarts.
func (k *Key) KeyID() string { return k.kid }

// Algorithm is the JWS algorithm the key signs with: ES256 or RS256.
func (k *Key) Algorithm() string { return string(k.alg) }

// ReadableByOthers reports whether the key file's permissions let its
// group or other users read it (the caller warns: a leaked key lets anyone
// forge identities).
func (k *Key) ReadableByOthers() bool { return k.readable }

// PublicJWK is the key's public half as published in the JWKS.
func (k *Key) PublicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.private.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

// unwrapPathError drops *fs.PathError's copy of the path (the caller names
// the file once).
func unwrapPathError(err error) error {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return pe.Err
	}
	return err
}
