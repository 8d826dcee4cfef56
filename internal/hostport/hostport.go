// Package hostport checks the syntax of host names and ports as
// configuration and return addresses write them.
package hostport

import (
	"strconv"
	"strings"
)

// ValidHost reports whether s (lower-case) is a DNS name: dot-separated
// labels of letters, digits and '-', not starting or ending with '-', with
// an optional trailing dot.
func ValidHost(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// ValidPort reports whether s is a port number written without sign or
// leading zeros, 1 to 65535, or 0 when allowZero.
func ValidPort(s string, allowZero bool) bool {
	n, err := strconv.Atoi(s)
	if err != nil || n > 65535 || n < 0 || (n == 0 && !allowZero) {
		return false
	}
	return strconv.Itoa(n) == s
}
