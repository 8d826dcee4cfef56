package config

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse-proxy/gatehouse/internal/hostport"
	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
)

// Provider types Gatehouse implements.
const (
	TypeOIDC     = "oidc"
	TypeOAuth2   = "oauth2"
	TypeOSDN     = "osdn"
	TypeQuaily   = "quaily"
	TypeOsu      = "osu"
	TypeMastodon = "mastodon"
)

// providerTypes lists the known provider types with their default
// display names, in documentation order.
var providerTypes = []struct{ typ, name string }{
	{TypeOIDC, "OpenID Connect"},
	{TypeOAuth2, "OAuth2"},
	{TypeOSDN, "OSDN"},
	{TypeQuaily, "Quaily"},
	{TypeOsu, "osu!"},
	{TypeMastodon, "Mastodon"},
}

// CallbackPath is the path of the OAuth2 callback Gatehouse serves; a
// configured redirect URL must point at it.
const CallbackPath = "/oauth2/callback"

// cookieSecretFix tells how to make a cookie secret.
const cookieSecretFix = "generate one with 'openssl rand -base64 32'"

// ProviderTypes returns the provider types validation accepts, in
// documentation order.
func ProviderTypes() []string {
	types := make([]string, len(providerTypes))
	for i, t := range providerTypes {
		types[i] = t.typ
	}
	return types
}

var providerIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// resolved is what Validate derives from Options.
type resolved struct {
	providers             []ProviderOptions
	cookieKeys            [][]byte
	redisPassword         string
	redisSentinelPassword string
}

// Validate checks every option and resolves what the options point to:
// secrets kept in files are read (a trailing newline trimmed), cookie
// secrets decoded, the provider list built. It also normalises values in
// place (lower-cased enumerations, email and whitelist domains).
//
// It returns nil or the *Error of every problem found, joined with
// errors.Join. Afterwards ProviderList, CookieSecretKeys, RedisPassword and
// RedisSentinelPassword return the resolved values; they return nothing
// useful before a successful Validate.
func (o *Options) Validate() error {
	o.resolved = resolved{}
	v := &validator{}
	var res resolved

	v.server(o)
	v.upstream(o)
	v.redirectURL(o.RedirectURL, o.CookieSecure)
	res.providers = v.providers(o)
	v.authorization(o)
	res.cookieKeys = v.cookies(o)
	res.redisPassword, res.redisSentinelPassword = v.redis(o)

	if len(v.errs) > 0 {
		return errors.Join(v.errs...)
	}
	o.resolved = res
	return nil
}

// ProviderList returns the providers to configure, after Validate: the YAML
// 'providers' list, or the one provider given by the flat --provider,
// --client-id, ... options. Every entry has ID, Type and DisplayName set,
// ClientSecret read from ClientSecretFile when that is set, RedirectURL
// defaulted to --redirect-url, oidc GroupsClaim defaulted to "groups",
// ClientAuth and PKCE normalised ("", "body", "basic", "none"; "", "S256",
// "plain", "off"). Scopes from --scope are split on spaces; --login-url,
// --redeem-url and --profile-url become AuthURL, TokenURL and UserinfoURL.
func (o *Options) ProviderList() []ProviderOptions {
	out := make([]ProviderOptions, len(o.resolved.providers))
	for i, p := range o.resolved.providers {
		out[i] = p.clone()
	}
	return out
}

// CookieSecretKeys returns the decoded 32-byte cookie secrets after
// Validate, newest first: --cookie-secret (or the first non-empty line of
// --cookie-secret-file), then the file's further lines, then
// --cookie-previous-secret in order. The first encrypts; all decrypt.
func (o *Options) CookieSecretKeys() [][]byte {
	out := make([][]byte, len(o.resolved.cookieKeys))
	for i, k := range o.resolved.cookieKeys {
		out[i] = bytes.Clone(k)
	}
	return out
}

