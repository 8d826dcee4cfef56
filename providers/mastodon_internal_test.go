package providers

import (
	"net/netip"
	"testing"
)

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"93.184.215.14":                          true,
		"2606:2800:21f:cb07:6820:80da:af6b:8b2c": true,
		"127.0.0.1":                              false,
		"10.1.2.3":                               false,
		"172.16.0.1":                             false,
		"192.168.1.1":                            false,
		"169.254.169.254":                        false,
		"100.64.0.1":                             false, // carrier-grade NAT, Tailscale
		"0.0.0.0":                                false,
		"0.1.2.3":                                false,
		"192.0.0.8":                              false,
		"198.18.0.1":                             false,
		"240.0.0.1":                              false,
		"255.255.255.255":                        false,
		"224.0.0.1":                              false,
		"::1":                                    false,
		"::":                                     false,
		"::ffff:127.0.0.1":                       false,
		"::ffff:10.0.0.1":                        false,
		"fe80::1":                                false,
		"fc00::1":                                false,
		"fd12:3456::1":                           false,
		"ff02::1":                                false,
		"2001:db8::1":                            false,
		"2001::1":                                false, // Teredo
		"64:ff9b::7f00:1":                        false, // NAT64 of 127.0.0.1
		"64:ff9b::a9fe:a9fe":                     false, // NAT64 of 169.254.169.254
		"64:ff9b::5db8:d70e":                     true,  // NAT64 of a public address
		"2002:7f00:1::1":                         false, // 6to4 of 127.0.0.1
		"2002:5db8:d70e::1":                      true,
		"64:ff9b:1::1":                           false,
	} {
		if got := publicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}
