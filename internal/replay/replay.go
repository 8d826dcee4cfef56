// Package replay remembers one-time identifiers (the jti of back-channel
// logout tokens) in Redis, so that every replica refuses a second use.
package replay

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// minTTL keeps an identifier at least this long, whatever until says.
const minTTL = time.Minute

// Redis is a replay cache in Redis. It is safe for concurrent use.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
}

// NewRedis returns a cache keeping identifiers under keyPrefix+"jti:",
// each Redis call bounded by timeout (2 s when zero).
func NewRedis(client redis.UniversalClient, keyPrefix string, timeout time.Duration) *Redis {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	return &Redis{client: client, prefix: keyPrefix + "jti:", timeout: timeout}
}

// key names id by its hash: ids come from the network and may be long.
func (c *Redis) key(id string) string {
	sum := sha256.Sum256([]byte(id))
	return c.prefix + base64.RawURLEncoding.EncodeToString(sum[:])
}

// FirstUse records id until until (one SET NX) and reports whether it was
// not recorded yet.
func (c *Redis) FirstUse(ctx context.Context, id string, until time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if min := time.Now().Add(minTTL); until.Before(min) {
		until = min
	}
	err := c.client.SetArgs(ctx, c.key(id), "1", redis.SetArgs{Mode: "NX", ExpireAt: until}).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, redis.Nil):
		return false, nil
	}
	return false, fmt.Errorf("replay cache: %w", err)
}

// Forget removes id.
func (c *Redis) Forget(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := c.client.Del(ctx, c.key(id)).Err(); err != nil {
		return fmt.Errorf("replay cache: %w", err)
	}
	return nil
}
