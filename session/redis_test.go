package session

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

const redisTestCookie = "_gh_ticket"

func redisTestCodec(t testing.TB) *Codec {
	t.Helper()
	secret := make([]byte, SecretSize)
	_, _ = rand.Read(secret)
	c, err := NewCodec([][]byte{secret})
	if err != nil {
		t.Fatalf("NewCodec: %v", err)
	}
	return c
}

func redisTestCookieOptions() CookieConfig {
	return CookieConfig{Name: redisTestCookie, Secure: true, SameSite: http.SameSiteLaxMode, Lifetime: time.Hour}
}

// redisTestSession returns a fresh session whose secrets are unique, so
// that tests can look for them in dumps.
func redisTestSession() *Session {
	tag := RandomString(12)
	return New("oidc", providers.Grant{
		Identity: providers.Identity{
			Subject: "sub-" + tag,
			User:    "user-" + tag,
			Email:   "alice." + strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(tag)) + "@example.test",
			Groups:  []string{"admins"},
		},
		Tokens: providers.Tokens{
			AccessToken:  "access-" + RandomString(24),
			RefreshToken: "refresh-" + RandomString(24),
			IDToken:      "idtoken-" + RandomString(24),
			TokenType:    "Bearer",
			Expiry:       time.Now().Add(5 * time.Minute).Truncate(time.Second),
		},
	}, time.Now(), time.Hour)
}

