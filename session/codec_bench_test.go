package session

import (
	"strings"
	"testing"
)

// benchSessionSizes are a typical OIDC session (one cookie) and one whose
// groups split it into chunks.
var benchSessionSizes = []struct {
	name   string
	groups int
	chunks int // cookies Save writes; 0: the single cookie Name
}{
	{"single", 5, 0},
	{"chunked", 150, 2},
}

// BenchmarkCodec measures the session codec alone: encode (serialize,
// compress, encrypt, MAC) and decode (verify, decrypt, deserialize).
//
//	go test -run '^$' -bench Codec -benchmem ./session
func BenchmarkCodec(b *testing.B) {
	for _, size := range benchSessionSizes {
		c := mustCodec(b, newSecret(b))
		s := testSession(size.groups)
		// "json" is the encoding sessions had before the binary one (and
		// that old cookies still have), measured in the same run.
		for _, enc := range []struct {
			name string
			v    any
		}{{"binary", s}, {"json", (*legacyJSON)(s)}} {
			value, err := c.Encode("_gatehouse", enc.v)
			if err != nil {
				b.Fatal(err)
			}
			b.Run("encode/"+enc.name+"/"+size.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.Encode("_gatehouse", enc.v); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("decode/"+enc.name+"/"+size.name, func(b *testing.B) {
				b.ReportAllocs()
				b.ReportMetric(float64(len(value)), "cookie-bytes")
				for b.Loop() {
					var got Session
					if err := c.Decode("_gatehouse", value, &got); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkCookieStoreLoadChunks measures Load (parse the Cookie header,
// join chunks, decode, check) for a session in one cookie and in chunks.
func BenchmarkCookieStoreLoadChunks(b *testing.B) {
	for _, size := range benchSessionSizes {
		b.Run(size.name, func(b *testing.B) {
			cs := newTestStore(b, newSecret(b))
			jar := browser{}
			save(b, cs, jar, testSession(size.groups))
			chunks := 0
			for name := range jar {
				if strings.HasPrefix(name, cs.opts.Name+"_") {
					chunks++
				}
			}
			if chunks != size.chunks {
				b.Fatalf("session saved in %d chunks (%v), want %d", chunks, jar.names(), size.chunks)
			}
			r := jar.request()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := cs.Load(b.Context(), r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
