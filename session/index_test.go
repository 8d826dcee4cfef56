package session

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
)

// indexTestSecret is the cookie secret the index key derives from.
var indexTestSecret = []byte("0123456789abcdef0123456789abcdef")

func indexedStore(t testing.TB, c redis.UniversalClient, secrets ...[]byte) *RedisStore {
	t.Helper()
	if len(secrets) == 0 {
		secrets = [][]byte{indexTestSecret}
	}
	return NewRedisStore(c, redisTestCodec(t), redisTestCookieOptions(), "gh-test:", 2*time.Second, WithIndex(secrets))
}

// indexSession is a fresh session of user/subject at provider with the
// provider session sid ("" for none).
func indexSession(provider, subject, user, sid string) *Session {
	s := redisTestSession()
	s.ProviderID = provider
	s.Identity.Subject, s.Identity.User, s.Identity.SessionID = subject, user, sid
	return s
}

// loggedIn saves s as a login and returns the browser's ticket cookie.
func loggedIn(t testing.TB, rs *RedisStore, s *Session) *http.Cookie {
	t.Helper()
	return redisTicketCookie(t, redisSave(t, rs, s))
}

func signedIn(t testing.TB, rs *RedisStore, c *http.Cookie) bool {
	t.Helper()
	_, err := rs.Load(t.Context(), redisRequest(c))
	if err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load: %v", err)
	}
	return err == nil
}

func mustRevoke(t testing.TB, rs *RedisStore, sel Selector, want int) {
	t.Helper()
	got, err := rs.Revoke(t.Context(), sel)
	if err != nil {
		t.Fatalf("Revoke(%+v): %v", sel, err)
	}
	if len(got) != want {
		t.Fatalf("Revoke(%+v) ended %d sessions, want %d", sel, len(got), want)
	}
}

func mustList(t testing.TB, rs *RedisStore, sel Selector) []Info {
	t.Helper()
	got, err := rs.Sessions(t.Context(), sel)
	if err != nil {
		t.Fatalf("Sessions(%+v): %v", sel, err)
	}
	return got
}

// TestIndexRevoke lists and revokes by sid, subject and user, on a
// standalone Redis and on a Cluster (every key in its own slot).
func TestIndexRevoke(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]func(t *testing.T) RedisConfig{
		"standalone": func(t *testing.T) RedisConfig { return RedisConfig{URL: redistest.StartRedis(t).URL()} },
		"cluster":    func(t *testing.T) RedisConfig { return RedisConfig{ClusterAddrs: redistest.StartCluster(t).Addrs()} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rs := indexedStore(t, redisTestClient(t, cfg(t)))
			laptop := loggedIn(t, rs, indexSession("corp", "sub-a", "alice", "sid-1"))
			phone := loggedIn(t, rs, indexSession("corp", "sub-a", "alice", "sid-2"))
			other := loggedIn(t, rs, indexSession("social", "sub-a", "alice", "sid-1"))
			bob := loggedIn(t, rs, indexSession("corp", "sub-b", "bob", "sid-3"))

			if n := len(mustList(t, rs, Selector{User: "alice"})); n != 3 {
				t.Fatalf("alice has %d sessions, want 3", n)
			}
			list := mustList(t, rs, Selector{User: "alice", Provider: "corp"})
			if len(list) != 2 || list[0].Provider != "corp" || list[0].Hash == "" || list[0].ExpiresAt.Before(time.Now()) {
				t.Fatalf("alice at corp: %+v", list)
			}
			// A sid names one provider session: the same sid at another
			// provider, or with another subject, is another session.
			mustRevoke(t, rs, Selector{Provider: "corp", SID: "sid-1", Subject: "sub-b"}, 0)
			mustRevoke(t, rs, Selector{Provider: "corp", SID: "sid-1", Subject: "sub-a"}, 1)
			if signedIn(t, rs, laptop) || !signedIn(t, rs, phone) || !signedIn(t, rs, other) || !signedIn(t, rs, bob) {
				t.Fatal("revoking sid-1 at corp ended the wrong sessions")
			}
			mustRevoke(t, rs, Selector{Provider: "corp", Subject: "sub-a"}, 1)
			if signedIn(t, rs, phone) || !signedIn(t, rs, other) {
				t.Fatal("revoking sub-a at corp ended the wrong sessions")
			}
			mustRevoke(t, rs, Selector{User: "alice"}, 1)
			if signedIn(t, rs, other) || !signedIn(t, rs, bob) {
				t.Fatal("revoking alice ended the wrong sessions")
			}
			mustRevoke(t, rs, Selector{User: "alice"}, 0)
			if n := len(mustList(t, rs, Selector{User: "bob"})); n != 1 {
				t.Errorf("bob has %d sessions, want 1", n)
			}
		})
	}
}

