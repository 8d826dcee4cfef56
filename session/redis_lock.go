package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultLockTTL is how long a RedisLocker lock lives when its holder
// neither releases it nor survives (a crashed replica).
const DefaultLockTTL = 10 * time.Second

// Polling bounds of RedisLocker.Lock while another holder has the lock.
const (
	lockPollMin = 5 * time.Millisecond
	lockPollMax = 200 * time.Millisecond
)

// lockReleaseTimeout bounds the release of a lock. Release runs on its own
// context because the caller's is often done by then.
const lockReleaseTimeout = 2 * time.Second

// releaseLua deletes the lock key only if it still holds the caller's token,
// so that a holder whose lock expired cannot release the next holder's.
const releaseLua = `if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`

// RedisLocker is a Locker shared by every replica using one Redis: a lock is
// the key prefix+"lock:"+key, set with SET NX PX to a random token, and
// released by a script that deletes it only if it still holds that token.
//
// A lock expires after its TTL even if not released, so that a crashed
// holder cannot block others forever; work under the lock must finish well
// within the TTL, or another holder may enter. This is a single-Redis lock,
// not Redlock: after a Sentinel failover that lost the key, two holders are
// possible for one TTL. It makes concurrent token refreshes of one session
// rare, not impossible; do not use it where two holders would be unsafe.
type RedisLocker struct {
	client  redis.UniversalClient
	prefix  string
	ttl     time.Duration
	release *redis.Script
}

// NewRedisLocker returns a locker keeping its locks in client under keys
// starting with keyPrefix, each living at most ttl (DefaultLockTTL if zero).
func NewRedisLocker(client redis.UniversalClient, keyPrefix string, ttl time.Duration) *RedisLocker {
	if ttl <= 0 {
		ttl = DefaultLockTTL
	}
	return &RedisLocker{
		client:  client,
		prefix:  keyPrefix,
		ttl:     ttl,
		release: redis.NewScript(releaseLua),
	}
}

// Lock implements Locker. It polls, with a growing jittered delay, until
// the lock is free or ctx is done (the error then wraps ctx.Err()). A Redis
// error wraps ErrUnavailable.
func (l *RedisLocker) Lock(ctx context.Context, key string) (func(), error) {
	k := l.prefix + "lock:" + key
	token := RandomString(18)
	delay := lockPollMin
	for {
		err := l.client.SetArgs(ctx, k, token, redis.SetArgs{Mode: "NX", TTL: l.ttl}).Err()
		switch {
		case err == nil:
			return l.unlocker(k, token), nil
		case errors.Is(err, redis.Nil):
			// Held by someone else: wait and retry.
		case ctx.Err() != nil:
			return nil, fmt.Errorf("lock: %w", ctx.Err())
		default:
			return nil, fmt.Errorf("%w: lock: %w", ErrUnavailable, err)
		}
		// Full jitter keeps waiters from retrying in step.
		wait := delay/2 + rand.N(delay/2+1)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("lock: %w", ctx.Err())
		case <-t.C:
		}
		delay = min(delay*2, lockPollMax)
	}
}

// unlocker returns the idempotent release function of one held lock.
func (l *RedisLocker) unlocker(k, token string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), lockReleaseTimeout)
			defer cancel()
			if err := l.release.Run(ctx, l.client, []string{k}, token).Err(); err != nil {
				// The lock expires after its TTL anyway.
				slog.Warn("redis lock release failed; it will expire on its own", "err", err)
			}
		})
	}
}
