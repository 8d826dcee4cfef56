package proxy

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/proxy/accesslog"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
	"github.com/gatehouse-proxy/gatehouse/session"
)

// flow is what a login carries from /oauth2/start to /oauth2/callback, in a
// short-lived encrypted cookie of its own so several tabs can log in at once.
type flow struct {
	ProviderID   string          `json:"p"`
	State        string          `json:"s"`
	Nonce        string          `json:"n"`
	CodeVerifier string          `json:"v"`
	Redirect     redirect.Target `json:"r"`
	Instance     string          `json:"i,omitempty"`
	RedirectURL  string          `json:"u"`
	Started      time.Time       `json:"t"`
}

// stateFormat is what a state we issued looks like: 32 random bytes,
// base64url without padding.
var stateFormat = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// flowCookieName names the flow cookie of state; the state is public (it is
// in the provider URL), so naming by a prefix of it leaks nothing.
func (h *Handler) flowCookieName(state string) string {
	return h.flowName + state[:16]
}

// signIn renders the sign-in page.
func (h *Handler) signIn(w http.ResponseWriter, r *http.Request) {
	rd := h.returnTo(r)
	h.pages.signIn(w, signInData{Providers: h.providerButtons(), Redirect: rd, Error: ""})
}

func (h *Handler) providerButtons() []providers.Info {
	return h.providers.order
}

// start begins a login: GET /oauth2/start?provider=ID&rd=URL[&instance=X].
func (h *Handler) start(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rd := h.returnTo(r)
	id := q.Get("provider")
	if id == "" && len(h.providers.order) == 1 {
		id = h.providers.order[0].ID
	}
	p, ok := h.providers.get(id)
	if info, pending := h.providers.infoOf(id); !ok && pending && h.providers.isPending(id) {
		h.pendingPage(w, r, info)
		return
	}
	if !ok {
		if id == "" {
			// Several providers: let the user choose.
			http.Redirect(w, r, redirect.SignInPage.With(rd).String(), http.StatusFound)
			return
		}
		h.fail(w, r, http.StatusBadRequest, "unknown_provider", "That sign-in option does not exist.", redirect.SignInPage.With(rd))
		return
	}
	info := p.Info()
	accesslog.FromContext(r.Context()).SetProvider(id)
	instance := ""
	if info.NeedsInstance {
		instance = q.Get("instance")
		if instance == "" {
			w.WriteHeader(http.StatusBadRequest)
			h.pages.signIn(w, signInData{Providers: h.providerButtons(), Redirect: rd, Error: "Enter the server you want to sign in with.", ErrorFor: id})
			return
		}
	}
	f := flow{
		ProviderID:   id,
		State:        session.RandomString(32),
		Nonce:        session.RandomString(32),
		CodeVerifier: providers.NewCodeVerifier(),
		Redirect:     rd,
		Instance:     instance,
		RedirectURL:  h.redirectURL(r, id),
		Started:      h.now(),
	}
	params := f.params()
	params.Reauthenticate = q.Get("prompt") == "login"
	authURL, err := p.AuthCodeURL(r.Context(), params)
	if err != nil {
		h.providerFailed(w, r, id, err, rd)
		return
	}
	cookie, err := h.flowCookie(f)
	if err == nil && session.CookieLineLen(cookie) >= session.MaxCookieLine {
		// A browser would silently drop the cookie and the callback would
		// fail; give up the long return address instead of the login.
		h.log.InfoContext(r.Context(), "return address too long for the login cookie; returning to /", "provider", id, "rd_bytes", len(f.Redirect.String()))
		f.Redirect = redirect.Target{}
		cookie, err = h.flowCookie(f)
	}
	if err != nil {
		h.log.ErrorContext(r.Context(), "encoding login flow", "err", err)
		h.fail(w, r, http.StatusInternalServerError, "internal_error", "Something went wrong. Please try again.", redirect.SignInPage.With(rd))
		return
	}
	h.expireOldFlows(w, r)
	http.SetCookie(w, cookie)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, authURL, http.StatusFound)
}

// maxFlows is how many logins one browser may have in progress at once.
// Each leaves a flow cookie for FlowLifetime unless finished, and every one
// of them travels with every request: without a bound, abandoned logins
// would grow the Cookie header past what nginx and other proxies accept
// (8 KiB by default) and lock the user out.
const maxFlows = 5

// flowCookie encodes f into its cookie. The flow cookie must come back on
// the provider's cross-site redirect to the callback, which SameSite=Strict
// would prevent, so it is at most Lax.
func (h *Handler) flowCookie(f flow) (*http.Cookie, error) {
	name := h.flowCookieName(f.State)
	value, err := h.d.Codec.Encode(name, f)
	if err != nil {
		return nil, err
	}
	c := h.c.Cookie.NewCookie(name, value, h.flowMax)
	if c.SameSite == http.SameSiteStrictMode {
		c.SameSite = http.SameSiteLaxMode
	}
	return c, nil
}

// flowCookieSuffix is what follows flowName in a flow cookie's name: the
// first 16 characters of a state (base64url).
var flowCookieSuffix = regexp.MustCompile(`^[A-Za-z0-9_-]{16}$`)

