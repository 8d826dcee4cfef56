package session

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOption adjusts a RedisStore.
type RedisOption func(*RedisStore)

// WithIndex makes the store index sessions by provider and subject, by
// provider and provider session (the ID token's sid) and by user
// (Identity.User), so that they can be listed and revoked without their
// cookies (Sessions, Revoke): OpenID Connect back-channel logout and
// `gatehouse sessions`. secrets are the cookie secrets, newest first: index
// key names are HMACs under a key derived from each (the newest writes,
// all are read, so a rotated secret still finds older sessions), so a
// Redis dump names no subject, user or sid.
//
// Costs: a login writes the index in the round trip that stores the
// session, a refresh rewrites it there too, a sign-out takes one more
// round trip; loading a session (the steady path) touches no index.
// Requires Redis 7 or later (EXPIRE NX and GT).
func WithIndex(secrets [][]byte) RedisOption {
	return func(rs *RedisStore) {
		x := &sessionIndex{prefix: rs.prefix}
		for _, s := range secrets {
			k, err := hkdf.Key(sha256.New, s, nil, hkdfInfoIndex, 32)
			if err == nil {
				x.keys = append(x.keys, k)
			}
		}
		if len(x.keys) > 0 {
			rs.index = x
		}
	}
}

// hkdfInfoIndex separates the index's HMAC key from other uses of the
// cookie secret.
const hkdfInfoIndex = "gatehouse/v1 redis session index hmac-sha256"

// Index kinds, part of the index key names.
const (
	kindSubject = "sub"
	kindSID     = "sid"
	kindUser    = "user"
)

// sessionIndex names the index sets.
type sessionIndex struct {
	prefix string
	keys   [][]byte // HMAC keys, newest first
}

// name is the Redis key of the set of sessions whose kind attribute is
// value (scoped to provider for subjects and sids) under HMAC key k.
func (x *sessionIndex) name(k []byte, kind, provider, value string) string {
	m := hmac.New(sha256.New, k)
	m.Write([]byte(kind + "\x00" + provider + "\x00" + value))
	return x.prefix + "idx:" + kind + ":" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// namesFor returns the sets s belongs in, named with the newest key.
func (x *sessionIndex) namesFor(s *Session) []string {
	k := x.keys[0]
	names := []string{x.name(k, kindSubject, s.ProviderID, s.Identity.Subject)}
	if s.Identity.User != "" {
		names = append(names, x.name(k, kindUser, "", s.Identity.User))
	}
	if s.Identity.SessionID != "" {
		names = append(names, x.name(k, kindSID, s.ProviderID, s.Identity.SessionID))
	}
	return names
}

// lookup returns the names of the set sel reads, under every key.
func (x *sessionIndex) lookup(kind, provider, value string) []string {
	if kind == kindUser {
		provider = ""
	}
	names := make([]string, len(x.keys))
	for i, k := range x.keys {
		names[i] = x.name(k, kind, provider, value)
	}
	return names
}

// meta is what the index keeps beside each session, in plain text: never
// a token, email, subject or user.
type meta struct {
	Provider  string   `json:"p"`
	Created   int64    `json:"c"`
	Refreshed int64    `json:"r"`
	Expires   int64    `json:"e"`
	HasSID    bool     `json:"s,omitempty"`
	Sets      []string `json:"k"` // the index sets holding the session
}

func (rs *RedisStore) metaKey(id string) string { return rs.prefix + "session-meta:" + id }

// indexWrites returns the commands that index s (expiring at expiry)
// alongside the SET of its value: for a new session (!existing) the
// metadata is only created, never replaced.
func (rs *RedisStore) indexWrites(ctx context.Context, s *Session, expiry time.Time, existing bool) func(redis.Pipeliner) {
	if rs.index == nil {
		return nil
	}
	names := rs.index.namesFor(s)
	m, _ := json.Marshal(meta{
		Provider: s.ProviderID, Created: s.CreatedAt.Unix(), Refreshed: s.RefreshedAt.Unix(),
		Expires: expiry.Unix(), HasSID: s.Identity.SessionID != "", Sets: names,
	})
	ttl := time.Until(expiry).Round(time.Second) + time.Second
	return func(p redis.Pipeliner) {
		args := redis.SetArgs{ExpireAt: expiry}
		if !existing {
			args.Mode = "NX"
		}
		p.SetArgs(ctx, rs.metaKey(s.ID), m, args)
		for _, n := range names {
			p.SAdd(ctx, n, s.ID)
			// The set lives as long as its longest-lived session: NX gives
			// a new set its first expiry, GT only ever extends it.
			p.ExpireNX(ctx, n, ttl)
			p.ExpireGT(ctx, n, ttl)
		}
	}
}

// unindex removes the sessions ids from the index: their metadata says
// which sets hold them. It costs one round trip to read the metadata; the
// deletions go in the caller's pipeline (more, called with it).
func (rs *RedisStore) unindex(ctx context.Context, ids []string) (func(redis.Pipeliner), error) {
	if rs.index == nil || len(ids) == 0 {
		return func(redis.Pipeliner) {}, nil
	}
	metas, err := rs.readMetas(ctx, ids)
	if err != nil {
		return nil, err
	}
	return func(p redis.Pipeliner) {
		for i, id := range ids {
			p.Del(ctx, rs.metaKey(id))
			if metas[i] != nil {
				for _, n := range rs.index.validSetNames(metas[i].Sets) {
					p.SRem(ctx, n, id)
				}
			}
		}
	}, nil
}

// readMetas reads the metadata of ids in one round trip; missing or
// unreadable entries are nil.
func (rs *RedisStore) readMetas(ctx context.Context, ids []string) ([]*meta, error) {
	cmds := make([]*redis.StringCmd, len(ids))
	_, err := rs.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.Get(ctx, rs.metaKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read session metadata: %w", err)
	}
	return parseMetas(cmds), nil
}

// parseMetas decodes the answers of GETs of metadata; missing or
// unreadable entries are nil.
func parseMetas(cmds []*redis.StringCmd) []*meta {
	out := make([]*meta, len(cmds))
	for i, c := range cmds {
		var m meta
		if b, err := c.Bytes(); err == nil && json.Unmarshal(b, &m) == nil {
			out[i] = &m
		}
	}
	return out
}

// validSetNames keeps the index set names that belong to this store:
// metadata read back from Redis names only keys of its own kind.
func (x *sessionIndex) validSetNames(names []string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool {
		return !strings.HasPrefix(n, x.prefix+"idx:")
	})
}

// dropIndex undoes indexWrites for s after its SET was refused (the session
// was signed out while it was being refreshed); a failure leaves entries
// that readers skip and remove.
func (rs *RedisStore) dropIndex(ctx context.Context, s *Session) {
	if rs.index == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, rs.timeout)
	defer cancel()
	_, _ = rs.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, rs.metaKey(s.ID))
		for _, n := range rs.index.namesFor(s) {
			p.SRem(ctx, n, s.ID)
		}
		return nil
	})
}