// redisTestClient connects to r as production does.
func redisTestClient(t testing.TB, o RedisConfig) redis.UniversalClient {
	t.Helper()
	c, err := NewRedisClient(o)
	if err != nil {
		t.Fatalf("NewRedisClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// redisKey is the key redisTestStore keeps the session id under.
func redisKey(id string) string { return "gh-test:session:" + id }

func redisTestStore(t testing.TB, c redis.UniversalClient, codec *Codec) *RedisStore {
	t.Helper()
	return NewRedisStore(c, codec, redisTestCookieOptions(), "gh-test:", time.Second)
}

// redisRequest returns a request carrying cookies, as a browser would send
// them back.
func redisRequest(cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "https://app.example.test/", nil)
	for _, c := range cookies {
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return r
}

// redisSave saves s through rs for a request carrying cookies and returns the
// cookies the response sets.
func redisSave(t testing.TB, rs *RedisStore, s *Session, cookies ...*http.Cookie) []*http.Cookie {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := rs.Save(t.Context(), rec, redisRequest(cookies...), s); err != nil {
		t.Fatalf("Save: %v", err)
	}
	return rec.Result().Cookies()
}

// redisTicketCookie returns the one ticket cookie among cookies.
func redisTicketCookie(t testing.TB, cookies []*http.Cookie) *http.Cookie {
	t.Helper()
	if len(cookies) != 1 || cookies[0].Name != redisTestCookie {
		t.Fatalf("Save set cookies %v, want exactly one %q", cookies, redisTestCookie)
	}
	return cookies[0]
}

func sameSession(t testing.TB, got, want *Session) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("loaded session differs:\n got  %s\n want %s", g, w)
	}
}

func TestRedisStoreRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		options func(t *testing.T) RedisConfig
	}{
		{"standalone", func(t *testing.T) RedisConfig {
			return RedisConfig{URL: redistest.StartRedis(t).URL()}
		}},
		{"sentinel", func(t *testing.T) RedisConfig {
			s := redistest.StartSentinel(t)
			return RedisConfig{SentinelMaster: s.MasterName, SentinelAddrs: s.SentinelAddrs()}
		}},
		{"cluster", func(t *testing.T) RedisConfig {
			return RedisConfig{ClusterAddrs: redistest.StartCluster(t).Addrs()}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			client := redisTestClient(t, tt.options(t))
			rs := redisTestStore(t, client, redisTestCodec(t))
			ctx := t.Context()
			if err := rs.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}

			s := redisTestSession()
			c := redisTicketCookie(t, redisSave(t, rs, s))
			if !c.HttpOnly || !c.Secure || c.MaxAge <= 0 || c.MaxAge > 3600 {
				t.Fatalf("ticket cookie attributes: %+v", c)
			}
			got, err := rs.Load(ctx, redisRequest(c))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			sameSession(t, got, s)

			// The key expires with the session.
			ttl, err := client.PTTL(ctx, redisKey(s.ID)).Result()
			if err != nil || ttl <= 0 || ttl > time.Hour {
				t.Fatalf("PTTL = %v, %v; want (0, 1h]", ttl, err)
			}

			// Saving again under the same ticket (a refresh) keeps the
			// cookie: no Set-Cookie, and the new tokens are what loads.
			got.Tokens.AccessToken = "access-rotated-" + RandomString(8)
			if again := redisSave(t, rs, got, c); len(again) != 0 {
				t.Fatalf("second Save set cookies %v, want none", again)
			}
			reloaded, err := rs.Load(ctx, redisRequest(c))
			if err != nil {
				t.Fatalf("Load after second Save: %v", err)
			}
			sameSession(t, reloaded, got)

			// A new login from a browser still sending two older tickets
			// deletes both old sessions in the same round trip (in a
			// Cluster their keys live in different slots, so the pipeline
			// is split by node).
			other := redisTestSession()
			oc := redisTicketCookie(t, redisSave(t, rs, other))
			fresh := redisTestSession()
			fc := redisTicketCookie(t, redisSave(t, rs, fresh, c, oc))
			for _, id := range []string{s.ID, other.ID} {
				if n, err := client.Exists(ctx, redisKey(id)).Result(); err != nil || n != 0 {
					t.Fatalf("EXISTS of a replaced session = %d, %v; want 0", n, err)
				}
			}
			got, err = rs.Load(ctx, redisRequest(fc, c, oc))
			if err != nil {
				t.Fatalf("Load after a new login: %v", err)
			}
			sameSession(t, got, fresh)
			c = fc

			// Clear deletes the key and expires the cookie.
			rec := httptest.NewRecorder()
			if err := rs.Clear(ctx, rec, redisRequest(c)); err != nil {
				t.Fatalf("Clear: %v", err)
			}
			if cs := rec.Result().Cookies(); len(cs) != 1 || cs[0].Name != redisTestCookie || cs[0].MaxAge >= 0 {
				t.Fatalf("Clear set cookies %v, want %q expired", cs, redisTestCookie)
			}
			if n, err := client.Exists(ctx, redisKey(fresh.ID)).Result(); err != nil || n != 0 {
				t.Fatalf("EXISTS after Clear = %d, %v; want 0", n, err)
			}
			if _, err := rs.Load(ctx, redisRequest(c)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Load after Clear: err = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestRedisStoreSentinelFailover(t *testing.T) {
	t.Parallel()
	sent := redistest.StartSentinel(t)
	client := redisTestClient(t, RedisConfig{SentinelMaster: sent.MasterName, SentinelAddrs: sent.SentinelAddrs()})
	rs := redisTestStore(t, client, redisTestCodec(t))
	ctx := t.Context()

	s := redisTestSession()
	c := redisTicketCookie(t, redisSave(t, rs, s))
	// Make sure the replica has the session before the master dies.
	if n, err := client.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n < 1 {
		t.Fatalf("WAIT 1 = %d, %v; want the replica to acknowledge", n, err)
	}
	oldMaster := sent.MasterAddr()
	sent.StopMaster()
	if sent.MasterAddr() == oldMaster {
		t.Fatalf("master did not change")
	}

	// The client follows the promotion; until it has, Load may report the
	// store unavailable, but never "not found".
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, err := rs.Load(ctx, redisRequest(c))
		if err == nil {
			sameSession(t, got, s)
			break
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Load after failover: err = %v, want success (or ErrUnavailable while switching)", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("Load still unavailable 20s after failover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// And the new master takes writes.
	s2 := redisTestSession()
	c2 := redisTicketCookie(t, redisSave(t, rs, s2))
	if _, err := rs.Load(ctx, redisRequest(c2)); err != nil {
		t.Fatalf("Load of a session saved after failover: %v", err)
	}
}

// TestRedisStoreSentinelPasswords: the Sentinel password reaches the
// Sentinel and the data password the master, and a wrong one of either is
// an outage (ErrUnavailable), never "no session".
func TestRedisStoreSentinelPasswords(t *testing.T) {
	t.Parallel()
	sent := redistest.StartSentinelWith(t, redistest.SentinelOptions{Password: "data-pw", SentinelPassword: "sentinel-pw"})
	codec := redisTestCodec(t)
	tests := []struct {
		name             string
		password, sentPW string
		wantOK           bool
	}{
		{"both passwords", "data-pw", "sentinel-pw", true},
		{"no sentinel password", "data-pw", "", false},
		{"wrong sentinel password", "data-pw", "data-pw", false},
		{"no data password", "", "sentinel-pw", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs := redisTestStore(t, redisTestClient(t, RedisConfig{
				SentinelMaster:   sent.MasterName,
				SentinelAddrs:    sent.SentinelAddrs(),
				Password:         tt.password,
				SentinelPassword: tt.sentPW,
				Timeout:          time.Second,
			}), codec)
			pingThenRoundTrip(t, rs, tt.wantOK)
		})
	}
}

func TestRedisStoreSignOutSeenByOtherReplica(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	codec := redisTestCodec(t) // replicas share the cookie secret
	a := redisTestStore(t, redisTestClient(t, RedisConfig{URL: r.URL()}), codec)
	b := redisTestStore(t, redisTestClient(t, RedisConfig{URL: r.URL()}), codec)
	ctx := t.Context()

	s := redisTestSession()
	c := redisTicketCookie(t, redisSave(t, a, s))
	if _, err := b.Load(ctx, redisRequest(c)); err != nil {
		t.Fatalf("replica B Load of a session saved by A: %v", err)
	}
	if err := a.Clear(ctx, httptest.NewRecorder(), redisRequest(c)); err != nil {
		t.Fatalf("replica A Clear: %v", err)
	}
	// The browser (or a thief) still sends the old ticket to B.
	if _, err := b.Load(ctx, redisRequest(c)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replica B Load after sign-out on A: err = %v, want ErrNotFound", err)
	}
	// A refresh on B that loaded the session before the sign-out and saves
	// after it must not bring the session back.
	rec := httptest.NewRecorder()
	if err := b.Save(ctx, rec, redisRequest(c), s); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replica B Save after sign-out on A: err = %v, want ErrNotFound", err)
	}
	if cs := rec.Result().Cookies(); len(cs) != 0 {
		t.Fatalf("refused Save set cookies %v", cs)
	}
	if _, err := b.Load(ctx, redisRequest(c)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load after the racing Save: err = %v, want ErrNotFound (session resurrected)", err)
	}
}

func TestRedisStoreUnavailable(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	client := redisTestClient(t, RedisConfig{URL: r.URL(), Timeout: 500 * time.Millisecond})
	rs := NewRedisStore(client, redisTestCodec(t), redisTestCookieOptions(), "gh-test:", 500*time.Millisecond)
	ctx := t.Context()
	c := redisTicketCookie(t, redisSave(t, rs, redisTestSession()))

	r.Stop()
	rec := httptest.NewRecorder()
	_, err := rs.Load(ctx, redisRequest(c))
	if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrNotFound) {
		t.Fatalf("Load with Redis down: err = %v, want ErrUnavailable only", err)
	}
	if err := rs.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping with Redis down: err = %v, want ErrUnavailable", err)
	}
	if err := rs.Save(ctx, rec, redisRequest(), redisTestSession()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Save with Redis down: err = %v, want ErrUnavailable", err)
	}
	if cs := rec.Result().Cookies(); len(cs) != 0 {
		t.Fatalf("failed Save set cookies %v; a ticket without a stored session is useless", cs)
	}

	r.Restart()
	if err := rs.Ping(ctx); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
	// The restarted server is empty (no persistence): the old ticket is
	// now simply not found, and new sessions work.
	if _, err := rs.Load(ctx, redisRequest(c)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load of a lost session after restart: err = %v, want ErrNotFound", err)
	}
	s := redisTestSession()
	c2 := redisTicketCookie(t, redisSave(t, rs, s))
	got, err := rs.Load(ctx, redisRequest(c2))
	if err != nil {
		t.Fatalf("Load after restart: %v", err)
	}
	sameSession(t, got, s)
}