// RedisPassword returns, after Validate, the password read from
// --redis-password-file, or "" when none is set (a password in --redis-url
// stays in the URL).
func (o *Options) RedisPassword() string { return o.resolved.redisPassword }

// RedisSentinelPassword returns, after Validate, the password read from
// --redis-sentinel-password-file, or "".
func (o *Options) RedisSentinelPassword() string { return o.resolved.redisSentinelPassword }

func (p ProviderOptions) clone() ProviderOptions {
	p.Scopes = slices.Clone(p.Scopes)
	p.ExtraAudiences = slices.Clone(p.ExtraAudiences)
	p.AllowedInstances = slices.Clone(p.AllowedInstances)
	p.AllowedUsers = slices.Clone(p.AllowedUsers)
	p.AllowedGroups = slices.Clone(p.AllowedGroups)
	if p.AuthParams != nil {
		m := make(map[string]string, len(p.AuthParams))
		for k, v := range p.AuthParams {
			m[k] = v
		}
		p.AuthParams = m
	}
	if p.SendRedirectURI != nil {
		b := *p.SendRedirectURI
		p.SendRedirectURI = &b
	}
	return p
}

// validator collects problems.
type validator struct {
	errs []error
}

func (v *validator) add(key, problem, fix string) {
	v.errs = append(v.errs, &Error{Key: key, Problem: problem, Fix: fix})
}

// oneOf lower-cases *value and checks it is one of allowed.
func (v *validator) oneOf(key string, value *string, allowed ...string) {
	*value = strings.ToLower(strings.TrimSpace(*value))
	if !slices.Contains(allowed, *value) {
		v.add(key, fmt.Sprintf("is %q; must be %s", *value, orList(allowed)), "")
	}
}

