package config

import (
	"strings"
)

// Error is one configuration problem. Load and Validate return them, joined
// with errors.Join when there are several, so that every problem is shown at
// once; use errors.As to inspect them.
//
// Error never carries a secret's value.
type Error struct {
	// Key names the option: its flag name ("cookie-secret") for options
	// that have one, otherwise its YAML path ("providers[0].client_id") or
	// the unknown key as written.
	Key string
	// Problem says what is wrong, phrased to follow the key
	// ("is required", "is 17 bytes; must be 32 bytes (raw or base64)").
	Problem string
	// Fix says what to do about it; it may be empty.
	Fix string

	// literal keeps Key as written (an unknown key that happens to look
	// like an option's flag name).
	literal bool
}

// Error renders e as
//
//	invalid configuration: --cookie-secret (GATEHOUSE_COOKIE_SECRET, cookie_secret): is 17 bytes; must be 32 bytes (raw or base64). Fix: ...
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration: ")
	if e.literal {
		b.WriteString(e.Key)
	} else {
		b.WriteString(displayKey(e.Key))
	}
	b.WriteString(": ")
	b.WriteString(e.Problem)
	if e.Fix != "" {
		b.WriteString(". Fix: ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// displayKey names an option in every form a user may have used to set it.
func displayKey(key string) string {
	o, ok := lookupOption(key)
	if !ok || o.name == "" || o.name != key {
		return key
	}
	var alt []string
	if o.env != "" {
		alt = append(alt, o.env)
	}
	if o.yamlKey != "" {
		alt = append(alt, o.yamlKey)
	}
	for _, a := range o.aliases {
		alt = append(alt, "--"+a.name, a.env, a.yamlKey)
	}
	if len(alt) == 0 {
		return "--" + o.name
	}
	return "--" + o.name + " (" + strings.Join(alt, ", ") + ")"
}

// flagRef is how a message refers to another option: --name.
func flagRef(name string) string { return "--" + name }

// suggest returns the candidate closest to key when it is close enough to
// be a likely typo, or "".
func suggest(key string, candidates []string) string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "-", "_")) }
	k := norm(key)
	best, bestDist := "", 0
	for _, c := range candidates {
		d := editDistance(k, norm(c))
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := max(2, len(k)/4)
	if best == "" || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
