package providers

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// ClaimMapping names, as dotted JSON paths into a userinfo document, where
// each identity attribute is found (e.g. "data.user.id"; a numeric segment
// indexes an array: "emails.0.address"). An empty path means the default,
// given on each field; a configured path is used alone, without fallbacks.
type ClaimMapping struct {
	// Subject is the provider's stable user key. Default "sub", then "id".
	Subject string
	// Email default "email".
	Email string
	// EmailVerified (bool or "true"/"false") default "email_verified".
	EmailVerified string
	// Name default "name".
	Name string
	// Username default "preferred_username", then "username", then "login".
	Username string
	// Picture default "picture".
	Picture string
	// Groups (array of strings, a single string, or array of objects with
	// "name") default "groups".
	Groups string
}

// errNoClaim means a path does not exist in a document.
var errNoClaim = errors.New("claim not found")

// decodeJSONObject parses b as one JSON object, keeping numbers exact.
func decodeJSONObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding JSON object: %w", err)
	}
	if m == nil {
		return nil, errors.New("decoding JSON object: got null")
	}
	if dec.More() {
		return nil, errors.New("decoding JSON object: trailing data")
	}
	return m, nil
}

// lookupPath walks a dotted path through nested objects and arrays.
func lookupPath(doc any, path string) (any, error) {
	if path == "" {
		return doc, nil
	}
	cur := doc
	for seg := range strings.SplitSeq(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[seg]
			if !ok {
				return nil, fmt.Errorf("%w: %q", errNoClaim, path)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v) {
				return nil, fmt.Errorf("%w: %q", errNoClaim, path)
			}
			cur = v[i]
		default:
			return nil, fmt.Errorf("%w: %q", errNoClaim, path)
		}
	}
	if cur == nil {
		return nil, fmt.Errorf("%w: %q is null", errNoClaim, path)
	}
	return cur, nil
}

// claimString returns the string at path, rendering numbers without an
// exponent ("12345678901234567890", not "1.2345678901234567e+19"). Objects,
// arrays and booleans are not strings.
func claimString(doc any, path string) (string, bool) {
	v, err := lookupPath(doc, path)
	if err != nil {
		return "", false
	}
	return scalarString(v)
}

func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return numberString(v)
	case float64:
		return numberString(json.Number(strconv.FormatFloat(v, 'f', -1, 64)))
	}
	return "", false
}

// numberString renders a JSON number in plain decimal notation.
func numberString(n json.Number) (string, bool) {
	s := n.String()
	if !strings.ContainsAny(s, ".eE") {
		return s, true
	}
	f, ok := new(big.Float).SetPrec(256).SetString(s)
	if !ok {
		return "", false
	}
	return f.Text('f', -1), true
}

// firstClaimString tries paths in order and returns the first non-empty one.
func firstClaimString(doc any, paths ...string) string {
	for _, p := range paths {
		if s, ok := claimString(doc, p); ok && s != "" {
			return s
		}
	}
	return ""
}

// claimBool reads a boolean that may be given as true/false or "true"/"false".
func claimBool(doc any, path string) (value, present bool) {
	v, err := lookupPath(doc, path)
	if err != nil {
		return false, false
	}
	switch v := v.(type) {
	case bool:
		return v, true
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return false, true // present but unreadable counts as false
		}
		return b, true
	case json.Number:
		return v.String() == "1", true
	}
	return false, true
}

// claimStrings reads a list: an array of strings or numbers, a single string
// (split on commas and white space), or an array of objects from which the
// first non-empty of keys is taken (default "name").
func claimStrings(doc any, path string, keys ...string) []string {
	v, err := lookupPath(doc, path)
	if err != nil {
		return nil
	}
	if len(keys) == 0 {
		keys = []string{"name"}
	}
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	switch v := v.(type) {
	case string:
		for f := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
			add(f)
		}
	case []any:
		for _, e := range v {
			if s, ok := scalarString(e); ok {
				add(s)
				continue
			}
			if m, ok := e.(map[string]any); ok {
				add(firstClaimString(m, keys...))
			}
		}
	}
	return out
}

// mapIdentity applies a claim mapping to a userinfo document.
func mapIdentity(doc map[string]any, c ClaimMapping, allowUnverifiedEmail bool) (Identity, error) {
	paths := func(configured string, defaults ...string) []string {
		if configured != "" {
			return []string{configured}
		}
		return defaults
	}
	var id Identity
	id.Subject = firstClaimString(doc, paths(c.Subject, "sub", "id")...)
	if id.Subject == "" {
		return Identity{}, errors.New("userinfo has no subject")
	}
	if err := checkPrintable(id.Subject); err != nil {
		return Identity{}, fmt.Errorf("subject: %w", err)
	}
	email := firstClaimString(doc, paths(c.Email, "email")...)
	verified, _ := claimBool(doc, cmp.Or(c.EmailVerified, "email_verified"))
	if email != "" && checkPrintable(email) == nil && (verified || allowUnverifiedEmail) {
		id.Email, id.EmailVerified = email, verified
	}
	id.Name = firstClaimString(doc, paths(c.Name, "name")...)
	id.PreferredUsername = firstClaimString(doc, paths(c.Username, "preferred_username", "username", "login")...)
	id.Picture = firstClaimString(doc, paths(c.Picture, "picture")...)
	id.Groups = claimStrings(doc, cmp.Or(c.Groups, "groups"))
	for _, s := range []*string{&id.Name, &id.PreferredUsername, &id.Picture} {
		if checkPrintable(*s) != nil {
			*s = "" // never forward control characters into headers
		}
	}
	id.Groups = slices.DeleteFunc(id.Groups, func(g string) bool { return checkPrintable(g) != nil })
	return id, nil
}

// checkPrintable refuses values that could split or forge HTTP headers.
func checkPrintable(s string) error {
	if len(s) > 1024 {
		return errors.New("value too long")
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return errors.New("value contains control or invalid characters")
		}
	}
	return nil
}
