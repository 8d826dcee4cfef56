package proxy

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/gatehouse-proxy/gatehouse/providers"
	"github.com/gatehouse-proxy/gatehouse/proxy/redirect"
)

// providerSet is the handler's providers: those ready to take logins, by
// id, and those configured whose start-up (OpenID discovery) is still
// being retried. A pending provider shows on the sign-in page, its logins
// answer 503, its sessions are kept (503, not 401) until it is ready.
type providerSet struct {
	order []providers.Info // every provider, ready or not, in sign-in order

	mu      sync.RWMutex
	ready   map[string]providers.Provider
	pending map[string]bool
}

// newProviderSet checks ids are unique across ready and pending.
func newProviderSet(ready []providers.Provider, pending []providers.Info) (*providerSet, error) {
	s := &providerSet{ready: map[string]providers.Provider{}, pending: map[string]bool{}}
	seen := map[string]bool{}
	add := func(info providers.Info) error {
		if seen[info.ID] {
			return fmt.Errorf("proxy: duplicate provider id %q", info.ID)
		}
		seen[info.ID] = true
		s.order = append(s.order, info)
		return nil
	}
	for _, p := range ready {
		if err := add(p.Info()); err != nil {
			return nil, err
		}
		s.ready[p.Info().ID] = p
	}
	for _, info := range pending {
		if err := add(info); err != nil {
			return nil, err
		}
		s.pending[info.ID] = true
	}
	return s, nil
}

// get returns the ready provider id.
func (s *providerSet) get(id string) (providers.Provider, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.ready[id]
	return p, ok
}

// isPending reports whether id is configured but not ready yet.
func (s *providerSet) isPending(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pending[id]
}

// notReady returns the ids of the pending providers, sorted.
func (s *providerSet) notReady() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids := make([]string, 0, len(s.pending))
	for id := range s.pending {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// ProviderReady makes p, one of Deps.Pending, ready: from now on it takes
// logins and serves its sessions. Safe for concurrent use with requests.
func (h *Handler) ProviderReady(p providers.Provider) error {
	s := h.providers
	id := p.Info().ID
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.pending[id] {
		return fmt.Errorf("proxy: provider %q is not pending", id)
	}
	delete(s.pending, id)
	s.ready[id] = p
	return nil
}

// Provider returns the ready provider id, for the refresher and other
// parts that look providers up by a session's provider id.
func (h *Handler) Provider(id string) (providers.Provider, bool) {
	return h.providers.get(id)
}

// NotReady names what keeps the handler from serving every request: the
// providers still being discovered; nil when all are ready.
func (h *Handler) NotReady() []string {
	return h.providers.notReady()
}

// pendingPage answers a login through a provider that is not ready yet.
func (h *Handler) pendingPage(w http.ResponseWriter, r *http.Request, info providers.Info) {
	w.Header().Set("Retry-After", "30")
	h.fail(w, r, http.StatusServiceUnavailable, "provider_unavailable",
		"Sign-in with "+info.DisplayName+" is not available yet: Gatehouse cannot reach it and keeps trying. Please try again in a minute, or choose another sign-in option.",
		redirect.SignInPage.Target())
}

// infoOf returns the Info of a configured provider, ready or not.
func (s *providerSet) infoOf(id string) (providers.Info, bool) {
	for _, info := range s.order {
		if info.ID == id {
			return info, true
		}
	}
	return providers.Info{}, false
}

// readyText is the body of /ready listing what is not ready.
func readyText(problems []string) string {
	return "NOT READY\n" + strings.Join(problems, "\n") + "\n"
}
