package policy

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-proxy/gatehouse/providers"
)

func identity(t *testing.T, email string, groups ...string) Identity {
	t.Helper()
	return NewIdentity("corp", providers.Identity{Subject: "sub-1", User: "alice", Email: email, Groups: groups, Extra: map[string]string{"dept": "Eng"}})
}

// TestRuleAdmit is the comparison table of every kind of rule value
// (defect 1 and its neighbours: case, whitespace and near misses).
func TestRuleAdmit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		rule Rule
		id   Identity
		want bool
	}{
		{"empty rule admits", Rule{}, identity(t, ""), true},
		// groups: exact
		{"group exact", Rule{Groups: []string{"admins"}}, identity(t, "", "admins"), true},
		{"group upper-case provider value", Rule{Groups: []string{"admins"}}, identity(t, "", "ADMINS"), false},
		{"group upper-case rule value", Rule{Groups: []string{"Admins"}}, identity(t, "", "admins"), false},
		{"group with space", Rule{Groups: []string{"admins"}}, identity(t, "", "admins "), false},
		{"group prefix", Rule{Groups: []string{"admin"}}, identity(t, "", "admins"), false},
		{"group with comma never matches", Rule{Groups: []string{"a,b"}}, identity(t, "", "a,b"), false},
		{"group one of several", Rule{Groups: []string{"ops", "admins"}}, identity(t, "", "eng", "admins"), true},
		// users and subjects: exact
		{"user exact", Rule{Users: []string{"alice"}}, identity(t, ""), true},
		{"user other case", Rule{Users: []string{"Alice"}}, identity(t, ""), false},
		{"subject exact", Rule{Users: []string{"sub-1"}}, identity(t, ""), true},
		{"subject other case", Rule{Users: []string{"SUB-1"}}, identity(t, ""), false},
		// providers and claims: exact
		{"provider", Rule{Providers: []string{"corp"}}, identity(t, ""), true},
		{"provider other case", Rule{Providers: []string{"Corp"}}, identity(t, ""), false},
		{"claim", Rule{Claims: map[string][]string{"dept": {"Eng"}}}, identity(t, ""), true},
		{"claim other case", Rule{Claims: map[string][]string{"dept": {"eng"}}}, identity(t, ""), false},
		{"claim name other case", Rule{Claims: map[string][]string{"Dept": {"Eng"}}}, identity(t, ""), false},
		{"list claim contains", Rule{Claims: map[string][]string{"roles": {"deploy"}}}, Identity{ListClaims: map[string][]string{"roles": {"read", "deploy"}}}, true},
		{"list claim lacks", Rule{Claims: map[string][]string{"roles": {"deploy"}}}, Identity{ListClaims: map[string][]string{"roles": {"read", "Deploy"}}}, false},
		{"list claim other name", Rule{Claims: map[string][]string{"roles": {"deploy"}}}, Identity{ListClaims: map[string][]string{"groups": {"deploy"}}}, false},
		// emails: domain in any case, local part exact
		{"email exact", Rule{Emails: []string{"alice@example.com"}}, identity(t, "alice@example.com"), true},
		{"email domain case", Rule{Emails: []string{"alice@EXAMPLE.com"}}, identity(t, "alice@example.COM"), true},
		{"email local case", Rule{Emails: []string{"Alice@example.com"}}, identity(t, "alice@example.com"), false},
		{"email malformed rule entry", Rule{Emails: []string{"alice@example.com,"}}, identity(t, "alice@example.com"), false},
		{"email smuggled", Rule{Emails: []string{"alice@example.com"}}, identity(t, "mallory@evil.example,alice@example.com"), false},
		// email domains
		{"domain", Rule{EmailDomains: []string{"example.com"}}, identity(t, "bob@Example.Com"), true},
		{"domain rule upper", Rule{EmailDomains: []string{"EXAMPLE.com"}}, identity(t, "bob@example.com"), true},
		{"domain other", Rule{EmailDomains: []string{"example.com"}}, identity(t, "bob@example.org"), false},
		{"domain suffix trick", Rule{EmailDomains: []string{"example.com"}}, identity(t, "bob@evilexample.com"), false},
		{"domain subdomain not exact", Rule{EmailDomains: []string{"example.com"}}, identity(t, "bob@a.example.com"), false},
		{"wildcard subdomain", Rule{EmailDomains: []string{"*.example.com"}}, identity(t, "bob@a.Example.com"), true},
		{"wildcard not the apex", Rule{EmailDomains: []string{"*.example.com"}}, identity(t, "bob@example.com"), false},
		{"wildcard suffix trick", Rule{EmailDomains: []string{"*.example.com"}}, identity(t, "bob@evilexample.com"), false},
		{"dot subdomain form", Rule{EmailDomains: []string{".example.com"}}, identity(t, "bob@a.example.com"), true},
		{"star admits no email", Rule{EmailDomains: []string{"*"}}, identity(t, ""), true},
		{"no email refused", Rule{EmailDomains: []string{"example.com"}}, identity(t, ""), false},
		{"comma smuggling", Rule{EmailDomains: []string{"example.com"}}, identity(t, "mallory@evil.example,alice@example.com"), false},
		{"space smuggling", Rule{EmailDomains: []string{"example.com"}}, identity(t, "mallory@evil.example alice@example.com"), false},
		{"quote smuggling", Rule{EmailDomains: []string{"example.com"}}, identity(t, `"mallory@evil.example"@example.com`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := tt.rule.Admit(tt.id)
			if d.Admitted != tt.want || d.Reason == "" {
				t.Errorf("Admit = %+v, want admitted %v with a reason", d, tt.want)
			}
		})
	}
}

// TestMalformedEmailsMatchNoRule: whatever a provider (or an old session)
// says, an address ParseEmail refuses matches no email rule, and the rule
// view drops it.
func TestMalformedEmailsMatchNoRule(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../../providers/testdata/malformed-emails.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad, err := strconv.Unquote(line)
		if err != nil {
			t.Fatal(err)
		}
		n++
		id := identity(t, bad)
		if !id.Email.IsZero() {
			t.Errorf("NewIdentity kept email %q", bad)
		}
		for _, r := range []Rule{
			{EmailDomains: []string{"example.com"}},
			{EmailDomains: []string{"*.example"}},
			{EmailDomains: []string{"evil.example"}},
			{Emails: []string{"alice@example.com"}},
			{Emails: []string{bad}},
		} {
			if r.Admit(id).Admitted {
				t.Errorf("rule %+v admits email %q", r, bad)
			}
		}
	}
	if n == 0 {
		t.Fatal("no payloads")
	}
}

func TestAll(t *testing.T) {
	t.Parallel()
	id := identity(t, "alice@example.com", "admins")
	if d := All(id, Rule{Groups: []string{"admins"}}, Rule{Emails: []string{"alice@example.com"}}); !d.Admitted {
		t.Errorf("All = %+v, want admitted", d)
	}
	if d := All(id, Rule{Groups: []string{"admins"}}, Rule{Name: "emails", Emails: []string{"bob@example.com"}}); d.Admitted || !strings.HasPrefix(d.Reason, "emails:") {
		t.Errorf("All = %+v, want refused by the emails rule", d)
	}
}

func TestSplitList(t *testing.T) {
	t.Parallel()
	if got := strings.Join(SplitList(" a, b ,,c "), "|"); got != "a|b|c" {
		t.Errorf("SplitList = %q", got)
	}
	if SplitList("") != nil || SplitList(" , ") != nil {
		t.Error("SplitList of nothing is not nil")
	}
}
