package session

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

// TestVerifierAgreesWithSecurecookie: on a valid value and on every
// single-byte change and truncation of it, the codec accepts exactly what
// gorilla/securecookie's own Decode accepts with the same keys (no
// truncation, and no change but base64 slack, is accepted).
func TestVerifierAgreesWithSecurecookie(t *testing.T) {
	t.Parallel()
	secret := newSecret(t)
	c := mustCodec(t, secret)
	hashKey, _ := hkdf.Key(sha256.New, secret, nil, hkdfInfoHash, 64)
	blockKey, _ := hkdf.Key(sha256.New, secret, nil, hkdfInfoBlock, 32)
	ref := securecookie.New(hashKey, blockKey).SetSerializer(serializer{c}).MaxLength(MaxValueSize).MaxAge(3600)
	value, err := c.Encode("_gatehouse", testSession(2))
	if err != nil {
		t.Fatal(err)
	}
	judge := func(v string) (ours, theirs bool) {
		var a, b Session
		return c.Decode("_gatehouse", v, &a) == nil, ref.Decode("_gatehouse", v, &b) == nil
	}
	if ours, theirs := judge(value); !ours || !theirs {
		t.Fatalf("valid value: ours %v, securecookie %v", ours, theirs)
	}
	var a Session
	if err := c.Decode("_other", value, &a); !errors.Is(err, securecookie.ErrMacInvalid) {
		t.Errorf("other name: %v, want a MAC mismatch", err)
	}
	alphabet := []byte("AZaz09-_=|.")
	for i := range len(value) {
		for _, ch := range alphabet {
			if value[i] == ch {
				continue
			}
			v := value[:i] + string(ch) + value[i+1:]
			// Both may accept a change in a base64 character's unused
			// low bits: it decodes to the same bytes.
			if ours, theirs := judge(v); ours != theirs {
				t.Fatalf("byte %d set to %q: ours accepts %v, securecookie %v", i, ch, ours, theirs)
			}
		}
		if ours, theirs := judge(value[:i]); ours != theirs || ours {
			t.Fatalf("truncated to %d: ours accepts %v, securecookie %v", i, ours, theirs)
		}
	}
}

// TestVerifierMaxAge: a value older than the codec's max age is refused,
// one just inside it is accepted.
func TestVerifierMaxAge(t *testing.T) {
	t.Parallel()
	c := mustCodec(t, newSecret(t)) // WithMaxAge(time.Hour)
	value, err := c.Encode("n", testSession(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		later time.Duration
		ok    bool
	}{{time.Hour - time.Minute, true}, {time.Hour + 2*time.Second, false}} {
		c.verifiers[0].now = func() time.Time { return time.Now().Add(tc.later) }
		var s Session
		err := c.Decode("n", value, &s)
		if (err == nil) != tc.ok || (!tc.ok && !errors.Is(err, errExpired)) {
			t.Errorf("%v later: err = %v, want ok=%v", tc.later, err, tc.ok)
		}
	}
}