// orList renders "a, b or c".
func orList(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func (v *validator) server(o *Options) {
	if p := checkHostPort(o.HTTPAddress, true); p != "" {
		v.add("http-address", p, "write host:port, e.g. 127.0.0.1:4180 or :4180 for every interface")
	}
	if o.ShutdownTimeout < 0 {
		v.add("shutdown-timeout", "is negative", "use 0 or more, e.g. 15s")
	}
	v.oneOf("log-level", &o.LogLevel, "debug", "info", "warn", "error")
	v.oneOf("log-format", &o.LogFormat, "text", "json")
}

func (v *validator) upstream(o *Options) {
	if o.Upstream != "" {
		if p, fix := checkURL(o.Upstream, false); p != "" {
			v.add("upstream", p, fix)
		}
	}
	if o.UpstreamTimeout <= 0 {
		v.add("upstream-timeout", "must be more than 0", "e.g. 30s")
	}
}

func (v *validator) redirectURL(raw string, cookieSecure bool) {
	if raw == "" {
		return
	}
	if p := checkRedirectURL(raw); p != "" {
		v.add("redirect-url", p, "give the absolute callback URL registered with the provider, e.g. https://app.example.com"+CallbackPath)
		return
	}
	if u, _ := url.Parse(raw); u.Scheme == "http" && cookieSecure && !isLoopback(u.Hostname()) {
		v.add("redirect-url", "uses http://, but --cookie-secure is true, so the browser would drop the cookies and every login would fail",
			"serve Gatehouse over https://, or set --cookie-secure=false for plain-HTTP development")
	}
}

// checkRedirectURL checks a redirect (callback) URL.
func checkRedirectURL(raw string) string {
	if p, _ := checkURL(raw, false); p != "" {
		return p
	}
	u, _ := url.Parse(raw)
	if u.Path != CallbackPath {
		return "must have the path " + CallbackPath + ", which is where Gatehouse receives the provider's answer"
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "must not have a query or fragment"
	}
	return ""
}

// flatProviderKeys maps ProviderOptions YAML keys to the flags that set
// them when the provider is given by flags.
var flatProviderKeys = map[string]string{
	"id":                     "provider",
	"type":                   "provider",
	"name":                   "provider-display-name",
	"client_id":              "client-id",
	"client_secret":          "client-secret",
	"client_secret_file":     "client-secret-file",
	"redirect_url":           "redirect-url",
	"scopes":                 "scope",
	"issuer_url":             "oidc-issuer-url",
	"skip_discovery":         "skip-oidc-discovery",
	"jwks_url":               "oidc-jwks-url",
	"groups_claim":           "oidc-groups-claim",
	"extra_audiences":        "oidc-extra-audience",
	"allow_unverified_email": "insecure-oidc-allow-unverified-email",
	"auth_url":               "login-url",
	"token_url":              "redeem-url",
	"userinfo_url":           "profile-url",
	"allowed_instances":      "mastodon-allowed-instance",
}

// flatProviderOptions are the flags describing the single provider that a
// YAML 'providers' list replaces.
var flatProviderOptions = []string{
	"provider", "provider-display-name", "oidc-issuer-url", "client-id", "client-secret",
	"client-secret-file", "scope", "oidc-groups-claim", "oidc-extra-audience",
	"insecure-oidc-allow-unverified-email", "skip-oidc-discovery", "login-url", "redeem-url",
	"oidc-jwks-url", "profile-url", "mastodon-allowed-instance",
}

func (v *validator) providers(o *Options) []ProviderOptions {
	if len(o.Providers) == 0 {
		p := ProviderOptions{
			Type:                 o.Provider,
			DisplayName:          o.ProviderDisplayName,
			ClientID:             o.ClientID,
			ClientSecret:         o.ClientSecret,
			ClientSecretFile:     o.ClientSecretFile,
			Scopes:               strings.Fields(o.Scope),
			IssuerURL:            o.OIDCIssuerURL,
			SkipDiscovery:        o.SkipOIDCDiscovery,
			JWKSURL:              o.OIDCJWKSURL,
			GroupsClaim:          o.OIDCGroupsClaim,
			UserClaim:            o.OIDCUserClaim,
			ExtraAudiences:       slices.Clone(o.OIDCExtraAudiences),
			AllowUnverifiedEmail: o.AllowUnverifiedEmail,
			AuthURL:              o.LoginURL,
			TokenURL:             o.RedeemURL,
			UserinfoURL:          o.ProfileURL,
			AllowedInstances:     slices.Clone(o.MastodonAllowedInstances),
		}
		key := func(field string) string {
			if k, ok := flatProviderKeys[field]; ok {
				return k
			}
			return "provider." + field
		}
		v.provider(&p, key, o.RedirectURL)
		return []ProviderOptions{p}
	}

	defaults := reflect.ValueOf(Defaults()).Elem()
	current := reflect.ValueOf(o).Elem()
	for _, name := range flatProviderOptions {
		opt, _ := lookupOption(name)
		if !sameValue(current.Field(opt.index), defaults.Field(opt.index)) {
			v.add(name, "is set, but the YAML 'providers' list replaces the provider given by flags",
				"move the setting into an entry of 'providers', or remove the list")
		}
	}

	out := make([]ProviderOptions, len(o.Providers))
	seen := map[string]int{}
	for i := range o.Providers {
		p := o.Providers[i].clone()
		key := func(field string) string { return fmt.Sprintf("providers[%d].%s", i, field) }
		v.provider(&p, key, o.RedirectURL)
		if first, dup := seen[p.ID]; dup && p.ID != "" {
			v.add(key("id"), fmt.Sprintf("is %q, like providers[%d]", p.ID, first),
				"give each provider a unique id (the id defaults to the type)")
		} else {
			seen[p.ID] = i
		}
		out[i] = p
	}
	return out
}

// sameValue compares option values, treating nil and empty lists alike.
func sameValue(a, b reflect.Value) bool {
	if a.Kind() == reflect.Slice {
		return a.Len() == 0 && b.Len() == 0 || reflect.DeepEqual(a.Interface(), b.Interface())
	}
	return a.Equal(b)
}

// provider checks and completes one provider; key names its fields.
func (v *validator) provider(p *ProviderOptions, key func(string) string, globalRedirect string) {
	p.Type = strings.ToLower(strings.TrimSpace(p.Type))
	defaultName := ""
	var typeNames []string
	for _, t := range providerTypes {
		typeNames = append(typeNames, t.typ)
		if t.typ == p.Type {
			defaultName = t.name
		}
	}
	known := defaultName != ""
	switch {
	case p.Type == "":
		v.add(key("type"), "is required", "set it to "+orList(typeNames))
	case !known:
		fix := "use " + orList(typeNames)
		if s := suggest(p.Type, typeNames); s != "" {
			fix = fmt.Sprintf("did you mean %q?", s)
		}
		v.add(key("type"), fmt.Sprintf("is %q, which is not a provider type", p.Type), fix)
	}

	if p.ID == "" {
		p.ID = p.Type
	}
	if p.ID != "" && !providerIDPattern.MatchString(p.ID) {
		v.add(key("id"), fmt.Sprintf("is %q; must be lower-case letters, digits, '-' and '_', starting with a letter or digit", p.ID), "")
	}
	if p.DisplayName == "" {
		p.DisplayName = defaultName
	}

	// Client credentials.
	if p.Type != TypeMastodon && p.ClientID == "" && known {
		v.add(key("client_id"), "is required for provider type "+p.Type, "copy the client id from the application registered with the provider")
	}
	switch {
	case p.ClientSecret != "" && p.ClientSecretFile != "":
		v.add(key("client_secret_file"), "is set together with "+refKey(key("client_secret")), "keep only one")
	case p.ClientSecretFile != "":
		secret, problem := readSecretFile(p.ClientSecretFile)
		if problem != "" {
			v.add(key("client_secret_file"), problem, "check the path and the file's permissions")
		}
		p.ClientSecret = secret
	}

	if auth, err := providers.ParseClientAuth(p.ClientAuth); err != nil {
		v.add(key("client_auth"), fmt.Sprintf("is %q; %v", strings.ToLower(strings.TrimSpace(p.ClientAuth)), err), "")
	} else {
		p.ClientAuth = string(auth)
	}
	if pkce, err := providers.ParsePKCEMethod(p.PKCE); err != nil {
		v.add(key("pkce"), fmt.Sprintf("is %q; %v", p.PKCE, err), "")
	} else {
		p.PKCE = string(pkce)
	}

	needsSecret := p.Type == TypeOIDC || p.Type == TypeOSDN || p.Type == TypeOsu ||
		(p.Type == TypeOAuth2 && p.ClientAuth != "none")
	if needsSecret && p.ClientSecret == "" && p.ClientSecretFile == "" {
		fix := "set " + refKey(key("client_secret_file")) + " to a file holding the secret"
		if p.Type == TypeOAuth2 {
			fix += ", or client_auth: none for a public client"
		}
		v.add(key("client_secret"), "is required for provider type "+p.Type, fix)
	}

	// Endpoints.
	required := map[string]bool{}
	switch p.Type {
	case TypeOIDC:
		required["issuer_url"] = true
		if p.SkipDiscovery {
			required["auth_url"], required["token_url"], required["jwks_url"] = true, true, true
		}
		if p.GroupsClaim == "" {
			p.GroupsClaim = "groups"
		}
	case TypeOAuth2:
		required["auth_url"], required["token_url"], required["userinfo_url"] = true, true, true
	}
	endpoints := []struct {
		field string
		value string
	}{
		{"issuer_url", p.IssuerURL},
		{"auth_url", p.AuthURL},
		{"token_url", p.TokenURL},
		{"userinfo_url", p.UserinfoURL},
		{"jwks_url", p.JWKSURL},
		{"api_base", p.APIBase},
	}
	for _, e := range endpoints {
		if e.value == "" {
			if required[e.field] {
				why := "is required for provider type " + p.Type
				if p.Type == TypeOIDC && e.field != "issuer_url" {
					why = "is required when discovery is skipped"
				}
				v.add(key(e.field), why, "")
			}
			continue
		}
		if problem, fix := checkURL(e.value, true); problem != "" {
			v.add(key(e.field), problem, fix)
		}
	}
	if p.AppWebsite != "" {
		if problem, fix := checkURL(p.AppWebsite, false); problem != "" {
			v.add(key("app_website"), problem, fix)
		}
	}
	if p.RedirectURL != "" {
		if problem := checkRedirectURL(p.RedirectURL); problem != "" {
			v.add(key("redirect_url"), problem, "give the absolute callback URL registered with the provider, e.g. https://app.example.com"+CallbackPath)
		}
	} else {
		p.RedirectURL = globalRedirect
	}

	for i, s := range p.Scopes {
		if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\n") {
			v.add(key("scopes"), fmt.Sprintf("entry %d is empty or contains spaces", i+1), "give each scope as its own list entry")
		}
	}
	for _, list := range []struct {
		field   string
		entries []string
	}{{"extra_audiences", p.ExtraAudiences}, {"allowed_users", p.AllowedUsers}, {"allowed_groups", p.AllowedGroups}} {
		for i, e := range list.entries {
			if strings.TrimSpace(e) == "" {
				v.add(key(list.field), fmt.Sprintf("entry %d is empty", i+1), "remove it")
			}
		}
	}
	for name := range p.AuthParams {
		if providers.IsReservedAuthParam(name) {
			v.add(key("auth_params"), fmt.Sprintf("sets %q, which Gatehouse sets itself for every login", name),
				"remove it; use scopes for the scope and pkce for code_challenge")
		}
	}
	if p.ValidateEvery < 0 {
		v.add(key("validate_every"), "is negative", "use 0 to disable, or e.g. 15m")
	}

	if p.Type == TypeMastodon {
		if len(p.AllowedInstances) == 0 {
			v.add(key("allowed_instances"), "is required for provider type mastodon",
				"list the instances users may sign in with, e.g. mastodon.social or '*.example.social'; '*' allows every instance")
		}
		for i, inst := range p.AllowedInstances {
			inst = strings.ToLower(strings.TrimSpace(inst))
			p.AllowedInstances[i] = inst
			if problem := checkInstance(inst); problem != "" {
				v.add(key("allowed_instances"), fmt.Sprintf("entry %q %s", inst, problem), "write a host such as mastodon.social, '*.example.social' or '*'")
			}
		}
	}
}

