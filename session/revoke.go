package session

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoIndex means the store does not index sessions (see WithIndex).
var ErrNoIndex = errors.New("the session store keeps no index (Redis store required)")

// Selector picks indexed sessions: those of User (X-Forwarded-User, at any
// provider unless Provider is set), of Subject at Provider, or of the
// provider session SID at Provider. Exactly one of User, Subject and SID
// is set, except that Subject may accompany SID to require that the
// sessions of that SID belong to that subject too.
type Selector struct {
	Provider string
	User     string
	Subject  string
	SID      string
	// WithoutSID keeps only sessions that recorded no provider session id
	// (their ID token had no sid claim).
	WithoutSID bool
}

// check reports a selector that names nothing, or too much.
func (sel Selector) check() error {
	switch {
	case sel.User != "" && (sel.Subject != "" || sel.SID != ""):
		return errors.New("select sessions by user, or by subject and provider session, not both")
	case sel.User == "" && sel.Subject == "" && sel.SID == "":
		return errors.New("select sessions by user, subject or provider session")
	case sel.User == "" && sel.Provider == "":
		return errors.New("selecting sessions by subject or provider session needs the provider")
	}
	return nil
}

// Info describes a stored session for listing: never a token, an email or
// the session id itself.
type Info struct {
	// Hash identifies the session: the first 12 hex digits of the SHA-256
	// of its id.
	Hash string
	// Provider is the id of the provider the user signed in with; "" when
	// its metadata is gone (the session still exists).
	Provider                          string
	CreatedAt, RefreshedAt, ExpiresAt time.Time
}

// indexed is a session found in the index.
type indexed struct {
	id     string
	meta   *meta    // nil: missing
	exists bool     // the session itself is still stored
	sets   []string // the sets it was found in
}

// Sessions lists the stored sessions sel picks, oldest first, removing
// from the index those that have ended (expired, signed out).
func (rs *RedisStore) Sessions(ctx context.Context, sel Selector) ([]Info, error) {
	found, err := rs.find(ctx, sel)
	if err != nil {
		return nil, err
	}
	return infos(found), nil
}

// infos describes the found sessions that still exist, oldest first.
func infos(found []indexed) []Info {
	var out []Info
	for _, f := range found {
		if !f.exists {
			continue
		}
		sum := sha256.Sum256([]byte(f.id))
		in := Info{Hash: hex.EncodeToString(sum[:6])}
		if f.meta != nil {
			in.Provider = f.meta.Provider
			in.CreatedAt, in.RefreshedAt, in.ExpiresAt = time.Unix(f.meta.Created, 0), time.Unix(f.meta.Refreshed, 0), time.Unix(f.meta.Expires, 0)
		}
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b Info) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Hash, b.Hash)
	})
	return out
}

// Revoke deletes the sessions sel picks, with their index entries, and
// returns them as they were. Their browsers' next request finds no session
// on any replica: the store caches nothing.
func (rs *RedisStore) Revoke(ctx context.Context, sel Selector) ([]Info, error) {
	found, err := rs.find(ctx, sel)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, rs.timeout)
	defer cancel()
	dels := make([]*redis.IntCmd, len(found))
	_, err = rs.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, f := range found {
			dels[i] = p.Del(ctx, rs.key(f.id))
			p.Del(ctx, rs.metaKey(f.id))
			sets := f.sets
			if f.meta != nil {
				sets = append(slices.Clone(sets), rs.index.validSetNames(f.meta.Sets)...)
			}
			for _, n := range sets {
				p.SRem(ctx, n, f.id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: revoke sessions: %w", ErrUnavailable, err)
	}
	return infos(found), nil
}

// find reads the sessions sel picks: the members of its index sets (one
// round trip), then their metadata and whether they still exist (one
// more); members whose session has ended are removed from the sets.
func (rs *RedisStore) find(ctx context.Context, sel Selector) ([]indexed, error) {
	if rs.index == nil {
		return nil, ErrNoIndex
	}
	if err := sel.check(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, rs.timeout)
	defer cancel()
	kind, value := kindUser, sel.User
	switch {
	case sel.SID != "":
		kind, value = kindSID, sel.SID
	case sel.Subject != "":
		kind, value = kindSubject, sel.Subject
	}
	names := rs.index.lookup(kind, sel.Provider, value)
	cands, err := rs.members(ctx, names)
	if err != nil {
		return nil, err
	}
	if err := rs.describe(ctx, cands); err != nil {
		return nil, err
	}
	var subjectSets []string
	if sel.SID != "" && sel.Subject != "" {
		subjectSets = rs.index.lookup(kindSubject, sel.Provider, sel.Subject)
	}
	var out, gone []indexed
	for _, c := range cands {
		switch {
		case !c.exists && c.meta == nil:
			gone = append(gone, c)
		case c.meta == nil:
			out = append(out, c) // no metadata to filter on: include (fail closed)
		case sel.Provider != "" && c.meta.Provider != sel.Provider,
			sel.WithoutSID && c.meta.HasSID,
			subjectSets != nil && !slices.ContainsFunc(c.meta.Sets, func(n string) bool { return slices.Contains(subjectSets, n) }):
		default:
			out = append(out, c)
		}
	}
	rs.forget(ctx, gone)
	return out, nil
}

// members reads the sets names (one round trip) and returns their valid
// members, each once, with the sets it is in.
func (rs *RedisStore) members(ctx context.Context, names []string) ([]indexed, error) {
	cmds := make([]*redis.StringSliceCmd, len(names))
	_, err := rs.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			cmds[i] = p.SMembers(ctx, n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: read session index: %w", ErrUnavailable, err)
	}
	byID := map[string]int{}
	var out []indexed
	for i, c := range cmds {
		for _, id := range c.Val() {
			if !validSessionID(id) {
				continue
			}
			j, ok := byID[id]
			if !ok {
				j = len(out)
				byID[id] = j
				out = append(out, indexed{id: id})
			}
			out[j].sets = append(out[j].sets, names[i])
		}
	}
	return out, nil
}

// describe reads the metadata of cands and whether their sessions exist,
// in one round trip.
func (rs *RedisStore) describe(ctx context.Context, cands []indexed) error {
	if len(cands) == 0 {
		return nil
	}
	ids := make([]string, len(cands))
	for i, c := range cands {
		ids[i] = c.id
	}
	exists := make([]*redis.IntCmd, len(cands))
	metas := make([]*redis.StringCmd, len(cands))
	_, err := rs.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			exists[i] = p.Exists(ctx, rs.key(id))
			metas[i] = p.Get(ctx, rs.metaKey(id))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("%w: read session metadata: %w", ErrUnavailable, err)
	}
	parsed := parseMetas(metas)
	for i := range cands {
		cands[i].exists = exists[i].Val() == 1
		cands[i].meta = parsed[i]
	}
	return nil
}

// forget removes ended sessions from the sets they were found in; a
// failure only leaves them for the next reader.
func (rs *RedisStore) forget(ctx context.Context, gone []indexed) {
	if len(gone) == 0 {
		return
	}
	_, _ = rs.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, g := range gone {
			for _, n := range g.sets {
				p.SRem(ctx, n, g.id)
			}
		}
		return nil
	})
}