// maxFlowCandidates bounds the flow cookies of one request that
// expireOldFlows looks at: a request carrying thousands (a hostile or
// broken client) costs no more than a normal one, and never more than
// maxFlows expirations come back.
const maxFlowCandidates = 2*maxFlows - 1

// expireOldFlows expires the flow cookies r carries beyond the newest
// maxFlows-1, so that with the one being started at most maxFlows remain.
// Only cookies named as Gatehouse names them count, at most
// maxFlowCandidates of them; those that do not decode (foreign secret,
// expired, tampered) go first.
func (h *Handler) expireOldFlows(w http.ResponseWriter, r *http.Request) {
	type flowCookie struct {
		name    string
		started time.Time
	}
	var flows []flowCookie
	seen := map[string]bool{}
	for _, c := range r.Cookies() {
		suffix, ok := strings.CutPrefix(c.Name, h.flowName)
		if !ok || !flowCookieSuffix.MatchString(suffix) || seen[c.Name] {
			continue
		}
		if len(flows) == maxFlowCandidates {
			break
		}
		seen[c.Name] = true
		fc := flowCookie{name: c.Name}
		var f flow
		if err := h.d.Codec.Decode(c.Name, c.Value, &f); err == nil {
			fc.started = f.Started
		}
		flows = append(flows, fc)
	}
	if len(flows) < maxFlows {
		return
	}
	slices.SortFunc(flows, func(a, b flowCookie) int { return a.started.Compare(b.started) })
	for _, fc := range flows[:len(flows)-(maxFlows-1)] {
		http.SetCookie(w, h.c.Cookie.ExpiredCookie(fc.name))
	}
}

func (f flow) params() providers.AuthParams {
	return providers.AuthParams{
		State:        f.State,
		Nonce:        f.Nonce,
		CodeVerifier: f.CodeVerifier,
		RedirectURL:  f.RedirectURL,
		Instance:     f.Instance,
	}
}

// callback finishes a login: checks state, redeems the code, authorizes the
// identity, creates the session and sends the browser to its target.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	state := q.Get("state")
	retry := redirect.SignInPage.Target()
	f, err := h.readFlow(r, state)
	if err != nil {
		h.log.InfoContext(ctx, "login callback without a valid flow", "err", err)
		h.fail(w, r, http.StatusBadRequest, "invalid_state",
			"This sign-in attempt expired or was started in another browser. Please try again.", retry)
		return
	}
	accesslog.FromContext(ctx).SetProvider(f.ProviderID)
	// The flow is single-use whatever happens next.
	http.SetCookie(w, h.c.Cookie.ExpiredCookie(h.flowCookieName(state)))
	retry = redirect.SignInPage.With(f.Redirect)

	if h.refusedResponse(w, r, f, q, retry) {
		return
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		h.fail(w, r, http.StatusBadRequest, "invalid_request", "The provider did not send a sign-in code.", retry)
		return
	}
	p, ok := h.providers.get(f.ProviderID)
	if !ok {
		h.fail(w, r, http.StatusBadRequest, "unknown_provider", "That sign-in option no longer exists.", retry)
		return
	}
	grant, err := p.Redeem(ctx, code, f.params())
	if err != nil {
		h.providerFailed(w, r, f.ProviderID, err, f.Redirect)
		return
	}
	s := session.New(f.ProviderID, grant, h.now(), h.c.SessionLifetime)
	if !h.keep(w, r, s, retry, f.Redirect) {
		return
	}
	h.sendBack(w, r, f.Redirect)
}

// refusedResponse answers, and reports true for, an authorization response
// the login cannot use: one from another issuer than the flow's provider
// (RFC 9207: a mix-up attack through another configured provider, refused
// before anything in it is used, error responses included), or one
// carrying an error.
func (h *Handler) refusedResponse(w http.ResponseWriter, r *http.Request, f flow, q url.Values, retry redirect.Target) bool {
	ctx := r.Context()
	p, _ := h.providers.get(f.ProviderID)
	if c, ok := p.(providers.ResponseIssuerChecker); ok {
		iss, present := q["iss"]
		err := c.CheckResponseIssuer(q.Get("iss"), present)
		if err == nil && len(iss) > 1 {
			err = fmt.Errorf("%w: iss repeated", providers.ErrIssuerMismatch)
		}
		if err != nil {
			h.log.WarnContext(ctx, "authorization response from another issuer refused", "provider", f.ProviderID, "err", err)
			h.fail(w, r, http.StatusBadRequest, "invalid_issuer",
				"The sign-in response did not come from the expected provider. Please try again.", retry)
			return true
		}
	}

	if e := q.Get("error"); e != "" {
		// The code is shown to the user and logged: keep only what an
		// OAuth2 error code may contain (RFC 6749 §4.1.2.1), bounded.
		e = oauthErrorCode(e)
		h.log.InfoContext(ctx, "provider returned an error", "provider", f.ProviderID, "error", e)
		msg := "The sign-in was not completed."
		status := http.StatusBadGateway
		if e == "access_denied" {
			msg = "You declined the request to sign in."
			status = http.StatusForbidden
		}
		h.fail(w, r, status, e, msg, retry)
		return true
	}
	return false
}