func TestRedisStoreClearWhileUnavailableExpiresCookie(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	rs := redisTestStore(t, redisTestClient(t, RedisConfig{URL: r.URL()}), redisTestCodec(t))
	c := redisTicketCookie(t, redisSave(t, rs, redisTestSession()))
	r.Stop()
	rec := httptest.NewRecorder()
	if err := rs.Clear(t.Context(), rec, redisRequest(c)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Clear with Redis down: err = %v, want ErrUnavailable", err)
	}
	if cs := rec.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Fatalf("Clear with Redis down set %v, want the ticket cookie expired", cs)
	}
}

// redisDump returns every key and, for each, its GET value and its DUMP
// serialization: what an attacker with a copy of Redis has.
func redisDump(t testing.TB, c redis.UniversalClient) string {
	t.Helper()
	ctx := t.Context()
	var b strings.Builder
	iter := c.Scan(ctx, 0, "*", 100).Iterator()
	keys := 0
	for iter.Next(ctx) {
		k := iter.Val()
		keys++
		b.WriteString(k + "\n")
		v, err := c.Get(ctx, k).Result()
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		b.WriteString(v + "\n")
		d, err := c.Dump(ctx, k).Result()
		if err != nil {
			t.Fatalf("DUMP: %v", err)
		}
		b.WriteString(d + "\n")
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN: %v", err)
	}
	if keys == 0 {
		t.Fatalf("Redis is empty; nothing was saved")
	}
	return b.String()
}

