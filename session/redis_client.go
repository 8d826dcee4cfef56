package session

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
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
	u.Addrs, u.Username, u.DB, u.TLSConfig = []string{p.Addr}, p.Username, p.DB, p.TLSConfig
	if p.Protocol != 0 {
		u.Protocol = p.Protocol // ?protocol=3
	}
	if u.Password == "" {
		u.Password = p.Password
	}
	u.PoolFIFO, u.PoolSize, u.MinIdleConns, u.MaxIdleConns, u.MaxActiveConns = p.PoolFIFO, p.PoolSize, p.MinIdleConns, p.MaxIdleConns, p.MaxActiveConns
	u.ConnMaxLifetime, u.MinRetryBackoff, u.MaxRetryBackoff = p.ConnMaxLifetime, p.MinRetryBackoff, p.MaxRetryBackoff
	return redis.NewClient(u.Simple()), nil
}

// redisBufferSize is the read and the write buffer of each Redis connection.
const redisBufferSize = 8 << 10

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
		// RESP2: Gatehouse uses no RESP3 feature (push notifications,
		// client-side caching), and with RESP3 go-redis checks every
		// connection for pending push notifications around each command.
		Protocol: 2,
		// A session value is a few KiB (larger ones are read through the
		// buffer all the same): go-redis's 32 KiB buffers each way cost
		// 64 KiB of memory per pooled connection for nothing, and its
		// pipeline connections' 128 KiB buffers 256 KiB for pipelines of
		// a few small commands (saving, signing out).
		ReadBufferSize:          redisBufferSize,
		WriteBufferSize:         redisBufferSize,
		PipelineReadBufferSize:  redisBufferSize,
		PipelineWriteBufferSize: redisBufferSize,
		// Sentinel clients do not support it; go-redis leaves it out there.
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
}