// keep authorizes the new session s and saves it; when either fails it
// answers and returns false.
func (h *Handler) keep(w http.ResponseWriter, r *http.Request, s *session.Session, retry, back redirect.Target) bool {
	ctx := r.Context()
	if err := h.d.Authorizer.Allow(s); err != nil {
		accesslog.FromContext(ctx).SetAuthorization(accesslog.Denied)
		h.log.InfoContext(ctx, "login refused", "provider", s.ProviderID, "user", s.Identity.User, "reason", err)
		if wantsJSON(r) {
			h.fail(w, r, http.StatusForbidden, "forbidden", denyMessage(http.StatusForbidden), retry)
		} else {
			h.forbidden(w, r, nil, s, back, false)
		}
		return false
	}
	if err := h.d.Store.Save(ctx, w, r, s); err != nil {
		h.log.ErrorContext(ctx, "saving session", "provider", s.ProviderID, "user", s.Identity.User, "err", err)
		if errors.Is(err, session.ErrTooLarge) {
			// Retrying cannot help: the administrator must act.
			h.fail(w, r, http.StatusInternalServerError, "session_too_large",
				"You signed in, but your account's details (for example a very long list of groups) are too large to keep in browser cookies. Ask the administrator to switch Gatehouse to the Redis session store.")
			return false
		}
		h.fail(w, r, http.StatusServiceUnavailable, "session_store_unavailable", denyMessage(http.StatusServiceUnavailable), retry)
		return false
	}
	accesslog.FromContext(ctx).SetUser(s.Identity.User, s.ProviderID)
	accesslog.FromContext(ctx).SetAuthorization(accesslog.Allowed)
	h.log.InfoContext(ctx, "login", "provider", s.ProviderID, "user", s.Identity.User)
	return true
}

// sendBack ends a login at its return address. It was validated at
// /oauth2/start, where the browser named it; the flow cookie that carried
// it here is authenticated.
func (h *Handler) sendBack(w http.ResponseWriter, r *http.Request, to redirect.Target) {
	if h.c.Cookie.SameSite == http.SameSiteStrictMode {
		// This response ends a redirect chain that began on the provider's
		// site, so a redirect would reach the application without the new
		// SameSite=Strict cookie and loop back to sign-in. A page of our
		// own makes the next navigation same-site.
		w.Header().Set("Refresh", "0;url="+to.String())
		h.pages.render(w, http.StatusOK, "continue.html", continueData{Target: to})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to.String(), http.StatusFound)
}

// oauthErrorCode returns e if it looks like an OAuth2 error code (lower-case
// letters, digits and '_', at most 64 bytes), else "provider_error".
func oauthErrorCode(e string) string {
	if len(e) > 64 {
		return "provider_error"
	}
	for _, r := range e {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return "provider_error"
		}
	}
	return e
}

var errNoFlow = errors.New("no matching login flow")

// readFlow finds and decodes the flow cookie of state and checks it.
func (h *Handler) readFlow(r *http.Request, state string) (flow, error) {
	var f flow
	if !stateFormat.MatchString(state) {
		return f, errNoFlow
	}
	c, err := r.Cookie(h.flowCookieName(state))
	if err != nil {
		return f, errNoFlow
	}
	if err := h.d.Codec.Decode(c.Name, c.Value, &f); err != nil {
		return f, err
	}
	if subtle.ConstantTimeCompare([]byte(f.State), []byte(state)) != 1 {
		return f, errNoFlow
	}
	if age := h.now().Sub(f.Started); age < 0 || age > h.flowMax {
		return f, errors.New("login flow expired")
	}
	return f, nil
}

// providerFailed renders a provider error without internals.
func (h *Handler) providerFailed(w http.ResponseWriter, r *http.Request, id string, err error, rd redirect.Target) {
	retry := redirect.SignInPage.With(rd)
	status, code, msg := http.StatusBadGateway, "provider_error", "The sign-in service returned an error. Please try again."
	var pe *providers.Error
	switch {
	case errors.As(err, &pe):
		code, msg = pe.Code, pe.Message
		switch pe.Code {
		case "access_denied", "account_not_allowed", "instance_not_allowed":
			status = http.StatusForbidden
		case "invalid_instance", "invalid_request", "invalid_grant":
			status = http.StatusBadRequest
		case "provider_unavailable":
			status = http.StatusBadGateway
		case "rate_limited":
			status = http.StatusServiceUnavailable
		}
	case errors.Is(err, providers.ErrUnauthorized):
		status, code, msg = http.StatusForbidden, "forbidden", denyMessage(http.StatusForbidden)
	case errors.Is(err, providers.ErrInvalidGrant):
		status, code, msg = http.StatusBadRequest, "invalid_grant", "The sign-in link expired or was already used. Please try again."
	}
	h.log.WarnContext(r.Context(), "provider error", "provider", id, "code", code, "err", err)
	h.fail(w, r, status, code, msg, retry)
}
