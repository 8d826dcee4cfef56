package config

import (
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/internal/hostport"
)

// cookies checks the cookie options and decodes the secrets.
func (v *validator) cookies(o *Options) [][]byte {
	if o.CookieName == "" || strings.IndexFunc(o.CookieName, notTokenRune) >= 0 {
		v.add("cookie-name", fmt.Sprintf("is %q, which is not a valid cookie name", o.CookieName), "use letters, digits, '_' and '-'")
	}
	if !strings.HasPrefix(o.CookiePath, "/") || strings.ContainsAny(o.CookiePath, ";, \t\r\n") {
		v.add("cookie-path", fmt.Sprintf("is %q; must start with '/' and contain no ';', ',' or spaces", o.CookiePath), "")
	}
	if o.CookieDomain != "" {
		o.CookieDomain = strings.ToLower(strings.TrimSpace(o.CookieDomain))
		if !hostport.ValidHost(strings.TrimPrefix(o.CookieDomain, ".")) {
			v.add("cookie-domain", fmt.Sprintf("is %q, which is not a domain", o.CookieDomain), "write a domain such as example.com, or leave it empty for host-only cookies")
		}
	}
	v.oneOf("cookie-samesite", &o.CookieSameSite, "lax", "strict", "none")
	if o.CookieSameSite == "none" && !o.CookieSecure {
		v.add("cookie-samesite", "is none, which browsers accept only for Secure cookies, but --cookie-secure is false",
			"set --cookie-secure=true, or use --cookie-samesite=lax")
	}
	if o.CookieExpire <= 0 {
		v.add("cookie-expire", "must be more than 0", "e.g. 168h")
	}
	switch {
	case o.CookieRefresh < 0:
		v.add("cookie-refresh", "is negative", "use 0 to disable refreshing, or e.g. 1h")
	case o.CookieExpire > 0 && o.CookieRefresh >= o.CookieExpire:
		v.add("cookie-refresh", fmt.Sprintf("is %s, not less than --cookie-expire (%s), so sessions would never refresh", o.CookieRefresh, o.CookieExpire),
			"make it shorter than --cookie-expire, or 0 to disable")
	}
	if o.RefreshWindow < 0 {
		v.add("refresh-window", "is negative", "use 0 or more, e.g. 1m")
	}
	switch {
	case o.RefreshTimeout <= 0:
		v.add("refresh-timeout", "must be more than 0", "e.g. 30s")
	case o.RefreshWait <= 0:
		v.add("refresh-wait", "must be more than 0", "e.g. 10s")
	case o.RefreshWait > o.RefreshTimeout:
		v.add("refresh-wait", fmt.Sprintf("is %s, longer than --refresh-timeout (%s)", o.RefreshWait, o.RefreshTimeout),
			"make it at most --refresh-timeout, e.g. 10s")
	}
	return v.cookieKeys(o)
}

// cookieKeys decodes the cookie secrets, newest first: --cookie-secret (or
// the first non-empty line of --cookie-secret-file), then the file's
// further lines, then --cookie-previous-secret in order.
func (v *validator) cookieKeys(o *Options) [][]byte {
	var keys [][]byte
	switch {
	case o.CookieSecret != "" && o.CookieSecretFile != "":
		v.add("cookie-secret-file", "is set together with --cookie-secret", "keep only one")
	case o.CookieSecret != "":
		k, problem, fix := cookieKey(o.CookieSecret)
		if problem != "" {
			v.add("cookie-secret", problem, fix)
		}
		keys = append(keys, k)
	case o.CookieSecretFile != "":
		data, problem := readFile(o.CookieSecretFile)
		if problem != "" {
			v.add("cookie-secret-file", problem, "check the path and the file's permissions")
			break
		}
		n := 0
		for i, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			n++
			k, problem, fix := cookieKey(line)
			if problem != "" {
				v.add("cookie-secret-file", fmt.Sprintf("line %d of %q %s", i+1, o.CookieSecretFile, problem), fix)
			}
			keys = append(keys, k)
		}
		if n == 0 {
			v.add("cookie-secret-file", fmt.Sprintf("%q is empty", o.CookieSecretFile), cookieSecretFix+" and write it to the file")
		}
	default:
		v.add("cookie-secret", "is required", "set --cookie-secret-file to a file holding the output of 'openssl rand -base64 32'")
	}
	for i, s := range o.CookiePreviousSecret {
		k, problem, fix := cookieKey(s)
		if problem != "" && fix == "" {
			fix = "give the secret exactly as it was configured before"
		}
		if problem != "" {
			v.add("cookie-previous-secret", fmt.Sprintf("entry %d %s", i+1, problem), fix)
		}
		keys = append(keys, k)
	}
	return keys
}

// notTokenRune reports runes not allowed in a cookie name (RFC 6265 token).
func notTokenRune(r rune) bool {
	return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r)
}

// cookieKey decodes a cookie secret and refuses known placeholders and
// guessable keys. fix is secretCommandFix for a weak secret, otherwise
// cookieSecretFix ("" never when problem is set, except for a previous
// secret that is merely malformed: the caller decides).
func cookieKey(s string) (key []byte, problem, fix string) {
	key, problem = decodeSecret(s)
	if problem == "" {
		if problem = weakSecret(s, key); problem != "" {
			return key, problem, secretCommandFix
		}
		return key, "", ""
	}
	if weakSecret(s, nil) != "" && strings.HasPrefix(strings.ToLower(strings.TrimSpace(s)), "replace") {
		return key, "is a placeholder from an example, not a secret", secretCommandFix
	}
	return key, problem, cookieSecretFix
}

