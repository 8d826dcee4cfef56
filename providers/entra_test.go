package providers_test

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/internal/testutil/fakes"
	"github.com/gatehouse-proxy/gatehouse/providers"
)

func entraProvider(t *testing.T, f *fakes.Entra, mod func(*providers.EntraConfig)) *providers.OIDC {
	t.Helper()
	c := providers.EntraConfig{TenantID: f.TenantID, BaseURL: f.BaseURL, GraphURL: f.Graph.URL,
		Common: providers.Common{ClientID: f.ClientID, ClientSecret: f.ClientSecret, Logger: slog.New(slog.DiscardHandler)}}
	if mod != nil {
		mod(&c)
	}
	p, err := providers.NewEntra(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const groupsPath = "GET /v1.0/me/transitiveMemberOf/microsoft.graph.group"

func TestEntraSingleTenant(t *testing.T) {
	t.Parallel()
	f := fakes.NewEntra(t, fakes.EntraOptions{Callback: gateCallback})
	p := entraProvider(t, f, nil)
	g, err := presetLogin(t, p, f.Callback)
	if err != nil {
		t.Fatal(err)
	}
	id := g.Identity
	if !slices.Equal(id.Groups, []string{fakes.EntraAdminsGroup, fakes.EntraStaffGroup, "role:Gatehouse.Admin"}) ||
		id.Extra["tid"] != fakes.EntraTenant || id.Extra["oid"] == "" || id.PreferredUsername != "alice@contoso.com" ||
		id.Email != "alice@contoso.com" || id.Issuer != f.BaseURL+"/"+fakes.EntraTenant+"/v2.0" || g.Tokens.RefreshToken == "" {
		t.Errorf("identity = %+v", id)
	}
	if f.Calls(groupsPath) != 0 {
		t.Error("Graph asked for groups the token carried")
	}
	if p.Info().Type != "entra" || p.Info().DisplayName != "Microsoft" {
		t.Errorf("Info = %+v", p.Info())
	}
	// New roles show after a refresh.
	f.SetUser(fakes.EntraUser{UPN: "alice@contoso.com", Name: "Alice", Email: "alice@contoso.com", Groups: []string{fakes.EntraStaffGroup}, Roles: []string{"Gatehouse.Reader"}})
	g2, err := p.Refresh(t.Context(), g)
	if err != nil || !slices.Equal(g2.Identity.Groups, []string{fakes.EntraStaffGroup, "role:Gatehouse.Reader"}) {
		t.Errorf("refresh: %v, groups %v", err, g2.Identity.Groups)
	}
}

func TestEntraGroupOverage(t *testing.T) {
	t.Parallel()
	for _, hasGroups := range []bool{false, true} {
		f := fakes.NewEntra(t, fakes.EntraOptions{Callback: gateCallback, HasGroups: hasGroups})
		f.MaxPageSize.Store(100)
		f.SignIn("bob@contoso.com")
		p := entraProvider(t, f, nil)
		g, err := presetLogin(t, p, f.Callback)
		if err != nil {
			t.Fatal(err)
		}
		if len(g.Identity.Groups) != 250 || f.Calls(groupsPath) != 3 {
			t.Errorf("hasgroups=%v: %d groups in %d pages, want 250 in 3", hasGroups, len(g.Identity.Groups), f.Calls(groupsPath))
		}
		// Throttled by Graph: a transient, clearly named failure.
		f.Throttle.Set(1, http.StatusTooManyRequests, 10)
		_, err = presetLogin(t, p, f.Callback)
		wantProviderError(t, err, providers.CodeRateLimited, "Microsoft Graph is limiting")
		if _, err := p.Refresh(t.Context(), g); err != nil {
			t.Errorf("refresh: %v", err)
		}
	}
}

func TestEntraOverageWithoutGraphPermission(t *testing.T) {
	t.Parallel()
	f := fakes.NewEntra(t, fakes.EntraOptions{Callback: gateCallback})
	f.SignIn("bob@contoso.com")
	p := entraProvider(t, f, func(c *providers.EntraConfig) { c.Scopes = []string{"openid", "profile", "email"} })
	_, err := presetLogin(t, p, f.Callback)
	wantProviderError(t, err, providers.CodeProviderError, "could not read your group memberships from Microsoft Graph")
}

func TestEntraMultiTenant(t *testing.T) {
	t.Parallel()
	f := fakes.NewEntra(t, fakes.EntraOptions{Callback: gateCallback})
	for _, c := range []struct {
		name, tenant, user string
		allowed            []string
		edov               bool
		admit              bool
		email              string
	}{
		{"home tenant allowed", "organizations", "alice@contoso.com", []string{fakes.EntraTenant}, false, true, ""},
		{"other tenant refused", "organizations", "carol@fabrikam.com", []string{fakes.EntraTenant}, false, false, ""},
		{"other tenant allowed", "common", "carol@fabrikam.com", []string{strings.ToUpper(fakes.EntraOtherTenant)}, false, true, ""},
		{"any tenant", "common", "carol@fabrikam.com", []string{"*"}, false, true, ""},
		{"domain-verified email kept", "common", "carol@fabrikam.com", []string{"*"}, true, true, "carol@fabrikam.com"},
	} {
		f.SignIn(c.user)
		f.SetMutateIDToken(func(claims map[string]any) {
			if c.edov {
				claims["xms_edov"] = true
			}
		})
		p := entraProvider(t, f, func(e *providers.EntraConfig) { e.TenantID, e.AllowedTenants = c.tenant, c.allowed })
		g, err := presetLogin(t, p, f.Callback)
		if c.admit != (err == nil) {
			t.Errorf("%s: %v, want admitted=%v", c.name, err, c.admit)
			continue
		}
		if err != nil {
			wantProviderError(t, err, providers.CodeAccountNotAllowed, "Microsoft organisation is not allowed")
			continue
		}
		if g.Identity.Email != c.email || g.Identity.Issuer != f.BaseURL+"/"+g.Identity.Extra["tid"]+"/v2.0" {
			t.Errorf("%s: identity %+v", c.name, g.Identity)
		}
	}
}

func TestEntraIssuerMustNameTheTenant(t *testing.T) {
	t.Parallel()
	f := fakes.NewEntra(t, fakes.EntraOptions{Callback: gateCallback})
	// A token of tenant A claiming to be issued by tenant B's issuer.
	f.SetMutateIDToken(func(c map[string]any) { c["iss"] = f.BaseURL + "/" + fakes.EntraOtherTenant + "/v2.0" })
	p := entraProvider(t, f, func(e *providers.EntraConfig) { e.TenantID, e.AllowedTenants = "organizations", []string{"*"} })
	_, err := presetLogin(t, p, f.Callback)
	wantProviderError(t, err, providers.CodeBadResponse, "could not be verified")
	for _, iss := range []string{f.BaseURL + "/" + fakes.EntraTenant + "/v2.0"} {
		if err := p.CheckResponseIssuer(iss, true); err != nil {
			t.Errorf("CheckResponseIssuer(%s): %v", iss, err)
		}
	}
	for _, iss := range []string{"https://evil.example/" + fakes.EntraTenant + "/v2.0", f.BaseURL + "/{tenantid}/v2.0", f.BaseURL + "/common/v2.0"} {
		if err := p.CheckResponseIssuer(iss, true); !errors.Is(err, providers.ErrIssuerMismatch) {
			t.Errorf("CheckResponseIssuer(%s): %v", iss, err)
		}
	}
}

func TestEntraConfigErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []providers.EntraConfig{
		{TenantID: "contoso.onmicrosoft.com"},
		{TenantID: "consumers"},
		{TenantID: "organizations"},
		{TenantID: fakes.EntraTenant, AllowedTenants: []string{"*"}},
		{TenantID: "common", AllowedTenants: []string{"contoso"}},
	} {
		c.ClientID, c.ClientSecret = "c", "s"
		if _, err := providers.NewEntra(t.Context(), c); err == nil {
			t.Errorf("NewEntra(%+v) accepted", c)
		}
	}
}