// refKey renders another key inside a message.
func refKey(key string) string {
	if o, ok := lookupOption(key); ok && o.name == key {
		return flagRef(key)
	}
	return key
}

// checkInstance checks one Mastodon allowed-instance entry.
func checkInstance(s string) string {
	if s == "*" {
		return ""
	}
	if strings.Contains(s, "://") || strings.ContainsAny(s, "/@") {
		return "is not a host name"
	}
	host := strings.TrimPrefix(s, "*.")
	if !hostport.ValidHost(host) {
		return "is not a host name"
	}
	return ""
}

func (v *validator) authorization(o *Options) {
	if len(o.EmailDomains) == 0 {
		// The authorizer would refuse everyone; say so at start-up instead.
		v.add("email-domain", "is empty, so nobody could sign in",
			"give the allowed domain, e.g. --email-domain=example.com, or '*' to admit everyone the providers authenticate")
	}
	for i, d := range o.EmailDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		if strings.HasPrefix(d, ".") && !strings.HasPrefix(d, "..") {
			// '.example.com' is how --whitelist-domain and cookie domains
			// write "the subdomains of"; accept it here too.
			d = "*" + d
		}
		o.EmailDomains[i] = d
		switch {
		case d == "*":
		case strings.HasPrefix(d, "*.") && hostport.ValidHost(d[2:]):
		case strings.Contains(d, "@"):
			v.add("email-domain", fmt.Sprintf("entry %q contains '@'", d), "give only the domain, the part after '@'")
		case !hostport.ValidHost(d):
			v.add("email-domain", fmt.Sprintf("entry %q is not a domain", d), "write a domain such as example.com, or '*' for any")
		}
	}
	for i, d := range o.WhitelistDomains {
		d = strings.ToLower(strings.TrimSpace(d))
		o.WhitelistDomains[i] = d
		if _, err := redirect.ParseAllowedHost(d); err != nil {
			e := err.(*redirect.EntryError)
			v.add("whitelist-domain", fmt.Sprintf("entry %q %s", d, e.Problem), e.Fix)
		}
	}
}

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

	var keys [][]byte
	switch {
	case o.CookieSecret != "" && o.CookieSecretFile != "":
		v.add("cookie-secret-file", "is set together with --cookie-secret", "keep only one")
	case o.CookieSecret != "":
		k, problem := decodeSecret(o.CookieSecret)
		if problem != "" {
			v.add("cookie-secret", problem, cookieSecretFix)
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
			k, problem := decodeSecret(line)
			if problem != "" {
				v.add("cookie-secret-file", fmt.Sprintf("line %d of %q %s", i+1, o.CookieSecretFile, problem), cookieSecretFix)
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
		k, problem := decodeSecret(s)
		if problem != "" {
			v.add("cookie-previous-secret", fmt.Sprintf("entry %d %s", i+1, problem), "give the secret exactly as it was configured before")
		}
		keys = append(keys, k)
	}
	return keys
}

// notTokenRune reports runes not allowed in a cookie name (RFC 6265 token).
func notTokenRune(r rune) bool {
	return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r)
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
	if o.RedisTimeout <= 0 {
		v.add("redis-timeout", "must be more than 0", "e.g. 2s")
	}
	return password, sentinelPassword
}

