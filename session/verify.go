package session

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"hash"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
)

// verifier decodes values in gorilla/securecookie's format (what Encode
// writes) for one secret, as securecookie.Decode does, without its
// per-value allocations: the HMAC is keyed once and pooled, and the
// base64 and decryption buffers are pooled. It checks exactly what
// securecookie checks: length, MAC (constant time, over the cookie name,
// timestamp and ciphertext), then age, then decrypts.
type verifier struct {
	block  cipher.Block
	maxAge int64 // seconds
	macs   sync.Pool
	now    func() time.Time
}

func newVerifier(hashKey, blockKey []byte, maxAge time.Duration) (*verifier, error) {
	block, err := aes.NewCipher(blockKey)
	if err != nil {
		return nil, err
	}
	v := &verifier{block: block, maxAge: int64(maxAge / time.Second), now: time.Now}
	key := bytes.Clone(hashKey)
	v.macs.New = func() any { return hmac.New(sha256.New, key) }
	return v, nil
}

// buffers pools the scratch space of decoding.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuffer(n int) *[]byte {
	p := buffers.Get().(*[]byte)
	if cap(*p) < n {
		*p = make([]byte, n)
	}
	*p = (*p)[:n]
	return p
}

// Errors of decoding that name no value.
var (
	errTimestamp = errors.New("securecookie: invalid timestamp")
	errExpired   = errors.New("securecookie: expired timestamp")
	errDecrypt   = errors.New("securecookie: the value could not be decrypted")
	errBase64    = errors.New("securecookie: base64 decode failed")
)

// decode verifies value for the cookie name and deserializes it into dst
// with sz. A MAC mismatch is securecookie.ErrMacInvalid.
func (v *verifier) decode(name, value string, sz serializer, dst any) error {
	src := getBuffer(len(value))
	defer buffers.Put(src)
	copy(*src, value)
	outer := getBuffer(base64.URLEncoding.DecodedLen(len(value)))
	defer buffers.Put(outer)
	n, err := base64.URLEncoding.Decode(*outer, *src)
	if err != nil {
		return errBase64
	}
	b := (*outer)[:n]
	// "date|value|mac"
	i := bytes.IndexByte(b, '|')
	if i < 0 {
		return securecookie.ErrMacInvalid
	}
	j := bytes.IndexByte(b[i+1:], '|')
	if j < 0 {
		return securecookie.ErrMacInvalid
	}
	j += i + 1
	date, payload, mac := b[:i], b[i+1:j], b[j+1:]
	h := v.macs.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(name))
	h.Write([]byte{'|'})
	h.Write(b[:j])
	var sum [sha256.Size]byte
	ok := len(mac) == sha256.Size && subtle.ConstantTimeCompare(h.Sum(sum[:0]), mac) == 1
	v.macs.Put(h)
	if !ok {
		return securecookie.ErrMacInvalid
	}
	t1, err := strconv.ParseInt(string(date), 10, 64)
	if err != nil {
		return errTimestamp
	}
	if v.maxAge != 0 && t1 < v.now().Unix()-v.maxAge {
		return errExpired
	}
	inner := getBuffer(base64.URLEncoding.DecodedLen(len(payload)))
	defer buffers.Put(inner)
	n, err = base64.URLEncoding.Decode(*inner, payload)
	if err != nil {
		return errBase64
	}
	ct := (*inner)[:n]
	size := v.block.BlockSize()
	if len(ct) <= size {
		return errDecrypt
	}
	plain := ct[size:]
	cipher.NewCTR(v.block, ct[:size]).XORKeyStream(plain, plain)
	// Deserialize copies what it keeps: the buffers go back to the pool.
	if err := sz.Deserialize(plain, dst); err != nil {
		return err
	}
	return nil
}
