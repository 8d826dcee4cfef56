package redistest

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestStartRedisStopRestart(t *testing.T) {
	t.Parallel()
	r := StartRedis(t)
	if r.Addr() == "127.0.0.1:6379" {
		t.Fatalf("helper used the shared default port")
	}
	ctx := t.Context()
	opts, err := redis.ParseURL(r.URL())
	if err != nil {
		t.Fatalf("URL() = %q does not parse: %v", r.URL(), err)
	}
	if opts.Addr != r.Addr() {
		t.Fatalf("URL() addr = %q, want %q", opts.Addr, r.Addr())
	}
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}

	r.Stop()
	if err := c.Get(ctx, "k").Err(); err == nil || errors.Is(err, redis.Nil) {
		t.Fatalf("GET on a stopped server: err = %v, want a connection error", err)
	}
	r.Stop() // idempotent

	r.Restart()
	// No persistence: the restarted server is empty but answers.
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET after restart: err = %v, want redis.Nil", err)
	}
}

func TestStartRedisPauseResume(t *testing.T) {
	t.Parallel()
	r := StartRedis(t)
	ctx := t.Context()
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1, ReadTimeout: 200 * time.Millisecond})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}

	r.Pause()
	err := c.Get(ctx, "k").Err()
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Fatalf("GET on a paused server: err = %v, want a timeout", err)
	}

	r.Resume()
	// Resumed, not restarted: the data is still there.
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET after resume = %q, %v; want \"v\"", v, err)
	}
	// Cleanup must also stop a paused server.
	r.Pause()
}

func TestStartRedisExtraArgs(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, "--requirepass", "s3cret")
	ctx := t.Context()
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatalf("PING without password succeeded; --requirepass was not passed")
	}
	c2 := redis.NewClient(&redis.Options{Addr: r.Addr(), Password: "s3cret", MaxRetries: -1})
	defer c2.Close()
	if err := c2.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING with password: %v", err)
	}
}

func TestStartSentinelFailover(t *testing.T) {
	t.Parallel()
	s := StartSentinel(t)
	if len(s.SentinelAddrs()) == 0 {
		t.Fatalf("no sentinel addresses")
	}
	ctx := t.Context()
	old := s.MasterAddr()
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    s.MasterName,
		SentinelAddrs: s.SentinelAddrs(),
	})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through sentinel: %v", err)
	}
	if n, err := c.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v; want 1 replica", n, err)
	}
	s.StopMaster()
	if now := s.MasterAddr(); now == old {
		t.Fatalf("master still %s after StopMaster", now)
	}
}

func TestStartCluster(t *testing.T) {
	t.Parallel()
	cl := StartCluster(t)
	addrs := cl.Addrs()
	if len(addrs) != 3 || slices.Contains(addrs, "127.0.0.1:6379") {
		t.Fatalf("Addrs() = %v, want 3 private nodes", addrs)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer c.Close()
	// Keys in different slots land on different masters.
	for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
		if err := c.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	var masters atomic.Int32 // ForEachMaster runs fn concurrently
	err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		if n > 0 {
			masters.Add(1)
		}
		return err
	})
	if err != nil {
		t.Fatalf("ForEachMaster: %v", err)
	}
	if n := masters.Load(); n < 2 {
		t.Fatalf("keys landed on %d masters, want at least 2 (cluster not sharding?)", n)
	}
}

func TestStartRedisTLS(t *testing.T) {
	t.Parallel()
	r := StartRedisTLS(t)
	ctx := t.Context()
	pemBytes, err := os.ReadFile(r.CAFile())
	if err != nil {
		t.Fatalf("read CA: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("CAFile holds no certificate")
	}
	opts, err := redis.ParseURL(r.TLSURL())
	if err != nil {
		t.Fatalf("TLSURL() = %q does not parse: %v", r.TLSURL(), err)
	}
	if opts.TLSConfig == nil {
		t.Fatalf("TLSURL() = %q is not rediss://", r.TLSURL())
	}
	opts.TLSConfig.RootCAs = roots
	c := redis.NewClient(opts)
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING over TLS: %v", err)
	}
	// Without the CA the certificate does not verify.
	opts2, _ := redis.ParseURL(r.TLSURL())
	opts2.MaxRetries = -1
	c2 := redis.NewClient(opts2)
	defer c2.Close()
	if err := c2.Ping(ctx).Err(); err == nil {
		t.Fatalf("PING over TLS without the test CA succeeded")
	}
	r.Restart()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING over TLS after restart: %v", err)
	}
}