func TestIndexWithoutSID(t *testing.T) {
	t.Parallel()
	rs := indexedStore(t, redisTestClient(t, RedisConfig{URL: redistest.StartRedis(t).URL()}))
	with := loggedIn(t, rs, indexSession("corp", "sub-a", "alice", "sid-1"))
	without := loggedIn(t, rs, indexSession("corp", "sub-a", "alice", ""))
	mustRevoke(t, rs, Selector{Provider: "corp", Subject: "sub-a", WithoutSID: true}, 1)
	if !signedIn(t, rs, with) || signedIn(t, rs, without) {
		t.Error("WithoutSID ended the wrong session")
	}
}

func TestIndexSelectorChecks(t *testing.T) {
	t.Parallel()
	rs := indexedStore(t, redisTestClient(t, RedisConfig{URL: redistest.StartRedis(t).URL()}))
	for _, sel := range []Selector{{}, {Subject: "s"}, {SID: "s"}, {User: "u", Subject: "s", Provider: "p"}} {
		if _, err := rs.Sessions(t.Context(), sel); err == nil {
			t.Errorf("Sessions(%+v) accepted", sel)
		}
	}
	plain := redisTestStore(t, redisTestClient(t, RedisConfig{URL: redistest.StartRedis(t).URL()}), redisTestCodec(t))
	if _, err := plain.Revoke(t.Context(), Selector{User: "u"}); !errors.Is(err, ErrNoIndex) {
		t.Errorf("store without index: %v, want ErrNoIndex", err)
	}
}

// indexKeys returns every key of the index (sets and metadata).
func indexKeys(t testing.TB, c redis.UniversalClient) []string {
	t.Helper()
	keys, err := c.Keys(t.Context(), "gh-test:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		if !strings.HasPrefix(k, "gh-test:session:") {
			out = append(out, k)
		}
	}
	return out
}

