package lock

import (
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrUnavailable means Redis could not be asked for the lock.
var ErrUnavailable = errors.New("lock service unavailable")

// DefaultTTL is how long a Redis lock lives when its holder neither
// releases it nor survives (a crashed replica), when NewRedis is given 0.
const DefaultTTL = 10 * time.Second

// Polling bounds of Redis.Lock while another holder has the lock.
const (
	pollMin = 5 * time.Millisecond
	pollMax = 200 * time.Millisecond
)

// releaseTimeout bounds the release of a lock. Release runs on its own
// context because the caller's is often done by then.
const releaseTimeout = 2 * time.Second

// releaseLua deletes the lock key only if it still holds the caller's token,
// so that a holder whose lock expired cannot release the next holder's.
const releaseLua = `if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`

// Redis is a lock shared by every process using one Redis: a lock is the
// key prefix+key, set with SET NX PX to a random token, and released by a
// script that deletes it only if it still holds that token.
//
// A lock expires after its TTL even if not released, so that a crashed
// holder cannot block others forever; work under the lock must finish well
// within the TTL, or another holder may enter. This is a single-Redis lock,
// not Redlock: after a Sentinel failover that lost the key, two holders are
// possible for one TTL. It makes concurrent work on one key rare, not
// impossible; do not use it where two holders would be unsafe.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	ttl     time.Duration
	release *redis.Script
	keep    *redis.Script
	log     *slog.Logger
}

// NewRedis returns a lock keeping its keys in client, each named keyPrefix
// followed by the key given to Lock and living at most ttl (DefaultTTL if
// zero). log receives release failures; nil discards them.
func NewRedis(client redis.UniversalClient, keyPrefix string, ttl time.Duration, log *slog.Logger) *Redis {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Redis{client: client, prefix: keyPrefix, ttl: ttl, release: redis.NewScript(releaseLua), keep: redis.NewScript(keepLua), log: log}
}

// Lock blocks until the lock on key is held or ctx is done (the error then
// wraps ctx.Err()), polling with a growing, jittered delay. A Redis error
// wraps ErrUnavailable. unlock releases the lock; calling it more than once
// is harmless.
func (l *Redis) Lock(ctx context.Context, key string) (unlock func(), err error) {
	k := l.prefix + key
	token := newToken()
	delay := pollMin
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
		delay = min(delay*2, pollMax)
	}
}

// keepLua sets the lock key, if it still holds the caller's token, to
// expire after ARGV[2] milliseconds.
const keepLua = `if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`

// TryLock takes the lock on key for at most ttl (the Redis's TTL when
// ttl <= 0) without waiting: ok is false when another holder has it. A
// Redis error wraps ErrUnavailable. release(keep) gives the lock up at
// once (keep <= 0) or lets it live keep longer, so that nobody takes it
// for that long (a back-off shared by every process); calling it more than
// once is harmless.
func (l *Redis) TryLock(ctx context.Context, key string, ttl time.Duration) (release func(keep time.Duration), ok bool, err error) {
	if ttl <= 0 {
		ttl = l.ttl
	}
	k := l.prefix + key
	token := newToken()
	err = l.client.SetArgs(ctx, k, token, redis.SetArgs{Mode: "NX", TTL: ttl}).Err()
	switch {
	case err == nil:
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case ctx.Err() != nil:
		return nil, false, fmt.Errorf("lock: %w", ctx.Err())
	default:
		return nil, false, fmt.Errorf("%w: lock: %w", ErrUnavailable, err)
	}
	unlock := l.unlocker(k, token)
	var once sync.Once
	return func(keep time.Duration) {
		if keep <= 0 {
			unlock()
			return
		}
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
			defer cancel()
			if err := l.keep.Run(ctx, l.client, []string{k}, token, keep.Milliseconds()).Err(); err != nil {
				l.log.Warn("redis lock keep failed; it will expire on its own", "err", err)
			}
		})
	}, true, nil
}

// unlocker returns the idempotent release function of one held lock.
func (l *Redis) unlocker(k, token string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
			defer cancel()
			if err := l.release.Run(ctx, l.client, []string{k}, token).Err(); err != nil {
				// The lock expires after its TTL anyway.
				l.log.Warn("redis lock release failed; it will expire on its own", "err", err)
			}
		})
	}
}

// newToken returns 18 random bytes, base64url encoded: the value only this
// holder can release.
func newToken() string {
	b := make([]byte, 18)
	_, _ = crand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b)
}
