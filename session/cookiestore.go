package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxChunks is the most cookies one session may be split into: what the
// documented proxies carry with their shipped settings. With MaxChunks
// chunks of at most MaxCookieLine bytes, the browser's Cookie header is
// about 24 KiB (nginx: large_client_header_buffers), and an /oauth2/auth
// answer after a refresh holds MaxChunks+1 Set-Cookie lines twice (each
// also as X-Gatehouse-Set-Cookie-N), about 56 KiB (nginx:
// proxy_buffer_size). deploy/nginx/gatehouse.conf relays and buffers
// exactly that; a test keeps them in step. A larger session is refused
// with ErrTooLarge: it needs the Redis store.
const MaxChunks = 6

// maxReadChunks is how many chunk cookies a request is read for: more
// than MaxChunks, so that the chunks of a session written before the cap
// (up to 16) are still found and expired.
const maxReadChunks = 16

// MaxCookieLine bounds one whole "Set-Cookie: ..." header line: browsers
// guarantee at least 4096 bytes per cookie (RFC 6265 §6.1), and some count
// the attributes too, so every cookie Gatehouse sets (session chunks, the
// Redis ticket, login flow cookies) keeps CookieLineLen strictly below it.
const MaxCookieLine = 4096

// CookieLineLen is the length of the "Set-Cookie: ..." line that sets c.
func CookieLineLen(c *http.Cookie) int { return len("Set-Cookie: ") + len(c.String()) }

// CookieStore keeps the whole session, encrypted by a Codec, in the
// browser's cookies: no server state, so nothing to share between replicas,
// but a session cannot be revoked before it expires and its size is limited
// (MaxChunks cookies).
//
// A session too large for one cookie is split into Name_0, Name_1, ...; a
// small one is the single cookie Name. Save expires whichever form or extra
// chunks the request still carries from a previous save.
type CookieStore struct {
	codec *Codec
	opts  CookieConfig
	now   func() time.Time
}

// NewCookieStore returns a store writing cookies named opts.Name with
// opts' attributes, encoded by codec. The codec's max age should be at least
// opts.Lifetime.
func NewCookieStore(codec *Codec, opts CookieConfig) *CookieStore {
	return &CookieStore{codec: codec, opts: opts, now: time.Now}
}