// readFile reads a file named by an option; the problem names the path,
// never the content.
func readFile(path string) ([]byte, string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Sprintf("cannot read %q: %s", path, fileErrText(err))
	}
	return data, ""
}

// readSecretFile reads a one-line secret, trimming the trailing newline.
func readSecretFile(path string) (string, string) {
	data, problem := readFile(path)
	if problem != "" {
		return "", problem
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" {
		return "", fmt.Sprintf("%q is empty", path)
	}
	return s, ""
}

// checkURL checks an absolute http(s) URL with a host. With strict, plain
// http is allowed only for loopback hosts: provider endpoints carry codes,
// tokens and secrets. The problem never includes the URL, which may hold
// credentials.
func checkURL(raw string, strict bool) (problem, fix string) {
	if !strings.Contains(raw, "://") {
		if strict {
			return "has no scheme", "add https://"
		}
		return "has no scheme", "add http:// or https://"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URL", ""
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("has the scheme %q; must be http or https", u.Scheme), ""
	}
	if u.Host == "" || u.Hostname() == "" {
		return "has no host", ""
	}
	if u.User != nil {
		return "must not carry a user name or password", "remove the user:password@ part"
	}
	if strict && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return "uses http:// with a host that is not loopback, so tokens and secrets would cross the network unencrypted", "use https://"
	}
	return "", ""
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkHostPort checks host:port; for a listen address the host may be
// empty and the port 0.
func checkHostPort(s string, listen bool) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("is %q, not host:port", s)
	}
	if host == "" && !listen {
		return "has no host"
	}
	if host != "" && !hostport.ValidHost(strings.ToLower(host)) {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Sprintf("has the invalid host %q", host)
		}
	}
	if !hostport.ValidPort(port, listen) {
		return fmt.Sprintf("has the invalid port %q", port)
	}
	return ""
}
