package session

import (
	"bytes"
	"compress/flate"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gorilla/securecookie"
)

// SecretSize is the length in bytes of every cookie secret.
const SecretSize = 32

// MaxValueSize bounds an encoded value (and a decompressed payload). It is a
// guard against hostile input, not a browser limit: CookieStore splits
// values into chunks long before this.
const MaxValueSize = 64 << 10

// DefaultCodecMaxAge is the codec's timestamp limit when WithMaxAge is not
// given.
const DefaultCodecMaxAge = 30 * 24 * time.Hour

// ErrInvalid means an encoded value failed to decode: it was tampered with,
// truncated, made with a secret no longer configured, too old for the
// codec's MaxAge, or is not a value this program wrote. The wrapped cause is
// safe to log; it never contains the value or a key.
var ErrInvalid = errors.New("invalid encoded value")

// Info strings for HKDF: one secret yields independent keys for each use.
const (
	hkdfInfoHash  = "gatehouse/v1 cookie hmac-sha256"
	hkdfInfoBlock = "gatehouse/v1 cookie aes-256"
)

// Payload format tags, the first byte of the serialized (pre-encryption)
// value, so the format can evolve without breaking old cookies.
const (
	formatJSON        byte = 'j' // JSON as is
	formatFlate       byte = 'z' // raw DEFLATE of the JSON
	formatBinary      byte = 'b' // binaryPayload's encoding (sessions, tickets)
	formatBinaryFlate byte = 'y' // raw DEFLATE of the binary encoding
)

// compressAbove is the JSON size from which compression is tried: below it
// the DEFLATE framing costs more than it saves.
const compressAbove = 256

// compressBinaryAbove is the binary size from which compression is tried.
// Below it a session fits one cookie uncompressed, and decoding it skips
// DEFLATE, which used to be a third of the cost of reading a cookie;
// above it, compression keeps large sessions in as few chunks as before.
const compressBinaryAbove = 1536

// binaryPayload is a value with its own compact binary encoding, which the
// codec uses instead of JSON (Session and the Redis ticket). Values
// written as JSON before still decode into it.
type binaryPayload interface {
	appendBinary(b []byte) []byte
	decodeBinary(b []byte) error
}

// Codec encrypts and authenticates values for cookies.
//
// Each secret yields, through HKDF-SHA256, an HMAC-SHA256 key and an AES-256
// key for gorilla/securecookie (AES-CTR, then HMAC over name, timestamp and
// ciphertext: encrypt-then-MAC). The cookie name is bound into the MAC, so a
// value cannot be replayed under another name. The newest secret encodes;
// every secret decodes, which allows rotation. Sessions and Redis tickets
// are serialized in a compact binary encoding (binary.go), other values as
// JSON, DEFLATE-compressed when large and that makes them smaller. The
// first byte of the serialized value names its format, so values written
// as JSON by earlier versions still decode.
//
// A Codec is safe for concurrent use.
type Codec struct {
	codecs []*securecookie.SecureCookie // newest first
	// encoder is codecs[0] without securecookie's length limit, so that
	// Encode can report an oversized value as ErrTooLarge itself.
	encoder *securecookie.SecureCookie
	// writers and readers pool DEFLATE compressors and decompressors,
	// which are large to allocate.
	writers, readers sync.Pool
}

// CodecOption configures NewCodec.
type CodecOption func(*codecConfig)

type codecConfig struct {
	maxAge time.Duration
}

// WithMaxAge makes Decode reject values encoded longer than d ago (checked
// against the timestamp inside the authenticated value, in whole seconds).
// The default is DefaultCodecMaxAge; d must be at least one second.
func WithMaxAge(d time.Duration) CodecOption {
	return func(c *codecConfig) { c.maxAge = d }
}

// NewCodec returns a codec for secrets, newest first. Every secret must be
// exactly SecretSize bytes of high-entropy key material.
func NewCodec(secrets [][]byte, opts ...CodecOption) (*Codec, error) {
	cfg := codecConfig{maxAge: DefaultCodecMaxAge}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.maxAge < time.Second {
		return nil, fmt.Errorf("session codec: max age %v is below one second", cfg.maxAge)
	}
	if len(secrets) == 0 {
		return nil, errors.New("session codec: no cookie secret configured")
	}
	c := &Codec{}
	c.writers.New = func() any {
		w, _ := flate.NewWriter(nil, flate.BestCompression) // only fails on a bad level
		return w
	}
	for i, secret := range secrets {
		if len(secret) != SecretSize {
			return nil, fmt.Errorf("session codec: cookie secret #%d is %d bytes, want %d", i+1, len(secret), SecretSize)
		}
		hashKey, err := hkdf.Key(sha256.New, secret, nil, hkdfInfoHash, 64)
		if err != nil {
			return nil, fmt.Errorf("session codec: derive hash key: %w", err)
		}
		blockKey, err := hkdf.Key(sha256.New, secret, nil, hkdfInfoBlock, 32)
		if err != nil {
			return nil, fmt.Errorf("session codec: derive block key: %w", err)
		}
		sc := securecookie.New(hashKey, blockKey).
			SetSerializer(serializer{c}).
			MaxLength(MaxValueSize).
			MaxAge(int(cfg.maxAge / time.Second))
		c.codecs = append(c.codecs, sc)
		if i == 0 {
			c.encoder = securecookie.New(hashKey, blockKey).
				SetSerializer(serializer{c}).
				MaxLength(0)
		}
	}
	return c, nil
}