// TestIndexFollowsSessions: sign-out removes a session's metadata and set
// memberships; sets and metadata expire with their sessions; members whose
// session is gone are dropped when read.
func TestIndexFollowsSessions(t *testing.T) {
	t.Parallel()
	client := redisTestClient(t, RedisConfig{URL: redistest.StartRedis(t).URL()})
	rs := indexedStore(t, client)
	ctx := t.Context()
	s := indexSession("corp", "sub-a", "alice", "sid-1")
	c := loggedIn(t, rs, s)
	keys := indexKeys(t, client)
	if len(keys) != 4 { // meta + sub, user and sid sets
		t.Fatalf("index keys after login: %v, want 4", keys)
	}
	for _, k := range keys {
		ttl := client.TTL(ctx, k).Val()
		if ttl <= 0 || ttl > time.Hour+2*time.Second {
			t.Errorf("%s: TTL %v, want the session's (≤ 1h)", k, ttl)
		}
	}
	if err := rs.Clear(ctx, httptest.NewRecorder(), redisRequest(c)); err != nil {
		t.Fatal(err)
	}
	if keys := indexKeys(t, client); len(keys) != 0 {
		t.Errorf("index keys after sign-out: %v, want none", keys)
	}

	// A session that ended without a sign-out (expired) leaves members
	// behind until a reader of their set drops them (or the set expires).
	s2 := indexSession("corp", "sub-a", "alice", "")
	loggedIn(t, rs, s2)
	client.Del(ctx, redisKey(s2.ID), "gh-test:session-meta:"+s2.ID)
	if n := len(mustList(t, rs, Selector{User: "alice"})); n != 0 {
		t.Errorf("listed %d sessions, want 0", n)
	}
	for _, k := range indexKeys(t, client) {
		if n := client.SCard(ctx, k).Val(); strings.Contains(k, ":idx:user:") && n != 0 {
			t.Errorf("%s, the set read, still has %d members", k, n)
		}
	}

	// A later, longer session extends a set's expiry; an earlier one never
	// shortens it.
	long := indexSession("corp", "sub-c", "carol", "")
	long.ExpiresAt = time.Now().Add(3 * time.Hour)
	loggedIn(t, rs, long)
	loggedIn(t, rs, indexSession("corp", "sub-c", "carol", ""))
	for _, k := range indexKeys(t, client) {
		if strings.Contains(k, ":idx:") && client.SIsMember(ctx, k, long.ID).Val() {
			if ttl := client.TTL(ctx, k).Val(); ttl < 2*time.Hour {
				t.Errorf("%s: TTL %v, shortened below the longest session's", k, ttl)
			}
		}
	}
}

// TestIndexRefreshUpdatesMetadata: a refresh saves the new last-refresh
// time, and indexes a session saved before the index existed.
func TestIndexRefreshUpdatesMetadata(t *testing.T) {
	t.Parallel()
	client := redisTestClient(t, RedisConfig{URL: redistest.StartRedis(t).URL()})
	codec := redisTestCodec(t)
	legacy := NewRedisStore(client, codec, redisTestCookieOptions(), "gh-test:", time.Second)
	rs := NewRedisStore(client, codec, redisTestCookieOptions(), "gh-test:", time.Second, WithIndex([][]byte{indexTestSecret}))
	s := indexSession("corp", "sub-a", "alice", "sid-1")
	c := loggedIn(t, legacy, s)
	if n := len(mustList(t, rs, Selector{User: "alice"})); n != 0 {
		t.Fatalf("a session saved without the index is listed (%d)", n)
	}
	next := *s
	next.RefreshedAt = s.RefreshedAt.Add(10 * time.Minute).Truncate(time.Second)
	if cookies := redisSave(t, rs, &next, c); len(cookies) != 0 {
		t.Fatalf("refresh set cookies %v", cookies)
	}
	list := mustList(t, rs, Selector{User: "alice"})
	if len(list) != 1 || !list[0].RefreshedAt.Equal(next.RefreshedAt) || !list[0].CreatedAt.Equal(s.CreatedAt.Truncate(time.Second)) {
		t.Fatalf("after refresh: %+v, want refreshed %v", list, next.RefreshedAt)
	}
	mustRevoke(t, rs, Selector{Provider: "corp", SID: "sid-1"}, 1)
	if signedIn(t, rs, c) {
		t.Error("revoked session still loads")
	}
}

// TestIndexCookieSecretRotation: sessions indexed under the previous
// cookie secret are still found after a rotation.
func TestIndexCookieSecretRotation(t *testing.T) {
	t.Parallel()
	client := redisTestClient(t, RedisConfig{URL: redistest.StartRedis(t).URL()})
	newer := []byte("ffffffffffffffffffffffffffffffff")
	before := indexedStore(t, client, indexTestSecret)
	after := indexedStore(t, client, newer, indexTestSecret)
	onlyNew := indexedStore(t, client, newer)
	loggedIn(t, before, indexSession("corp", "sub-a", "alice", ""))
	loggedIn(t, after, indexSession("corp", "sub-a", "alice", ""))
	if n := len(mustList(t, after, Selector{Provider: "corp", Subject: "sub-a"})); n != 2 {
		t.Errorf("after rotation: %d sessions found, want both", n)
	}
	if n := len(mustList(t, onlyNew, Selector{Provider: "corp", Subject: "sub-a"})); n != 1 {
		t.Errorf("without the old secret: %d sessions found, want only the new one", n)
	}
}

