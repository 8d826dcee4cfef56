package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The compact binary encoding of a Session: every field in a fixed order,
// strings as a uvarint length and the bytes, times as a presence byte and
// then varint Unix seconds and uvarint nanoseconds (UTC), lists and maps
// as a uvarint count and their items (map keys sorted). It has no field
// names, so it is smaller and several times faster to decode than JSON;
// TestBinarySessionCoversEveryField fails when a field is added to
// Session, providers.Identity or providers.Tokens without being added
// here. Values that do not decode exactly (short, trailing bytes, counts
// beyond the data) are refused: the caller fails closed to sign-in.

// errBinary is the cause of every binary decoding failure.
var errBinary = errors.New("malformed binary session")

// appendBinary appends s's binary encoding to b.
func (s *Session) appendBinary(b []byte) []byte {
	b = appendString(b, s.ID)
	b = appendString(b, s.ProviderID)
	id := &s.Identity
	for _, v := range []string{id.Subject, id.User, id.Email} {
		b = appendString(b, v)
	}
	b = appendBool(b, id.EmailVerified)
	for _, v := range []string{id.Name, id.PreferredUsername} {
		b = appendString(b, v)
	}
	b = binary.AppendUvarint(b, uint64(len(id.Groups)))
	for _, g := range id.Groups {
		b = appendString(b, g)
	}
	for _, v := range []string{id.Picture, id.Issuer} {
		b = appendString(b, v)
	}
	keys := make([]string, 0, len(id.Extra))
	for k := range id.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(appendString(b, k), id.Extra[k])
	}
	b = appendString(b, id.SessionID)
	tk := &s.Tokens
	for _, v := range []string{tk.AccessToken, tk.TokenType, tk.RefreshToken, tk.IDToken} {
		b = appendString(b, v)
	}
	for _, t := range []time.Time{tk.Expiry, s.CreatedAt, s.RefreshedAt, s.ValidatedAt, s.ExpiresAt} {
		b = appendTime(b, t)
	}
	return b
}

// decodeBinary sets s from its binary encoding, which must be exactly b.
func (s *Session) decodeBinary(b []byte) error {
	d := newDecoder(b)
	*s = Session{ID: d.string(), ProviderID: d.string()}
	id := &s.Identity
	id.Subject, id.User, id.Email = d.string(), d.string(), d.string()
	id.EmailVerified = d.bool()
	id.Name, id.PreferredUsername = d.string(), d.string()
	if n := d.count(); n > 0 {
		id.Groups = make([]string, n)
		for i := range id.Groups {
			id.Groups[i] = d.string()
		}
	}
	id.Picture, id.Issuer = d.string(), d.string()
	if n := d.count(); n > 0 {
		id.Extra = make(map[string]string, n)
		for range n {
			k := d.string()
			id.Extra[k] = d.string()
		}
	}
	id.SessionID = d.string()
	tk := &s.Tokens
	tk.AccessToken, tk.TokenType, tk.RefreshToken, tk.IDToken = d.string(), d.string(), d.string(), d.string()
	tk.Expiry, s.CreatedAt, s.RefreshedAt = d.time(), d.time(), d.time()
	s.ValidatedAt, s.ExpiresAt = d.time(), d.time()
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errBinary, len(d.b))
	}
	return d.err
}

// appendBinary appends the ticket's binary encoding to b.
func (w *ticketWire) appendBinary(b []byte) []byte {
	b = appendString(b, w.ID)
	b = binary.AppendUvarint(b, uint64(len(w.Secret)))
	return append(b, w.Secret...)
}

// decodeBinary sets w from its binary encoding, which must be exactly b.
func (w *ticketWire) decodeBinary(b []byte) error {
	d := newDecoder(b)
	w.ID = d.string()
	w.Secret = []byte(d.string())
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", errBinary, len(d.b))
	}
	return d.err
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// decoder reads a binary encoding; the first failure sticks and every
// later read returns a zero value. It copies the encoding into one string
// and its strings share it: one allocation, not one per field.
type decoder struct {
	b   string
	err error
}

func newDecoder(b []byte) decoder { return decoder{b: string(b)} }

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", errBinary, what)
	}
	d.b = ""
}

func (d *decoder) uvarint() uint64 {
	v, n := uvarint(d.b)
	if n <= 0 {
		d.fail("bad length")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("string beyond the data")
		return ""
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

// count reads a list or map length; every item takes at least one byte.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("count beyond the data")
		return 0
	}
	return int(n)
}

func (d *decoder) bool() bool {
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail("bad bool")
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *decoder) time() time.Time {
	if len(d.b) == 0 || d.b[0] > 1 {
		d.fail("bad time")
		return time.Time{}
	}
	set := d.b[0] == 1
	d.b = d.b[1:]
	if !set {
		return time.Time{}
	}
	ux, n := uvarint(d.b)
	sec := int64(ux >> 1) // zig-zag, as binary.Varint
	if ux&1 != 0 {
		sec = ^sec
	}
	if n <= 0 {
		d.fail("bad time")
		return time.Time{}
	}
	d.b = d.b[n:]
	nsec := d.uvarint()
	if nsec >= uint64(time.Second) {
		d.fail("bad time")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// Compile-time checks that both wire types speak binary.
var (
	_ binaryPayload = (*Session)(nil)
	_ binaryPayload = (*ticketWire)(nil)
)

// uvarint is binary.Uvarint for a string.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -(i + 1) // overflow
			}
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}
