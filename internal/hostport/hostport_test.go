package hostport

import "testing"

func TestValidHost(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"example.com": true, "a-b.example.com.": true, "localhost": true, "x1": true,
		"": false, ".": false, "-a.com": false, "a-.com": false, "a..com": false, "Example.com": false,
		"a_b.com": false, "exa mple.com": false, string(make([]byte, 254)): false,
	} {
		if got := ValidHost(s); got != want {
			t.Errorf("ValidHost(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestValidPort(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		s         string
		allowZero bool
		want      bool
	}{
		{"1", false, true}, {"65535", false, true}, {"0", true, true},
		{"0", false, false}, {"65536", false, false}, {"-1", true, false}, {"08", false, false}, {"+8", false, false}, {"", false, false},
	} {
		if got := ValidPort(c.s, c.allowZero); got != c.want {
			t.Errorf("ValidPort(%q, %v) = %v, want %v", c.s, c.allowZero, got, c.want)
		}
	}
}
