package session

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// DefaultRedisTimeout bounds every Redis call when no timeout is configured.
const DefaultRedisTimeout = 2 * time.Second

// RedisConfig say how to reach Redis. Exactly one mode must be chosen: URL
// (standalone), SentinelMaster with SentinelAddrs (Sentinel), or
// ClusterAddrs (Cluster).
type RedisConfig struct {
	// URL is a redis:// or rediss:// URL of a standalone Redis, optionally
	// with user:password and a database number ("redis://host:6379/0").
	// Query parameters tune the client as go-redis documents, except that
	// skip_verify is refused.
	URL string
	// Password, when set, replaces any password in URL and is the password
	// of the Sentinel-managed master or of every Cluster node.
	Password string
	// SentinelMaster is the name Sentinel monitors the master under; setting
	// it selects Sentinel mode.
	SentinelMaster string
	// SentinelAddrs are host:port addresses of Sentinels (at least one).
	SentinelAddrs []string
	// SentinelPassword is the password of the Sentinels themselves.
	SentinelPassword string
	// ClusterAddrs are host:port addresses of some Cluster nodes; setting
	// them selects Cluster mode.
	ClusterAddrs []string
	// CAFile is a PEM bundle of the CAs that sign the Redis servers'
	// certificates. With URL it requires rediss://; in Sentinel and Cluster
	// mode it turns TLS on. Empty means the system roots (rediss://) or no
	// TLS (Sentinel, Cluster).
	CAFile string
	// Timeout bounds dialing, each read and write, and waiting for a pooled
	// connection. Zero means DefaultRedisTimeout.
	Timeout time.Duration
}

// NewRedisClient returns a go-redis client for o: a plain client for a URL,
// a failover client for Sentinel, a cluster client for Cluster. It does not
// connect; use (*RedisStore).Ping to check reachability.
func NewRedisClient(o RedisConfig) (redis.UniversalClient, error) {
	modes := 0
	for _, set := range []bool{o.URL != "", o.SentinelMaster != "", len(o.ClusterAddrs) > 0} {
		if set {
			modes++
		}
	}
	switch {
	case modes == 0:
		return nil, errors.New("redis: no address: set redis-url, redis-sentinel-master with redis-sentinel-addr, or redis-cluster-addr")
	case modes > 1:
		return nil, errors.New("redis: redis-url, redis-sentinel-master and redis-cluster-addr are exclusive: set exactly one")
	case o.SentinelMaster != "" && len(o.SentinelAddrs) == 0:
		return nil, errors.New("redis: redis-sentinel-master needs at least one redis-sentinel-addr")
	case o.SentinelMaster == "" && len(o.SentinelAddrs) > 0:
		return nil, errors.New("redis: redis-sentinel-addr is set but redis-sentinel-master is not")
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultRedisTimeout
	}
	var tlsConf *tls.Config
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redis: read redis-ca-file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis: redis-ca-file %s holds no PEM certificate", o.CAFile)
		}
		tlsConf = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	u := tuned(timeout)
	u.Password = o.Password
	switch {
	case o.SentinelMaster != "":
		u.MasterName, u.Addrs, u.SentinelPassword, u.TLSConfig = o.SentinelMaster, o.SentinelAddrs, o.SentinelPassword, tlsConf
		return redis.NewFailoverClient(u.Failover()), nil
	case len(o.ClusterAddrs) > 0:
		u.Addrs, u.TLSConfig = o.ClusterAddrs, tlsConf
		return redis.NewClusterClient(u.Cluster()), nil
	}

	p, err := redis.ParseURL(o.URL)
	if err != nil {
		// go-redis errors may quote the URL, which may carry a password.
		return nil, errors.New("redis: redis-url is not a valid redis:// or rediss:// URL")
	}
	if p.Network != "tcp" {
		return nil, errors.New("redis: redis-url must use redis:// or rediss://")
	}
	if p.TLSConfig != nil && p.TLSConfig.InsecureSkipVerify {
		return nil, errors.New("redis: redis-url asks for skip_verify; use redis-ca-file to trust a private CA instead")
	}
	if tlsConf != nil {
		if p.TLSConfig == nil {
			return nil, errors.New("redis: redis-ca-file is set but redis-url is not rediss://")
		}
		p.TLSConfig.RootCAs = tlsConf.RootCAs
	}
	// What the URL says: where, who, which database, TLS, and the pool
	// settings its query may tune. Gatehouse's timeouts and retry budget
	// (tuned) replace the URL's.
	u.Addrs, u.Username, u.DB, u.Protocol, u.TLSConfig = []string{p.Addr}, p.Username, p.DB, p.Protocol, p.TLSConfig
	if u.Password == "" {
		u.Password = p.Password
	}
	u.PoolFIFO, u.PoolSize, u.MinIdleConns, u.MaxIdleConns, u.MaxActiveConns = p.PoolFIFO, p.PoolSize, p.MinIdleConns, p.MaxIdleConns, p.MaxActiveConns
	u.ConnMaxLifetime, u.MinRetryBackoff, u.MaxRetryBackoff = p.ConnMaxLifetime, p.MinRetryBackoff, p.MaxRetryBackoff
	return redis.NewClient(u.Simple()), nil
}

