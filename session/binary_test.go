package session

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// legacyJSON is a Session without its binary encoding: the codec writes it
// as JSON, exactly as every version before the binary encoding did.
type legacyJSON Session

// fillEvery sets every field reachable from v (a pointer to a struct) to a
// distinct non-zero value, and fails on a kind it does not know, so that a
// field added later cannot be missed by the binary encoding unnoticed.
func fillEvery(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer:
		fillEvery(t, v.Elem(), path)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Unix(1_700_000_000+int64(len(path)), int64(len(path))*1000+7).UTC()))
			return
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Tag.Get("json") == "-" {
				continue // not part of a session (Tokens.Scope, Tokens.Extra)
			}
			fillEvery(t, v.Field(i), path+"."+f.Name)
		}
	case reflect.String:
		v.SetString("v" + path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			t.Fatalf("%s: a %s; teach the binary session encoding (binary.go) and this test", path, v.Type())
		}
		v.Set(reflect.ValueOf([]string{"a" + path, "", "b"}))
	case reflect.Map:
		if v.Type() != reflect.TypeFor[map[string]string]() {
			t.Fatalf("%s: a %s; teach the binary session encoding (binary.go) and this test", path, v.Type())
		}
		v.Set(reflect.ValueOf(map[string]string{"k2" + path: "v2", "k1": "", "": "e"}))
	default:
		t.Fatalf("%s: a %s; teach the binary session encoding (binary.go) and this test", path, v.Type())
	}
}

// TestBinarySessionCoversEveryField: a session with every field set comes
// back from the binary encoding equal, through the codec and through the
// Redis value seal.
func TestBinarySessionCoversEveryField(t *testing.T) {
	t.Parallel()
	var s Session
	fillEvery(t, reflect.ValueOf(&s), "Session")
	var got Session
	if err := got.decodeBinary(s.appendBinary(nil)); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("binary round trip:\n got %+v\nwant %+v", got, s)
	}
	c := mustCodec(t, newSecret(t))
	value, err := c.Encode("_gatehouse", &s)
	if err != nil {
		t.Fatal(err)
	}
	got = Session{}
	if err := c.Decode("_gatehouse", value, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("codec round trip:\n got %+v\nwant %+v", got, s)
	}
}

// TestCodecDecodesJSONSessions: cookies written as JSON (plain and
// compressed) by earlier versions still decode into the same session.
func TestCodecDecodesJSONSessions(t *testing.T) {
	t.Parallel()
	c := mustCodec(t, newSecret(t))
	for _, groups := range []int{0, 3, 200} { // 200: the compressed JSON form
		s := testSession(groups)
		value, err := c.Encode("_gatehouse", (*legacyJSON)(s))
		if err != nil {
			t.Fatal(err)
		}
		var got Session
		if err := c.Decode("_gatehouse", value, &got); err != nil {
			t.Fatalf("groups=%d: %v", groups, err)
		}
		sameJSON(t, &got, s)
	}
}

// TestBinaryDecodeRefusesDamage: every truncation, trailing bytes and
// counts beyond the data are refused (the caller signs the user in again).
func TestBinaryDecodeRefusesDamage(t *testing.T) {
	t.Parallel()
	enc := testSession(4).appendBinary(nil)
	for i := range len(enc) {
		var s Session
		if err := s.decodeBinary(enc[:i]); !errors.Is(err, errBinary) {
			t.Fatalf("truncated to %d of %d bytes: err = %v, want errBinary", i, len(enc), err)
		}
	}
	var s Session
	if err := s.decodeBinary(append(enc, 0)); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("trailing byte: err = %v", err)
	}
	huge := appendString(nil, "id") // ID, then a ProviderID claiming 2^40 bytes
	huge = append(huge, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20)
	if err := s.decodeBinary(huge); !errors.Is(err, errBinary) {
		t.Errorf("huge length: err = %v", err)
	}
	var w ticketWire
	if err := w.decodeBinary([]byte{3, 'a'}); !errors.Is(err, errBinary) {
		t.Errorf("short ticket: err = %v", err)
	}
}

// TestCodecBinaryNeedsBinaryDestination: a binary payload never decodes
// into another type (a ticket into a session or the reverse).
func TestCodecBinaryNeedsBinaryDestination(t *testing.T) {
	t.Parallel()
	c := mustCodec(t, newSecret(t))
	value, err := c.Encode("_gatehouse", testSession(1))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := c.Decode("_gatehouse", value, &m); !errors.Is(err, ErrInvalid) {
		t.Errorf("into a map: err = %v, want ErrInvalid", err)
	}
	var w ticketWire
	if err := c.Decode("_gatehouse", value, &w); !errors.Is(err, ErrInvalid) {
		t.Errorf("into a ticket: err = %v, want ErrInvalid", err)
	}
}

// TestRedisOpensJSONValues: values sealed as JSON by earlier versions
// (format 1) still open.
func TestRedisOpensJSONValues(t *testing.T) {
	t.Parallel()
	tk := ticket{id: "abcdefghijklmnopqrstuvwx", secret: []byte(strings.Repeat("k", ticketSecretSize))}
	s := testSession(2)
	plain, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead(tk.secret)
	if err != nil {
		t.Fatal(err)
	}
	value := a.Seal([]byte{sealFormatJSON}, nil, plain, []byte("key"))
	got, err := open(tk, "key", value)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, got, s)
	binary, err := seal(tk, "key", s)
	if err != nil || binary[0] != sealFormat {
		t.Fatalf("seal: format %v, err %v", binary[0], err)
	}
	if got, err = open(tk, "key", binary); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, got, s)
}

// sameJSON compares sessions by their JSON (times by instant and zone).
func sameJSON(t *testing.T, got, want *Session) {
	t.Helper()
	norm := func(s *Session) string {
		c := *s
		for _, p := range []*time.Time{&c.CreatedAt, &c.RefreshedAt, &c.ValidatedAt, &c.ExpiresAt, &c.Tokens.Expiry} {
			if !p.IsZero() {
				*p = p.UTC()
			}
		}
		b, _ := json.Marshal(&c)
		return string(b)
	}
	if g, w := norm(got), norm(want); g != w {
		t.Fatalf("session:\n got %s\nwant %s", g, w)
	}
}

// TestUvarintMatchesBinary: the string uvarint agrees with encoding/binary
// on values, lengths and failures.
func TestUvarintMatchesBinary(t *testing.T) {
	t.Parallel()
	cases := [][]byte{{}, {0x80}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}}
	for _, v := range []uint64{0, 1, 127, 128, 300, 1 << 40, 1<<64 - 1} {
		cases = append(cases, binary.AppendUvarint(nil, v))
	}
	for _, c := range cases {
		wv, wn := binary.Uvarint(c)
		gv, gn := uvarint(string(c))
		if wv != gv || (wn > 0) != (gn > 0) || (wn > 0 && wn != gn) {
			t.Errorf("uvarint(%x) = %d, %d; binary.Uvarint = %d, %d", c, gv, gn, wv, wn)
		}
	}
	for _, v := range []int64{0, -1, 1, -1 << 40, 1<<63 - 1, -1 << 63} {
		d := newDecoder(append(append([]byte{1}, binary.AppendVarint(nil, v)...), 0))
		if got := d.time(); d.err != nil || got.Unix() != v && v > -1<<62 && v < 1<<62 {
			t.Errorf("time of %d seconds = %v, %v", v, got.Unix(), d.err)
		}
	}
}