// Encode serializes v (JSON), encrypts and authenticates it for a cookie
// called name with the newest secret. The result is URL-safe base64.
func (c *Codec) Encode(name string, v any) (string, error) {
	s, err := c.encoder.Encode(name, v)
	if err != nil {
		return "", fmt.Errorf("encode cookie %q: %w", name, err)
	}
	if len(s) > MaxValueSize {
		return "", fmt.Errorf("encode cookie %q: %w: value of %d bytes exceeds %d", name, ErrTooLarge, len(s), MaxValueSize)
	}
	return s, nil
}

// Decode verifies and decrypts value, which must have been encoded for a
// cookie called name, and unmarshals it into dst (a pointer). Any failure
// wraps ErrInvalid.
func (c *Codec) Decode(name, value string, dst any) error {
	if len(value) > MaxValueSize {
		return fmt.Errorf("%w: value of %d bytes exceeds %d", ErrInvalid, len(value), MaxValueSize)
	}
	var first error
	for _, sc := range c.codecs {
		err := sc.Decode(name, value, dst)
		if err == nil {
			return nil
		}
		// Prefer the error of the secret whose MAC matched (expired,
		// undecodable payload) over "MAC invalid" from the others.
		if first == nil || (errors.Is(first, securecookie.ErrMacInvalid) && !errors.Is(err, securecookie.ErrMacInvalid)) {
			first = err
		}
	}
	return fmt.Errorf("%w: cookie %q: %w", ErrInvalid, name, first)
}

// serializer is the securecookie.Serializer of a Codec: a format tag, then
// JSON or DEFLATE-compressed JSON.
type serializer struct{ c *Codec }

func (s serializer) Serialize(src any) ([]byte, error) {
	if bp, ok := src.(binaryPayload); ok {
		raw := bp.appendBinary(make([]byte, 1, 512))
		raw[0] = formatBinary
		if len(raw) > compressBinaryAbove {
			return s.compress(raw[1:], formatBinaryFlate, raw)
		}
		return raw, nil
	}
	js, err := json.Marshal(src)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(js)+1)
	out = append(out, formatJSON)
	out = append(out, js...)
	if len(js) > compressAbove {
		return s.compress(js, formatFlate, out)
	}
	return out, nil
}

// compress returns tag and the DEFLATE of plain, or fallback when that is
// not smaller.
func (s serializer) compress(plain []byte, tag byte, fallback []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(plain)/2 + 1)
	buf.WriteByte(tag)
	w := s.c.writers.Get().(*flate.Writer)
	w.Reset(&buf)
	_, err := w.Write(plain)
	if err == nil {
		err = w.Close()
	}
	s.c.writers.Put(w)
	if err != nil {
		return nil, fmt.Errorf("compress: %w", err)
	}
	if buf.Len() < len(fallback) {
		return buf.Bytes(), nil
	}
	return fallback, nil
}

func (s serializer) Deserialize(src []byte, dst any) error {
	if len(src) == 0 {
		return errors.New("empty payload")
	}
	body := src[1:]
	switch src[0] {
	case formatJSON:
	case formatFlate:
		out, err := s.c.inflate(body)
		if err != nil {
			return err
		}
		body = out
	case formatBinary, formatBinaryFlate:
		bp, ok := dst.(binaryPayload)
		if !ok {
			return fmt.Errorf("binary payload for a %T", dst)
		}
		if src[0] == formatBinaryFlate {
			out, err := s.c.inflate(body)
			if err != nil {
				return err
			}
			body = out
		}
		return bp.decodeBinary(body)
	default:
		return fmt.Errorf("unknown payload format %#x", src[0])
	}
	return json.Unmarshal(body, dst)
}

// inflate decompresses a raw DEFLATE stream of at most MaxValueSize bytes.
func (c *Codec) inflate(compressed []byte) ([]byte, error) {
	src := bytes.NewReader(compressed)
	var r io.ReadCloser
	if pooled, ok := c.readers.Get().(io.ReadCloser); ok {
		r = pooled
		if err := r.(flate.Resetter).Reset(src, nil); err != nil {
			return nil, fmt.Errorf("decompress: %w", err)
		}
	} else {
		r = flate.NewReader(src)
	}
	defer c.readers.Put(r)
	var out bytes.Buffer
	out.Grow(min(4*len(compressed), MaxValueSize))
	// Read one byte past the limit to tell "exactly at" from "beyond".
	if _, err := out.ReadFrom(io.LimitReader(r, MaxValueSize+1)); err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if out.Len() > MaxValueSize {
		return nil, fmt.Errorf("decompressed payload exceeds %d bytes", MaxValueSize)
	}
	return out.Bytes(), nil
}
