package providers

// Mastodon app registration: Gatehouse registers itself as an app on each
// instance (and callback URL) on first use, and again when an instance
// forgets it.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// credentials returns usable app credentials for host and the callback URL
// redirect, registering an app when there are none, when they were
// registered for other scopes, or when they are the ones with client id
// stale (rejected by the instance). Only one registration per instance
// happens at a time: in this process by a per-instance lock, across
// replicas by the store's lock.
func (m *Mastodon) credentials(ctx context.Context, host, redirect, scopes, stale string) (MastodonCredentials, error) {
	usable := func(c MastodonCredentials, ok bool) bool {
		return ok && c.ClientID != "" && c.ClientID != stale && c.RedirectURI == redirect && c.Scopes == scopes
	}
	c, ok, err := m.c.Store.Get(ctx, host, redirect)
	if err != nil {
		return MastodonCredentials{}, unavailableStore(err)
	}
	if usable(c, ok) {
		return c, nil
	}
	unlock, err := m.locks.Lock(ctx, host)
	if err != nil {
		return MastodonCredentials{}, unavailable(err)
	}
	defer unlock()
	if l, ok := m.c.Store.(CredentialLocker); ok {
		unlockShared, err := l.Lock(ctx, host)
		if err != nil {
			return MastodonCredentials{}, unavailableStore(err)
		}
		defer unlockShared()
	}
	// Someone may have registered while we waited.
	if c, ok, err = m.c.Store.Get(ctx, host, redirect); err != nil {
		return MastodonCredentials{}, unavailableStore(err)
	}
	if usable(c, ok) {
		return c, nil
	}
	if !m.registrationAllowed(host) {
		return MastodonCredentials{}, &Error{Code: CodeProviderUnavailable,
			Message: "Gatehouse has registered with this instance too often in the last minutes. Please try again later.",
			Err:     fmt.Errorf("%s: more than %d app registrations in %v (is redirect_url set?)", host, maxRegistrations, registrationWindow)}
	}
	c, err = m.register(ctx, host, redirect, scopes)
	if err != nil {
		return MastodonCredentials{}, err
	}
	if err := m.c.Store.Put(ctx, host, c); err != nil {
		return MastodonCredentials{}, unavailableStore(err)
	}
	m.mu.Lock()
	m.verified[c.ClientID] = time.Now()
	m.mu.Unlock()
	m.c.Logger.InfoContext(ctx, "registered mastodon app", "provider", m.c.ID, "instance", host, "redirect_uri", redirect)
	return c, nil
}

// registrationAllowed reports whether this process may register another
// app on host now, and counts the registration if so. Legitimate use
// registers once per instance and callback URL, and again only when an
// instance forgets the app; the bound stops requests with made-up Host
// headers (when no redirect_url is configured) from making Gatehouse flood
// an instance with registrations and get itself rate-limited there.
func (m *Mastodon) registrationAllowed(host string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	recent := slices.DeleteFunc(m.registrations[host], func(t time.Time) bool { return now.Sub(t) >= registrationWindow })
	if len(recent) >= maxRegistrations {
		m.registrations[host] = recent
		return false
	}
	if len(m.registrations) >= maxCacheSize {
		clear(m.registrations)
	}
	m.registrations[host] = append(recent, now)
	return true
}

func unavailableStore(err error) *Error {
	return &Error{Code: CodeProviderUnavailable, Message: "Gatehouse cannot reach its credential store right now. Please try again later.", Err: err}
}

// register creates an app with POST /api/v1/apps.
func (m *Mastodon) register(ctx context.Context, host, redirect, scopes string) (MastodonCredentials, error) {
	form := url.Values{"client_name": {m.c.AppName}, "redirect_uris": {redirect}, "scopes": {scopes}}
	if m.c.AppWebsite != "" {
		form.Set("website", m.c.AppWebsite)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.c.InstanceURL(host)+"/api/v1/apps", strings.NewReader(form.Encode()))
	if err != nil {
		return MastodonCredentials{}, unavailable(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	status, _, body, err := do(m.client, req)
	if err != nil {
		return MastodonCredentials{}, err
	}
	doc, perr := decodeJSONObject(body)
	if status != http.StatusOK {
		if perr != nil {
			doc = nil
		}
		if status == http.StatusTooManyRequests {
			return MastodonCredentials{}, unavailable(fmt.Errorf("%s: registering app: HTTP 429", host))
		}
		e := errorFromStatus(status, doc, host+": registering app")
		e.Message = "Your instance refused to register Gatehouse as an app. Please try again later or use another instance."
		return MastodonCredentials{}, e
	}
	if perr != nil {
		return MastodonCredentials{}, badResponse(fmt.Errorf("%s: registering app: %w", host, perr))
	}
	id, _ := claimString(doc, "client_id")
	secret, _ := claimString(doc, "client_secret")
	if id == "" || secret == "" {
		return MastodonCredentials{}, badResponse(fmt.Errorf("%s: registering app: no client_id/client_secret", host))
	}
	return MastodonCredentials{ClientID: id, ClientSecret: secret, RedirectURI: redirect, Scopes: scopes, CreatedAt: time.Now().UTC()}, nil
}

// checkApp asks the instance, at most every appCheckTTL, whether the app's
// credentials still work, with a client-credentials token request. It
// reports bad only on a clear invalid_client; other answers (servers
// without that grant) are not held against the app.
func (m *Mastodon) checkApp(ctx context.Context, host string, c MastodonCredentials) (bad bool, err error) {
	m.mu.Lock()
	last, ok := m.verified[c.ClientID]
	m.mu.Unlock()
	if ok && time.Since(last) < appCheckTTL {
		return false, nil
	}
	_, err = m.tokenClient(host, c).request(ctx, url.Values{"grant_type": {"client_credentials"}, "scope": {c.Scopes}}, opOther)
	if e, ok := errors.AsType[*Error](err); ok {
		switch e.Code {
		case CodeInvalidClient:
			m.c.Logger.WarnContext(ctx, "mastodon app credentials rejected; registering again", "provider", m.c.ID, "instance", host)
			return true, nil
		case CodeProviderUnavailable:
			return false, err
		}
	}
	m.mu.Lock()
	if len(m.verified) >= maxCacheSize {
		clear(m.verified)
	}
	m.verified[c.ClientID] = time.Now()
	m.mu.Unlock()
	return false, nil
}

// tokenClient is the token endpoint of host for the app c; Mastodon takes
// the client secret in the body only (GoToSocial requires it).
func (m *Mastodon) tokenClient(host string, c MastodonCredentials) tokenClient {
	return tokenClient{url: m.c.InstanceURL(host) + "/oauth/token", auth: ClientAuthBody,
		clientID: c.ClientID, clientSecret: c.ClientSecret, http: m.client}
}