// secretForms returns v and its base64 encodings, the forms a careless
// store could leak it in.
func secretForms(v string) []string {
	forms := []string{v}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		forms = append(forms, enc.EncodeToString([]byte(v)))
	}
	return forms
}

func TestRedisStoreDumpRevealsNothing(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	client := redisTestClient(t, RedisConfig{URL: r.URL()})
	rs := redisTestStore(t, client, redisTestCodec(t))

	var sessions []*Session
	var cookies []string
	for range 3 {
		s := redisTestSession()
		sessions = append(sessions, s)
		cookies = append(cookies, redisTicketCookie(t, redisSave(t, rs, s)).Value)
	}
	dump := redisDump(t, client)
	for _, s := range sessions {
		for _, secret := range []string{s.Tokens.AccessToken, s.Tokens.RefreshToken, s.Tokens.IDToken, s.Identity.Email, s.Identity.Subject} {
			for _, form := range secretForms(secret) {
				if strings.Contains(dump, form) {
					t.Fatalf("Redis dump contains %q (a form of a session secret)", form)
				}
				for _, c := range cookies {
					if strings.Contains(c, form) {
						t.Fatalf("ticket cookie contains %q (a form of a session secret)", form)
					}
				}
			}
		}
	}
}

func TestRedisStoreRejectsTamperedTickets(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	client := redisTestClient(t, RedisConfig{URL: r.URL()})
	codec := redisTestCodec(t)
	rs := redisTestStore(t, client, codec)
	ctx := t.Context()

	victim := redisTestSession()
	vc := redisTicketCookie(t, redisSave(t, rs, victim))
	vt, err := rs.parseTicket(vc.Value)
	vID, vSecret := vt.id, vt.secret
	if err != nil {
		t.Fatalf("parseTicket of a fresh cookie: %v", err)
	}
	if vID != victim.ID {
		t.Fatalf("ticket id = %q, want the session id", vID)
	}
	attacker := redisTestSession()
	ac := redisTicketCookie(t, redisSave(t, rs, attacker))
	at, err := rs.parseTicket(ac.Value)
	aID, aSecret := at.id, at.secret
	if err != nil {
		t.Fatalf("parseTicket: %v", err)
	}
	encodeWith := func(c *Codec, name, id string, secret []byte) string {
		// Encoded as Save does, without validation, so that tests can
		// forge authentic-but-wrong tickets.
		v, err := c.Encode(name, ticketWire{ID: id, Secret: secret})
		if err != nil {
			t.Fatalf("encoding a ticket: %v", err)
		}
		return v
	}
	encode := func(id string, secret []byte) string { return encodeWith(codec, redisTestCookie, id, secret) }
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	randomSecret := make([]byte, ticketSecretSize)
	_, _ = rand.Read(randomSecret)

	tests := []struct {
		name  string
		value string
	}{
		{"empty", ""},
		{"garbage", "not-a-ticket"},
		{"flipped first byte", flip(vc.Value, 0)},
		{"flipped middle byte", flip(vc.Value, len(vc.Value)/2)},
		{"flipped last byte", flip(vc.Value, len(vc.Value)-1)},
		{"truncated", vc.Value[:len(vc.Value)-4]},
		{"other codec", encodeWith(redisTestCodec(t), redisTestCookie, vID, vSecret)},
		{"other cookie name", encodeWith(codec, "other", vID, vSecret)},
		// Authentic cookies (made with the codec's secret) that still must
		// not open the victim's session.
		{"victim id, wrong secret", encode(vID, randomSecret)},
		{"victim id, attacker's secret", encode(vID, aSecret)},
		{"short secret", encode(vID, vSecret[:16])},
		{"id with key syntax", encode(vID+":*", vSecret)},
		{"short id", encode("abc", vSecret)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rs.Load(ctx, redisRequest(&http.Cookie{Name: redisTestCookie, Value: tt.value}))
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("Load: err = %v, want ErrNotFound", err)
			}
		})
	}

	t.Run("value moved to another key", func(t *testing.T) {
		// The victim's value under the attacker's key, opened with a ticket
		// carrying the victim's secret and the attacker's id: the key name
		// is authenticated data, so it does not decrypt.
		v, err := client.Get(ctx, redisKey(victim.ID)).Bytes()
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		if err := client.Set(ctx, redisKey(attacker.ID), v, time.Minute).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		forged := encode(aID, vSecret)
		if _, err := rs.Load(ctx, redisRequest(&http.Cookie{Name: redisTestCookie, Value: forged})); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Load: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("stored value tampered", func(t *testing.T) {
		v, err := client.Get(ctx, redisKey(victim.ID)).Bytes()
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		v[len(v)/2] ^= 1
		if err := client.Set(ctx, redisKey(victim.ID), v, time.Minute).Err(); err != nil {
			t.Fatalf("SET: %v", err)
		}
		if _, err := rs.Load(ctx, redisRequest(vc)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Load: err = %v, want ErrNotFound", err)
		}
	})
}

// TestRedisStoreCorruptValueIsNoSession: a stored value this ticket cannot
// open is "no session" (the caller answers 401 or sends the browser to sign
// in), never an outage (503), and Load leaves the key alone: it may be
// someone else's.
func TestRedisStoreCorruptValueIsNoSession(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	client := redisTestClient(t, RedisConfig{URL: r.URL()})
	rs := redisTestStore(t, client, redisTestCodec(t))
	ctx := t.Context()
	bystander := redisTestSession()
	bc := redisTicketCookie(t, redisSave(t, rs, bystander))

	tests := []struct {
		name    string
		corrupt func(t *testing.T, key string, v []byte)
	}{
		{"one bit flipped", func(t *testing.T, key string, v []byte) {
			v[len(v)/2] ^= 1
			mustSet(t, client, key, v)
		}},
		{"truncated", func(t *testing.T, key string, v []byte) { mustSet(t, client, key, v[:len(v)/2]) }},
		{"empty", func(t *testing.T, key string, _ []byte) { mustSet(t, client, key, []byte{}) }},
		{"unknown format", func(t *testing.T, key string, v []byte) {
			v[0] = 0x7f
			mustSet(t, client, key, v)
		}},
		{"another session's value", func(t *testing.T, key string, _ []byte) {
			v, err := client.Get(ctx, redisKey(bystander.ID)).Bytes()
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			mustSet(t, client, key, v)
		}},
		{"wrong type", func(t *testing.T, key string, _ []byte) {
			if err := client.Del(ctx, key).Err(); err != nil {
				t.Fatalf("DEL: %v", err)
			}
			if err := client.HSet(ctx, key, "f", "v").Err(); err != nil {
				t.Fatalf("HSET: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := redisTestSession()
			c := redisTicketCookie(t, redisSave(t, rs, s))
			key := redisKey(s.ID)
			v, err := client.Get(ctx, key).Bytes()
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			tt.corrupt(t, key, v)
			before, err := client.Dump(ctx, key).Result()
			if err != nil {
				t.Fatalf("DUMP: %v", err)
			}

			_, err = rs.Load(ctx, redisRequest(c))
			if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
				t.Fatalf("Load: err = %v, want ErrNotFound only", err)
			}
			after, err := client.Dump(ctx, key).Result()
			if err != nil || after != before {
				t.Fatalf("Load changed or deleted the key it could not open (err %v)", err)
			}
			got, err := rs.Load(ctx, redisRequest(bc))
			if err != nil {
				t.Fatalf("bystander Load: %v", err)
			}
			sameSession(t, got, bystander)
		})
	}
}

func mustSet(t *testing.T, c redis.UniversalClient, key string, v []byte) {
	t.Helper()
	if err := c.Set(t.Context(), key, v, time.Minute).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
}

// TestRedisStoreSaveRefusesTakenID: a new ticket never overwrites a stored
// session. IDs are random, so this is a collision (or a bug), and the
// session already stored must survive it.
func TestRedisStoreSaveRefusesTakenID(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	rs := redisTestStore(t, redisTestClient(t, RedisConfig{URL: r.URL()}), redisTestCodec(t))
	ctx := t.Context()
	owner := redisTestSession()
	oc := redisTicketCookie(t, redisSave(t, rs, owner))

	intruder := redisTestSession()
	intruder.ID = owner.ID
	rec := httptest.NewRecorder()
	err := rs.Save(ctx, rec, redisRequest(), intruder)
	if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("Save with a taken id: err = %v, want a plain error", err)
	}
	if cs := rec.Result().Cookies(); len(cs) != 0 {
		t.Fatalf("refused Save set cookies %v", cs)
	}
	got, err := rs.Load(ctx, redisRequest(oc))
	if err != nil {
		t.Fatalf("owner Load after the collision: %v", err)
	}
	sameSession(t, got, owner)
}

func TestRedisStoreNewLoginReplacesOldSession(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	client := redisTestClient(t, RedisConfig{URL: r.URL()})
	rs := redisTestStore(t, client, redisTestCodec(t))
	ctx := t.Context()

	old := redisTestSession()
	oc := redisTicketCookie(t, redisSave(t, rs, old))
	// The browser logs in again while still sending the old ticket.
	fresh := redisTestSession()
	nc := redisTicketCookie(t, redisSave(t, rs, fresh, oc))
	if nc.Value == oc.Value {
		t.Fatalf("new login reused the old ticket")
	}
	if n, err := client.Exists(ctx, redisKey(old.ID)).Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS old session = %d, %v; want it deleted", n, err)
	}
	got, err := rs.Load(ctx, redisRequest(nc))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	sameSession(t, got, fresh)
}

