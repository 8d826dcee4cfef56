// Package sourcelimits holds a test that keeps Gatehouse's production code
// within the limits the team agreed: no file over 500 lines, no function
// over 80 lines except table-like ones named below.
package sourcelimits

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	maxFileLines = 500
	maxFuncLines = 80
)

// tableLike are the functions allowed over maxFuncLines, by file (relative
// to the repository root, slash-separated) and name, each because its body
// is a table read down a column, not logic. Keep it short.
var tableLike = map[string]string{}

// testSupport is the tree of packages that only tests import (in-test
// services, real-server helpers). They are not production code: the limits
// do not apply, and TestNoProductionImportsOfTestSupport proves no
// production package imports them.
const testSupport = "internal/testutil"

// productionFiles returns the repository's non-test .go files outside
// testSupport, slash-separated and relative to the root.
func productionFiles(t *testing.T) (root string, files []string) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found from %s: %v", root, err)
	}
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, root+string(filepath.Separator)))
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata" || rel == testSupport) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found only %d production files under %s; the walk is broken", len(files), root)
	}
	return root, files
}

func TestSourceLimits(t *testing.T) {
	t.Parallel()
	root, files := productionFiles(t)
	for _, rel := range files {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, filepath.Join(root, rel), nil, 0)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		if n := fset.File(f.Pos()).LineCount(); n > maxFileLines {
			t.Errorf("%s has %d lines, more than %d: split it by what its parts do", rel, n, maxFileLines)
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1
			if _, ok := tableLike[rel+":"+fd.Name.Name]; n > maxFuncLines && !ok {
				t.Errorf("%s: %s has %d lines, more than %d: split it (or, if it is a table, list it in tableLike with why)", rel, fd.Name.Name, n, maxFuncLines)
			}
		}
	}
}

// TestNoProductionImportsOfTestSupport: what the limits skip never reaches
// the binary.
func TestNoProductionImportsOfTestSupport(t *testing.T) {
	t.Parallel()
	root, files := productionFiles(t)
	for _, rel := range files {
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, rel), nil, parser.ImportsOnly)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); strings.Contains(path, "/"+testSupport) {
				t.Errorf("%s imports %s, a test-support package", rel, path)
			}
		}
	}
}
