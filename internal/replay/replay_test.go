package replay_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/internal/replay"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil/redistest"
)

func TestRedisFirstUse(t *testing.T) {
	t.Parallel()
	r := redistest.StartRedis(t)
	client := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	// Two replicas share one Redis.
	a, b := replay.NewRedis(client, "gh:", 0), replay.NewRedis(client, "gh:", 0)
	ctx := t.Context()
	until := time.Now().Add(10 * time.Minute)
	for i, want := range []bool{true, false} {
		first, err := []*replay.Redis{a, b}[i].FirstUse(ctx, "iss\x00jti-1", until)
		if err != nil || first != want {
			t.Fatalf("use %d: first %v, %v; want %v", i+1, first, err, want)
		}
	}
	if first, _ := a.FirstUse(ctx, "iss\x00jti-2", until); !first {
		t.Error("another id counted as seen")
	}
	keys := client.Keys(ctx, "gh:jti:*").Val()
	if len(keys) != 2 {
		t.Fatalf("keys %v", keys)
	}
	if ttl := client.TTL(ctx, keys[0]).Val(); ttl < 9*time.Minute || ttl > 10*time.Minute {
		t.Errorf("TTL %v, want until", ttl)
	}
	// A past until is kept for a minute all the same.
	_, _ = a.FirstUse(ctx, "old", time.Now().Add(-time.Hour))
	if first, _ := b.FirstUse(ctx, "old", time.Now()); first {
		t.Error("an id with a past until was forgotten at once")
	}
	if err := b.Forget(ctx, "iss\x00jti-1"); err != nil {
		t.Fatal(err)
	}
	if first, _ := a.FirstUse(ctx, "iss\x00jti-1", until); !first {
		t.Error("Forget did not forget")
	}
	r.Stop()
	if _, err := a.FirstUse(ctx, "down", until); err == nil {
		t.Error("no error with Redis down")
	}
}