func TestRedisStoreSaveRejects(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	rs := redisTestStore(t, redisTestClient(t, RedisConfig{URL: r.URL()}), redisTestCodec(t))
	tests := []struct {
		name   string
		mutate func(s *Session)
	}{
		{"no id", func(s *Session) { s.ID = "" }},
		{"id not random text", func(s *Session) { s.ID = "session:../../x" }},
		{"no subject", func(s *Session) { s.Identity.Subject = "" }},
		{"expired", func(s *Session) { s.ExpiresAt = time.Now().Add(-time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := redisTestSession()
			tt.mutate(s)
			rec := httptest.NewRecorder()
			if err := rs.Save(t.Context(), rec, redisRequest(), s); err == nil {
				t.Fatalf("Save accepted the session")
			}
			if cs := rec.Result().Cookies(); len(cs) != 0 {
				t.Fatalf("rejected Save set cookies %v", cs)
			}
		})
	}
}

// commandCounter is a redis.Hook counting the commands (and pipelines, as
// one round trip each) a client sends.
type commandCounter struct {
	trips    atomic.Int64
	commands atomic.Int64
}

func (h *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.trips.Add(1)
		h.commands.Add(1)
		return next(ctx, cmd)
	}
}

func (h *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.trips.Add(1)
		h.commands.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func TestRedisStoreLoadIsOneRoundTrip(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	client := redisTestClient(t, RedisConfig{URL: r.URL()})
	counter := &commandCounter{}
	client.AddHook(counter)
	rs := redisTestStore(t, client, redisTestCodec(t))
	ctx := t.Context()
	c := redisTicketCookie(t, redisSave(t, rs, redisTestSession()))

	for i := range 5 {
		before, beforeCmds := counter.trips.Load(), counter.commands.Load()
		if _, err := rs.Load(ctx, redisRequest(c)); err != nil {
			t.Fatalf("Load: %v", err)
		}
		if trips, cmds := counter.trips.Load()-before, counter.commands.Load()-beforeCmds; trips != 1 || cmds != 1 {
			t.Fatalf("Load #%d took %d round trips (%d commands), want exactly 1", i+1, trips, cmds)
		}
	}
}

func TestRedisStoreLoadWithoutCookieSkipsRedis(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	client := redisTestClient(t, RedisConfig{URL: r.URL()})
	counter := &commandCounter{}
	client.AddHook(counter)
	rs := redisTestStore(t, client, redisTestCodec(t))
	for _, req := range []*http.Request{
		redisRequest(),
		redisRequest(&http.Cookie{Name: redisTestCookie, Value: "forged"}),
	} {
		if _, err := rs.Load(t.Context(), req); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Load: err = %v, want ErrNotFound", err)
		}
	}
	if n := counter.trips.Load(); n != 0 {
		t.Fatalf("Load without a valid ticket sent %d commands to Redis, want 0", n)
	}
}

func TestNewRedisClientOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	caPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caPEM, redisTestCAPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		o       RedisConfig
		wantErr string
	}{
		{"nothing", RedisConfig{}, "no address"},
		{"url and cluster", RedisConfig{URL: "redis://127.0.0.1:1", ClusterAddrs: []string{"127.0.0.1:2"}}, "exclusive"},
		{"url and sentinel", RedisConfig{URL: "redis://127.0.0.1:1", SentinelMaster: "m", SentinelAddrs: []string{"127.0.0.1:2"}}, "exclusive"},
		{"sentinel without addrs", RedisConfig{SentinelMaster: "m"}, "redis-sentinel-addr"},
		{"sentinel addrs without master", RedisConfig{URL: "redis://127.0.0.1:1", SentinelAddrs: []string{"127.0.0.1:2"}}, "redis-sentinel-master is not"},
		{"bad scheme", RedisConfig{URL: "http://127.0.0.1:1"}, "redis-url"},
		{"unix socket", RedisConfig{URL: "unix:///tmp/redis.sock"}, "redis-url must use"},
		{"password not echoed", RedisConfig{URL: "redis://:hunter2@127.0.0.1:1/notadb"}, "not a valid"},
		{"skip_verify", RedisConfig{URL: "rediss://127.0.0.1:1/0?skip_verify=true"}, "skip_verify"},
		{"ca file not pem", RedisConfig{URL: "rediss://127.0.0.1:1", CAFile: notPEM}, "holds no PEM"},
		{"ca file with plain url", RedisConfig{URL: "redis://127.0.0.1:1", CAFile: caPEM}, "not rediss://"},
		{"missing ca file", RedisConfig{URL: "rediss://127.0.0.1:1", CAFile: dir + "/missing.pem"}, "redis-ca-file"},
		{"ok url", RedisConfig{URL: "redis://127.0.0.1:1/0"}, ""},
		{"ok sentinel", RedisConfig{SentinelMaster: "m", SentinelAddrs: []string{"127.0.0.1:1"}}, ""},
		{"ok cluster", RedisConfig{ClusterAddrs: []string{"127.0.0.1:1"}}, ""},
		{"ok rediss with ca", RedisConfig{URL: "rediss://127.0.0.1:1/0", CAFile: caPEM}, ""},
		{"ok sentinel with ca", RedisConfig{SentinelMaster: "m", SentinelAddrs: []string{"127.0.0.1:1"}, CAFile: caPEM}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewRedisClient(tt.o)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewRedisClient: %v", err)
				}
				_ = c.Close()
				return
			}
			if err == nil {
				_ = c.Close()
				t.Fatalf("NewRedisClient accepted %+v", tt.o)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q does not mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error %q leaks the password", err)
			}
		})
	}
}

