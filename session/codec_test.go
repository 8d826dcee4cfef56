package session

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
)

// newSecret returns a fresh random cookie secret.
func newSecret(t testing.TB) []byte {
	t.Helper()
	b := make([]byte, SecretSize)
	_, _ = rand.Read(b)
	return b
}

func mustCodec(t testing.TB, secrets ...[]byte) *Codec {
	t.Helper()
	c, err := NewCodec(secrets, WithMaxAge(time.Hour))
	if err != nil {
		t.Fatalf("NewCodec: %v", err)
	}
	return c
}

type flowValue struct {
	State string   `json:"s"`
	List  []string `json:"l,omitempty"`
}

func TestNewCodecRejectsBadConfig(t *testing.T) {
	t.Parallel()
	good := make([]byte, SecretSize)
	tests := []struct {
		name    string
		secrets [][]byte
		opts    []CodecOption
		want    string
	}{
		{"no secrets", nil, nil, "no cookie secret"},
		{"short secret", [][]byte{make([]byte, 16)}, nil, "#1 is 16 bytes"},
		{"long previous secret", [][]byte{good, make([]byte, 33)}, nil, "#2 is 33 bytes"},
		{"max age below a second", [][]byte{good}, []CodecOption{WithMaxAge(time.Millisecond)}, "below one second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewCodec(tt.secrets, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewCodec error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCodecRoundTripAndRejections(t *testing.T) {
	t.Parallel()
	oldKey, newKey, otherKey := newSecret(t), newSecret(t), newSecret(t)
	oldOnly := mustCodec(t, oldKey)
	rotated := mustCodec(t, newKey, oldKey)
	newOnly := mustCodec(t, newKey)
	foreign := mustCodec(t, otherKey)

	small := flowValue{State: "abc"}
	big := flowValue{State: "big", List: make([]string, 300)}
	for i := range big.List {
		big.List[i] = "group-name-that-repeats" // compresses well
	}

	encOld, err := oldOnly.Encode("flow", small)
	if err != nil {
		t.Fatal(err)
	}
	encNew, err := rotated.Encode("flow", small)
	if err != nil {
		t.Fatal(err)
	}
	encBig, err := rotated.Encode("flow", big)
	if err != nil {
		t.Fatal(err)
	}
	if len(encBig) > 2000 {
		t.Errorf("compressible value encoded to %d bytes; compression not applied", len(encBig))
	}

	tampered := []byte(encNew)
	i := len(tampered) / 2
	if tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}

	tests := []struct {
		name    string
		codec   *Codec
		cookie  string
		value   string
		wantErr bool
		want    flowValue
	}{
		{"same codec", oldOnly, "flow", encOld, false, small},
		{"rotation: previous secret still decodes", rotated, "flow", encOld, false, small},
		{"rotation: newest secret encodes", newOnly, "flow", encNew, false, small},
		{"compressed value", newOnly, "flow", encBig, false, big},
		{"retired secret", oldOnly, "flow", encNew, true, flowValue{}},
		{"foreign secret", foreign, "flow", encNew, true, flowValue{}},
		{"other cookie name", rotated, "_gatehouse", encNew, true, flowValue{}},
		{"tampered", rotated, "flow", string(tampered), true, flowValue{}},
		{"truncated", rotated, "flow", encNew[:len(encNew)-5], true, flowValue{}},
		{"empty", rotated, "flow", "", true, flowValue{}},
		{"garbage", rotated, "flow", "not|base64!", true, flowValue{}},
		{"oversized", rotated, "flow", strings.Repeat("A", MaxValueSize+1), true, flowValue{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got flowValue
			err := tt.codec.Decode(tt.cookie, tt.value, &got)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Decode error = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got.State != tt.want.State || len(got.List) != len(tt.want.List) {
				t.Fatalf("Decode = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCodecErrorPrefersMatchingSecret(t *testing.T) {
	t.Parallel()
	k1, k2 := newSecret(t), newSecret(t)
	// Encode a value the codec cannot unmarshal into dst: the matching
	// (second) secret's error must be reported, not the first one's
	// "MAC invalid".
	enc, err := mustCodec(t, k2).Encode("n", []string{"x"})
	if err != nil {
		t.Fatal(err)
	}
	var dst flowValue
	err = mustCodec(t, k1, k2).Decode("n", enc, &dst)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Decode error = %v, want ErrInvalid", err)
	}
	if errors.Is(err, securecookie.ErrMacInvalid) {
		t.Fatalf("Decode error = %v, want the unmarshal error of the matching secret", err)
	}
}

func TestSerializerBounds(t *testing.T) {
	t.Parallel()
	c := mustCodec(t, newSecret(t))
	s := serializer{c}

	var bomb bytes.Buffer
	bomb.WriteByte(formatFlate)
	w, _ := flate.NewWriter(&bomb, flate.BestCompression)
	_, _ = w.Write([]byte(`"`))
	_, _ = w.Write(make([]byte, MaxValueSize+10))
	_ = w.Close()

	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "empty payload"},
		{"unknown format", []byte("x{}"), "unknown payload format"},
		{"decompression bomb", bomb.Bytes(), "exceeds"},
		{"corrupt deflate", []byte("z\xff\xff\xff"), "decompress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var dst any
			err := s.Deserialize(tt.in, &dst)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Deserialize error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