// Load decodes the session from r's cookies. Missing, tampered, truncated,
// foreign-secret, malformed and expired sessions all yield ErrNotFound,
// wrapped with the cause for logs. It never returns ErrUnavailable.
func (cs *CookieStore) Load(_ context.Context, r *http.Request) (*Session, error) {
	j := cs.read(r)
	now := cs.now()
	var errs []error
	// Several cookies can share the name (e.g. one host-only and one from a
	// former Domain setting); the first that decodes wins.
	for _, v := range j.plain {
		s, err := cs.decode(v, now)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	if j.anyChunk {
		v, err := j.joined()
		if err == nil {
			var s *Session
			if s, err = cs.decode(v, now); err == nil {
				return s, nil
			}
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: no %q cookie", ErrNotFound, cs.opts.Name)
	}
	return nil, fmt.Errorf("%w: %w", ErrNotFound, errors.Join(errs...))
}

// Save encodes s into one cookie, or into chunks when one would be too
// large, with Max-Age until s.ExpiresAt (opts.Lifetime when zero), and
// expires any other form of the session cookie r carries.
func (cs *CookieStore) Save(_ context.Context, w http.ResponseWriter, r *http.Request, s *Session) error {
	if err := wellFormed(s); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	now := cs.now()
	if s.Expired(now) {
		return fmt.Errorf("save session: %w: already expired", ErrNotFound)
	}
	maxAge := cs.opts.Lifetime
	if !s.ExpiresAt.IsZero() {
		maxAge = s.ExpiresAt.Sub(now)
	}
	value, err := cs.codec.Encode(cs.opts.Name, s)
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	cookies, err := cs.split(value, maxAge)
	if err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	j := cs.read(r)
	for _, c := range cookies {
		http.SetCookie(w, c)
	}
	if len(cookies) == 1 {
		for i := range maxReadChunks {
			if j.hasChunk[i] {
				http.SetCookie(w, cs.opts.ExpiredCookie(cs.chunkName(i)))
			}
		}
		return nil
	}
	if len(j.plain) > 0 {
		http.SetCookie(w, cs.opts.ExpiredCookie(cs.opts.Name))
	}
	for i := len(cookies); i < maxReadChunks; i++ {
		if j.hasChunk[i] {
			http.SetCookie(w, cs.opts.ExpiredCookie(cs.chunkName(i)))
		}
	}
	return nil
}

// Clear expires the session cookie and every chunk r carries.
func (cs *CookieStore) Clear(_ context.Context, w http.ResponseWriter, r *http.Request) error {
	j := cs.read(r)
	http.SetCookie(w, cs.opts.ExpiredCookie(cs.opts.Name))
	for i := range maxReadChunks {
		if j.hasChunk[i] {
			http.SetCookie(w, cs.opts.ExpiredCookie(cs.chunkName(i)))
		}
	}
	return nil
}

// decode turns one encoded value into a trusted, unexpired session.
func (cs *CookieStore) decode(value string, now time.Time) (*Session, error) {
	var s Session
	if err := cs.codec.Decode(cs.opts.Name, value, &s); err != nil {
		return nil, err
	}
	if err := wellFormed(&s); err != nil {
		return nil, err
	}
	if s.Expired(now) {
		return nil, errors.New("session expired")
	}
	return &s, nil
}

// wellFormed rejects sessions missing what every trusted session has.
func wellFormed(s *Session) error {
	switch {
	case s == nil:
		return errors.New("nil session")
	case s.ID == "":
		return errors.New("session has no id")
	case s.ProviderID == "":
		return errors.New("session has no provider")
	case s.Identity.Subject == "":
		return errors.New("session has no subject")
	}
	return nil
}

// split returns the cookies carrying value: one if its Set-Cookie line fits,
// else chunks each of whose lines fits.
func (cs *CookieStore) split(value string, maxAge time.Duration) ([]*http.Cookie, error) {
	single := cs.opts.NewCookie(cs.opts.Name, value, maxAge)
	if CookieLineLen(single) < MaxCookieLine {
		return []*http.Cookie{single}, nil
	}
	// Size chunks for the longest chunk name so every line fits.
	overhead := CookieLineLen(cs.opts.NewCookie(cs.chunkName(MaxChunks-1), "", maxAge))
	room := MaxCookieLine - 1 - overhead
	if room <= 0 {
		return nil, fmt.Errorf("cookie attributes of %d bytes leave no room for a value", overhead)
	}
	n := (len(value) + room - 1) / room
	if n > MaxChunks {
		return nil, fmt.Errorf("%w: %d encoded bytes need %d cookies, more than %d", ErrTooLarge, len(value), n, MaxChunks)
	}
	cookies := make([]*http.Cookie, 0, n)
	for i := range n {
		part := value[i*room : min((i+1)*room, len(value))]
		cookies = append(cookies, cs.opts.NewCookie(cs.chunkName(i), part, maxAge))
	}
	return cookies, nil
}

func (cs *CookieStore) chunkName(i int) string { return cs.opts.Name + "_" + strconv.Itoa(i) }

// jar is the session cookie's forms found on a request.
type jar struct {
	plain    []string // values of every cookie called Name
	chunks   [maxReadChunks]string
	hasChunk [maxReadChunks]bool
	anyChunk bool
}

// read parses r's Cookie header once.
func (cs *CookieStore) read(r *http.Request) jar {
	var j jar
	prefix := cs.opts.Name + "_"
	for _, c := range r.Cookies() {
		if c.Name == cs.opts.Name {
			j.plain = append(j.plain, c.Value)
			continue
		}
		suffix, ok := strings.CutPrefix(c.Name, prefix)
		if !ok {
			continue
		}
		i, err := strconv.Atoi(suffix)
		if err != nil || i < 0 || i >= maxReadChunks || strconv.Itoa(i) != suffix {
			continue // another cookie sharing the prefix, not a chunk
		}
		if !j.hasChunk[i] { // first one wins, as with r.Cookie
			j.hasChunk[i], j.chunks[i], j.anyChunk = true, c.Value, true
		}
	}
	return j
}

// joined reassembles the chunks, which must be numbered 0..n-1 without gaps.
func (j *jar) joined() (string, error) {
	n := 0
	for n < maxReadChunks && j.hasChunk[n] {
		n++
	}
	if n == 0 {
		return "", errors.New("session cookie chunks lack chunk 0")
	}
	if n > MaxChunks {
		return "", fmt.Errorf("session in %d cookie chunks, more than %d", n, MaxChunks)
	}
	for i := n; i < maxReadChunks; i++ {
		if j.hasChunk[i] {
			return "", fmt.Errorf("session cookie chunk %d missing before chunk %d", n, i)
		}
	}
	size := 0
	for i := range n {
		size += len(j.chunks[i])
	}
	var b strings.Builder
	b.Grow(size)
	for i := range n {
		b.WriteString(j.chunks[i])
	}
	return b.String(), nil
}