// decodeSecret decodes a cookie secret: 32 raw bytes, or base64 (standard
// or URL alphabet, padded or not) of 32 bytes. The problem never includes
// the secret.
func decodeSecret(s string) ([]byte, string) {
	if s == "" {
		return nil, "is empty; must be 32 bytes (raw or base64)"
	}
	decoded := -1
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) == 32 {
			return b, ""
		}
		decoded = len(b)
	}
	if len(s) == 32 {
		return []byte(s), ""
	}
	if decoded >= 0 {
		return nil, fmt.Sprintf("is %d bytes, or %d bytes decoded from base64; must be 32 bytes (raw or base64)", len(s), decoded)
	}
	return nil, fmt.Sprintf("is %d bytes; must be 32 bytes (raw or base64)", len(s))
}

// redis checks the Redis options and reads the password files.
func (v *validator) redis(o *Options) (password, sentinelPassword string) {
	v.oneOf("session-store", &o.SessionStore, "cookie", "redis")
	v.redisMode(o)

	if o.RedisURL != "" {
		u, err := url.Parse(o.RedisURL)
		switch {
		case err != nil:
			// url.Parse's error quotes the URL, which may hold a password.
			v.add("redis-url", "is not a valid URL", "write redis://[user:password@]host:port[/db] or rediss://...")
		case u.Scheme != "redis" && u.Scheme != "rediss":
			v.add("redis-url", "must start with redis:// or rediss://", "write redis://[user:password@]host:port[/db] or rediss://...")
		case u.Host == "":
			v.add("redis-url", "has no host", "write redis://[user:password@]host:port[/db]")
		default:
			if _, hasPassword := u.User.Password(); hasPassword && o.RedisPasswordFile != "" {
				v.add("redis-password-file", "is set, but --redis-url carries a password too", "keep only one")
			}
		}
	}
	if o.RedisSentinelMaster != "" && len(o.RedisSentinelAddrs) == 0 {
		v.add("redis-sentinel-addr", "is required with --redis-sentinel-master", "give the host:port of each Sentinel")
	}
	if o.RedisSentinelMaster == "" && len(o.RedisSentinelAddrs) > 0 {
		v.add("redis-sentinel-master", "is required with --redis-sentinel-addr", "give the name of the master the Sentinels monitor")
	}
	for _, list := range []struct {
		key   string
		addrs []string
	}{{"redis-sentinel-addr", o.RedisSentinelAddrs}, {"redis-cluster-addr", o.RedisClusterAddrs}} {
		for _, a := range list.addrs {
			if p := checkHostPort(a, false); p != "" {
				v.add(list.key, fmt.Sprintf("entry %q %s", a, p), "write host:port, e.g. redis-1:26379")
			}
		}
	}
	if o.RedisSentinelPasswordFile != "" && o.RedisSentinelMaster == "" {
		v.add("redis-sentinel-password-file", "is set without --redis-sentinel-master", "remove it, or configure Sentinel")
	}
	if o.RedisTimeout <= 0 {
		v.add("redis-timeout", "must be more than 0", "e.g. 2s")
	}
	return v.redisFiles(o)
}

// redisFiles reads the Redis password files and checks the CA bundle.
func (v *validator) redisFiles(o *Options) (password, sentinelPassword string) {
	if o.RedisPasswordFile != "" {
		s, problem := readSecretFile(o.RedisPasswordFile)
		if problem != "" {
			v.add("redis-password-file", problem, "check the path and the file's permissions")
		}
		password = s
	}
	if o.RedisSentinelPasswordFile != "" {
		s, problem := readSecretFile(o.RedisSentinelPasswordFile)
		if problem != "" {
			v.add("redis-sentinel-password-file", problem, "check the path and the file's permissions")
		}
		sentinelPassword = s
	}
	if o.RedisCAFile != "" {
		data, problem := readFile(o.RedisCAFile)
		switch {
		case problem != "":
			v.add("redis-ca-file", problem, "check the path and the file's permissions")
		case !x509.NewCertPool().AppendCertsFromPEM(data):
			v.add("redis-ca-file", fmt.Sprintf("%q holds no PEM certificate", o.RedisCAFile), "give a PEM bundle of the CA certificates")
		}
	}
	return password, sentinelPassword
}

// redisMode checks that at most one Redis mode is chosen, and one when the
// session store is Redis.
func (v *validator) redisMode(o *Options) {
	var modes []string
	if o.RedisURL != "" {
		modes = append(modes, "redis-url")
	}
	if o.RedisSentinelMaster != "" || len(o.RedisSentinelAddrs) > 0 {
		modes = append(modes, "redis-sentinel-master")
	}
	if len(o.RedisClusterAddrs) > 0 {
		modes = append(modes, "redis-cluster-addr")
	}
	const modesFix = "set exactly one of --redis-url, --redis-sentinel-master (with --redis-sentinel-addr) or --redis-cluster-addr"
	switch {
	case len(modes) > 1:
		refs := make([]string, len(modes))
		for i, m := range modes {
			refs[i] = flagRef(m)
		}
		v.add(modes[0], fmt.Sprintf("is set together with %s; they select different Redis modes", strings.Join(refs[1:], " and ")), modesFix)
	case len(modes) == 0 && o.SessionStore == "redis":
		v.add("session-store", "is redis, but no Redis is configured", modesFix)
	}
}
