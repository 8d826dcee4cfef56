package session

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps sessions in Redis behind a small cookie ticket, so that
// sessions can be revoked (sign-out is seen by every replica) and are not
// limited by cookie size.
//
// The browser cookie holds, encoded by the Codec (encrypted and
// authenticated), only the session ID and a random 32-byte secret made for
// that session. Redis holds the session under prefix+"session:"+ID,
// encrypted with AES-256-GCM under a key derived from that secret
// (HKDF-SHA256), with the key name as additional data. So a dump of Redis
// reveals no token or email, and a cookie alone reveals nothing. The key
// expires with the session.
//
// Every command touches a single key (several keys are only ever deleted
// one DEL each), so a Cluster needs no hash tags in the key prefix.
//
// Load costs one Redis round trip (a GET). The store caches nothing in
// process: every Load reads Redis, so a sign-out on one replica ends the
// session on every replica at their next request (bound: zero).
type RedisStore struct {
	client  redis.UniversalClient
	codec   *Codec
	cookie  CookieConfig
	prefix  string
	timeout time.Duration
	now     func() time.Time
	index   *sessionIndex // nil: sessions are not indexed (WithIndex)
}

// NewRedisStore returns a store keeping sessions in client under keys
// starting with keyPrefix, with ticket cookies named cookie.Name encoded by
// codec. Every Redis call is bounded by timeout (DefaultRedisTimeout if
// zero). The codec's max age should be at least cookie.Lifetime.
func NewRedisStore(client redis.UniversalClient, codec *Codec, cookie CookieConfig, keyPrefix string, timeout time.Duration, opts ...RedisOption) *RedisStore {
	if timeout <= 0 {
		timeout = DefaultRedisTimeout
	}
	rs := &RedisStore{
		client:  client,
		codec:   codec,
		cookie:  cookie,
		prefix:  keyPrefix,
		timeout: timeout,
		now:     time.Now,
	}
	for _, o := range opts {
		o(rs)
	}
	return rs
}

// ticket is a decoded, validated ticket cookie.
type ticket struct {
	id     string
	secret []byte
}

// ticketWire is a ticket as the Codec encodes it.
type ticketWire struct {
	ID     string `json:"i"`
	Secret []byte `json:"k"`
}

// ticketSecretSize is the length of a ticket's per-session secret.
const ticketSecretSize = 32

// The first byte of every value the store writes names its format, so that
// the format can evolve: sealFormat is written, values of sealFormatJSON
// (written by earlier versions) are still read.
const (
	sealFormatJSON byte = 1 // the session as JSON
	sealFormat     byte = 2 // the session's binary encoding (binary.go)
)

// hkdfInfoRedis separates the Redis value key from any other use of the
// ticket secret.
const hkdfInfoRedis = "gatehouse/v1 redis session aes-256-gcm"

