package providers

import (
	"slices"
	"testing"
)

func TestClaimLookups(t *testing.T) {
	t.Parallel()
	doc, err := decodeJSONObject([]byte(`{
		"data": {"user": {"id": 12345678901234567890, "small": 42, "exp": 1e3, "frac": 1.5, "name": "A", "nil": null}},
		"ok": true, "okstr": "true", "bad": "yes?", "arr": [{"name": "g1"}, {"identifier": "g2", "name": "x"}, "g3", 4],
		"csv": "a,b c", "list": ["x", "y"]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"data.user.id":    "12345678901234567890",
		"data.user.small": "42",
		"data.user.exp":   "1000",
		"data.user.frac":  "1.5",
		"data.user.name":  "A",
		"arr.0.name":      "g1",
		"arr.2":           "g3",
	} {
		if got, ok := claimString(doc, path); !ok || got != want {
			t.Errorf("claimString(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
	for _, path := range []string{"data.user.nil", "data.user.missing", "data.user", "ok", "arr.9", "arr.x", "csv.0"} {
		if got, ok := claimString(doc, path); ok {
			t.Errorf("claimString(%q) = %q, want not found", path, got)
		}
	}
	for path, want := range map[string][2]bool{"ok": {true, true}, "okstr": {true, true}, "bad": {false, true}, "missing": {false, false}} {
		v, present := claimBool(doc, path)
		if v != want[0] || present != want[1] {
			t.Errorf("claimBool(%q) = %v,%v want %v", path, v, present, want)
		}
	}
	for path, want := range map[string][]string{
		"arr":     {"g1", "x", "g3", "4"},
		"csv":     {"a", "b", "c"},
		"list":    {"x", "y"},
		"missing": nil,
	} {
		if got := claimStrings(doc, path); !slices.Equal(got, want) {
			t.Errorf("claimStrings(%q) = %q, want %q", path, got, want)
		}
	}
	if got := claimStrings(doc, "arr", "identifier", "name"); !slices.Equal(got, []string{"g1", "g2", "g3", "4"}) {
		t.Errorf("claimStrings with keys = %q", got)
	}
}

func TestMapIdentityRefusesHeaderInjection(t *testing.T) {
	t.Parallel()
	doc := map[string]any{"sub": "a\r\nX-Evil: 1"}
	if _, err := mapIdentity(doc, ClaimMapping{}, false); err == nil {
		t.Error("subject with CRLF accepted")
	}
	id, err := mapIdentity(map[string]any{"id": "7", "name": "bad\nname", "groups": []any{"ok", "b\x00d"}}, ClaimMapping{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "7" || id.Name != "" || !slices.Equal(id.Groups, []string{"ok"}) {
		t.Errorf("identity = %+v", id)
	}
}
