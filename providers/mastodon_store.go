package providers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MastodonCredentials are the client credentials of the app Gatehouse
// registered on one instance.
type MastodonCredentials struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// RedirectURI and Scopes are what the app was registered with; a
	// different callback URL or scope set needs a new registration.
	RedirectURI string    `json:"redirect_uri"`
	Scopes      string    `json:"scopes"`
	CreatedAt   time.Time `json:"created_at"`
}

// CredentialStore keeps per-instance app credentials. Instances are
// normalised host names.
type CredentialStore interface {
	// Get returns the credentials for instance; ok is false when none.
	Get(ctx context.Context, instance string) (c MastodonCredentials, ok bool, err error)
	// Put stores (or replaces) the credentials for instance.
	Put(ctx context.Context, instance string, c MastodonCredentials) error
	// Delete forgets the credentials for instance.
	Delete(ctx context.Context, instance string) error
}

// CredentialLocker is implemented by stores shared between processes: Lock
// holds an exclusive per-instance lock so only one Gatehouse registers an
// app. unlock releases it (safe to call once the lock has expired).
type CredentialLocker interface {
	Lock(ctx context.Context, instance string) (unlock func(), err error)
}

// MemoryCredentialStore keeps credentials in this process only.
type MemoryCredentialStore struct {
	mu sync.Mutex
	m  map[string]MastodonCredentials
}

// NewMemoryCredentialStore returns an empty in-memory store.
func NewMemoryCredentialStore() *MemoryCredentialStore {
	return &MemoryCredentialStore{m: map[string]MastodonCredentials{}}
}

// Get implements CredentialStore.
func (s *MemoryCredentialStore) Get(_ context.Context, instance string) (MastodonCredentials, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[instance]
	return c, ok, nil
}

// Put implements CredentialStore.
func (s *MemoryCredentialStore) Put(_ context.Context, instance string, c MastodonCredentials) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[instance] = c
	return nil
}

// Delete implements CredentialStore.
func (s *MemoryCredentialStore) Delete(_ context.Context, instance string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, instance)
	return nil
}

// FileCredentialStore keeps credentials in one JSON file (mode 0600),
// rewritten atomically. It is for a single Gatehouse process; replicas
// should share a RedisCredentialStore.
type FileCredentialStore struct {
	path string
	mu   sync.Mutex
}

// NewFileCredentialStore returns a store backed by path, which need not
// exist yet; its directory must.
func NewFileCredentialStore(path string) *FileCredentialStore {
	return &FileCredentialStore{path: path}
}

func (s *FileCredentialStore) load() (map[string]MastodonCredentials, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]MastodonCredentials{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mastodon credentials file: %w", err)
	}
	m := map[string]MastodonCredentials{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("mastodon credentials file %s: %w", s.path, err)
	}
	return m, nil
}

func (s *FileCredentialStore) save(m map[string]MastodonCredentials) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("mastodon credentials file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("mastodon credentials file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("mastodon credentials file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("mastodon credentials file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("mastodon credentials file: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("mastodon credentials file: %w", err)
	}
	return nil
}

// Get implements CredentialStore.
func (s *FileCredentialStore) Get(_ context.Context, instance string) (MastodonCredentials, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.load()
	if err != nil {
		return MastodonCredentials{}, false, err
	}
	c, ok := m[instance]
	return c, ok, nil
}

// Put implements CredentialStore.
func (s *FileCredentialStore) Put(_ context.Context, instance string, c MastodonCredentials) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.load()
	if err != nil {
		return err
	}
	m[instance] = c
	return s.save(m)
}

// Delete implements CredentialStore.
func (s *FileCredentialStore) Delete(_ context.Context, instance string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.load()
	if err != nil {
		return err
	}
	if _, ok := m[instance]; !ok {
		return nil
	}
	delete(m, instance)
	return s.save(m)
}

// RedisCredentialStore keeps credentials in Redis under
// <prefix>mastodon:app:<instance>, so every replica shares them, and
// implements CredentialLocker with a SET NX PX lock.
type RedisCredentialStore struct {
	rdb    redis.UniversalClient
	prefix string
	// LockTTL bounds how long a crashed holder blocks registration; default 30s.
	LockTTL time.Duration
	release *redis.Script
}

// NewRedisCredentialStore returns a store using rdb with keyPrefix (e.g.
// "gatehouse:").
func NewRedisCredentialStore(rdb redis.UniversalClient, keyPrefix string) *RedisCredentialStore {
	return &RedisCredentialStore{rdb: rdb, prefix: keyPrefix, LockTTL: 30 * time.Second, release: redis.NewScript(releaseLockScript)}
}

func (s *RedisCredentialStore) key(instance string) string {
	return s.prefix + "mastodon:app:" + instance
}

// Get implements CredentialStore.
func (s *RedisCredentialStore) Get(ctx context.Context, instance string) (MastodonCredentials, bool, error) {
	b, err := s.rdb.Get(ctx, s.key(instance)).Bytes()
	if errors.Is(err, redis.Nil) {
		return MastodonCredentials{}, false, nil
	}
	if err != nil {
		return MastodonCredentials{}, false, fmt.Errorf("redis get mastodon credentials: %w", err)
	}
	var c MastodonCredentials
	if err := json.Unmarshal(b, &c); err != nil {
		return MastodonCredentials{}, false, fmt.Errorf("redis mastodon credentials for %s: %w", instance, err)
	}
	return c, true, nil
}

// Put implements CredentialStore.
func (s *RedisCredentialStore) Put(ctx context.Context, instance string, c MastodonCredentials) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := s.rdb.Set(ctx, s.key(instance), b, 0).Err(); err != nil {
		return fmt.Errorf("redis set mastodon credentials: %w", err)
	}
	return nil
}

// Delete implements CredentialStore.
func (s *RedisCredentialStore) Delete(ctx context.Context, instance string) error {
	if err := s.rdb.Del(ctx, s.key(instance)).Err(); err != nil {
		return fmt.Errorf("redis del mastodon credentials: %w", err)
	}
	return nil
}

// releaseLockScript deletes the lock only if it still holds our token.
const releaseLockScript = `if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`

// Lock implements CredentialLocker: it waits (polling) until the
// per-instance lock is free or ctx ends.
func (s *RedisCredentialStore) Lock(ctx context.Context, instance string) (func(), error) {
	var tok [16]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	key := s.key(instance) + ":lock"
	ttl := s.LockTTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	for {
		ok, err := s.rdb.SetNX(ctx, key, token, ttl).Result()
		if err != nil {
			return nil, fmt.Errorf("redis lock mastodon registration: %w", err)
		}
		if ok {
			return func() {
				// A fresh context: release even when the caller's ended.
				rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				// On failure the lock still expires after LockTTL.
				_ = s.release.Run(rctx, s.rdb, []string{key}, token).Err()
			}, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for mastodon registration lock: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
