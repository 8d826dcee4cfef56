package proxy_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/config"
	"github.com/gatehouse-proxy/gatehouse/internal/devidp"
	"github.com/gatehouse-proxy/gatehouse/internal/testutil"
)

// ruleUsers are provider identities whose values differ from the rules
// below only in case, or smuggle a second address.
var ruleUsers = []devidp.User{
	{Username: "carol", Email: "Carol@Example.COM", EmailVerified: true, Groups: []string{"ADMINS", "a,b"}},
	{Username: "mallory", Email: "mallory@evil.example,alice@example.com", EmailVerified: true, Groups: []string{"admins"}},
	{Username: "dave", Email: "dave@example.com", EmailVerified: true, Groups: []string{"admins"}},
}

// TestRulesCompareAlike is defect 1's regression table: the per-location
// rule (/oauth2/auth?allowed_groups=, allowed_emails=), the per-provider
// rule (allowed_groups, allowed_users) and the global --email-domain all
// compare the same way: groups and users exactly, email domains in any
// case, email local parts exactly, malformed emails never.
func TestRulesCompareAlike(t *testing.T) {
	t.Parallel()
	// Per-location rules, through /oauth2/auth.
	g := testutil.StartGateway(t, testutil.GatewayConfig{IdP: devidp.Options{Users: ruleUsers}})
	g.Login(t, "carol", "/")
	for _, tt := range []struct {
		query string
		want  int
	}{
		{"?allowed_groups=admins", http.StatusForbidden}, // the defect: was 202
		{"?allowed_groups=Admins", http.StatusForbidden},
		{"?allowed_groups=ADMINS", http.StatusAccepted},
		{"?allowed_groups=a", http.StatusForbidden}, // "a,b" is not a group of carol's
		{"?allowed_groups=a,b", http.StatusForbidden},
		{"?allowed_emails=Carol@example.com", http.StatusAccepted},
		{"?allowed_emails=carol@example.com", http.StatusForbidden},
		{"?allowed_emails=Carol@EXAMPLE.COM", http.StatusAccepted},
		{"?allowed_groups=ADMINS&allowed_emails=carol@example.com", http.StatusForbidden},
	} {
		if got := g.Get(t, "/oauth2/auth"+tt.query).StatusCode; got != tt.want {
			t.Errorf("carol: /oauth2/auth%s = %d, want %d", tt.query, got, tt.want)
		}
	}
	if got := g.Get(t, "/oauth2/auth").Header.Get("X-Auth-Request-Groups"); got != "ADMINS" {
		t.Errorf("X-Auth-Request-Groups = %q, want ADMINS (the group with a comma dropped)", got)
	}

	// Per-provider and global rules, at the callback.
	for _, tt := range []struct {
		name    string
		user    string
		domains []string
		groups  []string
		users   []string
		want    int
	}{
		{"provider group other case", "carol", []string{"*"}, []string{"admins"}, nil, http.StatusForbidden},
		{"provider group exact", "carol", []string{"*"}, []string{"ADMINS"}, nil, http.StatusFound},
		{"provider user other case", "carol", []string{"*"}, nil, []string{devidp.Subject("carol") + "X"}, http.StatusForbidden},
		{"email domain any case", "carol", []string{"example.com"}, nil, nil, http.StatusFound},
		{"smuggled email refused by domain", "mallory", []string{"example.com"}, nil, nil, http.StatusForbidden},
		{"smuggled email refused by the other domain", "mallory", []string{"evil.example"}, nil, nil, http.StatusForbidden},
		{"plain email admitted", "dave", []string{"example.com"}, []string{"admins"}, nil, http.StatusFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := testutil.StartGateway(t, testutil.GatewayConfig{IdP: devidp.Options{Users: ruleUsers}, Options: func(o *config.Options) {
				o.EmailDomains = tt.domains
				o.Providers = []config.ProviderOptions{{ID: "corp", Type: "oidc", IssuerURL: o.OIDCIssuerURL,
					ClientID: o.ClientID, ClientSecret: o.ClientSecret, AllowedGroups: tt.groups, AllowedUsers: tt.users}}
				o.OIDCIssuerURL, o.ClientID, o.ClientSecret = "", "", ""
			}})
			resp := testutil.Do(t, g.Client, g.StartLogin(t, "/", tt.user), "Accept", "text/html")
			if resp.StatusCode != tt.want {
				t.Fatalf("callback for %s: status %d, want %d", tt.user, resp.StatusCode, tt.want)
			}
			if tt.want != http.StatusFound {
				return
			}
			echo := testutil.DecodeEcho(t, testutil.Do(t, g.Client, testutil.Location(t, resp)))
			if tt.user == "carol" && echo.Header.Get("X-Forwarded-Email") != "Carol@Example.COM" {
				t.Errorf("X-Forwarded-Email = %q", echo.Header.Get("X-Forwarded-Email"))
			}
		})
	}
}

// TestMalformedEmailNeverForwarded: with --email-domain '*' a user whose
// provider sends a smuggling address signs in, without any email header.
func TestMalformedEmailNeverForwarded(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{IdP: devidp.Options{Users: ruleUsers}})
	echo := testutil.DecodeEcho(t, g.Login(t, "mallory", "/"))
	if v := echo.Header.Values("X-Forwarded-Email"); len(v) != 0 {
		t.Errorf("upstream got X-Forwarded-Email %q", v)
	}
	if v := g.Get(t, "/oauth2/auth").Header.Values("X-Auth-Request-Email"); len(v) != 0 {
		t.Errorf("/oauth2/auth sent X-Auth-Request-Email %q", v)
	}
	if got := g.Get(t, "/oauth2/auth?allowed_emails=alice@example.com").StatusCode; got != http.StatusForbidden {
		t.Errorf("allowed_emails=alice@example.com admits mallory: %d", got)
	}
}

// TestNonASCIIHostsOneAnswer: a return address naming an allowed domain
// in raw Unicode is refused the same way at login and at sign-out (it was
// accepted at sign-out and dropped at login); punycode passes both.
func TestNonASCIIHostsOneAnswer(t *testing.T) {
	t.Parallel()
	g := testutil.StartGateway(t, testutil.GatewayConfig{Options: func(o *config.Options) {
		o.WhitelistDomains = []string{".corp.example"}
		o.ProviderSignOut = false
	}})
	for _, tt := range []struct{ rd, want string }{
		{"https://bücher.corp.example/x", "/"},
		{"https://xn--bcher-kva.corp.example/x", "https://xn--bcher-kva.corp.example/x"},
	} {
		b := testutil.NewBrowser(t)
		gb := *g
		gb.Client = b
		start := testutil.Do(t, b, g.Server.URL+"/oauth2/start?rd="+url.QueryEscape(tt.rd))
		resp := testutil.Do(t, b, g.IdP.Authorize(t, b, testutil.Location(t, start), "alice"))
		if got := resp.Header.Get("Location"); got != tt.want {
			t.Errorf("login with rd %q lands on %q, want %q", tt.rd, got, tt.want)
		}
		if got := gb.SignOut(t, tt.rd).Header.Get("Location"); got != tt.want {
			t.Errorf("sign-out with rd %q goes to %q, want %q", tt.rd, got, tt.want)
		}
	}
}
