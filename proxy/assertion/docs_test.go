package assertion_test

import (
	"os"
	"strings"
	"testing"
)

// TestDocsShowTheTestedExample: docs/assertion.md shows the verification
// code that Example runs, verbatim.
func TestDocsShowTheTestedExample(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "// --- begin docs/assertion.md example ---\n")
	code, _, ok2 := strings.Cut(rest, "// --- end docs/assertion.md example ---")
	if !ok || !ok2 {
		t.Fatal("example_test.go lost its docs markers")
	}
	doc, err := os.ReadFile("../../docs/assertion.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```go\n"+strings.Trim(code, "\n")+"\n```") {
		t.Error("docs/assertion.md does not show proxy/assertion/example_test.go's verification code; copy it over")
	}
}