// validSessionID reports whether id can be part of a Redis key: the
// base64url text RandomString makes, of a sane length.
func validSessionID(id string) bool {
	if len(id) < 16 || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// parseTicket turns a cookie value into a trusted ticket.
func (rs *RedisStore) parseTicket(value string) (ticket, error) {
	var w ticketWire
	if err := rs.codec.Decode(rs.cookie.Name, value, &w); err != nil {
		return ticket{}, err
	}
	if !validSessionID(w.ID) {
		return ticket{}, errors.New("ticket has an invalid session id")
	}
	if len(w.Secret) != ticketSecretSize {
		return ticket{}, fmt.Errorf("ticket secret is %d bytes, want %d", len(w.Secret), ticketSecretSize)
	}
	return ticket{id: w.ID, secret: w.Secret}, nil
}

// tickets returns the valid tickets among r's cookies named cookie.Name
// (usually one; a browser may send several cookies of one name from
// different Domain or Path settings), and why the others were rejected.
func (rs *RedisStore) tickets(r *http.Request) ([]ticket, []error) {
	var ts []ticket
	var errs []error
	for _, c := range r.CookiesNamed(rs.cookie.Name) {
		t, err := rs.parseTicket(c.Value)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ts = append(ts, t)
	}
	return ts, errs
}

func (rs *RedisStore) key(id string) string { return rs.prefix + "session:" + id }

// aead returns the cipher for the value of one session.
func aead(secret []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, secret, nil, hkdfInfoRedis, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// seal encrypts s for key under t's secret.
func seal(t ticket, key string, s *Session) ([]byte, error) {
	plain := s.appendBinary(make([]byte, 0, 512))
	a, err := aead(t.secret)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1, 1+a.NonceSize()+len(plain)+a.Overhead())
	out[0] = sealFormat
	return a.Seal(out, nil, plain, []byte(key)), nil
}

// open decrypts a value read from key with t's secret.
func open(t ticket, key string, value []byte) (*Session, error) {
	if len(value) < 1 || (value[0] != sealFormat && value[0] != sealFormatJSON) {
		return nil, errors.New("unknown value format")
	}
	a, err := aead(t.secret)
	if err != nil {
		return nil, err
	}
	plain, err := a.Open(nil, nil, value[1:], []byte(key))
	if err != nil {
		return nil, errors.New("value does not decrypt with the ticket's secret")
	}
	var s Session
	if value[0] == sealFormatJSON {
		err = json.Unmarshal(plain, &s)
	} else {
		err = s.decodeBinary(plain)
	}
	if err != nil {
		return nil, fmt.Errorf("decrypted value: %w", err)
	}
	return &s, nil
}

// Load returns the session r's ticket points to. A missing, tampered or
// foreign ticket, a missing key (signed out, expired) or a value that does
// not decrypt yield ErrNotFound, and nothing is deleted (a value that does
// not open with this ticket's secret may be someone else's); Redis errors
// and timeouts yield ErrUnavailable, and the caller must then keep the
// cookie.
func (rs *RedisStore) Load(ctx context.Context, r *http.Request) (*Session, error) {
	ts, errs := rs.tickets(r)
	for _, t := range ts {
		s, err := rs.fetch(ctx, t)
		if err == nil {
			return s, nil
		}
		if errors.Is(err, ErrUnavailable) {
			return nil, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: no %q cookie", ErrNotFound, rs.cookie.Name)
	}
	return nil, fmt.Errorf("%w: %w", ErrNotFound, errors.Join(errs...))
}

// fetch reads and decrypts the session of t: one GET.
func (rs *RedisStore) fetch(ctx context.Context, t ticket) (*Session, error) {
	ctx, cancel := context.WithTimeout(ctx, rs.timeout)
	defer cancel()
	key := rs.key(t.id)
	value, err := rs.client.Get(ctx, key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, errors.New("no session in redis for the ticket (signed out or expired)")
	case redis.HasErrorPrefix(err, "WRONGTYPE"):
		// Something other than this store wrote the key (a shared Redis
		// and a careless prefix). Redis is fine: this is no session, not
		// an outage, and the key is not ours to delete.
		return nil, errors.New("the session key holds a value of another type")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: load session: %w", ErrUnavailable, err)
	}
	s, err := open(t, key, value)
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(s.ID), []byte(t.id)) != 1 {
		return nil, errors.New("stored session does not match the ticket")
	}
	if err := wellFormed(s); err != nil {
		return nil, err
	}
	if s.Expired(rs.now()) {
		return nil, errors.New("session expired")
	}
	return s, nil
}

// Save writes s to Redis, expiring with s.ExpiresAt (cookie.Lifetime from
// now when zero). If r already carries the ticket of s, it is kept, no
// cookie is written, and the session must still exist in Redis (else
// ErrNotFound: it was signed out meanwhile); otherwise a new ticket cookie
// is set, the key of s must not exist yet (else an error: the ID is taken),
// and the sessions of r's other tickets (an earlier login of this browser)
// are deleted. Redis errors yield ErrUnavailable.
func (rs *RedisStore) Save(ctx context.Context, w http.ResponseWriter, r *http.Request, s *Session) error {
	if err := wellFormed(s); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	if !validSessionID(s.ID) {
		return errors.New("save session: session id is not a random base64url string")
	}
	now := rs.now()
	expiry := s.ExpiresAt
	if expiry.IsZero() {
		if rs.cookie.Lifetime <= 0 {
			return errors.New("save session: session has no ExpiresAt and no cookie lifetime is configured")
		}
		expiry = now.Add(rs.cookie.Lifetime)
	}
	if !expiry.After(now) {
		return fmt.Errorf("save session: %w: already expired", ErrNotFound)
	}

	cur, found, stale, cookieValue, err := rs.ticketFor(r, s.ID)
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	key := rs.key(s.ID)
	value, err := seal(cur, key, s)
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}

	// A session the browser already has a ticket for is only overwritten
	// while it exists (XX): a refresh racing a sign-out on another replica
	// must not bring the signed-out session back. A new ticket only creates
	// (NX): session IDs are 192 random bits, but should two ever collide,
	// the login fails instead of replacing another browser's session.
	args := redis.SetArgs{ExpireAt: expiry, Mode: "NX"}
	if found {
		args.Mode = "XX"
	}
	setErr := rs.set(ctx, key, value, args, stale, rs.indexWrites(ctx, s, expiry, found))
	switch {
	case errors.Is(setErr, redis.Nil) && found:
		rs.dropIndex(ctx, s)
		return fmt.Errorf("save session: %w: signed out or expired meanwhile", ErrNotFound)
	case errors.Is(setErr, redis.Nil):
		return errors.New("save session: session id already in use")
	case setErr != nil:
		return fmt.Errorf("%w: save session: %w", ErrUnavailable, setErr)
	}
	if !found {
		http.SetCookie(w, rs.cookie.NewCookie(rs.cookie.Name, cookieValue, expiry.Sub(now)))
	}
	return nil
}

