package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse-proxy/gatehouse/internal/lock"
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

// CredentialStore keeps app credentials per instance and callback URL: an
// app registered for one redirect URI cannot be used with another, and a
// Gatehouse reached under several host names without a configured
// redirect_url needs one app per name. Instances are normalised host names.
type CredentialStore interface {
	// Get returns the credentials registered on instance for redirectURI;
	// ok is false when none.
	Get(ctx context.Context, instance, redirectURI string) (c MastodonCredentials, ok bool, err error)
	// Put stores (or replaces) the credentials for instance and
	// c.RedirectURI. A store keeps at most MaxAppsPerInstance callback
	// URLs per instance, forgetting the oldest registrations first.
	Put(ctx context.Context, instance string, c MastodonCredentials) error
	// Delete forgets every credential for instance.
	Delete(ctx context.Context, instance string) error
}

// MaxAppsPerInstance bounds how many apps (one per callback URL) a store
// keeps for one instance, so requests with made-up Host headers cannot
// grow it without end when no redirect_url is configured.
const MaxAppsPerInstance = 8

// evictOldest removes the oldest registrations from apps until at most
// MaxAppsPerInstance remain, and returns the redirect URIs removed.
func evictOldest(apps map[string]MastodonCredentials) []string {
	var gone []string
	for len(apps) > MaxAppsPerInstance {
		var oldest string
		var at time.Time
		first := true
		for r, c := range apps {
			if first || c.CreatedAt.Before(at) {
				oldest, at, first = r, c.CreatedAt, false
			}
		}
		delete(apps, oldest)
		gone = append(gone, oldest)
	}
	return gone
}

// CredentialLocker is implemented by stores shared between processes: Lock
// holds an exclusive per-instance lock so only one Gatehouse registers an
// app. unlock releases it (safe to call once the lock has expired).
type CredentialLocker interface {
	Lock(ctx context.Context, instance string) (unlock func(), err error)
}

// maxMemoryInstances bounds the instances a MemoryCredentialStore keeps:
// with a wildcard allow-list anyone can name new instances.
const maxMemoryInstances = 10000

// MemoryCredentialStore keeps credentials in this process only, for at
// most 10000 instances (then it starts afresh: apps are registered again).
type MemoryCredentialStore struct {
	mu sync.Mutex
	m  map[string]map[string]MastodonCredentials // instance → redirect URI → app
}

// NewMemoryCredentialStore returns an empty in-memory store.
func NewMemoryCredentialStore() *MemoryCredentialStore {
	return &MemoryCredentialStore{m: map[string]map[string]MastodonCredentials{}}
}

// Get implements CredentialStore.
func (s *MemoryCredentialStore) Get(_ context.Context, instance, redirectURI string) (MastodonCredentials, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[instance][redirectURI]
	return c, ok, nil
}

// Put implements CredentialStore.
func (s *MemoryCredentialStore) Put(_ context.Context, instance string, c MastodonCredentials) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	apps := s.m[instance]
	if apps == nil {
		if len(s.m) >= maxMemoryInstances {
			clear(s.m)
		}
		apps = map[string]MastodonCredentials{}
		s.m[instance] = apps
	}
	apps[c.RedirectURI] = c
	evictOldest(apps)
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

// fileCredentials is the file's content: instance → redirect URI → app.
type fileCredentials map[string]map[string]MastodonCredentials

func (s *FileCredentialStore) load() (fileCredentials, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return fileCredentials{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mastodon credentials file: %w", err)
	}
	m := fileCredentials{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("mastodon credentials file %s: %w", s.path, err)
	}
	return m, nil
}

