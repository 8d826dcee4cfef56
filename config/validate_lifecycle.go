package config

import (
	"fmt"
	"net/url"
	"slices"

	"github.com/gatehouse-proxy/gatehouse/proxy/assertion"
)

// assertions loads the signing keys and resolves the assertion issuer.
func (v *validator) assertions(o *Options) ([]*assertion.Key, string) {
	var keys []*assertion.Key
	for _, path := range o.SigningKeyFiles {
		k, err := assertion.LoadKeyFile(path)
		if err != nil {
			v.add("signing-key-file", err.Error(),
				"give a PEM EC P-256 key ('openssl ecparam -name prime256v1 -genkey -noout -out KEY') or an RSA key of at least 2048 bits")
			continue
		}
		keys = append(keys, k)
	}
	issuer := o.AssertionIssuer
	switch {
	case issuer != "" && len(o.SigningKeyFiles) == 0:
		v.add("assertion-issuer", "is set without --signing-key-file, so nothing would be signed",
			"add --signing-key-file, or remove --assertion-issuer")
	case issuer != "":
		if p, fix := checkURL(issuer, false); p != "" {
			v.add("assertion-issuer", p, fix)
		}
	case len(o.SigningKeyFiles) > 0 && o.RedirectURL != "":
		if u, err := url.Parse(o.RedirectURL); err == nil && u.Host != "" {
			issuer = u.Scheme + "://" + u.Host
		}
	case len(o.SigningKeyFiles) > 0:
		v.add("assertion-issuer", "is required with --signing-key-file when --redirect-url is not set",
			"set it to Gatehouse's public origin, e.g. https://auth.example.com (upstreams check it as iss)")
	}
	return keys, issuer
}

// sessionLifecycle checks --session-validate-interval and completes the
// providers' validate_every (defaulting to it) and backchannel_logout
// (defaulting to on for oidc providers with the Redis store). It runs
// after the session store is checked.
func (v *validator) sessionLifecycle(o *Options, provs []ProviderOptions) {
	if o.SessionValidateInterval < 0 {
		v.add("session-validate-interval", "is negative", "use 0 to disable, or e.g. 15m")
	}
	for i := range provs {
		p := &provs[i]
		key := func(field string) string { return fmt.Sprintf("providers[%d].%s", i, field) }
		if len(o.Providers) == 0 {
			key = func(field string) string { return "provider." + field }
		}
		if p.ValidateEvery == 0 && o.SessionValidateInterval > 0 {
			p.ValidateEvery = o.SessionValidateInterval
		}
		if p.IntrospectionURL != "" {
			if p.Type != TypeOIDC && p.Type != TypeOAuth2 {
				v.add(key("introspection_url"), "is set for provider type "+p.Type, "remove it; only oidc and oauth2 providers introspect tokens")
			} else if problem, fix := checkURL(p.IntrospectionURL, true); problem != "" {
				v.add(key("introspection_url"), problem, fix)
			}
		}
		v.backchannel(p, key, o.SessionStore)
	}
}

// Provider types that speak OpenID Connect and so can receive back-channel
// logout tokens; it is on by default for those whose providers send them.
var (
	backchannelTypes   = []string{TypeOIDC, TypeKeycloak, TypeGitLab, TypeGoogle, TypeEntra}
	backchannelDefault = []string{TypeOIDC, TypeKeycloak}
)

// backchannel resolves p's backchannel_logout setting.
func (v *validator) backchannel(p *ProviderOptions, key func(string) string, store string) {
	on := slices.Contains(backchannelDefault, p.Type) && store == "redis"
	switch {
	case p.BackchannelLogout == nil:
	case !*p.BackchannelLogout:
		on = false
	case !slices.Contains(backchannelTypes, p.Type):
		v.add(key("backchannel_logout"), "is true for provider type "+p.Type,
			"remove it; back-channel logout is an OpenID Connect feature (types "+orList(backchannelTypes)+")")
	case store != "redis":
		v.add(key("backchannel_logout"), "is true, but back-channel logout must end sessions on every replica, which the cookie store cannot",
			"set --session-store redis (with --redis-url), or remove backchannel_logout")
	default:
		on = true
	}
	p.BackchannelLogout = &on
}
