package providers

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// readQuoted reads a testdata file of Go-quoted strings, one per line.
func readQuoted(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := strconv.Unquote(line)
		if err != nil {
			t.Fatalf("%s: %q: %v", name, line, err)
		}
		out = append(out, s)
	}
	return out
}

func TestParseEmailRefusesMalformed(t *testing.T) {
	t.Parallel()
	payloads := readQuoted(t, "testdata/malformed-emails.txt")
	if len(payloads) < 20 {
		t.Fatalf("only %d payloads", len(payloads))
	}
	for _, s := range payloads {
		if e, err := ParseEmail(s); err == nil {
			t.Errorf("ParseEmail(%q) = %q, want an error", s, e)
		}
	}
}

func TestParseEmail(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, local, domain string }{
		{"alice@example.com", "alice", "example.com"},
		{"Alice.Smith@Example.COM", "Alice.Smith", "example.com"},
		{"o'brien+tag@mail.example.org", "o'brien+tag", "mail.example.org"},
		{"x_y-z@xn--bcher-kva.example", "x_y-z", "xn--bcher-kva.example"},
		{"a@localhost", "a", "localhost"},
	} {
		e, err := ParseEmail(tt.in)
		if err != nil {
			t.Errorf("ParseEmail(%q): %v", tt.in, err)
			continue
		}
		if e.Local() != tt.local || e.Domain() != tt.domain || e.String() != tt.in {
			t.Errorf("ParseEmail(%q) = local %q domain %q string %q", tt.in, e.Local(), e.Domain(), e)
		}
	}
}

func TestEmailSame(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{"alice@example.com", "alice@example.com", true},
		{"alice@example.com", "alice@EXAMPLE.com", true},
		{"alice@example.com", "Alice@example.com", false},
		{"alice@example.com", "alice@example.org", false},
	} {
		a, _ := ParseEmail(tt.a)
		b, _ := ParseEmail(tt.b)
		if got := a.Same(b); got != tt.same {
			t.Errorf("%q.Same(%q) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
	if (Email{}).Same(Email{}) {
		t.Error("zero Emails are the same mailbox")
	}
}

func TestValidGroupName(t *testing.T) {
	t.Parallel()
	for g, want := range map[string]bool{
		"admins": true, "Domain Users": true, "team/sub": true, "ADMINS": true,
		"": false, "a,b": false, "admins,": false, " admins": false, "admins ": false,
		"a\nb": false, "a\x00": false,
	} {
		if got := ValidGroupName(g); got != want {
			t.Errorf("ValidGroupName(%q) = %v, want %v", g, got, want)
		}
	}
}

// TestCleanIdentity: every provider's identity passes through cleanIdentity
// (mapIdentity for OAuth2 and its presets, OIDC.identity), so a malformed
// email or a comma in a group never leaves providers/.
func TestCleanIdentity(t *testing.T) {
	t.Parallel()
	for _, bad := range readQuoted(t, "testdata/malformed-emails.txt") {
		id := Identity{Subject: "s", Email: bad, EmailVerified: true, Groups: []string{"ok", "a,b", "dev"}}
		email, groups := cleanIdentity(&id)
		if bad != "" && (!email || id.Email != "" || id.EmailVerified) {
			t.Errorf("email %q kept (%q, verified %v)", bad, id.Email, id.EmailVerified)
		}
		if groups != 1 || strings.Join(id.Groups, "|") != "ok|dev" {
			t.Errorf("groups = %q (%d dropped), want ok|dev", id.Groups, groups)
		}
	}
}