func (s *FileCredentialStore) save(m fileCredentials) error {
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
func (s *FileCredentialStore) Get(_ context.Context, instance, redirectURI string) (MastodonCredentials, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.load()
	if err != nil {
		return MastodonCredentials{}, false, err
	}
	c, ok := m[instance][redirectURI]
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
	if m[instance] == nil {
		m[instance] = map[string]MastodonCredentials{}
	}
	m[instance][c.RedirectURI] = c
	evictOldest(m[instance])
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

// RedisCredentialStore keeps credentials in Redis, in the hash
// <prefix>mastodon:app:<instance> whose fields are the redirect URIs, so
// every replica shares them, and implements CredentialLocker with a
// lock.Redis on <prefix>mastodon:app:<instance>:lock.
type RedisCredentialStore struct {
	rdb    redis.UniversalClient
	prefix string
	// LockTTL bounds how long a crashed holder blocks registration; default 30s.
	LockTTL time.Duration
	// Logger receives lock release failures; nil discards them.
	Logger *slog.Logger
}

// NewRedisCredentialStore returns a store using rdb with keyPrefix (e.g.
// "gatehouse:").
func NewRedisCredentialStore(rdb redis.UniversalClient, keyPrefix string) *RedisCredentialStore {
	return &RedisCredentialStore{rdb: rdb, prefix: keyPrefix, LockTTL: 30 * time.Second}
}

func (s *RedisCredentialStore) key(instance string) string {
	return s.prefix + "mastodon:app:" + instance
}

// isWrongType reports Redis's answer for a key holding another type.
func isWrongType(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "WRONGTYPE")
}

// Get implements CredentialStore. A key of another type or a value that
// does not decode counts as no credentials: the app is registered again.
func (s *RedisCredentialStore) Get(ctx context.Context, instance, redirectURI string) (MastodonCredentials, bool, error) {
	b, err := s.rdb.HGet(ctx, s.key(instance), redirectURI).Bytes()
	if errors.Is(err, redis.Nil) || isWrongType(err) {
		return MastodonCredentials{}, false, nil
	}
	if err != nil {
		return MastodonCredentials{}, false, fmt.Errorf("redis get mastodon credentials: %w", err)
	}
	var c MastodonCredentials
	if err := json.Unmarshal(b, &c); err != nil || c.ClientID == "" {
		return MastodonCredentials{}, false, nil
	}
	return c, true, nil
}

// Put implements CredentialStore. Callers hold the instance's Lock, so
// the read-modify-write that bounds the hash is not raced by replicas.
func (s *RedisCredentialStore) Put(ctx context.Context, instance string, c MastodonCredentials) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	key := s.key(instance)
	err = s.rdb.HSet(ctx, key, c.RedirectURI, b).Err()
	if isWrongType(err) {
		// Not ours to keep (an older format, a stray key): replace it.
		if err = s.rdb.Del(ctx, key).Err(); err == nil {
			err = s.rdb.HSet(ctx, key, c.RedirectURI, b).Err()
		}
	}
	if err != nil {
		return fmt.Errorf("redis set mastodon credentials: %w", err)
	}
	n, err := s.rdb.HLen(ctx, key).Result()
	if err != nil || n <= MaxAppsPerInstance {
		return nil // the bound is best effort
	}
	all, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil
	}
	apps := make(map[string]MastodonCredentials, len(all))
	for r, v := range all {
		var a MastodonCredentials
		_ = json.Unmarshal([]byte(v), &a) // undecodable: zero CreatedAt, evicted first
		apps[r] = a
	}
	if gone := evictOldest(apps); len(gone) > 0 {
		_ = s.rdb.HDel(ctx, key, gone...).Err()
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

// Lock implements CredentialLocker: it waits until the per-instance lock
// is free or ctx ends.
func (s *RedisCredentialStore) Lock(ctx context.Context, instance string) (func(), error) {
	unlock, err := lock.NewRedis(s.rdb, "", s.LockTTL, s.Logger).Lock(ctx, s.key(instance)+":lock")
	if err != nil {
		return nil, fmt.Errorf("mastodon registration lock: %w", err)
	}
	return unlock, nil
}