// set writes value to key with args, deleting the stale sessions (and
// their index metadata) and running more (the index writes) in the same
// round trip, and returns the SET's error (redis.Nil when NX or XX refused
// it), else the first other command's.
func (rs *RedisStore) set(ctx context.Context, key string, value []byte, args redis.SetArgs, stale []string, more func(redis.Pipeliner)) error {
	ctx, cancel := context.WithTimeout(ctx, rs.timeout)
	defer cancel()
	if len(stale) == 0 && more == nil {
		return rs.client.SetArgs(ctx, key, value, args).Err()
	}
	// One DEL per key: in a Cluster the keys live in different slots, and
	// the pipeline splits them by node.
	var set *redis.StatusCmd
	_, perr := rs.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		set = p.SetArgs(ctx, key, value, args)
		for _, id := range stale {
			p.Del(ctx, rs.key(id))
			if rs.index != nil {
				p.Del(ctx, rs.metaKey(id))
			}
		}
		if more != nil {
			more(p)
		}
		return nil
	})
	if errors.Is(perr, redis.Nil) {
		perr = nil // a metadata SET NX that found one already (never for a fresh id)
	}
	if err := set.Err(); err != nil || perr == nil {
		return err
	}
	if more != nil {
		return fmt.Errorf("session index (Redis 7 or later is required): %w", perr)
	}
	return perr
}

// ticketFor returns the ticket r carries for session id (found), or a new
// one with its encoded cookie value; stale are the ids of r's other
// tickets (an earlier login of this browser).
func (rs *RedisStore) ticketFor(r *http.Request, id string) (cur ticket, found bool, stale []string, cookieValue string, err error) {
	ts, _ := rs.tickets(r)
	for _, t := range ts {
		if t.id == id {
			cur, found = t, true
		} else {
			stale = append(stale, t.id)
		}
	}
	if found {
		return cur, true, stale, "", nil
	}
	cur = ticket{id: id, secret: make([]byte, ticketSecretSize)}
	_, _ = rand.Read(cur.secret) // crypto/rand.Read never fails (Go 1.24+).
	cookieValue, err = rs.codec.Encode(rs.cookie.Name, &ticketWire{ID: cur.id, Secret: cur.secret})
	return cur, false, stale, cookieValue, err
}

// Clear deletes the sessions r's tickets point to and expires the ticket
// cookie. The cookie is expired even when Redis cannot be reached (the
// error then wraps ErrUnavailable): the user asked to sign out, the browser
// loses the only copy it had of the ticket, and the stored value expires on
// its own.
func (rs *RedisStore) Clear(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	ts, _ := rs.tickets(r)
	http.SetCookie(w, rs.cookie.ExpiredCookie(rs.cookie.Name))
	if len(ts) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, rs.timeout)
	defer cancel()
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.id
	}
	unindex, err := rs.unindex(ctx, ids)
	if err != nil {
		return fmt.Errorf("%w: clear session: %w", ErrUnavailable, err)
	}
	_, err = rs.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Del(ctx, rs.key(id))
		}
		unindex(p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: clear session: %w", ErrUnavailable, err)
	}
	return nil
}

// Ping checks that Redis answers, for readiness probes. Its error wraps
// ErrUnavailable.
func (rs *RedisStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, rs.timeout)
	defer cancel()
	if err := rs.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("%w: ping redis: %w", ErrUnavailable, err)
	}
	return nil
}