// tuned returns the client options Gatehouse uses in every Redis mode.
//
// Every command runs under a context deadline (the store's timeout), so a
// short retry budget is enough: one retry covers a pooled connection the
// server closed while it sat idle. Dialing is retried once, quickly, so
// that a Redis outage turns into a fast 503 rather than requests piling up
// for the whole timeout.
func tuned(timeout time.Duration) *redis.UniversalOptions {
	return &redis.UniversalOptions{
		ClientName:            "gatehouse",
		MaxRetries:            1,
		DialerRetries:         2, // attempts, in go-redis terms
		DialerRetryTimeout:    50 * time.Millisecond,
		DialTimeout:           timeout,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		PoolTimeout:           timeout,
		ContextTimeoutEnabled: true,
		ConnMaxIdleTime:       5 * time.Minute,
		// Sentinel clients do not support it; go-redis leaves it out there.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}

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
}

// NewRedisStore returns a store keeping sessions in client under keys
// starting with keyPrefix, with ticket cookies named cookie.Name encoded by
// codec. Every Redis call is bounded by timeout (DefaultRedisTimeout if
// zero). The codec's max age should be at least cookie.Lifetime.
func NewRedisStore(client redis.UniversalClient, codec *Codec, cookie CookieConfig, keyPrefix string, timeout time.Duration) *RedisStore {
	if timeout <= 0 {
		timeout = DefaultRedisTimeout
	}
	return &RedisStore{
		client:  client,
		codec:   codec,
		cookie:  cookie,
		prefix:  keyPrefix,
		timeout: timeout,
		now:     time.Now,
	}
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

// sealFormat is the first byte of every value the store writes, so that the
// format can evolve.
const sealFormat byte = 1

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
	plain, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
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
	if len(value) < 1 || value[0] != sealFormat {
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
	if err := json.Unmarshal(plain, &s); err != nil {
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

	ts, _ := rs.tickets(r)
	var (
		cur   ticket
		found bool
		stale []string
	)
	for _, t := range ts {
		if t.id == s.ID {
			cur, found = t, true
		} else {
			stale = append(stale, rs.key(t.id))
		}
	}
	var cookieValue string
	if !found {
		cur = ticket{id: s.ID, secret: make([]byte, ticketSecretSize)}
		_, _ = rand.Read(cur.secret) // crypto/rand.Read never fails (Go 1.24+).
		var err error
		cookieValue, err = rs.codec.Encode(rs.cookie.Name, ticketWire{ID: cur.id, Secret: cur.secret})
		if err != nil {
			return fmt.Errorf("save session: %w", err)
		}
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
	ctx, cancel := context.WithTimeout(ctx, rs.timeout)
	defer cancel()
	var setErr error
	if len(stale) == 0 {
		setErr = rs.client.SetArgs(ctx, key, value, args).Err()
	} else {
		// One DEL per key: in a Cluster the keys live in different slots,
		// and the pipeline splits them by node.
		var set *redis.StatusCmd
		_, perr := rs.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			set = p.SetArgs(ctx, key, value, args)
			for _, k := range stale {
				p.Del(ctx, k)
			}
			return nil
		})
		if setErr = set.Err(); setErr == nil && perr != nil {
			setErr = perr
		}
	}
	switch {
	case errors.Is(setErr, redis.Nil) && found:
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
	_, err := rs.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, t := range ts {
			p.Del(ctx, rs.key(t.id))
		}
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
