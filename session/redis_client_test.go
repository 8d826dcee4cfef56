package session

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestRedisClientProtocol: RESP2 unless the URL asks for another protocol.
func TestRedisClientProtocol(t *testing.T) {
	t.Parallel()
	for url, want := range map[string]int{
		"redis://127.0.0.1:6379/0":            2,
		"redis://127.0.0.1:6379/0?protocol=3": 3,
	} {
		c, err := NewRedisClient(RedisConfig{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.(*redis.Client).Options().Protocol; got != want {
			t.Errorf("%s: protocol %d, want %d", url, got, want)
		}
		_ = c.Close()
	}
}