// redisTestCAPEM returns a self-signed CA certificate in PEM.
func redisTestCAPEM(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatehouse test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestNewRedisClientPassword(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t, "--requirepass", "s3cret-pw")
	codec := redisTestCodec(t)
	tests := []struct {
		name   string
		o      RedisConfig
		wantOK bool
	}{
		{"no password", RedisConfig{URL: r.URL()}, false},
		{"password option", RedisConfig{URL: r.URL(), Password: "s3cret-pw"}, true},
		{"password in url", RedisConfig{URL: "redis://:s3cret-pw@" + r.Addr() + "/0"}, true},
		{"option overrides url", RedisConfig{URL: "redis://:wrong@" + r.Addr() + "/0", Password: "s3cret-pw"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs := redisTestStore(t, redisTestClient(t, tt.o), codec)
			err := rs.Ping(t.Context())
			if tt.wantOK && err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if !tt.wantOK && !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Ping: err = %v, want ErrUnavailable", err)
			}
		})
	}
}

// BenchmarkRedisStoreLoad measures a steady-state Load through a real
// redis-server on loopback (reporting the Redis round trips per Load), next
// to the same session loaded from a CookieStore with the same codec, which
// needs no network but decrypts the whole session from cookies.
func BenchmarkRedisStoreLoad(b *testing.B) {
	b.Run("redis", func(b *testing.B) {
		r := redistest.StartRedis(b)
		client := redisTestClient(b, RedisConfig{URL: r.URL()})
		counter := &commandCounter{}
		client.AddHook(counter)
		rs := redisTestStore(b, client, redisTestCodec(b))
		req := redisRequest(redisTicketCookie(b, redisSave(b, rs, redisTestSession())))
		ctx := b.Context()
		counter.trips.Store(0)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rs.Load(ctx, req); err != nil {
				b.Fatalf("Load: %v", err)
			}
		}
		b.ReportMetric(float64(counter.trips.Load())/float64(b.N), "roundtrips/op")
	})
	b.Run("cookie", func(b *testing.B) {
		cs := NewCookieStore(redisTestCodec(b), redisTestCookieOptions())
		rec := httptest.NewRecorder()
		if err := cs.Save(b.Context(), rec, redisRequest(), redisTestSession()); err != nil {
			b.Fatalf("Save: %v", err)
		}
		req := redisRequest(rec.Result().Cookies()...)
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cs.Load(ctx, req); err != nil {
				b.Fatalf("Load: %v", err)
			}
		}
	})
}

