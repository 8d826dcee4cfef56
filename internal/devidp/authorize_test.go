package devidp

import "testing"

func TestLoopbackRedirects(t *testing.T) {
	t.Parallel()
	p, err := New(Options{ClientID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	for u, want := range map[string]bool{
		"http://127.0.0.1:8080/cb":     true,
		"https://localhost/cb":         true,
		"http://[::1]:1/cb":            true,
		"http://example.com/cb":        false,
		"http://127.0.0.1.evil.com/cb": false,
		"javascript://127.0.0.1/x":     false,
		"http://127.0.0.1/cb#frag":     false,
		"http://u:p@127.0.0.1/cb":      false,
		"":                             false,
	} {
		if got := p.allowedRedirect(u, nil); got != want {
			t.Errorf("allowedRedirect(%q) = %v, want %v", u, got, want)
		}
	}
}
