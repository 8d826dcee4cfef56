package assertion_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/proxy/assertion"
)

// Keys are slow to generate (RSA): make each kind once per test binary.
var (
	keysOnce sync.Once
	ecKey    *ecdsa.PrivateKey
	ec384Key *ecdsa.PrivateKey
	rsaKey   *rsa.PrivateKey
	rsa1024  *rsa.PrivateKey
)

func testKeys(t testing.TB) {
	if t != nil {
		t.Helper()
	}
	keysOnce.Do(func() {
		ecKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		ec384Key, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		rsaKey, _ = rsa.GenerateKey(rand.Reader, 2048)
		rsa1024, _ = rsa.GenerateKey(rand.Reader, 1024)
	})
}

func pemOf(_ testing.TB, typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t testing.TB, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "PRIVATE KEY", der)
}

func sec1(t testing.TB, k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err)
	}
	return pemOf(t, "EC PRIVATE KEY", der)
}

// exampleKey is the EC key examples sign with.
func exampleKey() *ecdsa.PrivateKey {
	testKeys(nil)
	return ecKey
}

// writeKey writes data to a fresh file with mode perm and returns its path.
func writeKey(t testing.TB, data []byte, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // umask may have narrowed it
		t.Fatal(err)
	}
	return path
}

func TestLoadKeyFileAccepts(t *testing.T) {
	t.Parallel()
	testKeys(t)
	ecParams := pemOf(t, "EC PARAMETERS", []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})
	for _, tc := range []struct {
		name string
		pem  []byte
		alg  string
	}{
		{"EC P-256 SEC 1", sec1(t, ecKey), "ES256"},
		{"EC P-256 SEC 1 after EC PARAMETERS (openssl ecparam -genkey)", append(ecParams, sec1(t, ecKey)...), "ES256"},
		{"EC P-256 PKCS #8", pkcs8(t, ecKey), "ES256"},
		{"RSA 2048 PKCS #1", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), "RS256"},
		{"RSA 2048 PKCS #8", pkcs8(t, rsaKey), "RS256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, err := assertion.LoadKeyFile(writeKey(t, tc.pem, 0o600))
			if err != nil {
				t.Fatalf("LoadKeyFile: %v", err)
			}
			if k.Algorithm() != tc.alg {
				t.Errorf("Algorithm = %s, want %s", k.Algorithm(), tc.alg)
			}
			if k.ReadableByOthers() {
				t.Error("a 0600 file is reported readable by others")
			}
			jwk := k.PublicJWK()
			if jwk.KeyID != k.KeyID() || jwk.Use != "sig" || jwk.Algorithm != tc.alg || !jwk.IsPublic() {
				t.Errorf("PublicJWK = kid %q use %q alg %q public %v", jwk.KeyID, jwk.Use, jwk.Algorithm, jwk.IsPublic())
			}
		})
	}
}

func TestLoadKeyFileRefuses(t *testing.T) {
	t.Parallel()
	testKeys(t)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	encrypted := pemOf(t, "ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00})
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1}})
	for _, tc := range []struct {
		name, want string
		pem        []byte
	}{
		{"EC P-384", "P-384", sec1(t, ec384Key)},
		{"RSA 1024", "1024-bit RSA key", pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa1024))},
		{"Ed25519", "only EC P-256 and RSA", pkcs8(t, edKey)},
		{"encrypted PKCS #8", "encrypted", encrypted},
		{"encrypted legacy PEM", "encrypted", legacyEncrypted},
		{"public key only", "no PEM private key", pemOf(t, "PUBLIC KEY", pubDER)},
		{"not PEM", "no PEM private key", []byte("not a key\n")},
		{"empty", "no PEM private key", nil},
		{"two keys", "more than one private key", append(sec1(t, ecKey), pkcs8(t, ecKey)...)},
		{"corrupt DER", "not a valid EC PRIVATE KEY", pemOf(t, "EC PRIVATE KEY", []byte("garbage"))},
		{"other block", `type "OPENSSH PRIVATE KEY"`, pemOf(t, "OPENSSH PRIVATE KEY", []byte("x"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := writeKey(t, tc.pem, 0o600)
			_, err := assertion.LoadKeyFile(path)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q; want it to name the file and say %q", err, tc.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "absent.pem")
		_, err := assertion.LoadKeyFile(path)
		if err == nil || !strings.Contains(err.Error(), path) || strings.Count(err.Error(), path) != 1 {
			t.Errorf("error %v; want it to name the file once", err)
		}
	})
}

// TestKeyIDIsRFC7638Thumbprint: the kid is the SHA-256 JWK thumbprint of
// the public key, computed here by hand from RFC 7638 §3.2's canonical
// form, so every replica and restart derives the same kid.
func TestKeyIDIsRFC7638Thumbprint(t *testing.T) {
	t.Parallel()
	testKeys(t)
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	x, y := make([]byte, 32), make([]byte, 32)
	ecKey.X.FillBytes(x)
	ecKey.Y.FillBytes(y)
	ecCanon := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, b64(x), b64(y))
	e := []byte{1, 0, 1} // 65537
	rsaCanon := fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`, b64(e), b64(rsaKey.N.Bytes()))
	for _, tc := range []struct {
		name  string
		pem   []byte
		canon string
	}{
		{"EC", sec1(t, ecKey), ecCanon},
		{"RSA", pkcs8(t, rsaKey), rsaCanon},
	} {
		sum := sha256.Sum256([]byte(tc.canon))
		want := b64(sum[:])
		a, err := assertion.ParseKey(tc.pem)
		if err != nil {
			t.Fatal(err)
		}
		b, err := assertion.LoadKeyFile(writeKey(t, tc.pem, 0o400))
		if err != nil {
			t.Fatal(err)
		}
		if a.KeyID() != want || b.KeyID() != want {
			t.Errorf("%s: kid %q and %q, want the thumbprint %q", tc.name, a.KeyID(), b.KeyID(), want)
		}
	}
}

func TestLoadKeyFileReportsLoosePermissions(t *testing.T) {
	t.Parallel()
	testKeys(t)
	for _, tc := range []struct {
		perm os.FileMode
		want bool
	}{{0o600, false}, {0o400, false}, {0o640, true}, {0o604, true}, {0o644, true}} {
		k, err := assertion.LoadKeyFile(writeKey(t, sec1(t, ecKey), tc.perm))
		if err != nil {
			t.Fatal(err)
		}
		if k.ReadableByOthers() != tc.want {
			t.Errorf("mode %v: ReadableByOthers = %v, want %v", tc.perm, k.ReadableByOthers(), tc.want)
		}
	}
}