func TestNewRedisClientTLS(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedisTLS(t)
	codec := redisTestCodec(t)
	tests := []struct {
		name   string
		o      RedisConfig
		wantOK bool
	}{
		{"rediss with the CA", RedisConfig{URL: r.TLSURL(), CAFile: r.CAFile()}, true},
		// The system roots do not know the test CA: fail closed.
		{"rediss without the CA", RedisConfig{URL: r.TLSURL()}, false},
		{"plain redis to the TLS port", RedisConfig{URL: "redis://" + r.TLSAddr() + "/0"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.o.Timeout = time.Second
			rs := redisTestStore(t, redisTestClient(t, tt.o), codec)
			pingThenRoundTrip(t, rs, tt.wantOK)
		})
	}
}

// pingThenRoundTrip checks that rs answers Ping and round-trips a session
// when wantOK, and that Ping fails with ErrUnavailable otherwise.
func pingThenRoundTrip(t *testing.T, rs *RedisStore, wantOK bool) {
	t.Helper()
	err := rs.Ping(t.Context())
	if !wantOK {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Ping: err = %v, want ErrUnavailable", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Ping: %v", err)
	}
	s := redisTestSession()
	got, err := rs.Load(t.Context(), redisRequest(redisTicketCookie(t, redisSave(t, rs, s))))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	sameSession(t, got, s)
}