// TestIndexRoundTrips: a login stays one round trip, loading touches no
// index, a sign-out takes one more round trip.
func TestIndexRoundTrips(t *testing.T) {
	t.Parallel()
	client := redisTestClient(t, RedisConfig{URL: redistest.StartRedis(t).URL()})
	counter := &commandCounter{}
	client.AddHook(counter)
	rs := indexedStore(t, client)
	// Warm up: connecting adds commands of its own.
	signedIn(t, rs, loggedIn(t, rs, indexSession("corp", "s0", "u0", "")))
	trips := func(f func()) int64 {
		before := counter.trips.Load()
		f()
		return counter.trips.Load() - before
	}
	var c *http.Cookie
	if n := trips(func() { c = loggedIn(t, rs, indexSession("corp", "s", "u", "sid")) }); n != 1 {
		t.Errorf("login: %d round trips, want 1", n)
	}
	if n := trips(func() { signedIn(t, rs, c) }); n != 1 {
		t.Errorf("load: %d round trips, want 1", n)
	}
	if n := trips(func() { _ = rs.Clear(t.Context(), httptest.NewRecorder(), redisRequest(c)) }); n != 2 {
		t.Errorf("sign-out: %d round trips, want 2", n)
	}
}

// TestIndexDumpRevealsNothing: the index adds no subject, user, sid,
// email or token to Redis, in any form.
func TestIndexDumpRevealsNothing(t *testing.T) {
	t.Parallel()
	client := redisTestClient(t, RedisConfig{URL: redistest.StartRedis(t).URL()})
	rs := indexedStore(t, client)
	ctx := t.Context()
	tag := RandomString(9)
	s := indexSession("corp", "subject-"+tag, "user-"+tag, "sid-"+tag)
	loggedIn(t, rs, s)
	var dump strings.Builder
	for _, k := range append(indexKeys(t, client), redisKey(s.ID)) {
		dump.WriteString(k + "\n")
		switch client.Type(ctx, k).Val() {
		case "set":
			dump.WriteString(strings.Join(client.SMembers(ctx, k).Val(), "\n"))
		default:
			dump.WriteString(client.Get(ctx, k).Val())
		}
	}
	for _, secret := range []string{s.Identity.Subject, s.Identity.User, s.Identity.SessionID, s.Identity.Email, s.Tokens.AccessToken, s.Tokens.RefreshToken, s.Tokens.IDToken, tag} {
		for _, form := range secretForms(secret) {
			if strings.Contains(dump.String(), form) {
				t.Fatalf("Redis holds %q (a form of %q)", form, secret)
			}
		}
	}
}

// TestRevokeEndsSessionOnEveryReplica: two stores on one Redis (two
// replicas); revoking through one ends the session the other serves.
func TestRevokeEndsSessionOnEveryReplica(t *testing.T) {
	t.Parallel()
	url := redistest.StartRedis(t).URL()
	codec := redisTestCodec(t)
	a := NewRedisStore(redisTestClient(t, RedisConfig{URL: url}), codec, redisTestCookieOptions(), "gh-test:", time.Second, WithIndex([][]byte{indexTestSecret}))
	b := NewRedisStore(redisTestClient(t, RedisConfig{URL: url}), codec, redisTestCookieOptions(), "gh-test:", time.Second, WithIndex([][]byte{indexTestSecret}))
	c := loggedIn(t, a, indexSession("corp", "s", "u", ""))
	if !signedIn(t, b, c) {
		t.Fatal("replica b does not see the session")
	}
	mustRevoke(t, a, Selector{User: "u"}, 1)
	if signedIn(t, b, c) {
		t.Error("replica b still serves the revoked session")
	}
}
